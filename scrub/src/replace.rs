//! The default rules: every target's hash part, in contents, symlink targets and
//! names, becomes 32 `e`s; with `--python-everywhere`, the interpreter prefix
//! becomes `@python@` outside ELF files too.

use std::collections::HashMap;
use std::fs;
use std::ops::Range;
use std::path::Path;

use pyfod_manifest::{ByteString, RelPath, Replacement, ReplacementKind};
use rayon::prelude::*;

use crate::refs::{self, HashPart, Scan, StoreRef};
use crate::residual::{self, Targets};
use crate::rewrite::{self, Edit};
use crate::seed;
use crate::stage::{EntryScan, Scrub, parent};
use crate::tree::{self, Entry, Kind};
use crate::{PLACEHOLDER, ScrubError};

/// Renames made, `(before, after)`, deepest first.
pub(crate) type Renames = Vec<(RelPath, RelPath)>;

/// The edits a scan calls for: the targets' hash parts and, with
/// `--python-everywhere`, the interpreter prefix outside ELF files.
struct Editor<'a> {
    scrub: &'a Scrub<'a>,
    targets: &'a Targets,
    python: Option<&'a StoreRef>,
}

impl Editor<'_> {
    fn python_edit(&self, found: &refs::Found) -> Option<Edit> {
        let python = self.python?;
        let full = StoreRef::new(self.scrub.store_dir().as_bytes(), found.hash, &found.name);
        (full.path == python.path).then(|| Edit {
            offset: found.offset - self.scrub.prefix.len() as u64,
            original: python.path.as_bytes().to_vec(),
            with: PLACEHOLDER.to_vec(),
        })
    }

    fn edits(
        &self,
        scan: &Scan,
        body: Option<&Path>,
        is_elf: bool,
    ) -> Result<Vec<Edit>, ScrubError> {
        let mut edits: Vec<Edit> = if is_elf {
            Vec::new()
        } else {
            scan.found
                .iter()
                .filter_map(|f| self.python_edit(f))
                .collect()
        };
        let matches = match (scan.overflow, body) {
            (true, Some(path)) => residual::search_file(path, self.targets)?,
            _ => scan.matches(|h| self.targets.contains(h)),
        };
        edits.extend(matches.into_iter().map(|(offset, hash)| Edit {
            offset,
            original: hash.to_vec(),
            with: seed::E32.to_vec(),
        }));
        Ok(rewrite::normalise(edits))
    }
}

impl Scrub<'_> {
    /// The default rules: every target's hash part in contents, symlink targets and
    /// names becomes `e`s. Returns the replacements and the renames, deepest first.
    pub(crate) fn replace(
        &self,
        entries: &[Entry],
        scans: &[EntryScan],
        targets: &Targets,
        python: Option<&StoreRef>,
        elf_ranges: &HashMap<RelPath, Range<u64>>,
    ) -> Result<(Vec<Replacement>, Renames), ScrubError> {
        let editor = Editor {
            scrub: self,
            targets,
            python,
        };
        let mut replacements = self.replace_in_files(entries, scans, &editor, elf_ranges)?;
        for (entry, scan) in entries.iter().zip(scans) {
            let (Kind::Symlink { target }, Some(body)) = (&entry.kind, &scan.body) else {
                continue;
            };
            let edits = editor.edits(body, None, false)?;
            if edits.is_empty() {
                continue;
            }
            let path = entry.path.under(self.root);
            rewrite::retarget_symlink(&path, &rewrite::apply(target, &edits))
                .map_err(|e| ScrubError::io("rewrite the symlink", &path, e))?;
            replacements.extend(edits.iter().map(|edit| {
                self.replacement(&entry.path, edit, ReplacementKind::Symlink, targets)
            }));
        }
        let renames = self.rename(entries, scans, targets, &mut replacements)?;
        Ok((replacements, renames))
    }

    /// Every file whose scan found a place a target could be, rewritten, in parallel.
    fn replace_in_files(
        &self,
        entries: &[Entry],
        scans: &[EntryScan],
        editor: &Editor<'_>,
        elf_ranges: &HashMap<RelPath, Range<u64>>,
    ) -> Result<Vec<Replacement>, ScrubError> {
        let file_replacements: Vec<Vec<Replacement>> = entries
            .par_iter()
            .zip(scans)
            .filter(|(e, s)| {
                matches!(e.kind, Kind::File { .. }) && s.body.as_ref().is_some_and(Scan::may_refer)
            })
            .map(|(entry, scan)| {
                let path = entry.path.under(self.root);
                let body = scan.body.as_ref().unwrap();
                let edits = editor.edits(body, Some(&path), scan.elf.is_some())?;
                if edits.is_empty() {
                    return Ok(Vec::new());
                }
                rewrite::rewrite_file(&path, &edits)
                    .map_err(|e| ScrubError::io("rewrite", &path, e))?;
                let dynstr = elf_ranges.get(&entry.path);
                Ok(edits
                    .iter()
                    .map(|edit| {
                        let kind = if edit.with == PLACEHOLDER {
                            ReplacementKind::InterpreterPrefix
                        } else if dynstr.is_some_and(|r| r.contains(&edit.offset)) {
                            ReplacementKind::ElfDynamicString
                        } else {
                            ReplacementKind::Text
                        };
                        self.replacement(&entry.path, edit, kind, editor.targets)
                    })
                    .collect())
            })
            .collect::<Result<_, ScrubError>>()?;
        Ok(file_replacements.into_iter().flatten().collect())
    }

    /// Every name holding a target's hash part, renamed, deepest first, so each
    /// rename sees its parents under their old names.
    fn rename(
        &self,
        entries: &[Entry],
        scans: &[EntryScan],
        targets: &Targets,
        replacements: &mut Vec<Replacement>,
    ) -> Result<Renames, ScrubError> {
        let mut renames = Vec::new();
        let mut named: Vec<(&Entry, &EntryScan)> = entries
            .iter()
            .zip(scans)
            .filter(|(_, s)| s.name.may_refer())
            .collect();
        named.sort_by_key(|(e, _)| std::cmp::Reverse(e.path.components().count()));
        for (entry, scan) in named {
            let edits = rewrite::normalise(
                scan.name
                    .matches(|h| targets.contains(h))
                    .into_iter()
                    .map(|(offset, hash)| Edit {
                        offset,
                        original: hash.to_vec(),
                        with: seed::E32.to_vec(),
                    })
                    .collect(),
            );
            if edits.is_empty() {
                continue;
            }
            let new_name = rewrite::apply(tree::file_name(&entry.path), &edits);
            let parent = parent(&entry.path);
            let new_path = parent.join(&new_name);
            let (from, to) = (entry.path.under(self.root), new_path.under(self.root));
            tree::in_writable_dir(&parent.under(self.root), || fs::rename(&from, &to))
                .map_err(|e| ScrubError::io("rename", &from, e))?;
            replacements.extend(edits.iter().map(|edit| {
                self.replacement(&entry.path, edit, ReplacementKind::FileName, targets)
            }));
            renames.push((entry.path.clone(), new_path));
        }
        Ok(renames)
    }

    fn replacement(
        &self,
        path: &RelPath,
        edit: &Edit,
        kind: ReplacementKind,
        targets: &Targets,
    ) -> Replacement {
        let store_path = match kind {
            ReplacementKind::InterpreterPrefix => {
                String::from_utf8_lossy(&edit.original).into_owned()
            }
            _ => edit
                .original
                .as_slice()
                .try_into()
                .ok()
                .and_then(|h: HashPart| targets.path_of(&h).map(str::to_owned))
                .unwrap_or_default(),
        };
        Replacement {
            path: path.clone(),
            offset: edit.offset,
            original: ByteString(edit.original.clone()),
            store_path,
            kind,
        }
    }
}
