//! The targets, and the closing check: is any target's hash part still in the
//! tree, where Nix would look (contents, names, symlink targets)?

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::ops::Range;
use std::path::Path;

use aho_corasick::AhoCorasick;
use pyfod_manifest::{RelPath, ReplacementKind, Residual};
use rayon::prelude::*;

use crate::ScrubError;
use crate::refs::HashPart;
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

/// Scans the tree as it is now: every name and symlink target, and the contents
/// of `suspects`, the only files that could hold a hash part.
pub(crate) fn check(
    root: &Path,
    targets: &Targets,
    suspects: &HashSet<RelPath>,
    elf_ranges: &HashMap<RelPath, Range<u64>>,
) -> Result<Vec<Residual>, ScrubError> {
    if targets.searcher.is_none() {
        return Ok(Vec::new());
    }
    let entries = tree::list(root)?;
    let per_entry: Vec<Vec<Residual>> =
        entries
            .par_iter()
            .map(|entry| {
                let residual = |offset: u64, hash: HashPart, kind| Residual {
                    path: entry.path.clone(),
                    offset,
                    store_path: targets.path_of(&hash).unwrap_or_default().to_owned(),
                    kind,
                };
                let mut out: Vec<Residual> = targets
                    .find_in(tree::file_name(&entry.path))
                    .into_iter()
                    .map(|(offset, hash)| residual(offset, hash, ReplacementKind::FileName))
                    .collect();
                match &entry.kind {
                    Kind::Symlink { .. } => {
                        let path = entry.path.under(root);
                        let target = fs::read_link(&path)
                            .map_err(|e| ScrubError::io("read the symlink", &path, e))?
                            .into_os_string()
                            .into_encoded_bytes();
                        out.extend(targets.find_in(&target).into_iter().map(|(offset, hash)| {
                            residual(offset, hash, ReplacementKind::Symlink)
                        }));
                    }
                    Kind::File { .. } if suspects.contains(&entry.path) => {
                        let dynstr = elf_ranges.get(&entry.path);
                        for (offset, hash) in search_file(&entry.path.under(root), targets)? {
                            let kind = if dynstr.is_some_and(|r| r.contains(&offset)) {
                                ReplacementKind::ElfDynamicString
                            } else {
                                ReplacementKind::Text
                            };
                            out.push(residual(offset, hash, kind));
                        }
                    }
                    _ => {}
                }
                Ok(out)
            })
            .collect::<Result<_, ScrubError>>()?;
    let mut residuals: Vec<Residual> = per_entry.into_iter().flatten().collect();
    residuals.sort_by(|a, b| (&a.path, a.offset).cmp(&(&b.path, b.offset)));
    Ok(residuals)
}
