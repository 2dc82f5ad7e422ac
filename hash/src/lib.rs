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

/// The hash stage's options, shared by `pyfod hash`, `pyfod-hash` and `pyfod build`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Threads that read files ahead of the hasher [default: 3 per core, 4 to 16]
    #[arg(long, value_name = "N")]
    pub jobs: Option<NonZeroUsize>,
}

impl Options {
    pub fn settings(&self, record_entries: bool) -> HashSettings {
        HashSettings {
            readers: self.jobs.map_or_else(default_readers, NonZeroUsize::get),
            record_entries,
            ..HashSettings::default()
        }
    }
}

/// The stage's entry: hashes the tree at `root` and lists every entry with its
/// own digest, as a [`HashManifest`]. The hash stage reads no store: its input is
/// a tree wherever it is.
pub fn run(root: &Path, options: &Options) -> Result<HashManifest, HashError> {
    let hash = hash_path(root, &options.settings(true), None)?;
    Ok(HashManifest {
        nar_sha256: hash.nar_sha256,
        nar_size: hash.nar_size,
        entries: hash.entries,
        inputs: Vec::new(),
    })
}
