//! What earlier builds produced, kept in the store (`builds/`), for two checks
//! a packager needs when a hash changes or, worse, does not:
//!
//! - on a mismatch, which files differ from the last build of this project whose
//!   hash matched (`builds/<project>.matched`, a hash manifest);
//! - the stale-hash guard: a Nix FOD whose `outputHash` was not bumped is served
//!   from the Nix store, stale, when an input changes; so when `--expect H` was
//!   last produced from other inputs (`builds/by-hash/<H>`), say which.

use std::fs;
use std::path::PathBuf;

use pyfod_digest::Sha256;
use pyfod_manifest::{HashManifest, InputRecord, Manifest};

/// The `builds/` area of a store.
#[derive(Debug)]
pub struct History {
    dir: PathBuf,
    /// Records are not kept in a read-only store.
    read_only: bool,
}

impl crate::Store {
    /// What earlier builds on this store produced.
    pub fn history(&self) -> History {
        History {
            dir: self.root().join("builds"),
            read_only: self.is_read_only(),
        }
    }
}

impl History {
    fn project_file(&self, project: &Sha256) -> PathBuf {
        self.dir.join(format!("{}.matched", project.to_hex()))
    }

    fn hash_file(&self, hash: &Sha256) -> PathBuf {
        self.dir.join("by-hash").join(hash.to_hex())
    }

    fn delivery_file(&self, out: &std::path::Path) -> PathBuf {
        let out = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
        let digest = crate::key::digest(&crate::key::PathKey(&out));
        self.dir.join("delivered").join(digest.to_hex())
    }

    /// The hash manifest of what was last delivered to `out` (`--out`).
    pub fn delivered(&self, out: &std::path::Path) -> Option<HashManifest> {
        let bytes = fs::read(self.delivery_file(out)).ok()?;
        HashManifest::decode(&bytes).ok().map(|(_, m)| m)
    }

    /// Records what was delivered to `out`, so the next delivery there copies
    /// only what changed.
    pub fn record_delivery(
        &self,
        out: &std::path::Path,
        manifest: &HashManifest,
    ) -> std::io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        let file = self.delivery_file(out);
        fs::create_dir_all(file.parent().expect("a parent"))?;
        crate::write_atomic(&file, &manifest.encode(None))
    }

    /// The hash manifest of this project's last build that matched `--expect`.
    pub fn last_match(&self, project: &Sha256) -> Option<HashManifest> {
        let bytes = fs::read(self.project_file(project)).ok()?;
        HashManifest::decode(&bytes).ok().map(|(_, m)| m)
    }

    pub fn record_match(&self, project: &Sha256, manifest: &HashManifest) -> std::io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        fs::create_dir_all(&self.dir)?;
        crate::write_atomic(&self.project_file(project), &manifest.encode(None))
    }

    /// The inputs that last produced `hash`, as `name=value` lines.
    pub fn inputs_of(&self, hash: &Sha256) -> Option<Vec<InputRecord>> {
        let text = fs::read_to_string(self.hash_file(hash)).ok()?;
        Some(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(name, value)| InputRecord {
                    name: name.to_owned(),
                    value: value.to_owned(),
                })
                .collect(),
        )
    }

    pub fn record_inputs(&self, hash: &Sha256, inputs: &[InputRecord]) -> std::io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        fs::create_dir_all(self.dir.join("by-hash"))?;
        let text: String = inputs
            .iter()
            .map(|i| format!("{}={}\n", i.name, i.value))
            .collect();
        crate::write_atomic(&self.hash_file(hash), text.as_bytes())
    }
}

/// The names of the inputs whose values differ between two records.
pub fn changed(before: &[InputRecord], now: &[InputRecord]) -> Vec<String> {
    let mut names: Vec<String> = now
        .iter()
        .filter(|n| {
            before
                .iter()
                .find(|b| b.name == n.name)
                .is_none_or(|b| b.value != n.value)
        })
        .map(|n| n.name.clone())
        .collect();
    names.extend(
        before
            .iter()
            .filter(|b| !now.iter().any(|n| n.name == b.name))
            .map(|b| b.name.clone()),
    );
    names.sort();
    names.dedup();
    names
}
