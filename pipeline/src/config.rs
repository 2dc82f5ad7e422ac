//! `pyfod.toml` as a whole: each stage reads its own table (`[build]`,
//! `[install]`, `[scrub]`) and checks its keys; this checks that no other table is
//! there, so a misspelt one is an error with a suggestion, not silently ignored.

use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Tables {
    build: Option<IgnoredAny>,
    install: Option<IgnoredAny>,
    scrub: Option<IgnoredAny>,
}

/// Refuses a `pyfod.toml` with a table no stage reads.
pub fn check(path: &Path) -> Result<(), pyfod_config::TomlError> {
    pyfod_config::read_settings::<Tables>(path).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_table_is_named_with_the_right_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyfod.toml");
        std::fs::write(&path, "[scrub]\nstrict = true\n\n[biuld]\nlock = \"x\"\n").unwrap();
        let error = check(&path).unwrap_err().to_string();
        assert!(error.contains("line 4"), "{error}");
        assert!(error.ends_with("did you mean `build`?"), "{error}");
        std::fs::write(&path, "[scrub]\nstrict = true\n[build]\n").unwrap();
        check(&path).unwrap();
    }
}
