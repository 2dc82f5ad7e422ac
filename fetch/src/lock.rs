//! `uv.lock`, as uv writes it (version 1, any revision). Unknown keys are
//! tolerated, as uv tolerates them; a missing required key or malformed TOML is
//! an error that names the file, line and column.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::FetchError;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Lock {
    pub version: u32,
    #[serde(default)]
    pub revision: u32,
    pub requires_python: Option<String>,
    #[serde(default)]
    pub resolution_markers: Vec<String>,
    #[serde(default)]
    pub supported_markers: Vec<String>,
    #[serde(default)]
    pub required_markers: Vec<String>,
    #[serde(default)]
    pub conflicts: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    pub manifest: LockManifest,
    #[serde(default, rename = "package")]
    pub packages: Vec<Package>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockManifest {
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub requirements: Vec<Requirement>,
    #[serde(default)]
    pub dependency_groups: BTreeMap<String, Vec<Requirement>>,
}

/// A requirement of `[manifest]`: roots of a workspace without a project.
#[derive(Debug, Clone, Deserialize)]
pub struct Requirement {
    pub name: String,
    pub marker: Option<String>,
    #[serde(default)]
    pub extras: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Package {
    pub name: String,
    pub version: Option<String>,
    pub source: SourceWire,
    #[serde(default)]
    pub resolution_markers: Vec<String>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    #[serde(default)]
    pub optional_dependencies: BTreeMap<String, Vec<Dependency>>,
    #[serde(default, alias = "dependency-groups")]
    pub dev_dependencies: BTreeMap<String, Vec<Dependency>>,
    pub sdist: Option<Artifact>,
    #[serde(default)]
    pub wheels: Vec<Artifact>,
}

impl Package {
    /// A name is a PEP 508 name and a version a PEP 440 version: both end up in
    /// file names and directories, so nothing else may pass.
    fn check(&self, path: &Path) -> Result<(), FetchError> {
        let bad = |detail: String| FetchError::BadLockEntry {
            path: path.to_path_buf(),
            package: self.name.clone(),
            detail,
        };
        pep508_rs::PackageName::new(self.name.clone())
            .map_err(|_| bad("its name is not a package name (PEP 508)".into()))?;
        if let Some(version) = &self.version {
            version
                .parse::<pep508_rs::pep440_rs::Version>()
                .map_err(|_| bad(format!("its version `{version}` is not a PEP 440 version")))?;
        }
        for artifact in self.sdist.iter().chain(&self.wheels) {
            if let Some(name) = artifact.file_name()
                && (name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']))
            {
                return Err(bad(format!("`{name}` is not a file name")));
            }
        }
        Ok(())
    }
}

/// `source = { registry = … }` and its kin: exactly one kind key.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SourceWire {
    pub registry: Option<String>,
    pub git: Option<String>,
    pub url: Option<String>,
    pub path: Option<String>,
    pub directory: Option<String>,
    pub editable: Option<String>,
    #[serde(rename = "virtual")]
    pub virtual_: Option<String>,
    pub subdirectory: Option<String>,
    /// Keys of kinds pyfod does not know, to name them in the error.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde::de::IgnoredAny>,
}

/// What a source is, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Registry,
    Git,
    Url,
    Path,
    Directory,
    Editable,
    Virtual,
}

impl SourceWire {
    /// The kind and its value; `None` unless exactly one kind key is set.
    pub fn kind(&self) -> Option<(SourceKind, &str)> {
        let kinds = [
            (SourceKind::Registry, &self.registry),
            (SourceKind::Git, &self.git),
            (SourceKind::Url, &self.url),
            (SourceKind::Path, &self.path),
            (SourceKind::Directory, &self.directory),
            (SourceKind::Editable, &self.editable),
            (SourceKind::Virtual, &self.virtual_),
        ];
        let mut set = kinds
            .into_iter()
            .filter_map(|(kind, value)| Some((kind, value.as_deref()?)));
        let first = set.next()?;
        set.next().is_none().then_some(first)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dependency {
    pub name: String,
    pub version: Option<String>,
    pub source: Option<SourceWire>,
    #[serde(default)]
    pub extra: Vec<String>,
    pub marker: Option<String>,
}

/// An sdist or wheel entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Artifact {
    pub url: Option<String>,
    pub path: Option<String>,
    pub filename: Option<String>,
    pub hash: Option<String>,
    pub size: Option<u64>,
    pub upload_time: Option<String>,
}

impl Artifact {
    /// The file name: the last segment of its URL or path, or `filename`.
    pub fn file_name(&self) -> Option<&str> {
        let from = |s: &'_ str| -> Option<String> {
            let s = s.split(['#', '?']).next()?;
            Some(s.rsplit('/').next()?.to_owned())
        };
        if let Some(name) = &self.filename {
            return Some(name);
        }
        let raw = self.url.as_deref().or(self.path.as_deref())?;
        let name = from(raw)?;
        // Return a slice of `raw` so no allocation outlives this call.
        let start = raw.find(&name)?;
        Some(&raw[start..start + name.len()])
    }
}

impl Lock {
    /// Reads a `uv.lock`, or a `pylock.toml` (PEP 751) as the packages a
    /// `uv.lock` would list.
    pub fn read(path: &Path) -> Result<Lock, FetchError> {
        let bytes = std::fs::read(path).map_err(|source| FetchError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = std::str::from_utf8(&bytes).unwrap_or("");
        if crate::pylock::is_pylock(path, text) {
            return crate::pylock::PyLock::parse(path, text)?.to_lock(path);
        }
        Lock::parse(path, &bytes)
    }

    /// Parses the bytes of the lock at `path` (named in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Lock, FetchError> {
        let text = std::str::from_utf8(bytes).map_err(|e| FetchError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        let lock: Lock = pyfod_config::parse(path, text)?;
        if lock.version != 1 {
            return Err(FetchError::LockVersion {
                path: path.to_path_buf(),
                version: lock.version,
            });
        }
        for package in &lock.packages {
            package.check(path)?;
            if package.source.kind().is_none() {
                return Err(FetchError::SourceKind {
                    path: path.to_path_buf(),
                    package: package.name.clone(),
                    found: match package.source.other.keys().next() {
                        Some(key) => format!("`{key}`"),
                        None => "several kinds, or none".into(),
                    },
                });
            }
        }
        Ok(lock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_file_names() {
        let wheel = Artifact {
            url: Some("http://127.0.0.1:1/files/six-1.16.0-py2.py3-none-any.whl#sha256=ab".into()),
            path: None,
            filename: None,
            hash: None,
            size: None,
            upload_time: None,
        };
        assert_eq!(wheel.file_name(), Some("six-1.16.0-py2.py3-none-any.whl"));
    }
}
