//! A source tree's `[build-system]` (PEP 517, PEP 518).

use std::path::Path;

use serde::Deserialize;

use crate::BuildError;

/// What PEP 517 says to use when `pyproject.toml` names no backend.
pub const LEGACY_BACKEND: &str = "setuptools.build_meta:__legacy__";

/// What builds a source tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSystem {
    /// PEP 508 requirements the backend needs before it is asked for more.
    pub requires: Vec<String>,
    /// `module:object`
    pub backend: String,
    /// In-tree directories to look for the backend in, relative to the tree.
    pub backend_path: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct PyProject {
    #[serde(rename = "build-system")]
    build_system: Option<Table>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Table {
    requires: Option<Vec<String>>,
    build_backend: Option<String>,
    backend_path: Option<Vec<String>>,
}

impl BuildSystem {
    /// Reads `pyproject.toml` of the tree at `source`: no file, or no
    /// `build-backend`, means setuptools' legacy backend (with setuptools as the
    /// requirement when none is given), as PEP 517 and 518 say.
    pub fn read(source: &Path) -> Result<BuildSystem, BuildError> {
        let path = source.join("pyproject.toml");
        let table = if path.is_file() {
            pyfod_config::read::<PyProject>(&path)?.build_system
        } else {
            None
        };
        let legacy = || vec!["setuptools>=40.8.0".to_owned()];
        Ok(match table {
            None => BuildSystem {
                requires: legacy(),
                backend: LEGACY_BACKEND.to_owned(),
                backend_path: None,
            },
            Some(table) => {
                if let Some(paths) = &table.backend_path {
                    for entry in paths {
                        let p = Path::new(entry);
                        if p.is_absolute()
                            || p.components().any(|c| c == std::path::Component::ParentDir)
                        {
                            return Err(BuildError::BadBuildSystem {
                                path,
                                detail: format!(
                                    "backend-path entry `{entry}` points outside the source tree"
                                ),
                            });
                        }
                    }
                }
                BuildSystem {
                    requires: table.requires.unwrap_or_else(legacy),
                    backend: table
                        .build_backend
                        .unwrap_or_else(|| LEGACY_BACKEND.to_owned()),
                    backend_path: table.backend_path,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: Option<&str>) -> Result<BuildSystem, BuildError> {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = text {
            std::fs::write(dir.path().join("pyproject.toml"), text).unwrap();
        }
        BuildSystem::read(dir.path())
    }

    #[test]
    fn no_pyproject_means_legacy_setuptools() {
        let system = read(None).unwrap();
        assert_eq!(system.backend, LEGACY_BACKEND);
        assert_eq!(system.requires, ["setuptools>=40.8.0"]);
    }

    #[test]
    fn requires_without_backend_keeps_the_requirements() {
        let system = read(Some(
            "[build-system]\nrequires = [\"setuptools\", \"cython\"]\n",
        ))
        .unwrap();
        assert_eq!(system.backend, LEGACY_BACKEND);
        assert_eq!(system.requires, ["setuptools", "cython"]);
    }

    #[test]
    fn backend_path_may_not_leave_the_tree() {
        let error = read(Some(
            "[build-system]\nrequires = []\nbuild-backend = \"b\"\nbackend-path = [\"..\"]\n",
        ))
        .unwrap_err();
        assert!(
            error.to_string().contains("outside the source tree"),
            "{error}"
        );
    }
}
