//! Wheels unpacked once into the store (`trees/wheel-<sha256>`), checked against
//! their RECORD on the way in, so that a warm install copies (or links) files
//! instead of inflating the zip again.
//!
//! A tree holds the wheel's members at their zip paths, modes 0644 or 0755. Its
//! index (kept by the store, checked before each use) gives every member's
//! digest and size, so the new RECORD needs no second read.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use pyfod_digest::Sha256;
use pyfod_manifest::NarNode;
use pyfod_store::{EntryName, Needs, Produced, Store};

use crate::InstallError;
use crate::wheel::WheelPlan;

/// How installed files are made from the unpacked tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinkMode {
    /// Each file its own copy: what an FOD output must be.
    #[default]
    Copy,
    /// Hard links into the store: fast, but the venv shares its files with the
    /// store and must never be edited in place.
    Hardlink,
    /// Copy-on-write clones (btrfs, XFS); an error where the file system has none.
    Reflink,
}

impl std::str::FromStr for LinkMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "copy" => Ok(LinkMode::Copy),
            "hardlink" => Ok(LinkMode::Hardlink),
            "reflink" => Ok(LinkMode::Reflink),
            _ => Err(format!(
                "`{text}` is not a link mode: copy, hardlink or reflink"
            )),
        }
    }
}

/// The store's unpacked wheels.
#[derive(Debug, Clone)]
pub struct UnpackedWheels {
    store: Store,
}

/// A member of an unpacked wheel: its digest and size.
pub type Members = HashMap<String, (Sha256, u64)>;

impl UnpackedWheels {
    pub fn new(store: Store) -> Self {
        UnpackedWheels { store }
    }

    /// The unpacked tree of the wheel `sha256`, unpacked now if the store does not
    /// have it whole, and its members.
    pub fn get(
        &self,
        plan: &WheelPlan,
        sha256: &Sha256,
    ) -> Result<(PathBuf, Members), InstallError> {
        let name = EntryName::Tree(format!("wheel-{}", sha256.to_hex()));
        // Each file is checked as it is placed (`place`): no walk of the tree first.
        let found = self.store.entry_checked_on_use(&name, || {
            let work = self.store.temp_entry()?;
            fs::create_dir(work.path()).map_err(|source| InstallError::Io {
                action: "create",
                path: work.path().to_path_buf(),
                source,
            })?;
            plan.unpack_members(work.path())?;
            let index = self.store.index_tree(&work)?;
            Ok::<_, InstallError>(Produced {
                manifest: b"wheel\n".to_vec(),
                tree: Some((work, index)),
                needs: Needs::default(),
            })
        })?;
        let index = found.index.expect("an unpacked wheel has a tree");
        let members = index
            .0
            .entries
            .iter()
            .filter_map(|entry| match entry.node {
                NarNode::Regular { sha256, size, .. } => Some((
                    String::from_utf8_lossy(entry.path.as_bytes()).into_owned(),
                    (sha256, size),
                )),
                _ => None,
            })
            .collect();
        Ok((found.tree.expect("an index comes with a tree"), members))
    }

    /// Runs `install` (which starts afresh each time); when it finds an unpacked
    /// wheel damaged, says so, removes it, and runs `install` once more, which
    /// unpacks that wheel again.
    pub fn retrying<T>(
        &self,
        mut install: impl FnMut() -> Result<T, InstallError>,
    ) -> Result<T, InstallError> {
        match install() {
            Err(InstallError::Damaged { entry, path, what }) => {
                tracing::warn!(
                    "the store's unpacked wheel {entry} cannot be used: {path} {what}; it is unpacked again"
                );
                self.store.evict(&EntryName::Tree(entry));
                install()
            }
            other => other,
        }
    }
}
