//! The `[scrub]` table of `pyfod.toml`: the same rules as the command line, which
//! overrides it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Options, Preset};

/// `[scrub]` in `pyfod.toml`. Every key is a command-line flag without `--`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScrubConfig {
    pub preset: Option<Preset>,
    pub store_dir: Option<String>,
    #[serde(default)]
    pub refs: Vec<String>,
    /// Relative paths are relative to the directory of `pyfod.toml`.
    #[serde(default)]
    pub refs_from: Vec<PathBuf>,
    #[serde(default)]
    pub keep: Vec<String>,
    pub python_prefix: Option<String>,
    pub python_everywhere: Option<bool>,
    pub keep_bin: Option<bool>,
    pub keep_pyc: Option<bool>,
    pub strict: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    scrub: Option<ScrubConfig>,
    /// Other stages' tables are theirs to check.
    #[serde(flatten)]
    _rest: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
}

/// Reads the `[scrub]` table of a `pyfod.toml`, if it has one. Errors name the
/// file, line and column.
pub fn load(path: &Path) -> Result<Option<ScrubConfig>, pyfod_config::TomlError> {
    let file: File = pyfod_config::read_settings(path)?;
    Ok(file.scrub)
}

impl Options {
    /// These options, with what the command line left unset taken from `config`.
    /// Lists add up; a flag set on the command line stays set.
    pub fn with_config(mut self, config: ScrubConfig, base: &Path) -> Options {
        self.preset = self.preset.or(config.preset);
        self.store_dir = self.store_dir.or(config.store_dir);
        self.refs.extend(config.refs);
        self.refs_from
            .extend(config.refs_from.into_iter().map(|p| base.join(p)));
        self.keep.extend(config.keep);
        self.python_prefix = self.python_prefix.or(config.python_prefix);
        self.python_everywhere |= config.python_everywhere.unwrap_or(false);
        self.keep_bin |= config.keep_bin.unwrap_or(false);
        self.keep_pyc |= config.keep_pyc.unwrap_or(false);
        self.strict |= config.strict.unwrap_or(false);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Option<ScrubConfig>, pyfod_config::TomlError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyfod.toml");
        std::fs::write(&path, text).unwrap();
        load(&path)
    }

    #[test]
    fn reads_the_scrub_table_and_ignores_other_stages() {
        let config = load_text(
            "[fetch]\noffline = true\n\n[scrub]\npreset = \"seed\"\nstore-dir = \"/gnu/store\"\nstrict = true\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(config.preset, Some(Preset::Seed));
        let options = Options::default().with_config(config, Path::new("/p"));
        assert_eq!(options.store_dir(), "/gnu/store");
        assert!(options.strict);
        assert!(load_text("[fetch]\n").unwrap().is_none());
    }

    #[test]
    fn the_command_line_wins() {
        let config = load_text("[scrub]\nstore-dir = \"/gnu/store\"\nrefs-from = [\"closure\"]\n")
            .unwrap()
            .unwrap();
        let cli = Options {
            store_dir: Some("/nix/store".into()),
            ..Options::default()
        };
        let options = cli.with_config(config, Path::new("/project"));
        assert_eq!(options.store_dir(), "/nix/store");
        assert_eq!(options.refs_from, [PathBuf::from("/project/closure")]);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_line() {
        let error = load_text("[scrub]\npreset = \"seed\"\nstirct = true\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 3, column 1"), "{error}");
        assert!(
            error.contains("unknown field `stirct`") && error.contains("`strict`"),
            "{error}"
        );
        let error = load_text("[scrub]\npreset = \"nix\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(
            error.contains("default") && error.contains("seed"),
            "{error}"
        );
    }
}
