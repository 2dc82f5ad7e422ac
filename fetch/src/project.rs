//! The `pyproject.toml` beside the lock: the project's name (the root of the
//! walk) and the `[tool.uv]` settings that change which artifacts are used.

use std::path::Path;

use serde::Deserialize;

use crate::FetchError;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Pyproject {
    pub project: Option<ProjectTable>,
    #[serde(default)]
    pub tool: ToolTable,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProjectTable {
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ToolTable {
    #[serde(default)]
    pub uv: BinarySettings,
}

/// `[tool.uv]` keys about wheels and builds; the same as the flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BinarySettings {
    #[serde(default)]
    pub no_binary: bool,
    #[serde(default)]
    pub no_binary_package: Vec<String>,
    #[serde(default)]
    pub no_build: bool,
    #[serde(default)]
    pub no_build_package: Vec<String>,
}

impl BinarySettings {
    /// These settings plus `other`'s.
    pub fn merged(mut self, other: &BinarySettings) -> BinarySettings {
        self.no_binary |= other.no_binary;
        self.no_build |= other.no_build;
        self.no_binary_package
            .extend(other.no_binary_package.iter().cloned());
        self.no_build_package
            .extend(other.no_build_package.iter().cloned());
        self.no_binary_package.sort();
        self.no_binary_package.dedup();
        self.no_build_package.sort();
        self.no_build_package.dedup();
        self
    }
}

/// Reads `dir/pyproject.toml`, or nothing when there is none.
pub fn read(dir: &Path) -> Result<Pyproject, FetchError> {
    let path = dir.join("pyproject.toml");
    if !path.is_file() {
        return Ok(Pyproject::default());
    }
    Ok(pyfod_config::read(&path)?)
}

/// Parses the text of the `pyproject.toml` at `path` (named in errors).
pub fn parse(path: &Path, text: &str) -> Result<Pyproject, FetchError> {
    Ok(pyfod_config::parse(path, text)?)
}
