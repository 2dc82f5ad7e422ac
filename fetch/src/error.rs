//! What can go wrong while fetching, each with what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Toml(#[from] pyfod_config::TomlError),
    #[error(
        "{path}: lock version {version} is not supported; pyfod reads version 1 (uv 0.4 and later)"
    )]
    LockVersion { path: PathBuf, version: u32 },
    #[error(
        "{path}: lock-version {version} is not supported; pyfod reads pylock.toml version 1.x (PEP 751): write the lock with a tool of that version"
    )]
    PylockVersion { path: PathBuf, version: String },
    #[error("{path}: {detail}")]
    Pylock { path: PathBuf, detail: String },
    #[error(
        "{path}: package `{package}`: {detail}; the lock does not follow PEP 751: write it again with its tool"
    )]
    BadPylockEntry {
        path: PathBuf,
        package: String,
        detail: String,
    },
    #[error(
        "{path}: package `{package}`: {detail}; the lock is damaged or was not written by uv: run `uv lock` again"
    )]
    BadLockEntry {
        path: PathBuf,
        package: String,
        detail: String,
    },
    #[error(
        "{path}: package `{package}` has a source of no kind pyfod knows ({found}); expected one of registry, git, url, path, directory, editable, virtual"
    )]
    SourceKind {
        path: PathBuf,
        package: String,
        found: String,
    },
    #[error(transparent)]
    Interpreter(#[from] pyfod_python::InterpreterError),
    #[error("--target `{spec}`: {detail}")]
    TargetSpec { spec: String, detail: String },
    #[error(
        "the lock wants Python {requires}, but the target is Python {python}; pass another --python or --target"
    )]
    PythonMismatch { python: String, requires: String },
    #[error(
        "the lock supports only these environments: {markers:?}; the target ({target}) is none of them"
    )]
    UnsupportedTarget {
        markers: Vec<String>,
        target: String,
    },
    #[error("`{package}`: cannot read the marker `{marker}`: {detail}")]
    Marker {
        package: String,
        marker: String,
        detail: String,
    },
    #[error(
        "{from} depends on `{name}`, which the lock does not have; the lock is broken: run `uv lock` again"
    )]
    MissingPackage { from: String, name: String },
    #[error(
        "{from} depends on `{name}`, and several packages of that name fit; the lock is broken: run `uv lock` again"
    )]
    AmbiguousPackage { from: String, name: String },
    #[error("`{package}`: {detail}")]
    BadArtifact { package: String, detail: String },
    #[error(
        "no wheel of {package} {version} fits the target, and the lock has no sdist; wheels: {wheels:?}; the target's best tags: {best_tags:?}"
    )]
    NoArtifact {
        package: String,
        version: String,
        wheels: Vec<String>,
        best_tags: Vec<String>,
    },
    #[error(
        "{package} would have to be built from its sdist, but no-build forbids it: none of its wheels matches any of the target's {tags} tags (best: {best_tags:?})"
    )]
    NoBuild {
        package: String,
        best_tags: Vec<String>,
        tags: usize,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "the lock gives no hash for {filename} ({package}), so its bytes cannot be checked; lock against an index that publishes hashes, or pass --allow-unhashed"
    )]
    Unhashed { package: String, filename: String },
    #[error("cannot download {package} from {url}: {detail}")]
    Download {
        package: String,
        url: String,
        detail: String,
    },
    #[error(
        "{package}: {filename} is {found} bytes, but the lock says {locked}; its hash matched, so the lock's size is wrong: write the lock again with its tool"
    )]
    SizeMismatch {
        package: String,
        filename: String,
        locked: u64,
        found: u64,
    },
    #[error(
        "{package}: {url} does not have the hash the lock records; nothing was stored\n  expected: {expected}\n  actual:   {actual}\nthe index changed the file, or something between you and it did; check the index, then run `uv lock` again if the change is genuine",
        expected = expected.to_sri(),
        actual = actual.to_sri()
    )]
    HashMismatch {
        package: String,
        url: String,
        expected: pyfod_digest::Sha256,
        actual: pyfod_digest::Sha256,
    },
    #[error(
        "{package}: the file {} does not have the hash the lock records\n  expected: {expected}\n  actual:   {actual}\nit changed after `uv lock`: put back the file the lock was made with, or run `uv lock` again",
        path.display(),
        expected = expected.to_sri(),
        actual = actual.to_sri()
    )]
    LocalHashMismatch {
        package: String,
        path: PathBuf,
        expected: pyfod_digest::Sha256,
        actual: pyfod_digest::Sha256,
    },
    #[error(
        "{package}: its source {} is outside the project's directory {}, and [fetch] outside-project says to refuse it; move it into the project, or allow it",
        path.display(),
        project.display()
    )]
    OutsideProject {
        package: String,
        path: PathBuf,
        project: PathBuf,
    },
    #[error("--offline, and the store lacks {}: {}", missing.len(), missing.join(", "))]
    Offline { missing: Vec<String> },
    #[error(transparent)]
    Store(#[from] pyfod_store::StoreError),
    #[error("{package}: cannot check out {repository} at {commit}: {detail}")]
    Git {
        package: String,
        repository: String,
        commit: String,
        detail: String,
    },
    #[error("cannot hash the source tree {path}")]
    Tree {
        path: PathBuf,
        #[source]
        source: pyfod_nar::HashError,
    },
    #[error(
        "{package}: the source tree {path} changed while it was copied into the store; run again when nothing is writing to it"
    )]
    TreeChanged { package: String, path: PathBuf },
}
