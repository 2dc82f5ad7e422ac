//! TOML input — `pyfod.toml`, `uv.lock`, `pyproject.toml` — read into typed
//! structs, with errors that say which file, which line and column, and what is
//! wrong there.

use std::fs;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum TomlError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Reads and parses a TOML file.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, TomlError> {
    let text = fs::read_to_string(path).map_err(|source| TomlError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses TOML text that came from `path`.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, TomlError> {
    toml::from_str(text).map_err(|e| TomlError::Invalid {
        path: path.to_path_buf(),
        message: describe(text, &e),
    })
}

/// `line L, column C: message`, from the error's byte span.
fn describe(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}

/// 1-based line and column of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        version: u32,
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let path = Path::new("uv.lock");
        let error = parse::<Doc>(path, "\n\nversion = \"one\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("uv.lock: line 3, column 11:"), "{error}");
        let error = parse::<Doc>(path, "x = [\n").unwrap_err().to_string();
        assert!(
            error.contains("line 1") || error.contains("line 2"),
            "{error}"
        );
        let error = parse::<Doc>(path, "other = 1\n").unwrap_err().to_string();
        assert!(error.contains("missing field `version`"), "{error}");
    }
}
