//! The targets, and the closing check: is any target's hash part still in the
//! tree, where Nix would look (contents, names, symlink targets)?

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::ops::Range;
use std::path::Path;

use aho_corasick::AhoCorasick;
use pyfod_manifest::{RelPath, ReplacementKind, Residual};
use rayon::prelude::*;

use crate::ScrubError;
use crate::refs::{HashPart, Scan};
use crate::tree::{self, Kind};

/// The store paths whose hash parts must go, and a searcher for them.
#[derive(Debug)]
pub(crate) struct Targets {
    by_hash: BTreeMap<HashPart, String>,
    searcher: Option<AhoCorasick>,
    hashes: Vec<HashPart>,
}

impl Targets {
    pub(crate) fn new(by_hash: BTreeMap<HashPart, String>) -> Self {
        let hashes: Vec<HashPart> = by_hash.keys().copied().collect();
        let searcher = (!hashes.is_empty())
            .then(|| AhoCorasick::new(&hashes).expect("32-byte patterns always build"));
        Targets {
            by_hash,
            searcher,
            hashes,
        }
    }

    pub(crate) fn contains(&self, hash: &HashPart) -> bool {
        self.by_hash.contains_key(hash)
    }

    pub(crate) fn path_of(&self, hash: &HashPart) -> Option<&str> {
        self.by_hash.get(hash).map(String::as_str)
    }

    /// The store paths, sorted.
    pub(crate) fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.by_hash.values().cloned().collect();
        paths.sort();
        paths
    }

    /// Every target hash part in `bytes`, leftmost first, not overlapping.
    fn find_in(&self, bytes: &[u8]) -> Vec<(u64, HashPart)> {
        let Some(searcher) = &self.searcher else {
            return Vec::new();
        };
        searcher
            .find_iter(bytes)
            .map(|m| (m.start() as u64, self.hashes[m.pattern().as_usize()]))
            .collect()
    }
}

/// Every target hash part in a file, read as a stream.
pub(crate) fn search_file(
    path: &Path,
    targets: &Targets,
) -> Result<Vec<(u64, HashPart)>, ScrubError> {
    let Some(searcher) = &targets.searcher else {
        return Ok(Vec::new());
    };
    let file = File::open(path).map_err(|e| ScrubError::io("read", path, e))?;
    let mut found = Vec::new();
    for m in searcher.stream_find_iter(std::io::BufReader::with_capacity(256 * 1024, file)) {
        let m = m.map_err(|e| ScrubError::io("read", path, e))?;
        found.push((m.start() as u64, targets.hashes[m.pattern().as_usize()]));
    }
    Ok(found)
}

/// A file that could hold a hash part, as the first pass saw it.
#[derive(Debug)]
pub(crate) struct Suspect<'a> {
    /// Its path now (after any renames).
    pub(crate) path: RelPath,
    pub(crate) scan: &'a Scan,
    /// Byte ranges (of the file as scanned) that scrubbing replaced.
    pub(crate) replaced: Vec<Range<u64>>,
}

/// What Nix would still find: every name and symlink target of the tree as it is
/// now, and in the contents of `suspects`, the target hash parts that scrubbing
/// did not replace. Contents need no second read: a replacement writes bytes
/// outside Nix's base-32 (`e`, `@`), so it can only break a hash part, never make
/// one, and what is left is what the first pass saw minus what was replaced. A
/// file too full of runs to have kept them is searched again.
pub(crate) fn check(
    root: &Path,
    targets: &Targets,
    suspects: &[Suspect<'_>],
    elf_ranges: &HashMap<RelPath, Range<u64>>,
) -> Result<Vec<Residual>, ScrubError> {
    if targets.searcher.is_none() {
        return Ok(Vec::new());
    }
    let residual = |path: &RelPath, offset: u64, hash: HashPart, kind| Residual {
        path: path.clone(),
        offset,
        store_path: targets.path_of(&hash).unwrap_or_default().to_owned(),
        kind,
    };
    let entries = tree::list(root)?;
    let mut residuals: Vec<Residual> = entries
        .par_iter()
        .map(|entry| {
            let mut out: Vec<Residual> = targets
                .find_in(tree::file_name(&entry.path))
                .into_iter()
                .map(|(offset, hash)| {
                    residual(&entry.path, offset, hash, ReplacementKind::FileName)
                })
                .collect();
            if let Kind::Symlink { target } = &entry.kind {
                out.extend(targets.find_in(target).into_iter().map(|(offset, hash)| {
                    residual(&entry.path, offset, hash, ReplacementKind::Symlink)
                }));
            }
            out
        })
        .flatten()
        .collect();
    let in_contents: Vec<Vec<Residual>> = suspects
        .par_iter()
        .map(|suspect| {
            let left = if suspect.scan.overflow {
                search_file(&suspect.path.under(root), targets)?
            } else {
                suspect
                    .scan
                    .matches(|h| targets.contains(h))
                    .into_iter()
                    .filter(|(offset, _)| {
                        let window = *offset..offset + 32;
                        !suspect
                            .replaced
                            .iter()
                            .any(|r| r.start < window.end && window.start < r.end)
                    })
                    .collect()
            };
            let dynstr = elf_ranges.get(&suspect.path);
            Ok(left
                .into_iter()
                .map(|(offset, hash)| {
                    let kind = if dynstr.is_some_and(|r| r.contains(&offset)) {
                        ReplacementKind::ElfDynamicString
                    } else {
                        ReplacementKind::Text
                    };
                    residual(&suspect.path, offset, hash, kind)
                })
                .collect())
        })
        .collect::<Result<_, ScrubError>>()?;
    residuals.extend(in_contents.into_iter().flatten());
    residuals.sort_by(|a, b| (&a.path, a.offset).cmp(&(&b.path, b.offset)));
    Ok(residuals)
}
