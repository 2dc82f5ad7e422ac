//! `--check`: two builds of one source compared, member by member.

use std::io::{Cursor, Read};

/// Where two wheels first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub member: String,
    /// The first differing byte of the member's contents, or `None` when the
    /// member is in one wheel only, or only its metadata (mode, time) differs.
    pub offset: Option<u64>,
}

/// The first difference between two wheels, or `None` if their bytes are equal.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<Difference> {
    if a == b {
        return None;
    }
    let whole = || Difference {
        member: "(the archive itself)".to_owned(),
        offset: a.iter().zip(b).position(|(x, y)| x != y).map(|i| i as u64),
    };
    let (Ok(mut left), Ok(mut right)) = (
        zip::ZipArchive::new(Cursor::new(a)),
        zip::ZipArchive::new(Cursor::new(b)),
    ) else {
        return Some(whole());
    };
    let names: Vec<String> = left
        .file_names()
        .flatten()
        .map(|n| n.into_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    let mut others: Vec<String> = right
        .file_names()
        .flatten()
        .map(|n| n.into_owned())
        .collect();
    others.sort();
    if let Some(name) = sorted
        .iter()
        .find(|n| others.binary_search(n).is_err())
        .or_else(|| others.iter().find(|n| sorted.binary_search(n).is_err()))
    {
        return Some(Difference {
            member: name.clone(),
            offset: None,
        });
    }
    for name in &names {
        let read = |archive: &mut zip::ZipArchive<Cursor<&[u8]>>| {
            let mut bytes = Vec::new();
            archive
                .by_name(name)
                .ok()
                .and_then(|mut m| m.read_to_end(&mut bytes).ok())
                .map(|_| bytes)
        };
        let (x, y) = (read(&mut left), read(&mut right));
        if x != y {
            let (x, y) = (x.unwrap_or_default(), y.unwrap_or_default());
            let offset = x
                .iter()
                .zip(&y)
                .position(|(p, q)| p != q)
                .unwrap_or(x.len().min(y.len()));
            return Some(Difference {
                member: name.clone(),
                offset: Some(offset as u64),
            });
        }
    }
    Some(whole())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn wheel(files: &[(&str, &str)]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in files {
            out.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            out.write_all(body.as_bytes()).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn names_the_member_and_offset() {
        let a = wheel(&[("p/a.py", "x = 1\n"), ("p/stamp.py", "T = 1700000000\n")]);
        let b = wheel(&[("p/a.py", "x = 1\n"), ("p/stamp.py", "T = 1700000042\n")]);
        assert_eq!(
            first_difference(&a, &b),
            Some(Difference {
                member: "p/stamp.py".into(),
                offset: Some(12)
            })
        );
        assert_eq!(first_difference(&a, &a), None);
        let c = wheel(&[("p/a.py", "x = 1\n")]);
        assert_eq!(first_difference(&a, &c).unwrap().member, "p/stamp.py");
    }
}
