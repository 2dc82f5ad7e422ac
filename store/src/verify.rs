//! `pyfod store verify`: every byte of the store checked against its name or
//! index. What is damaged is reported and removed, so the next build makes it
//! again instead of using it.

use std::fs;

use pyfod_digest::Sha256;

use crate::entry::EntryName;
use crate::index::{Damage, Thoroughness, TreeIndex};
use crate::{Store, StoreError};

/// One damaged piece of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Relative to the store's root.
    pub what: String,
    pub damage: String,
}

/// What `verify` looked at and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub blobs: usize,
    pub entries: usize,
    /// Removed from the store.
    pub problems: Vec<Problem>,
}

impl Store {
    /// Hashes every blob and every entry's tree again; removes what is damaged.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        let blobs = self.root.join("blobs/sha256");
        let listing = fs::read_dir(&blobs).map_err(|e| StoreError::io("list", &blobs, e))?;
        for item in listing.flatten() {
            let name = item.file_name();
            let Some(digest) = name.to_str().and_then(Sha256::from_hex) else {
                report.problems.push(Problem {
                    what: format!("blobs/sha256/{}", name.to_string_lossy()),
                    damage: "is not named by a digest".into(),
                });
                let _ = fs::remove_file(item.path());
                continue;
            };
            report.blobs += 1;
            let size = item.metadata().map(|m| m.len()).unwrap_or(0);
            if let Err(damage) = self.check_blob(&digest, size, Thoroughness::Full) {
                self.evict_blob(&digest);
                report.problems.push(problem(damage));
            }
        }
        for (name, _) in self.entries()? {
            report.entries += 1;
            if let Err(damage) = self.check_entry(&name) {
                self.evict(&name);
                report.problems.push(problem(damage));
            }
        }
        Ok(report)
    }

    fn check_entry(&self, name: &EntryName) -> Result<(), Damage> {
        let dir = self.root.join(name.relative());
        let damage = |what: &str| Damage {
            path: name.relative(),
            what: what.to_owned(),
        };
        if !dir.join("manifest").is_file() {
            return Err(damage("has no manifest"));
        }
        let tree = dir.join("tree");
        if tree.symlink_metadata().is_err() {
            return Ok(());
        }
        let index = fs::read(dir.join("tree.index"))
            .ok()
            .and_then(|b| TreeIndex::decode(&b))
            .ok_or_else(|| damage("its tree's index is missing or corrupt"))?;
        index.check(&tree, Thoroughness::Full).map_err(|d| Damage {
            path: format!("{}/tree/{}", name.relative(), d.path),
            what: d.what,
        })
    }
}

fn problem(damage: Damage) -> Problem {
    Problem {
        what: damage.path,
        damage: damage.what,
    }
}
