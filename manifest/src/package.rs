use serde::{Deserialize, Serialize};

use crate::{Sha256, StorePath};

/// Where a locked package comes from, as `uv.lock` says. Local paths stay relative
/// to the lock's directory, as the lock writes them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A package index; `index` is its URL with any credentials removed.
    Registry { index: String },
    Git {
        repository: String,
        reference: GitReference,
        /// The full commit the lock pins; the checkout is always of this commit.
        commit: String,
        subdirectory: Option<String>,
    },
    /// A direct URL to a wheel or sdist.
    Url {
        url: String,
        subdirectory: Option<String>,
    },
    /// A local wheel or sdist file.
    Path { path: String },
    /// A local source tree.
    Directory { path: String },
    /// A local source tree installed in editable mode.
    Editable { path: String },
    /// A project that is never installed itself (a virtual workspace root).
    Virtual { path: String },
}

impl Source {
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Registry { .. } => "registry",
            Source::Git { .. } => "git",
            Source::Url { .. } => "url",
            Source::Path { .. } => "path",
            Source::Directory { .. } => "directory",
            Source::Editable { .. } => "editable",
            Source::Virtual { .. } => "virtual",
        }
    }
}

/// What the lock asked git for; the commit is what counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GitReference {
    Rev(String),
    Tag(String),
    Branch(String),
    DefaultBranch,
}

/// A file in the store's blob area, named by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StoredFile {
    /// The file name the artifact is known by (`lxml-6.0.0-cp311-….whl`).
    pub filename: String,
    pub sha256: Sha256,
    pub size: u64,
    /// Where it was downloaded from, credentials removed; `None` for local files.
    pub url: Option<String>,
    /// False when the lock gave no hash and `--allow-unhashed` let it in.
    pub hash_from_lock: bool,
}

/// A directory tree in the store (a git checkout, a local source tree, a venv).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StoredTree {
    pub store_path: StorePath,
    /// NAR SHA-256 of the tree: its content identity.
    pub nar_sha256: Sha256,
}

/// A package name as PEP 503 compares them: lower case, and every run of `-`,
/// `_` and `.` one `-`.
pub fn normalise_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}
