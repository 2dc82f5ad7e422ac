//! The `[scrub]` table of `pyfod.toml`: the same rules as the command line, which
//! overrides it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Preset;

/// `[scrub]` in `pyfod.toml`. Every key is a command-line flag without `--`.
#[derive(Debug, Clone, Default, Deserialize)]
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

impl ScrubConfig {
    /// The table with its relative paths made relative to `base`, the directory
    /// of the file it came from.
    pub fn relative_to(mut self, base: &Path) -> ScrubConfig {
        self.refs_from = self.refs_from.into_iter().map(|p| base.join(p)).collect();
        self
    }
}

/// The rules `cli` (the command line, as a table) and `file` (`[scrub]`) give,
/// resolved: the command line wins, lists add up, a flag set anywhere is set;
/// `refs-from` files are read now.
pub fn resolve(
    cli: ScrubConfig,
    file: Option<ScrubConfig>,
) -> Result<crate::Settings, crate::ScrubError> {
    let file = file.unwrap_or_default();
    let defaults = crate::Settings::default();
    let refs_from = cli
        .refs_from
        .iter()
        .chain(&file.refs_from)
        .map(|path| crate::RefsList::read(path))
        .collect::<Result<_, _>>()?;
    let flag = |a: Option<bool>, b: Option<bool>| a.unwrap_or(false) || b.unwrap_or(false);
    Ok(crate::Settings {
        preset: cli.preset.or(file.preset).unwrap_or_default(),
        store_dir: cli
            .store_dir
            .or(file.store_dir)
            .map(|d| d.trim_end_matches('/').to_owned())
            .unwrap_or(defaults.store_dir),
        refs: cli.refs.into_iter().chain(file.refs).collect(),
        refs_from,
        keep: cli.keep.into_iter().chain(file.keep).collect(),
        python_prefix: cli.python_prefix.or(file.python_prefix),
        python_everywhere: flag(cli.python_everywhere, file.python_everywhere),
        keep_bin: flag(cli.keep_bin, file.keep_bin),
        keep_pyc: flag(cli.keep_pyc, file.keep_pyc),
        strict: flag(cli.strict, file.strict),
        jobs: None,
    })
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    scrub: Option<ScrubConfig>,
    /// Other stages' tables are theirs to check.
    #[serde(flatten)]
    _rest: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
}

/// Reads the `[scrub]` table of a `pyfod.toml`, if it has one, its paths made
/// relative to the file. Errors name the file, line and column.
pub fn load(path: &Path) -> Result<Option<ScrubConfig>, pyfod_config::TomlError> {
    let file: File = pyfod_config::read_settings(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(file.scrub.map(|c| c.relative_to(base)))
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
        assert_eq!(config.store_dir.as_deref(), Some("/gnu/store"));
        assert_eq!(config.strict, Some(true));
        assert!(load_text("[fetch]\n").unwrap().is_none());
    }

    #[test]
    fn the_command_line_wins_and_refs_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyfod.toml");
        std::fs::write(
            &path,
            "[scrub]\nstore-dir = \"/gnu/store/\"\nrefs-from = [\"closure\"]\nkeep-bin = true\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("closure"), "/nix/store/a\n/nix/store/b\n").unwrap();
        let file = load(&path).unwrap();
        let cli = ScrubConfig {
            store_dir: Some("/nix/store".into()),
            ..ScrubConfig::default()
        };
        let settings = resolve(cli, file).unwrap();
        assert_eq!(settings.store_dir, "/nix/store");
        assert!(settings.keep_bin);
        assert_eq!(settings.refs_from[0].path, dir.path().join("closure"));
        assert_eq!(
            settings.refs_from[0].lines,
            ["/nix/store/a", "/nix/store/b"]
        );
        let file = load(&path).unwrap();
        assert_eq!(
            resolve(ScrubConfig::default(), file).unwrap().store_dir,
            "/gnu/store"
        );
        std::fs::remove_file(dir.path().join("closure")).unwrap();
        let error = resolve(ScrubConfig::default(), load(&path).unwrap()).unwrap_err();
        assert!(error.to_string().contains("closure"), "{error}");
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
