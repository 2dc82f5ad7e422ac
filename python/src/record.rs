//! RECORD, a wheel's and an installed distribution's list of files: CSV rows of
//! `path,algorithm=urlsafe-base64-digest,size`, read and written through `csv`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pyfod_digest::Sha256;

/// One row of a RECORD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    pub path: String,
    /// Absent for RECORD itself and its signatures.
    pub hash: Option<RecordHash>,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHash {
    /// `sha256`, `sha384`, `sha512`.
    pub algorithm: String,
    pub digest: Vec<u8>,
}

impl RecordHash {
    /// The digest, when it is a SHA-256.
    pub fn sha256(&self) -> Option<Sha256> {
        (self.algorithm == "sha256")
            .then(|| self.digest.as_slice().try_into().ok().map(Sha256))
            .flatten()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("RECORD line {line}: {detail}")]
pub struct RecordError {
    pub line: u64,
    pub detail: String,
}

/// Reads RECORD text.
pub fn parse(text: &str) -> Result<Vec<RecordRow>, RecordError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = i as u64 + 1;
        let bad = |detail: String| RecordError { line, detail };
        let row = row.map_err(|e| bad(e.to_string()))?;
        let path = row.get(0).unwrap_or_default().to_owned();
        if path.is_empty() {
            return Err(bad("a row without a path".into()));
        }
        let hash = match row.get(1).filter(|h| !h.is_empty()) {
            None => None,
            Some(text) => {
                let (algorithm, encoded) = text
                    .split_once('=')
                    .ok_or_else(|| bad(format!("{path}: `{text}` is not algorithm=digest")))?;
                let digest = URL_SAFE_NO_PAD
                    .decode(encoded.trim_end_matches('='))
                    .map_err(|e| bad(format!("{path}: its digest is not base64: {e}")))?;
                Some(RecordHash {
                    algorithm: algorithm.to_owned(),
                    digest,
                })
            }
        };
        let size = match row.get(2).filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => Some(
                text.parse()
                    .map_err(|_| bad(format!("{path}: the size `{text}` is not a number")))?,
            ),
        };
        rows.push(RecordRow { path, hash, size });
    }
    Ok(rows)
}

/// A RECORD of `files` (path, digest, size), plus the row of RECORD itself at
/// `own`, sorted by path as uv writes them (`GMT` before `GMT+0`, though `,`
/// sorts after `+`), LF line ends.
pub fn write(files: &[(String, Sha256, u64)], own: &str) -> String {
    let mut rows: Vec<(&str, String, String)> = files
        .iter()
        .map(|(path, sha256, size)| {
            (
                path.as_str(),
                format!("sha256={}", URL_SAFE_NO_PAD.encode(sha256.as_bytes())),
                size.to_string(),
            )
        })
        .collect();
    rows.push((own, String::new(), String::new()));
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    for (path, hash, size) in rows {
        writer
            .write_record([path, &hash, &size])
            .expect("writing to memory");
    }
    String::from_utf8(writer.into_inner().expect("writing to memory")).expect("UTF-8 in, UTF-8 out")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_sorted_by_path_not_by_line_and_quoted_only_when_needed() {
        let file = |path: &str| (path.to_owned(), Sha256::of(b""), 0);
        let text = write(
            &[file("tz/GMT+0"), file("tz/GMT"), file("a,b"), file("q\"")],
            "tzdata-1.dist-info/RECORD",
        );
        let empty = "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0";
        assert_eq!(
            text,
            format!(
                "\"a,b\",{empty}\n\"q\"\"\",{empty}\ntz/GMT,{empty}\ntz/GMT+0,{empty}\ntzdata-1.dist-info/RECORD,,\n"
            )
        );
        let back = parse(&text).unwrap();
        assert_eq!(back[0].path, "a,b");
        assert_eq!(back[1].path, "q\"");
        assert_eq!(
            back[0].hash.as_ref().unwrap().sha256(),
            Some(Sha256::of(b""))
        );
        assert_eq!(back[4].hash, None);
        assert_eq!(back[4].size, None);
    }

    #[test]
    fn bad_rows_name_their_line() {
        for (text, expected) in [
            ("a,sha256=@@@,1\n", "line 1: a: its digest is not base64"),
            (
                "a,,1\nb,md5,1\n",
                "line 2: b: `md5` is not algorithm=digest",
            ),
            ("a,,big\n", "line 1: a: the size `big` is not a number"),
            (",,\n", "line 1: a row without a path"),
        ] {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.starts_with(&format!("RECORD {expected}")), "{error}");
        }
        // Padding is tolerated, other algorithms are kept.
        let rows = parse("a,sha512=AAAA==,3\n").unwrap();
        assert_eq!(rows[0].hash.as_ref().unwrap().algorithm, "sha512");
        assert_eq!(rows[0].hash.as_ref().unwrap().sha256(), None);
    }
}
