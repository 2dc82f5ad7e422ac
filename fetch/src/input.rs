//! The fetch stage's input: the lock, the `pyproject.toml` beside it, and the
//! local sources the target needs, each known by its content.
//!
//! A local source is read when the input is, not when the stage runs: its digest
//! (the NAR hash of a directory without what is never copied, the SHA-256 of a
//! file) is part of the input's digest, so an edited directory or a replaced
//! wheel is a new key, and a touched but unchanged one is not.

use std::path::{Path, PathBuf};

use pyfod_digest::Sha256;
use pyfod_manifest::Source;
use serde::Serialize;

use crate::choose::{Plan, Planned};
use crate::project::BinarySettings;
use crate::{FetchError, Settings, lock};

/// Names never copied from a local project: version control, environments and
/// caches, which are not the package's source and change without it changing.
pub const NOT_SOURCE: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "node_modules",
];

/// A lock, read and planned for a target.
#[derive(Debug)]
pub struct LockInput {
    /// Where the lock is: relative paths in it start from its directory. Not
    /// part of the digest: a project moved elsewhere is the same input.
    pub path: PathBuf,
    pub lock_digest: Sha256,
    pub lock: lock::Lock,
    pub project_name: Option<String>,
    /// `[tool.uv]`'s settings, and the command line's, merged.
    pub binary: BinarySettings,
    /// Indices into `lock.packages`, sorted by name.
    pub chosen: Vec<usize>,
    /// Every local file or tree a chosen package comes from, with its digest.
    pub local: Vec<LocalSource>,
}

/// A local source the target needs, by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalSource {
    pub package: String,
    /// As the lock writes it, relative to the lock's directory.
    pub path: String,
    /// NAR hash of a tree, SHA-256 of a file.
    pub digest: Sha256,
}

/// What of the input goes into the key.
#[derive(Serialize)]
struct InputKey<'a> {
    lock: &'a Sha256,
    project: Option<&'a str>,
    tool_uv: &'a BinarySettings,
    local: &'a [LocalSource],
}

impl LockInput {
    /// Reads the lock at `path` and the `pyproject.toml` beside it, decides what
    /// the target needs, and reads the local sources among it.
    pub fn read(path: &Path, settings: &Settings) -> Result<LockInput, FetchError> {
        let bytes = std::fs::read(path).map_err(|source| FetchError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = std::str::from_utf8(&bytes).unwrap_or("");
        let (lock, binary, project_name, chosen) = if crate::pylock::is_pylock(path, text) {
            // The standard lock stands alone: no pyproject.toml, no [tool.uv].
            let pylock = crate::pylock::PyLock::parse(path, text)?;
            let chosen = pylock.select(path, &settings.target, &settings.selection)?;
            let binary = BinarySettings::default().merged(&settings.binary);
            (pylock.to_lock(path)?, binary, None, chosen)
        } else {
            let lock = lock::Lock::parse(path, &bytes)?;
            let pyproject = crate::project::read(lock_dir(path))?;
            let binary = pyproject.tool.uv.clone().merged(&settings.binary);
            let project_name = pyproject.project.as_ref().map(|p| p.name.clone());
            let chosen = crate::select::select(
                &lock,
                project_name.as_deref(),
                &settings.target,
                &settings.selection,
            )?;
            (lock, binary, project_name, chosen)
        };
        let mut input = LockInput {
            path: path.to_path_buf(),
            lock_digest: Sha256::of(&bytes),
            lock,
            project_name,
            binary,
            chosen,
            local: Vec::new(),
        };
        input.local = input.read_local_sources(&input.plans(settings)?)?;
        for local in &input.local {
            input.check_inside(local, settings.outside_project)?;
        }
        Ok(input)
    }

    /// The chosen artifact of each package.
    pub fn plans(&self, settings: &Settings) -> Result<Vec<Plan<'_>>, FetchError> {
        self.chosen
            .iter()
            .map(|&i| crate::choose::choose(&self.lock.packages[i], &settings.target, &self.binary))
            .collect()
    }

    /// The directory relative paths in the lock start from.
    pub fn dir(&self) -> &Path {
        lock_dir(&self.path)
    }

    /// The digest of everything in this input that can change what is fetched.
    pub fn digest(&self) -> Sha256 {
        pyfod_store::key::digest(&InputKey {
            lock: &self.lock_digest,
            project: self.project_name.as_deref(),
            tool_uv: &self.binary,
            local: &self.local,
        })
    }

    /// The digest the input recorded for a local source.
    pub fn local_digest(&self, package: &str) -> Option<Sha256> {
        self.local
            .iter()
            .find(|l| l.package == package)
            .map(|l| l.digest)
    }

    /// A local source outside the project's directory: said, or refused.
    fn check_inside(
        &self,
        local: &LocalSource,
        rule: crate::OutsideProject,
    ) -> Result<(), FetchError> {
        let (Ok(dir), Ok(source)) = (
            std::fs::canonicalize(self.dir()),
            std::fs::canonicalize(self.dir().join(&local.path)),
        ) else {
            return Ok(());
        };
        if source.starts_with(&dir) {
            return Ok(());
        }
        match rule {
            crate::OutsideProject::Warn => {
                tracing::warn!(
                    "{}: its source {} is outside the project's directory {}; it is read into the store as it is (set [fetch] outside-project = \"refuse\" to refuse such sources)",
                    local.package,
                    source.display(),
                    dir.display()
                );
                Ok(())
            }
            crate::OutsideProject::Refuse => Err(FetchError::OutsideProject {
                package: local.package.clone(),
                path: source,
                project: dir,
            }),
        }
    }

    fn read_local_sources(&self, plans: &[Plan<'_>]) -> Result<Vec<LocalSource>, FetchError> {
        let mut out = Vec::new();
        for plan in plans {
            let (path, digest) = match (&plan.artifact, &plan.source) {
                (Planned::Tree, Source::Directory { path } | Source::Editable { path }) => {
                    let full = self.dir().join(path);
                    (path.clone(), tree_digest(&full)?)
                }
                (Planned::Wheel(artifact) | Planned::Sdist(artifact), source) => {
                    let Some(full) = crate::local_file(artifact, source, self.dir()) else {
                        continue;
                    };
                    let (digest, _) =
                        pyfod_store::index::file_digest(&full).map_err(|e| FetchError::Read {
                            path: full.clone(),
                            source: e,
                        })?;
                    // As uv does: a local file must be what the lock says, even
                    // when the store already has what the lock says.
                    if let Some(expected) = artifact
                        .hash
                        .as_deref()
                        .and_then(|h| pyfod_digest::HashFormat::parse_any(h).ok())
                        && expected != digest
                    {
                        return Err(FetchError::LocalHashMismatch {
                            package: plan.package.name.clone(),
                            path: full,
                            expected,
                            actual: digest,
                        });
                    }
                    let label = full.strip_prefix(self.dir()).unwrap_or(&full);
                    (label.display().to_string(), digest)
                }
                _ => continue,
            };
            out.push(LocalSource {
                package: plan.package.name.clone(),
                path,
                digest,
            });
        }
        Ok(out)
    }
}

/// The NAR hash of a local tree as it will be copied: without [`NOT_SOURCE`].
pub fn tree_digest(path: &Path) -> Result<Sha256, FetchError> {
    let settings = pyfod_nar::HashSettings {
        skip_names: NOT_SOURCE.iter().map(|n| n.as_bytes().to_vec()).collect(),
        skip_special: true,
        ..Default::default()
    };
    pyfod_nar::hash_path(path, &settings, None)
        .map(|h| h.nar_sha256)
        .map_err(|source| FetchError::Tree {
            path: path.to_path_buf(),
            source,
        })
}

pub(crate) fn lock_dir(lock: &Path) -> &Path {
    match lock.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}
