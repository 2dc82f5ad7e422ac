//! The hash stage: the NAR SHA-256 of a tree, as Nix computes it, its hash
//! manifest (every entry with its own digest), and the comparison of two such
//! manifests. The hashing itself is [`pyfod_nar`].

pub mod command;
pub mod diff;

use std::num::NonZeroUsize;
use std::path::Path;

pub use command::Command;
pub use pyfod_nar::{HashError, HashSettings, TreeHash, default_readers, hash_path, nar};

use pyfod_manifest::HashManifest;

/// Version of what this stage writes; part of every stage cache key, so a change
/// to the hash stage's output invalidates cached results.
pub const FORMAT_VERSION: u32 = 1;

/// Readers for `--jobs N` (None: the default for the machine), recording every
/// entry when `record_entries`.
pub fn settings(jobs: Option<NonZeroUsize>, record_entries: bool) -> HashSettings {
    HashSettings {
        readers: jobs.map_or_else(default_readers, NonZeroUsize::get),
        record_entries,
        ..HashSettings::default()
    }
}

/// The stage's entry: hashes the tree at `root` and lists every entry with its
/// own digest, as a [`HashManifest`]. The hash stage reads no store: its input is
/// a tree wherever it is.
pub fn run(root: &Path, jobs: Option<NonZeroUsize>) -> Result<HashManifest, HashError> {
    let hash = hash_path(root, &settings(jobs, true), None)?;
    Ok(HashManifest {
        nar_sha256: hash.nar_sha256,
        nar_size: hash.nar_size,
        entries: hash.entries,
        inputs: Vec::new(),
    })
}
