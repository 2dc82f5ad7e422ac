//! RECORD files made to describe the scrubbed tree. The scrub changes files a
//! RECORD lists (a launcher naming the venv's own store path, an extension whose
//! RPATH named a library) and removes others (`bin/`). A row that kept its old
//! hash would keep a hash of bytes that held a store path: the delivered venv
//! would depend on that path's hash part — for the venv's own path in a
//! fixed-output derivation, on the output hash itself, so a build with the right
//! hash would not reproduce it. So a changed file's row gets the file's new hash
//! and size, and a removed file's row goes.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pyfod_manifest::{ByteString, RelPath, Replacement, ReplacementKind};

use crate::ScrubError;
use crate::rewrite::replace_file;

/// What the scrub did to the tree, by the paths entries have now.
pub(crate) struct Scrubbed<'a> {
    pub(crate) changed: &'a BTreeSet<RelPath>,
    pub(crate) removed: &'a BTreeSet<RelPath>,
}

/// Rewrites each `*.dist-info/RECORD` in `records` whose rows name a changed or
/// removed file. Returns the edits (offsets in the RECORD as it was) and notes
/// on RECORDs left alone.
pub(crate) fn refresh(
    root: &Path,
    records: &[RelPath],
    scrubbed: &Scrubbed<'_>,
) -> Result<(Vec<Replacement>, Vec<String>), ScrubError> {
    let mut replacements = Vec::new();
    let mut notes = Vec::new();
    for record in records {
        let path = record.under(root);
        let bytes = fs::read(&path).map_err(|e| ScrubError::io("read", &path, e))?;
        let Some(base) = parent(record).as_ref().and_then(parent) else {
            continue;
        };
        match edit(root, record, &base, &bytes, scrubbed) {
            Ok(None) => {}
            Ok(Some((contents, edits))) => {
                replace_file(&path, &contents).map_err(|e| ScrubError::io("rewrite", &path, e))?;
                replacements.extend(edits);
            }
            Err(why) => notes.push(format!(
                "{record} was left as it was ({why}): its rows may still hash files the scrub changed"
            )),
        }
    }
    Ok((replacements, notes))
}

/// A RECORD's new contents, and the edits that made them.
type Rewritten = (Vec<u8>, Vec<Replacement>);

/// The new contents of one RECORD and the edits, or `None` when no row changes.
fn edit(
    root: &Path,
    record: &RelPath,
    base: &RelPath,
    bytes: &[u8],
    scrubbed: &Scrubbed<'_>,
) -> Result<Option<Rewritten>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8".to_owned())?;
    let mut contents = Vec::with_capacity(bytes.len());
    let mut edits = Vec::new();
    let mut offset = 0u64;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len() as u64;
        let row = match pyfod_python::record::parse(line) {
            Ok(rows) if rows.len() == 1 => rows.into_iter().next().unwrap(),
            Ok(rows) if rows.is_empty() => {
                contents.extend_from_slice(line.as_bytes());
                continue;
            }
            _ => return Err(format!("its line {} is not one row", number + 1)),
        };
        let Some(listed) = resolve(base, &row.path) else {
            contents.extend_from_slice(line.as_bytes());
            continue;
        };
        let replacement = |offset: u64, original: &str, kind| Replacement {
            path: record.clone(),
            offset,
            original: ByteString(original.as_bytes().to_vec()),
            store_path: String::new(),
            kind,
        };
        if scrubbed.removed.contains(&listed) {
            edits.push(replacement(start, line, ReplacementKind::RecordRow));
            continue;
        }
        let tail = line.trim_end_matches(['\n', '\r']);
        let fields: Vec<&str> = tail.rsplitn(3, ',').collect();
        let (true, [size, hash, path_field]) = (
            scrubbed.changed.contains(&listed) && row.hash.is_some(),
            fields.as_slice(),
        ) else {
            contents.extend_from_slice(line.as_bytes());
            continue;
        };
        let file = listed.under(root);
        let now = fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let fresh = format!(
            "sha256={},{}",
            URL_SAFE_NO_PAD.encode(pyfod_digest::Sha256::of(&now).as_bytes()),
            now.len()
        );
        let old = format!("{hash},{size}");
        if fresh != old {
            let at = start + path_field.len() as u64 + 1;
            edits.push(replacement(at, &old, ReplacementKind::RecordHash));
        }
        contents.extend_from_slice(path_field.as_bytes());
        contents.push(b',');
        contents.extend_from_slice(fresh.as_bytes());
        contents.extend_from_slice(&line.as_bytes()[tail.len()..]);
    }
    Ok((!edits.is_empty()).then_some((contents, edits)))
}

fn parent(path: &RelPath) -> Option<RelPath> {
    let bytes = path.as_bytes();
    let cut = bytes.iter().rposition(|&b| b == b'/').unwrap_or(0);
    (!path.is_root()).then(|| RelPath(ByteString(bytes[..cut].to_vec())))
}

/// A RECORD row's path, relative to the directory that holds the dist-info, as
/// a path in the tree; `None` when it leaves the tree or is absolute.
fn resolve(base: &RelPath, listed: &str) -> Option<RelPath> {
    if listed.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&[u8]> = base.components().collect();
    for part in listed.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name.as_bytes()),
        }
    }
    Some(RelPath(ByteString(parts.join(&b'/'))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_resolve_from_the_directory_of_the_dist_info() {
        let base = RelPath::from("lib/python3.11/site-packages");
        assert_eq!(
            resolve(&base, "../../../bin/greet"),
            Some(RelPath::from("bin/greet"))
        );
        assert_eq!(
            resolve(&base, "pkg/mod.py"),
            Some(RelPath::from("lib/python3.11/site-packages/pkg/mod.py"))
        );
        assert_eq!(resolve(&base, "../../../../etc/passwd"), None);
        assert_eq!(resolve(&base, "/abs"), None);
    }

    #[test]
    fn changed_rows_are_rehashed_and_removed_rows_go() {
        let tmp = tempfile::tempdir().unwrap();
        let site = tmp.path().join("lib/site");
        fs::create_dir_all(site.join("pkg-1.0.dist-info")).unwrap();
        fs::create_dir_all(site.join("pkg")).unwrap();
        fs::write(site.join("pkg/a.so"), b"scrubbed").unwrap();
        fs::write(site.join("pkg/b.py"), b"same").unwrap();
        let record = "pkg/a.so,sha256=AAAA,9\n\"pkg/b,c.py\",sha256=BBBB,4\n../../bin/tool,sha256=CCCC,10\npkg-1.0.dist-info/RECORD,,\n";
        let record_path = RelPath::from("lib/site/pkg-1.0.dist-info/RECORD");
        fs::write(record_path.under(tmp.path()), record).unwrap();
        let changed = BTreeSet::from([RelPath::from("lib/site/pkg/a.so")]);
        let removed = BTreeSet::from([RelPath::from("bin/tool")]);
        let scrubbed = Scrubbed {
            changed: &changed,
            removed: &removed,
        };
        let (edits, notes) =
            refresh(tmp.path(), std::slice::from_ref(&record_path), &scrubbed).unwrap();
        assert!(notes.is_empty());
        let now = fs::read_to_string(record_path.under(tmp.path())).unwrap();
        let hash = URL_SAFE_NO_PAD.encode(pyfod_digest::Sha256::of(b"scrubbed").as_bytes());
        assert_eq!(
            now,
            format!(
                "pkg/a.so,sha256={hash},8\n\"pkg/b,c.py\",sha256=BBBB,4\npkg-1.0.dist-info/RECORD,,\n"
            )
        );
        assert_eq!(edits.len(), 2);
        assert_eq!(edits[0].kind, ReplacementKind::RecordHash);
        assert_eq!(
            (edits[0].offset, edits[0].original.as_bytes()),
            (9, &b"sha256=AAAA,9"[..])
        );
        assert_eq!(edits[1].kind, ReplacementKind::RecordRow);
        assert_eq!(
            edits[1].original.as_bytes(),
            b"../../bin/tool,sha256=CCCC,10\n"
        );
    }
}
