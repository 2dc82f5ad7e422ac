//! Wheels unpacked once into the store (`trees/wheel-<sha256>`), checked against
//! their RECORD on the way in, so that a warm install copies (or links) files
//! instead of inflating the zip again.
//!
//! A tree holds the wheel's members at their zip paths, modes 0644 or 0755, and
//! `.pyfod-files`: one line per member, `<sha256 hex> <size> <path>`, so the new
//! RECORD needs no second read.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use pyfod_digest::Sha256;
use pyfod_store::Store;

use crate::InstallError;
use crate::wheel::WheelPlan;

/// The index of a tree's members.
pub const INDEX: &str = ".pyfod-files";

/// How installed files are made from the unpacked tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
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
    /// have it yet, and its members.
    pub fn get(
        &self,
        plan: &WheelPlan,
        sha256: &Sha256,
    ) -> Result<(PathBuf, Members), InstallError> {
        let name = format!("wheel-{}", sha256.to_hex());
        let path = self.store.tree_path(&name);
        if let Ok(members) = read_index(&path) {
            return Ok((path, members));
        }
        let store_error = |e: pyfod_store::StoreError| InstallError::Io {
            action: "use the store at",
            path: self.store.root().to_path_buf(),
            source: std::io::Error::other(e),
        };
        let work = self.store.temp_entry().map_err(store_error)?;
        fs::create_dir(work.path()).map_err(|source| InstallError::Io {
            action: "create",
            path: work.path().to_path_buf(),
            source,
        })?;
        let files = plan.unpack_members(work.path())?;
        let mut index = String::new();
        for (member, sha, size) in &files {
            index.push_str(&format!("{} {size} {member}\n", sha.to_hex()));
        }
        let index_path = work.path().join(INDEX);
        let mut file = fs::File::create(&index_path).map_err(|source| InstallError::Io {
            action: "create",
            path: index_path.clone(),
            source,
        })?;
        file.write_all(index.as_bytes())
            .map_err(|source| InstallError::Io {
                action: "write",
                path: index_path.clone(),
                source,
            })?;
        let path = self.store.publish_tree(&name, work).map_err(store_error)?;
        let members = read_index(&path).map_err(|source| InstallError::Io {
            action: "read",
            path: path.join(INDEX),
            source,
        })?;
        Ok((path, members))
    }
}

fn read_index(tree: &Path) -> std::io::Result<Members> {
    let text = fs::read_to_string(tree.join(INDEX))?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "a malformed index");
    text.lines()
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let sha = parts.next().ok_or_else(bad)?;
            let size = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            let path = parts.next().ok_or_else(bad)?;
            let sha =
                pyfod_digest::HashFormat::parse_any(&format!("sha256:{sha}")).map_err(|_| bad())?;
            Ok((path.to_owned(), (sha, size)))
        })
        .collect()
}

/// Makes `to` from the unpacked file `from`, by `mode`; `to`'s directory exists.
pub fn place(from: &Path, to: &Path, mode: LinkMode) -> Result<(), InstallError> {
    let io = |source| InstallError::Io {
        action: "write",
        path: to.to_path_buf(),
        source,
    };
    match mode {
        // fs::copy keeps the mode, which the tree already has right.
        LinkMode::Copy => fs::copy(from, to).map(|_| ()).map_err(io),
        LinkMode::Hardlink => fs::hard_link(from, to).map_err(io),
        LinkMode::Reflink => reflink_copy::reflink(from, to).map_err(|source| InstallError::Io {
            action: "clone (reflink)",
            path: to.to_path_buf(),
            source: std::io::Error::new(
                source.kind(),
                format!("{source}; this file system may not clone files: use --link-mode copy"),
            ),
        }),
    }
}
