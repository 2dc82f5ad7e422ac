use std::io;
use std::path::PathBuf;

/// Why a tree could not be hashed. Every variant names the path it is about.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} is a {kind}; a NAR holds only regular files, directories and symlinks, so Nix cannot hash this tree either; remove it or hash a tree without it"
    )]
    Unsupported { path: PathBuf, kind: &'static str },
    #[error(
        "{path} changed while it was being hashed ({detail}); something is still writing to the tree; hash it again once that has finished"
    )]
    Changed { path: PathBuf, detail: String },
    #[error("writing the NAR stream failed")]
    Sink(#[source] io::Error),
    #[error(
        "a reader thread stopped without finishing {path}; this is a bug in pyfod: please report it with the command you ran"
    )]
    ReaderLost { path: PathBuf },
}
