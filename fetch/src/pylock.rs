//! PEP 751 `pylock.toml`: the standard lock (uv, pip, PDM write it), read and
//! checked, and made into the packages the rest of fetch already knows, so the
//! manifests downstream are those a `uv.lock` of the same project gives.
//!
//! What the PEP asks of an installer, and pyfod does: refuse a major
//! `lock-version` it does not know (warn on a newer minor); refuse a target
//! outside `requires-python` or every `environments` marker; keep each package
//! whose `marker` holds for the target, with the `extras` and
//! `dependency_groups` variables set from the selection (`default-groups` when
//! no group is asked for); refuse two packages of one name left after that,
//! and a kept package whose own `requires-python` the target fails; take the
//! one source a package names (`vcs` at its `commit-id`, `directory`,
//! `archive`, or `wheels` chosen by tag with `sdist` as the fallback), with
//! its hashes and size. `dependencies` is for information and not read; tool
//! tables and unknown keys are ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep508_rs::pep440_rs::{Version, VersionSpecifiers};
use serde::Deserialize;

use crate::FetchError;
use crate::lock::{self, Artifact, Lock, Package, SourceWire};
use crate::pylock_marker::LockMarker;
use crate::select::{Selection, normalise};
use crate::target::Target;

/// The major version of the format pyfod reads.
const MAJOR: u64 = 1;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PyLock {
    pub lock_version: String,
    /// Required by the PEP; read so that a lock without it is refused.
    pub created_by: String,
    #[serde(default)]
    pub environments: Vec<String>,
    pub requires_python: Option<String>,
    #[serde(default)]
    pub extras: Vec<String>,
    #[serde(default)]
    pub dependency_groups: Vec<String>,
    #[serde(default)]
    pub default_groups: Vec<String>,
    pub packages: Vec<PyPackage>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PyPackage {
    pub name: String,
    pub version: Option<String>,
    pub marker: Option<String>,
    pub requires_python: Option<String>,
    pub index: Option<String>,
    pub vcs: Option<Vcs>,
    pub directory: Option<Directory>,
    pub archive: Option<File>,
    pub sdist: Option<File>,
    pub wheels: Option<Vec<File>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Vcs {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: Option<String>,
    pub path: Option<String>,
    pub requested_revision: Option<String>,
    pub commit_id: String,
    pub subdirectory: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Directory {
    pub path: String,
    #[serde(default)]
    pub editable: bool,
    pub subdirectory: Option<String>,
}

/// An archive, sdist or wheel: located by `path` (relative to the lock) or `url`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct File {
    pub name: Option<String>,
    pub url: Option<String>,
    pub path: Option<String>,
    pub size: Option<u64>,
    pub upload_time: Option<toml::value::Datetime>,
    pub hashes: BTreeMap<String, String>,
    pub subdirectory: Option<String>,
}

/// Whether the file at `path` is a PEP 751 lock: by its name (`pylock.toml`,
/// `pylock.<name>.toml`), else by a top-level `lock-version`.
pub fn is_pylock(path: &Path, text: &str) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "pylock.toml" || (name.starts_with("pylock.") && name.ends_with(".toml")) {
        return true;
    }
    text.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with("lock-version")
            && line["lock-version".len()..].trim_start().starts_with('=')
    })
}

impl PyLock {
    pub fn parse(path: &Path, text: &str) -> Result<PyLock, FetchError> {
        let lock: PyLock = pyfod_config::parse(path, text)?;
        let bad = |detail: String| FetchError::Pylock {
            path: path.to_path_buf(),
            detail,
        };
        let (major, minor) = lock
            .lock_version
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
            .ok_or_else(|| {
                bad(format!(
                    "lock-version `{}` is not MAJOR.MINOR",
                    lock.lock_version
                ))
            })?;
        if major != MAJOR {
            return Err(FetchError::PylockVersion {
                path: path.to_path_buf(),
                version: lock.lock_version.clone(),
            });
        }
        if minor > 0 {
            tracing::warn!(
                "{}: lock-version {} is newer than 1.0, which pyfod reads; keys it does not know are ignored",
                path.display(),
                lock.lock_version
            );
        }
        for package in &lock.packages {
            package.check(path)?;
        }
        Ok(lock)
    }

    /// The packages as the rest of fetch knows them, every one of them.
    pub fn packages(&self, path: &Path) -> Result<Vec<Package>, FetchError> {
        self.packages.iter().map(|p| p.convert(path)).collect()
    }

    /// The lock as fetch reads a `uv.lock`: every package, none chosen yet.
    pub fn to_lock(&self, path: &Path) -> Result<Lock, FetchError> {
        Ok(Lock {
            version: 1,
            revision: 0,
            requires_python: self.requires_python.clone(),
            resolution_markers: Vec::new(),
            supported_markers: Vec::new(),
            required_markers: Vec::new(),
            conflicts: Vec::new(),
            manifest: lock::LockManifest::default(),
            packages: self.packages(path)?,
        })
    }

    /// The packages the target installs, by index, sorted by name.
    pub fn select(
        &self,
        path: &Path,
        target: &Target,
        selection: &Selection,
    ) -> Result<Vec<usize>, FetchError> {
        let bad = |detail: String| FetchError::Pylock {
            path: path.to_path_buf(),
            detail,
        };
        if let Some(requires) = &self.requires_python
            && !python_fits(requires, target).map_err(bad)?
        {
            return Err(bad(format!(
                "the lock requires Python {requires}; the target is {}",
                target.python_full_version
            )));
        }
        if !self.environments.is_empty() {
            let mut fits = false;
            for environment in &self.environments {
                fits |= LockMarker::parse(environment)
                    .map_err(|e| bad(format!("environments: `{environment}`: {e}")))?
                    .evaluate(target, &[], &[]);
            }
            if !fits {
                return Err(bad(format!(
                    "the target is in none of the lock's environments ({}); lock for it",
                    self.environments.join("; ")
                )));
            }
        }
        let extras = self.extras_selected(selection, path)?;
        let groups = self.groups_selected(selection, path)?;
        let mut kept: BTreeMap<String, usize> = BTreeMap::new();
        for (index, package) in self.packages.iter().enumerate() {
            if let Some(marker) = &package.marker {
                let marker = LockMarker::parse(marker).map_err(|e| {
                    bad(format!(
                        "package `{}`: the marker `{marker}`: {e}",
                        package.name
                    ))
                })?;
                if !marker.evaluate(target, &extras, &groups) {
                    continue;
                }
            }
            let name = normalise(&package.name);
            if selection.no_install.iter().any(|n| normalise(n) == name) {
                continue;
            }
            if kept.insert(name.clone(), index).is_some() {
                return Err(bad(format!(
                    "`{name}` is listed more than once for this target; a lock may list a package twice only under markers that exclude each other"
                )));
            }
            if let Some(requires) = &package.requires_python
                && !python_fits(requires, target).map_err(&bad)?
            {
                return Err(bad(format!(
                    "`{name}` requires Python {requires}; the target is {}",
                    target.python_full_version
                )));
            }
        }
        Ok(kept.into_values().collect())
    }

    fn extras_selected(
        &self,
        selection: &Selection,
        path: &Path,
    ) -> Result<Vec<String>, FetchError> {
        if selection.all_extras {
            return Ok(self.extras.clone());
        }
        for extra in &selection.extras {
            if !self.extras.contains(extra) {
                return Err(FetchError::Pylock {
                    path: path.to_path_buf(),
                    detail: format!(
                        "--extra {extra}: the lock's extras are [{}]",
                        self.extras.join(", ")
                    ),
                });
            }
        }
        Ok(selection.extras.clone())
    }

    /// The groups asked for (`--group`, `--only-group`), else `default-groups`.
    fn groups_selected(
        &self,
        selection: &Selection,
        path: &Path,
    ) -> Result<Vec<String>, FetchError> {
        let asked: Vec<String> = selection
            .groups
            .iter()
            .chain(&selection.only_groups)
            .cloned()
            .collect();
        if asked.is_empty() {
            return Ok(self.default_groups.clone());
        }
        for group in &asked {
            if !self.dependency_groups.contains(group) && !self.default_groups.contains(group) {
                return Err(FetchError::Pylock {
                    path: path.to_path_buf(),
                    detail: format!(
                        "--group {group}: the lock's groups are [{}]",
                        self.dependency_groups.join(", ")
                    ),
                });
            }
        }
        Ok(asked)
    }
}

fn python_fits(requires: &str, target: &Target) -> Result<bool, String> {
    let specifiers = VersionSpecifiers::from_str(requires)
        .map_err(|e| format!("requires-python `{requires}`: {e}"))?;
    let version = Version::from_str(&target.python_full_version)
        .map_err(|e| format!("the target's Python `{}`: {e}", target.python_full_version))?;
    Ok(specifiers.contains(&version))
}

impl PyPackage {
    fn check(&self, path: &Path) -> Result<(), FetchError> {
        let bad = |detail: String| FetchError::BadPylockEntry {
            path: path.to_path_buf(),
            package: self.name.clone(),
            detail,
        };
        let sources = [
            self.vcs.is_some(),
            self.directory.is_some(),
            self.archive.is_some(),
            self.sdist.is_some() || self.wheels.is_some(),
        ];
        match sources.iter().filter(|s| **s).count() {
            0 => return Err(bad("it names no source (vcs, directory, archive, sdist or wheels)".into())),
            1 => {}
            _ => return Err(bad("it names more than one kind of source; vcs, directory and archive each stand alone".into())),
        }
        if (self.vcs.is_some() || self.directory.is_some()) && self.version.is_some() {
            return Err(bad(
                "a source tree (vcs, directory) may not carry a version".into(),
            ));
        }
        if let Some(vcs) = &self.vcs {
            if vcs.kind != "git" {
                return Err(bad(format!(
                    "a `{}` repository; pyfod checks out git only",
                    vcs.kind
                )));
            }
            if vcs.url.is_none() && vcs.path.is_none() {
                return Err(bad("its vcs names neither url nor path".into()));
            }
        }
        let files = self
            .archive
            .iter()
            .chain(&self.sdist)
            .chain(self.wheels.iter().flatten());
        for file in files {
            if file.url.is_none() && file.path.is_none() {
                return Err(bad("a file with neither url nor path".into()));
            }
            if file.hashes.is_empty() {
                return Err(bad(
                    "a file with an empty `hashes` table; the PEP requires at least one hash"
                        .into(),
                ));
            }
            if let Some(name) = file.file_name()
                && (name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']))
            {
                return Err(bad(format!("`{name}` is not a file name")));
            }
        }
        Ok(())
    }

    /// This package as a `uv.lock` would write it, so choosing, fetching and
    /// the manifests are the same.
    fn convert(&self, lock_path: &Path) -> Result<Package, FetchError> {
        let mut source = SourceWire::default();
        let mut sdist = None;
        let mut wheels = Vec::new();
        if let Some(vcs) = &self.vcs {
            let repository = match (&vcs.url, &vcs.path) {
                (Some(url), _) => url.clone(),
                (None, Some(path)) => file_url(lock_path, path),
                (None, None) => unreachable!("checked"),
            };
            if repository.contains(['?', '#']) {
                return Err(FetchError::BadPylockEntry {
                    path: lock_path.to_path_buf(),
                    package: self.name.clone(),
                    detail: format!("the repository `{repository}` holds `?` or `#`"),
                });
            }
            let mut query = Vec::new();
            if let Some(rev) = &vcs.requested_revision {
                query.push(format!("rev={rev}"));
            }
            if let Some(sub) = &vcs.subdirectory {
                query.push(format!("subdirectory={sub}"));
            }
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            source.git = Some(format!("{repository}{query}#{}", vcs.commit_id));
        } else if let Some(directory) = &self.directory {
            let path = match &directory.subdirectory {
                Some(sub) => format!("{}/{sub}", directory.path.trim_end_matches('/')),
                None => directory.path.clone(),
            };
            if directory.editable {
                source.editable = Some(path);
            } else {
                source.directory = Some(path);
            }
        } else if let Some(archive) = &self.archive {
            // As uv.lock writes a direct file: the source locates it, the
            // artifact carries its name and hash.
            let name = archive.file_name().unwrap_or_default().to_owned();
            match (&archive.path, &archive.url) {
                (Some(path), _) => source.path = Some(path.clone()),
                (None, Some(url)) if url.starts_with("file://") => {
                    source.path = Some(url.trim_start_matches("file://").to_owned());
                }
                (None, Some(url)) => {
                    source.url = Some(url.clone());
                    source.subdirectory = archive.subdirectory.clone();
                }
                (None, None) => unreachable!("checked"),
            }
            let artifact = Artifact {
                url: None,
                path: None,
                filename: Some(name.clone()),
                hash: sha256(archive),
                size: archive.size,
                upload_time: archive.upload_time.map(|t| t.to_string()),
            };
            if name.ends_with(".whl") {
                wheels.push(artifact);
            } else {
                sdist = Some(Artifact {
                    filename: None,
                    ..artifact
                });
            }
        } else {
            source.registry = Some(self.index.clone().unwrap_or_default());
            let file = |f: &File| Artifact {
                url: f.url.clone(),
                path: f.path.clone(),
                filename: f.name.clone(),
                hash: sha256(f),
                size: f.size,
                upload_time: f.upload_time.map(|t| t.to_string()),
            };
            sdist = self.sdist.as_ref().map(file);
            wheels = self.wheels.iter().flatten().map(file).collect();
        }
        Ok(Package {
            name: self.name.clone(),
            version: self.version.clone(),
            source,
            resolution_markers: Vec::new(),
            dependencies: Vec::new(),
            optional_dependencies: BTreeMap::new(),
            dev_dependencies: BTreeMap::new(),
            sdist,
            wheels,
        })
    }
}

impl File {
    /// `name`, else the last component of `path` (which wins over `url`), else of `url`.
    pub fn file_name(&self) -> Option<&str> {
        if let Some(name) = &self.name {
            return Some(name);
        }
        let located = self.path.as_deref().or(self.url.as_deref())?;
        let located = located.split(['#', '?']).next()?;
        located.rsplit('/').next()
    }
}

/// The SHA-256 the PEP's `hashes` table gives, as uv.lock spells it; none when
/// it gives only other algorithms (then the file counts as unhashed).
fn sha256(file: &File) -> Option<String> {
    file.hashes
        .get("sha256")
        .map(|hex| format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// A local repository as the URL git clones it from.
fn file_url(lock_path: &Path, path: &str) -> String {
    let dir = lock_path.parent().unwrap_or(Path::new("."));
    let absolute = std::path::absolute(dir.join(path)).unwrap_or_else(|_| PathBuf::from(path));
    format!("file://{}", absolute.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (PathBuf, PyLock) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pylock.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(is_pylock(Path::new("elsewhere/anything.toml"), &text));
        let lock = PyLock::parse(&path, &text).unwrap();
        (path, lock)
    }

    #[test]
    fn every_source_kind_becomes_what_uv_lock_would_say() {
        let (path, lock) = fixture();
        let packages = lock.packages(&path).unwrap();
        let by_name = |n: &str| packages.iter().find(|p| p.name == n).unwrap();
        let alpha = by_name("alpha");
        assert_eq!(
            alpha.source.registry.as_deref(),
            Some("http://127.0.0.1:1/simple")
        );
        assert_eq!(alpha.wheels.len(), 1);
        assert_eq!(alpha.sdist.as_ref().unwrap().size, Some(10));
        assert_eq!(
            alpha.sdist.as_ref().unwrap().upload_time.as_deref(),
            Some("2025-01-01T00:00:00Z")
        );
        assert_eq!(
            by_name("beta").source.git.as_deref(),
            Some(
                "file:///srv/beta.git?rev=main&subdirectory=py#0123456789abcdef0123456789abcdef01234567"
            )
        );
        assert_eq!(
            by_name("gamma").source.editable.as_deref(),
            Some("sources/gamma")
        );
        let delta = by_name("delta");
        assert_eq!(delta.source.path.as_deref(), Some("dists/delta-2.0.tar.gz"));
        assert!(
            delta
                .sdist
                .as_ref()
                .unwrap()
                .hash
                .as_deref()
                .unwrap()
                .starts_with("sha256:31fb")
        );
    }

    #[test]
    fn selection_follows_markers_extras_and_groups() {
        let (path, lock) = fixture();
        let target = Target::explicit("python=3.11,platform=manylinux_2_17_x86_64").unwrap();
        let names = |selection: &Selection| -> Vec<String> {
            lock.select(&path, &target, selection)
                .unwrap()
                .into_iter()
                .map(|i| lock.packages[i].name.clone())
                .collect()
        };
        assert_eq!(names(&Selection::default()), ["beta", "delta", "gamma"]);
        let with_x = Selection {
            extras: vec!["x".into()],
            groups: vec!["dev".into()],
            ..Default::default()
        };
        assert_eq!(names(&with_x), ["alpha", "delta", "gamma"]);
        let old = Target::explicit("python=3.7,platform=manylinux_2_17_x86_64").unwrap();
        let error = lock.select(&path, &old, &Selection::default()).unwrap_err();
        assert!(
            error.to_string().contains("the lock requires Python >=3.8"),
            "{error}"
        );
    }
}
