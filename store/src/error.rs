use std::io;
use std::path::{Path, PathBuf};

use pyfod_digest::Sha256;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading the data to store failed")]
    Source(#[source] io::Error),
    #[error(
        "content does not match its expected digest\n  expected: sha256:{expected}\n  actual:   sha256:{actual}"
    )]
    DigestMismatch { expected: Sha256, actual: Sha256 },
    #[error(
        "{path} says this store has layout {found:?}, but this pyfod uses layout {}; point --store at another directory, or delete this one",
        crate::LAYOUT_VERSION
    )]
    Layout { path: PathBuf, found: String },
    #[error("the store's tree {path} cannot be used: {detail}")]
    BadTree { path: String, detail: String },
    #[error("the store's {path} cannot be used")]
    BadManifest {
        path: String,
        #[source]
        source: pyfod_manifest::DecodeError,
    },
    #[error(
        "the store's blob {} {what}; it was removed: fetch again (`pyfod build` does)",
        digest.to_hex()
    )]
    BadBlob { digest: Sha256, what: String },
    #[error("`{0}` cannot name a tree of the store: a name is one plain path component")]
    BadName(String),
    #[error(
        "the store at {} is read-only, and has no {entry}: run this build once where the store can be written, or give --store a writable directory",
        root.display()
    )]
    ReadOnly { root: PathBuf, entry: String },
    #[error("no store location: pass --store DIR, or set PYFOD_STORE, XDG_CACHE_HOME or HOME")]
    NoLocation,
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        StoreError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
