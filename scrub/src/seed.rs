//! The seed's installPhase, byte for byte: its discovery regex and the
//! `remove-references-to` passes it runs, emulated exactly.
//!
//! Discovery is `grep -aohE '<store>/[a-z0-9]{32}-[^/"[:space:]]+'` over regular
//! files (note `[a-z0-9]`: it also takes hash parts with `e`, `o`, `u`, `t`, which
//! Nix never makes). Each target then gets one `sed -i "s|HASH|eee…|g"` pass over
//! every regular file, in the order `sort -u` put the matches in, so a later pass
//! sees what earlier passes wrote. Symlinks and names are never touched.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use memchr::memmem;
use pyfod_manifest::{ByteString, Replacement, ReplacementKind};
use rayon::prelude::*;

use crate::ScrubError;
use crate::refs::HashPart;
use crate::rewrite;
use crate::tree::{Entry, Kind};

pub(crate) const E32: &[u8; 32] = b"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

/// Every match of the seed's regex in `bytes` (the whole match, `<store>/…-name`).
pub(crate) fn discover(bytes: &[u8], prefix: &[u8]) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = memmem::find(&bytes[from..], prefix) {
        let start = from + at;
        let hash = start + prefix.len();
        let matched = bytes.get(hash..hash + 33).is_some_and(|window| {
            window[..32]
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && window[32] == b'-'
        });
        let name_len = if matched {
            bytes[hash + 33..]
                .iter()
                .take_while(|&&b| {
                    !matches!(b, b'/' | b'"' | b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
                })
                .count()
        } else {
            0
        };
        if name_len > 0 {
            let end = hash + 33 + name_len;
            found.push(bytes[start..end].to_vec());
            from = end;
        } else {
            from = start + 1;
        }
    }
    found
}

/// The hash part `remove-references-to -t` takes from a match.
pub(crate) fn hash_of(matched: &[u8], prefix: &[u8]) -> [u8; 32] {
    matched[prefix.len()..prefix.len() + 32].try_into().unwrap()
}

/// Runs the `sed` passes over `bytes`, one target after another. Returns the
/// offsets replaced and by which target, or nothing when no byte changes.
pub(crate) fn replace(bytes: &mut [u8], targets: &[[u8; 32]]) -> Vec<(usize, [u8; 32])> {
    let mut replaced = Vec::new();
    for target in targets {
        let finder = memmem::Finder::new(target);
        let mut from = 0;
        while let Some(at) = finder.find(&bytes[from..]) {
            let start = from + at;
            if target != E32 {
                bytes[start..start + 32].copy_from_slice(E32);
                replaced.push((start, *target));
            }
            from = start + 32;
        }
    }
    replaced.sort();
    replaced
}

/// The seed's discovery and `remove-references-to` passes over the regular files
/// among `entries`. Returns the replacements and the seed's own closing check.
pub(crate) fn scrub(
    root: &Path,
    entries: &[Entry],
    prefix: &[u8],
    store_dir: &str,
) -> Result<(Vec<Replacement>, Vec<String>), ScrubError> {
    let files: Vec<&Entry> = entries
        .iter()
        .filter(|e| matches!(e.kind, Kind::File { .. }))
        .collect();
    let read = |entry: &Entry| {
        let path = entry.path.under(root);
        fs::read(&path).map_err(|e| ScrubError::io("read", &path, e))
    };
    let found: Vec<Vec<Vec<u8>>> = files
        .par_iter()
        .map(|entry| Ok(discover(&read(entry)?, prefix)))
        .collect::<Result<_, ScrubError>>()?;
    // `sort -u` in the C locale, then one pass per line, in that order.
    let mut matches: Vec<Vec<u8>> = found.into_iter().flatten().collect();
    matches.sort();
    matches.dedup();
    let order: Vec<HashPart> = matches.iter().map(|m| hash_of(m, prefix)).collect();
    let by_hash: HashMap<HashPart, String> = matches
        .iter()
        .rev()
        .map(|m| (hash_of(m, prefix), String::from_utf8_lossy(m).into_owned()))
        .collect();
    let finder = (!order.is_empty())
        .then(|| aho_corasick::AhoCorasick::new(&order).expect("32-byte patterns always build"));
    let per_file: Vec<(Vec<Replacement>, bool)> = files
        .par_iter()
        .map(|entry| {
            let mut bytes = read(entry)?;
            let mut replaced = Vec::new();
            if finder.as_ref().is_some_and(|f| f.is_match(&bytes)) {
                let path = entry.path.under(root);
                let hits = replace(&mut bytes, &order);
                if !hits.is_empty() {
                    rewrite::replace_file(&path, &bytes)
                        .map_err(|e| ScrubError::io("rewrite", &path, e))?;
                }
                replaced = hits
                    .into_iter()
                    .map(|(offset, hash)| Replacement {
                        path: entry.path.clone(),
                        offset: offset as u64,
                        original: ByteString(hash.to_vec()),
                        store_path: by_hash[&hash].clone(),
                        kind: ReplacementKind::Text,
                    })
                    .collect();
            }
            let still = memchr::memmem::find(&bytes, store_dir.as_bytes()).is_some();
            Ok((replaced, still))
        })
        .collect::<Result<_, ScrubError>>()?;
    let mut notes = vec![format!(
        "seed: found {} unique store path references to strip",
        matches.len()
    )];
    let remaining: Vec<String> = files
        .iter()
        .zip(&per_file)
        .filter(|(_, (_, still))| *still)
        .map(|(e, _)| e.path.to_string())
        .collect();
    notes.push(format!(
        "seed: files with remaining store references: {}",
        remaining.len()
    ));
    notes.extend(
        remaining
            .into_iter()
            .map(|p| format!("seed: still contains {}: {p}", store_dir)),
    );
    Ok((per_file.into_iter().flat_map(|(r, _)| r).collect(), notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovers_like_the_seed_regex() {
        let h = "0123456789abcdefghijklmnopqrstuv";
        let text = format!(
            "a /nix/store/{h}-libxml2-2.10/lib b \"/nix/store/{h}-py\" /nix/store/{h}/nodash /nix/store/{h}-"
        );
        let found = discover(text.as_bytes(), b"/nix/store/");
        let found: Vec<String> = found
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        assert_eq!(
            found,
            [
                format!("/nix/store/{h}-libxml2-2.10"),
                format!("/nix/store/{h}-py")
            ]
        );
    }

    #[test]
    fn passes_run_in_order_left_to_right() {
        let a = *b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let mut bytes = [&a[..], b"aaaa", &a[..]].concat();
        let replaced = replace(&mut bytes, &[a]);
        // 68 a's: sed takes 0..32, then 32..64, and leaves the last four.
        assert_eq!(replaced.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 32]);
        assert_eq!(&bytes[..32], E32);
        assert_eq!(&bytes[32..64], E32);
        assert_eq!(&bytes[64..], b"aaaa");
    }
}
