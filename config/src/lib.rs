//! TOML input — `pyfod.toml`, `uv.lock`, `pyproject.toml` — read into typed
//! structs, with errors that say which file, which line and column, and what is
//! wrong there.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// Reads pyfod's settings: all of `path`, or, when `path` is a `pyproject.toml`,
/// its `[tool.pyfod]` table (the default value when there is none). Errors keep
/// the file's own lines and columns.
pub fn read_settings<T: DeserializeOwned + Default>(path: &Path) -> Result<T, TomlError> {
    if path.file_name().is_some_and(|n| n == "pyproject.toml") {
        #[derive(serde::Deserialize)]
        #[serde(bound = "T: DeserializeOwned")]
        struct PyProject<T> {
            tool: Option<Tool<T>>,
        }
        #[derive(serde::Deserialize)]
        #[serde(bound = "T: DeserializeOwned")]
        struct Tool<T> {
            pyfod: Option<T>,
        }
        let project: PyProject<T> = read(path)?;
        Ok(project.tool.and_then(|t| t.pyfod).unwrap_or_default())
    } else {
        read(path)
    }
}

/// Whether `pyproject` has a `[tool.pyfod]` table.
pub fn has_pyfod_table(pyproject: &Path) -> bool {
    std::fs::read_to_string(pyproject)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|table| table.get("tool")?.get("pyfod").cloned())
        .is_some()
}

/// Parses TOML text that came from `path`.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, TomlError> {
    toml::from_str(text).map_err(|e| TomlError::Invalid {
        path: path.to_path_buf(),
        message: describe(text, &e),
    })
}

/// `line L, column C: message`, from the error's byte span; an unknown key gets
/// the closest known one suggested.
fn describe(text: &str, error: &toml::de::Error) -> String {
    let mut message = error.message().trim_end().to_owned();
    if let Some(suggestion) = closest_known(&message) {
        message.push_str(&format!("; did you mean `{suggestion}`?"));
    }
    let message = message.as_str();
    match error.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}

/// For serde's ``unknown field `x`, expected one of `a`, `b` `` (or ``expected
/// `a` or `b` ``), the known name closest to `x`, if one is close enough to be
/// what was meant.
fn closest_known(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let (distance, best) = known
        .iter()
        .map(|k| {
            (
                edit_distance(&unknown.to_lowercase(), &k.to_lowercase()),
                *k,
            )
        })
        .min()?;
    // A typo, a case slip, `_` for `-`: close; an unrelated word is not.
    (distance <= (unknown.len() / 3).max(2)).then(|| best.to_owned())
}

/// Levenshtein distance, with `_` and `-` counted as the same character.
fn edit_distance(a: &str, b: &str) -> usize {
    let same = |x: char, y: char| x == y || (matches!(x, '-' | '_') && matches!(y, '-' | '_'));
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(!same(x, y)));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// `30d`, `12h`, `90m`, `45s`: a duration (`--older-than`, `[build] timeout`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a number followed by d, h, m or s (e.g. 30d)"))?;
    let seconds = match unit {
        "d" => n * 86_400,
        "h" => n * 3_600,
        "m" => n * 60,
        "s" | "" => n,
        _ => return Err(format!("`{text}`: the unit is d, h, m or s (e.g. 30d)")),
    };
    Ok(Duration::from_secs(seconds))
}

/// `10G`, `500M`, `2048K`, `100000`: a size (`--max-size`, `[install] max-unpacked-size`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (number, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a number followed by K, M, G or T (e.g. 10G)"))?;
    let scale: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("`{text}`: the unit is K, M, G or T (e.g. 10G)")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// 1-based line and column of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// `path` with `.` and `..` taken out by its text, without asking the file
/// system, as paths named in a lock or a config file are read (and as Nix reads
/// a path): `a/b/../c` is `a/c` whatever `b` is.
pub fn lexical_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
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
    fn durations_and_sizes_parse() {
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(parse_duration("90m").unwrap(), Duration::from_secs(5_400));
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("d").is_err());
        assert_eq!(parse_size("10G").unwrap(), 10 << 30);
        assert_eq!(parse_size("500MiB").unwrap(), 500 << 20);
        assert_eq!(parse_size("123").unwrap(), 123);
        assert!(parse_size("5X").is_err());
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

    #[test]
    fn settings_come_from_tool_pyfod_in_pyproject() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyproject.toml");
        std::fs::write(
            &path,
            "[project]\nname = \"x\"\n\n[tool.uv]\npackage = false\n\n[tool.pyfod]\nlock = \"b/uv.lock\"\npass_env = []\n",
        )
        .unwrap();
        assert!(has_pyfod_table(&path));
        let error = read_settings::<Settings>(&path).unwrap_err().to_string();
        assert!(error.contains("line 9"), "{error}");
        assert!(error.ends_with("did you mean `pass-env`?"), "{error}");
        std::fs::write(&path, "[project]\nname = \"x\"\n").unwrap();
        assert!(!has_pyfod_table(&path));
        assert!(read_settings::<Settings>(&path).unwrap().lock.is_none());
    }

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[allow(dead_code)]
    struct Settings {
        pass_env: Option<Vec<String>>,
        source_date_epoch: Option<u64>,
        lock: Option<String>,
    }

    #[test]
    fn an_unknown_key_suggests_the_closest_known_one() {
        let path = Path::new("pyfod.toml");
        let error = parse::<Settings>(path, "lock = \"x\"\npass_env = []\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(error.ends_with("did you mean `pass-env`?"), "{error}");
        let error = parse::<Settings>(path, "source-date-epoc = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with("did you mean `source-date-epoch`?"),
            "{error}"
        );
        let error = parse::<Settings>(path, "colour = 1\n")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("did you mean"), "{error}");
    }
}
