use serde::{Deserialize, Serialize};

use crate::{ByteString, Manifest, RelPath, Sha256, Stage};

/// Output of `hash`: the NAR hash of a tree and every entry that went into it, so
/// that two of them can be compared file by file (`pyfod diff`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashManifest {
    pub nar_sha256: Sha256,
    pub nar_size: u64,
    /// In NAR order: a directory before its entries, entries by name bytes.
    pub entries: Vec<NarEntry>,
    /// What went into the tree (lock digest, interpreter, pyfod version, …), for the
    /// stale-hash guard; empty when hashing a plain directory.
    pub inputs: Vec<InputRecord>,
}

impl Manifest for HashManifest {
    const STAGE: Stage = Stage::Hash;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NarEntry {
    pub path: RelPath,
    pub node: NarNode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NarNode {
    Directory,
    Regular {
        executable: bool,
        size: u64,
        sha256: Sha256,
    },
    Symlink {
        target: ByteString,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InputRecord {
    pub name: String,
    pub value: String,
}
