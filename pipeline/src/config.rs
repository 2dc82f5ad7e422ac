//! `pyfod.toml` as a whole: each stage reads its own table (`[build]`,
//! `[install]`, `[scrub]`) and checks its keys; this reads the top-level keys
//! (`preset`) and checks that no other table is there, so a misspelt one is an
//! error with a suggestion, not silently ignored.

use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Tables {
    preset: Option<Preset>,
    build: Option<IgnoredAny>,
    install: Option<IgnoredAny>,
    scrub: Option<IgnoredAny>,
}

/// `preset = "seed"`: what the seed does — uv's install metadata (`--compat uv=…`)
/// and the seed's scrub — so a seed FOD moved to pyfod keeps its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    Default,
    Seed,
}

/// Reads the top-level keys; refuses a `pyfod.toml` with a table no stage reads.
pub fn top_level(path: &Path) -> Result<Option<Preset>, pyfod_config::TomlError> {
    pyfod_config::read_settings::<Tables>(path).map(|t| t.preset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_table_is_named_with_the_right_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyfod.toml");
        std::fs::write(&path, "[scrub]\nstrict = true\n\n[biuld]\nlock = \"x\"\n").unwrap();
        let error = top_level(&path).unwrap_err().to_string();
        assert!(error.contains("line 4"), "{error}");
        assert!(error.ends_with("did you mean `build`?"), "{error}");
        std::fs::write(
            &path,
            "preset = \"seed\"\n[scrub]\nstrict = true\n[build]\n",
        )
        .unwrap();
        assert_eq!(top_level(&path).unwrap(), Some(Preset::Seed));
    }
}
