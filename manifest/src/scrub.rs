use serde::{Deserialize, Serialize};

use crate::{ByteString, Manifest, RelPath, Stage, StoredTree};

/// Output of `scrub`: the tree with store references and machine paths removed, and
/// a record of every change, enough to put the originals back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubManifest {
    pub tree: StoredTree,
    /// The Nix store directory references were looked for under (`/nix/store`).
    pub store_dir: String,
    /// Store paths whose hash parts were replaced, sorted.
    pub targets: Vec<String>,
    /// In tree order, then by offset.
    pub replacements: Vec<Replacement>,
    /// Paths deleted (`bin/`, `*.pyc`), sorted.
    pub removed: Vec<RelPath>,
    pub elf: Vec<ElfReport>,
    /// Target hash parts still present after scrubbing.
    pub residuals: Vec<Residual>,
}

impl Manifest for ScrubManifest {
    const STAGE: Stage = Stage::Scrub;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    pub path: RelPath,
    /// Byte offset of the replaced text in the file, symlink target or name.
    pub offset: u64,
    /// The bytes that were there before.
    pub original: ByteString,
    pub kind: ReplacementKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplacementKind {
    /// A string in an ELF file's dynamic section (RPATH, RUNPATH, NEEDED).
    ElfDynamicString,
    /// Anywhere else in a regular file.
    Text,
    /// In a symlink's target.
    Symlink,
    /// In a file or directory name.
    FileName,
    /// The interpreter prefix in `pyvenv.cfg`, replaced by `@python@`.
    PyvenvCfg,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElfReport {
    pub path: RelPath,
    pub rpath: Vec<ByteString>,
    pub runpath: Vec<ByteString>,
    pub needed: Vec<ByteString>,
    /// The RPATH/RUNPATH entries that pointed into the store before scrubbing.
    pub store_entries: Vec<ByteString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Residual {
    pub path: RelPath,
    pub offset: u64,
    pub hash_part: String,
    pub kind: ReplacementKind,
}
