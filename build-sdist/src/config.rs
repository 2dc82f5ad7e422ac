//! The `[build]` table of `pyfod.toml`: build locks, environment, flags and
//! per-package settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `SOURCE_DATE_EPOCH` when none is configured: 1980-01-01, the earliest time a zip
/// entry can carry, so the wheel's timestamps and the build's agree.
pub const DEFAULT_SOURCE_DATE_EPOCH: u64 = 315_532_800;

/// `[build]` in `pyfod.toml`. In cache keys whole, but for the paths of build
/// locks: what they lock reaches the key as the build environment's digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BuildConfig {
    /// The build lock: a uv.lock of build tools, relative to pyfod.toml.
    #[serde(skip_serializing)]
    pub lock: Option<PathBuf>,
    /// Variables of the caller's environment the builds may see [default: PATH];
    /// `NAME*` passes every variable whose name starts with `NAME`.
    pub pass_env: Option<Vec<String>>,
    pub source_date_epoch: Option<u64>,
    /// How long one hook of one build may run: `2h`, `30m` [default: 2h]. It
    /// changes no wheel: not in keys.
    #[serde(skip_serializing)]
    pub timeout: Option<String>,
    /// The most an sdist may unpack to: `16G` [default: 16G]. Not in keys.
    #[serde(skip_serializing)]
    pub max_unpacked_size: Option<String>,
    /// The largest unpacked ÷ compressed ratio of an sdist over 64 MiB [default:
    /// 250]. Not in keys.
    #[serde(skip_serializing)]
    pub max_compression_ratio: Option<u64>,
    /// Keep debug info in every build (made reproducible by the prefix map).
    #[serde(default)]
    pub debug: bool,
    /// Compile a setuptools package's extension modules in parallel (`build_ext`'s
    /// `parallel`, `--jobs` of them) [default: true]. Each module is built as it
    /// would be alone, so no wheel changes: not in keys.
    #[serde(skip_serializing)]
    pub parallel_extensions: Option<bool>,
    /// A compiler cache the builds' C and C++ compilers run through: `ccache`,
    /// or its path [default: none]. Its objects are in the store's `ccache/`.
    /// It changes no wheel: not in keys; `--check` builds without it.
    #[serde(skip_serializing)]
    pub compiler_cache: Option<String>,
    /// pkg-config modules the builds link against (`libxml-2.0`, `libpq`, …):
    /// their versions are part of every build's key and of the build's recorded
    /// inputs, so an upgraded system library rebuilds, and the stale-hash guard
    /// names it.
    #[serde(default)]
    pub system_libraries: Vec<String>,
    /// Variables for every build. Flags (`CFLAGS`, `CXXFLAGS`, `CPPFLAGS`,
    /// `LDFLAGS`) are appended to pyfod's; search paths (`PATH`, `PKG_CONFIG_PATH`,
    /// …) are put in front of the inherited value.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub packages: BTreeMap<String, PackageConfig>,
}

/// `[build.packages.<name>]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackageConfig {
    /// A build lock of this package's own, when its tools conflict with the
    /// others' (two sdists pinning two setuptools); relative to pyfod.toml.
    #[serde(skip_serializing)]
    pub lock: Option<PathBuf>,
    /// Appended after `[build.env]` (flags and search paths), or replacing it.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// PEP 517 `config_settings` passed to the backend's hooks.
    #[serde(default)]
    pub config_settings: BTreeMap<String, ConfigValue>,
    pub debug: Option<bool>,
    /// `[build] parallel-extensions` for this package alone: not in keys.
    #[serde(skip_serializing)]
    pub parallel_extensions: Option<bool>,
}

/// A `config_settings` value: a string, or a list of strings (PEP 517).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ConfigValue {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    build: Option<BuildConfig>,
    #[serde(flatten)]
    _rest: BTreeMap<String, serde::de::IgnoredAny>,
}

/// Reads the `[build]` table of a `pyfod.toml`. Relative paths in it are made
/// relative to the file's directory. Errors name the file, line and column.
pub fn load(path: &Path) -> Result<BuildConfig, pyfod_config::TomlError> {
    let file: File = pyfod_config::read_settings(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(file.build.unwrap_or_default().relative_to(base))
}

impl BuildConfig {
    /// The table with its paths made relative to `base`, the directory of the
    /// file it came from, and its packages' names normalised.
    pub fn relative_to(mut self, base: &Path) -> BuildConfig {
        self.lock = self.lock.map(|lock| base.join(lock));
        self.packages = self
            .packages
            .into_iter()
            .map(|(name, mut package)| {
                package.lock = package.lock.map(|lock| base.join(lock));
                (pyfod_python::normalise_name(&name), package)
            })
            .collect();
        self
    }
}

impl BuildConfig {
    pub fn package(&self, name: &str) -> Option<&PackageConfig> {
        self.packages.get(&pyfod_python::normalise_name(name))
    }

    /// The build lock `name` builds with: its own, else `[build] lock`.
    pub fn lock_for(&self, name: &str) -> Option<&Path> {
        self.package(name)
            .and_then(|p| p.lock.as_deref())
            .or(self.lock.as_deref())
    }

    /// `timeout`, or two hours: longer than any real build on a slow machine,
    /// short enough that a hung one ends the day it hangs.
    pub fn timeout(&self) -> Result<std::time::Duration, crate::BuildError> {
        match &self.timeout {
            Some(text) => pyfod_config::parse_duration(text).map_err(crate::BuildError::Timeout),
            None => Ok(std::time::Duration::from_secs(2 * 3600)),
        }
    }

    /// The limits on what an sdist unpacks to.
    pub fn limits(&self) -> Result<pyfod_python::Limits, crate::BuildError> {
        let mut limits = pyfod_python::Limits::default();
        if let Some(size) = &self.max_unpacked_size {
            limits.max_unpacked =
                pyfod_config::parse_size(size).map_err(crate::BuildError::Size)?;
        }
        if let Some(ratio) = self.max_compression_ratio {
            limits.max_ratio = ratio.max(1);
        }
        Ok(limits)
    }

    pub fn source_date_epoch(&self) -> u64 {
        self.source_date_epoch.unwrap_or(DEFAULT_SOURCE_DATE_EPOCH)
    }

    pub fn debug_for(&self, name: &str) -> bool {
        self.package(name)
            .and_then(|p| p.debug)
            .unwrap_or(self.debug)
    }

    /// Whether the package's extension modules compile in parallel.
    pub fn parallel_extensions_for(&self, name: &str) -> bool {
        self.package(name)
            .and_then(|p| p.parallel_extensions)
            .or(self.parallel_extensions)
            .unwrap_or(true)
    }

    pub fn pass_env(&self) -> Vec<String> {
        self.pass_env
            .clone()
            .unwrap_or_else(|| vec!["PATH".to_owned()])
    }

    /// The variables of `vars` (the caller's) that `pass-env` lets through: exact
    /// names, or prefixes written `NAME*`.
    pub fn passed_env(
        &self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> BTreeMap<String, String> {
        let patterns = self.pass_env();
        vars.into_iter()
            .filter(|(name, _)| {
                patterns.iter().any(|p| match p.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => name == p,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_build_table_with_packages_and_ignores_other_stages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyfod.toml");
        std::fs::write(
            &path,
            "[scrub]\npreset = \"seed\"\n\n[build]\nlock = \"build/uv.lock\"\n\
             [build.env]\nCFLAGS = \"-O1\"\n\
             [build.packages.lxml]\nlock = \"build/lxml/uv.lock\"\n\
             [build.packages.GSSAPI]\nenv = { CFLAGS = \"-include gssapi/gssapi_ext.h\" }\n\
             config-settings = { a = \"b\", c = [\"d\", \"e\"] }\ndebug = true\n",
        )
        .unwrap();
        let config = load(&path).unwrap();
        assert_eq!(config.lock, Some(dir.path().join("build/uv.lock")));
        assert_eq!(config.env["CFLAGS"], "-O1");
        let gssapi = config.package("gssapi").unwrap();
        assert_eq!(gssapi.env["CFLAGS"], "-include gssapi/gssapi_ext.h");
        assert_eq!(
            gssapi.config_settings["c"],
            ConfigValue::Many(vec!["d".into(), "e".into()])
        );
        assert!(config.debug_for("gssapi"));
        assert!(!config.debug_for("lxml"));
        assert_eq!(config.pass_env(), ["PATH"]);
        assert_eq!(
            config.lock_for("lxml"),
            Some(dir.path().join("build/lxml/uv.lock").as_path())
        );
        assert_eq!(
            config.lock_for("gssapi"),
            Some(dir.path().join("build/uv.lock").as_path())
        );
    }

    #[test]
    fn unknown_key_is_an_error_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyfod.toml");
        std::fs::write(&path, "[build]\nlock = \"x\"\ncflags = \"-O2\"\n").unwrap();
        let error = load(&path).unwrap_err().to_string();
        assert!(error.contains("line 3"), "{error}");
        assert!(error.contains("cflags"), "{error}");
    }
}
