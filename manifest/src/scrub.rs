use serde::{Deserialize, Serialize};

use crate::{ByteString, Manifest, RelPath, Stage, StoredTree};

/// Output of `scrub`: the tree with store references and machine paths removed, and
/// a record of every change, enough to put the originals back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubManifest {
    /// The scrubbed tree, when it is in the store (`None` for `--in-place` and
    /// `--out` runs on a directory of the user's).
    pub tree: Option<StoredTree>,
    /// `default`, `seed` or `none`.
    pub preset: String,
    /// The Nix store directory references were looked for under (`/nix/store`).
    pub store_dir: String,
    /// The interpreter prefix replaced by `@python@`, if there was one.
    pub python_prefix: Option<String>,
    /// Store paths whose hash parts were replaced, sorted.
    pub targets: Vec<String>,
    /// Store paths exempted with `--keep`, sorted.
    pub kept: Vec<String>,
    /// Sorted by path, then offset. Offsets are in the file as it was before.
    pub replacements: Vec<Replacement>,
    /// Paths deleted (`bin/` and what it held, `*.pyc`), sorted.
    pub removed: Vec<RelPath>,
    /// Every ELF file, sorted by path, as it was before scrubbing.
    pub elf: Vec<ElfReport>,
    /// Hash parts of known store paths still present after scrubbing.
    pub residuals: Vec<Residual>,
    /// Rules that did not apply, and why (no `pyvenv.cfg`, …).
    pub notes: Vec<String>,
}

impl Manifest for ScrubManifest {
    const STAGE: Stage = Stage::Scrub;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    /// The file, symlink or (for [`ReplacementKind::FileName`]) entry, by its
    /// path before scrubbing.
    pub path: RelPath,
    /// Byte offset of the replaced bytes in the file, symlink target or name.
    pub offset: u64,
    /// The bytes that were there: a hash part, or the interpreter prefix.
    pub original: ByteString,
    /// The store path those bytes belong to.
    pub store_path: String,
    pub kind: ReplacementKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplacementKind {
    /// In an ELF file's dynamic string table (RPATH, RUNPATH, NEEDED).
    ElfDynamicString,
    /// Anywhere else in a regular file.
    Text,
    /// In a symlink's target.
    Symlink,
    /// In a file or directory name.
    FileName,
    /// The interpreter prefix in `pyvenv.cfg`, replaced by `@python@`.
    PyvenvCfg,
    /// The interpreter prefix in another file, replaced by `@python@`.
    InterpreterPrefix,
    /// A RECORD row's `hash,size`, made again for its file as scrubbed.
    /// `store_path` is empty: the row changed because its file did.
    RecordHash,
    /// A RECORD row of a file the scrub removed, whole, with its line end.
    RecordRow,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElfReport {
    pub path: RelPath,
    pub rpath: Vec<ByteString>,
    pub runpath: Vec<ByteString>,
    pub needed: Vec<ByteString>,
    /// The RPATH/RUNPATH entries that pointed into the store.
    pub store_entries: Vec<ByteString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Residual {
    pub path: RelPath,
    pub offset: u64,
    /// The store path whose hash part is still there.
    pub store_path: String,
    /// Where it is: [`ReplacementKind::Text`] (or `ElfDynamicString`) for file
    /// contents, `Symlink`, or `FileName`.
    pub kind: ReplacementKind,
}
