//! `pyfod.toml` (or `[tool.pyfod]` of a `pyproject.toml`), read once, whole:
//! each stage's table is its own type, and a table no stage reads is an error
//! with a suggestion, not silently ignored.

use std::path::{Path, PathBuf};

use pyfod_build_sdist::BuildConfig;
use pyfod_install::collisions::InstallConfig;
use pyfod_scrub::config::ScrubConfig;
use serde::Deserialize;

/// Every table of `pyfod.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    pub preset: Option<Preset>,
    #[serde(default)]
    pub fetch: pyfod_fetch::FetchConfig,
    #[serde(default)]
    pub build: BuildConfig,
    #[serde(default)]
    pub install: InstallConfig,
    pub scrub: Option<ScrubConfig>,
    #[serde(default)]
    pub cache: pyfod_remote::CacheConfig,
}

/// `preset = "seed"`: what the seed does — uv's install metadata (`--compat uv=…`)
/// and the seed's scrub — so a seed FOD moved to pyfod keeps its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    Default,
    Seed,
}

/// Where the settings are: `explicit`, else `pyfod.toml` beside the lock, else
/// the `pyproject.toml` beside it when it has a `[tool.pyfod]` table.
pub fn find(explicit: Option<&Path>, lock: &Path) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let dir = match lock.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let beside = dir.join("pyfod.toml");
    let pyproject = dir.join("pyproject.toml");
    if beside.is_file() {
        Some(beside)
    } else {
        pyfod_config::has_pyfod_table(&pyproject).then_some(pyproject)
    }
}

/// Reads every table, its relative paths made relative to the file.
pub fn read(path: &Path) -> Result<ProjectConfig, pyfod_config::TomlError> {
    let mut config: ProjectConfig = pyfod_config::read_settings(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    config.build = config.build.relative_to(base);
    config.scrub = config.scrub.map(|s| s.relative_to(base));
    config.cache = config.cache.relative_to(base);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_table_is_named_with_the_right_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyfod.toml");
        std::fs::write(&path, "[scrub]\nstrict = true\n\n[biuld]\nlock = \"x\"\n").unwrap();
        let error = read(&path).unwrap_err().to_string();
        assert!(error.contains("line 4"), "{error}");
        assert!(error.ends_with("did you mean `build`?"), "{error}");
        std::fs::write(
            &path,
            "preset = \"seed\"\n[scrub]\nstrict = true\n[build]\nlock = \"b/uv.lock\"\n",
        )
        .unwrap();
        let config = read(&path).unwrap();
        assert_eq!(config.preset, Some(Preset::Seed));
        assert_eq!(config.build.lock, Some(dir.path().join("b/uv.lock")));
        assert_eq!(config.scrub.unwrap().strict, Some(true));
    }

    #[test]
    fn a_misspelt_key_in_a_stage_table_is_named_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyfod.toml");
        std::fs::write(&path, "[install]\ncolisions = {}\n").unwrap();
        let error = read(&path).unwrap_err().to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("`collisions`"), "{error}");
    }
}
