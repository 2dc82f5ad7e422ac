//! One scrub run, step by step.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

use pyfod_manifest::{ByteString, RelPath, ReplacementKind, ScrubManifest};
use rayon::prelude::*;

use crate::elf::{self, ElfInfo};
use crate::python;
use crate::record;
use crate::refs::{self, HashPart, Scan, Scanner, StoreRef};
use crate::residual::{self, Suspect, Targets};
use crate::seed;
use crate::tree::{self, Entry, Kind};
use crate::{Preset, ScrubError, Settings};

const READ_CHUNK: usize = 256 * 1024;

pub(crate) struct Scrub<'a> {
    pub(crate) root: &'a Path,
    options: &'a Settings,
    /// `<store dir>/`
    pub(crate) prefix: Vec<u8>,
    explicit: Vec<StoreRef>,
    kept: Vec<StoreRef>,
}

/// What the first pass learnt about one entry.
#[derive(Debug, Default)]
pub(crate) struct EntryScan {
    pub(crate) name: Scan,
    /// File contents or symlink target.
    pub(crate) body: Option<Scan>,
    pub(crate) elf: Option<ElfInfo>,
}

impl<'a> Scrub<'a> {
    pub(crate) fn new(root: &'a Path, options: &'a Settings) -> Result<Self, ScrubError> {
        Self::refuse_misplaced(options)?;
        let store_dir = options.store_dir();
        let parse = |flag, text: &String| {
            StoreRef::parse(store_dir, text).ok_or_else(|| ScrubError::NotAStorePath {
                flag,
                text: text.clone(),
                store_dir: store_dir.to_owned(),
            })
        };
        let mut explicit: Vec<StoreRef> = options
            .refs
            .iter()
            .map(|r| parse("--ref", r))
            .collect::<Result<_, _>>()?;
        for list in &options.refs_from {
            let path = &list.path;
            for (i, line) in list.lines.iter().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                explicit.push(StoreRef::parse(store_dir, line).ok_or_else(|| {
                    ScrubError::RefsFile {
                        path: path.clone(),
                        line: i + 1,
                        text: line.to_owned(),
                        store_dir: store_dir.to_owned(),
                    }
                })?);
            }
        }
        let kept = options
            .keep
            .iter()
            .map(|r| parse("--keep", r))
            .collect::<Result<_, _>>()?;
        Ok(Scrub {
            root,
            options,
            prefix: format!("{store_dir}/").into_bytes(),
            explicit,
            kept,
        })
    }

    /// Flags that mean nothing under the preset: the seed's rules are fixed, and
    /// `none` changes nothing (its check still looks for `--ref`s, less `--keep`s).
    fn refuse_misplaced(options: &Settings) -> Result<(), ScrubError> {
        let changes = [
            (options.python_everywhere, "--python-everywhere"),
            (options.keep_bin, "--keep-bin"),
            (options.keep_pyc, "--keep-pyc"),
        ];
        let targets = [
            (!options.refs.is_empty(), "--ref"),
            (!options.refs_from.is_empty(), "--refs-from"),
            (!options.keep.is_empty(), "--keep"),
        ];
        let misplaced = match options.preset {
            Preset::Default => return Ok(()),
            Preset::Seed => targets.iter().chain(&changes).find(|(set, _)| *set),
            Preset::None => changes.iter().find(|(set, _)| *set),
        };
        match misplaced {
            Some(&(_, flag)) => Err(ScrubError::PresetFlag {
                preset: options.preset,
                flag,
            }),
            None => Ok(()),
        }
    }

    pub(crate) fn store_dir(&self) -> &str {
        self.options.store_dir()
    }

    /// The closing check: what could still refer to a target — files whose first
    /// scan found a place a hash part could be, under the names they have now,
    /// less what was replaced in them — searched again, as Nix would.
    fn residuals(
        &self,
        entries: &[Entry],
        scans: &[EntryScan],
        targets: &Targets,
        replacements: &[pyfod_manifest::Replacement],
        renames: &[(RelPath, RelPath)],
        elf_ranges: HashMap<RelPath, Range<u64>>,
    ) -> Result<Vec<pyfod_manifest::Residual>, ScrubError> {
        let mut replaced: HashMap<&RelPath, Vec<Range<u64>>> = HashMap::new();
        for r in replacements {
            if !matches!(r.kind, ReplacementKind::FileName | ReplacementKind::Symlink) {
                replaced
                    .entry(&r.path)
                    .or_default()
                    .push(r.offset..r.offset + r.original.as_bytes().len() as u64);
            }
        }
        let suspects: Vec<Suspect<'_>> = entries
            .iter()
            .zip(scans)
            .filter(|(e, _)| matches!(e.kind, Kind::File { .. }))
            .filter_map(|(e, s)| {
                let scan = s.body.as_ref().filter(|b| b.may_refer())?;
                Some(Suspect {
                    path: translate(&e.path, renames),
                    scan,
                    replaced: replaced.remove(&e.path).unwrap_or_default(),
                })
            })
            .collect();
        let elf_now: HashMap<RelPath, Range<u64>> = elf_ranges
            .into_iter()
            .map(|(path, range)| (translate(&path, renames), range))
            .collect();
        residual::check(self.root, targets, &suspects, &elf_now)
    }

    pub(crate) fn run(self) -> Result<ScrubManifest, ScrubError> {
        let seed = self.options.preset == Preset::Seed;
        let check_only = self.options.preset == Preset::None;
        let mut python = if check_only {
            python::Outcome::default()
        } else {
            python::placeholder(
                self.root,
                self.options.python_prefix.as_deref(),
                self.store_dir(),
            )?
        };
        if seed && !self.root.join("pyvenv.cfg").exists() {
            return Err(ScrubError::SeedWithoutPyvenv(self.root.to_path_buf()));
        }
        let mut notes: Vec<String> = python.note.take().into_iter().collect();
        let mut replacements = std::mem::take(&mut python.replacements);

        // Read everything first: a file that cannot be read stops the run
        // before anything is changed.
        let mut entries = tree::list(self.root)?;
        let removed = self.removals(&mut entries);
        let scans: Vec<EntryScan> = entries
            .par_iter()
            .map(|entry| match (&entry.kind, &python.new_cfg) {
                (Kind::File { .. }, Some(cfg)) if entry.path.as_bytes() == b"pyvenv.cfg" => {
                    Ok(EntryScan {
                        name: refs::scan(&self.prefix, b"pyvenv.cfg"),
                        body: Some(refs::scan(&self.prefix, cfg)),
                        elf: None,
                    })
                }
                _ => self.scan_entry(entry),
            })
            .collect::<Result<_, _>>()?;
        python.apply(self.root)?;
        self.remove(&removed)?;
        let targets = self.targets(&scans);
        let elf_ranges: HashMap<RelPath, Range<u64>> = entries
            .iter()
            .zip(&scans)
            .filter_map(|(e, s)| Some((e.path.clone(), s.elf.as_ref()?.dynstr.clone()?)))
            .collect();

        let renames = if check_only {
            Vec::new()
        } else if seed {
            let (seed_replacements, seed_notes) =
                seed::scrub(self.root, &entries, &self.prefix, self.store_dir())?;
            replacements.extend(seed_replacements);
            notes.extend(seed_notes);
            Vec::new()
        } else {
            let python_ref = python
                .prefix
                .as_deref()
                .and_then(|p| StoreRef::parse(self.store_dir(), p))
                .filter(|_| self.options.python_everywhere);
            let (edits, renames) =
                self.replace(&entries, &scans, &targets, python_ref.as_ref(), &elf_ranges)?;
            replacements.extend(edits);
            renames
        };

        let residuals = self.residuals(
            &entries,
            &scans,
            &targets,
            &replacements,
            &renames,
            elf_ranges,
        )?;
        if !seed && !check_only {
            let (edits, record_notes) =
                self.refresh_records(&entries, &replacements, &removed, &renames)?;
            replacements.extend(edits);
            notes.extend(record_notes);
        }
        let elf = entries
            .iter()
            .zip(scans)
            .filter_map(|(_, scan)| scan.elf.map(|info| info.report))
            .collect::<Vec<_>>();
        replacements.sort_by(|a, b| (&a.path, a.offset).cmp(&(&b.path, b.offset)));
        let mut kept: Vec<String> = self.kept.iter().map(|r| r.path.clone()).collect();
        kept.sort();
        kept.dedup();
        Ok(ScrubManifest {
            tree: None,
            preset: self.options.preset.name().into(),
            store_dir: self.store_dir().into(),
            python_prefix: python.prefix,
            targets: targets.paths(),
            kept,
            replacements,
            removed,
            elf: sorted_by_path(elf),
            residuals,
            notes,
        })
    }

    /// The RECORD rows of files the scrub changed or removed, made to describe
    /// the tree as it is now ([`record`]).
    fn refresh_records(
        &self,
        entries: &[Entry],
        replacements: &[pyfod_manifest::Replacement],
        removed: &[RelPath],
        renames: &[(RelPath, RelPath)],
    ) -> Result<(Vec<pyfod_manifest::Replacement>, Vec<String>), ScrubError> {
        let changed: BTreeSet<RelPath> = replacements
            .iter()
            .filter(|r| r.kind != ReplacementKind::FileName)
            .map(|r| translate(&r.path, renames))
            .collect();
        let removed: BTreeSet<RelPath> = removed.iter().cloned().collect();
        let records: Vec<RelPath> = entries
            .iter()
            .filter(|e| matches!(e.kind, Kind::File { .. }))
            .filter(|e| e.path.as_bytes().ends_with(b".dist-info/RECORD"))
            .map(|e| translate(&e.path, renames))
            .collect();
        let scrubbed = record::Scrubbed {
            changed: &changed,
            removed: &removed,
        };
        record::refresh(self.root, &records, &scrubbed)
    }

    /// `bin/` and what it holds, and `*.pyc` regular files, unless kept (the
    /// seed removes both): taken out of `entries` and returned, sorted.
    fn removals(&self, entries: &mut Vec<Entry>) -> Vec<RelPath> {
        if self.options.preset == Preset::None {
            return Vec::new();
        }
        let in_bin = |path: &RelPath| path.components().next() == Some(b"bin".as_slice());
        let mut removed = Vec::new();
        entries.retain(|entry| {
            let gone = (!self.options.keep_bin && in_bin(&entry.path))
                || (!self.options.keep_pyc
                    && matches!(entry.kind, Kind::File { .. })
                    && tree::file_name(&entry.path).ends_with(b".pyc"));
            if gone {
                removed.push(entry.path.clone());
            }
            !gone
        });
        removed.sort();
        removed
    }

    /// Deletes what [`Self::removals`] chose; `bin` goes whole.
    fn remove(&self, removed: &[RelPath]) -> Result<(), ScrubError> {
        let bin = RelPath::from("bin");
        for path in removed {
            let under_bin = path != &bin && path.components().next() == Some(b"bin".as_slice());
            if under_bin {
                continue;
            }
            let full = path.under(self.root);
            tree::remove(&full).map_err(|e| ScrubError::io("remove", &full, e))?;
        }
        Ok(())
    }

    fn scan_entry(&self, entry: &Entry) -> Result<EntryScan, ScrubError> {
        let name = refs::scan(&self.prefix, tree::file_name(&entry.path));
        let (body, elf) = match &entry.kind {
            Kind::File { .. } => {
                let (scan, elf) = self.scan_file(&entry.path)?;
                (Some(scan), elf)
            }
            Kind::Symlink { target } => (Some(refs::scan(&self.prefix, target)), None),
            Kind::Dir | Kind::Other => (None, None),
        };
        Ok(EntryScan { name, body, elf })
    }

    /// Reads a file once: streamed through the scanner, or, for an ELF file,
    /// whole, since its dynamic section must be parsed too.
    fn scan_file(&self, rel: &RelPath) -> Result<(Scan, Option<ElfInfo>), ScrubError> {
        thread_local! {
            static BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
        }
        let path = rel.under(self.root);
        let io = |e| ScrubError::io("read", &path, e);
        let mut file = File::open(&path).map_err(io)?;
        BUFFER.with_borrow_mut(|buffer| {
            let first = read_some(&mut file, buffer).map_err(io)?;
            if buffer[..first].starts_with(elf::MAGIC) {
                let mut whole = buffer[..first].to_vec();
                file.read_to_end(&mut whole).map_err(io)?;
                let info = elf::inspect(rel, &whole, &self.prefix);
                return Ok((refs::scan(&self.prefix, &whole), info));
            }
            let mut scanner = Scanner::new(&self.prefix);
            let mut n = first;
            while n > 0 {
                scanner.feed(&buffer[..n]);
                n = read_some(&mut file, buffer).map_err(io)?;
            }
            Ok((scanner.finish(), None))
        })
    }

    /// Every store path found with its prefix anywhere, and the explicit ones,
    /// less the kept ones.
    fn targets(&self, scans: &[EntryScan]) -> Targets {
        let mut by_hash: BTreeMap<HashPart, String> = BTreeMap::new();
        let found = scans.iter().flat_map(|s| {
            s.name
                .found
                .iter()
                .chain(s.body.iter().flat_map(|b| &b.found))
        });
        let mut candidates: Vec<StoreRef> = found
            .map(|f| StoreRef::new(self.store_dir().as_bytes(), f.hash, &f.name))
            .chain(self.explicit.iter().cloned())
            .collect();
        // The same hash part may come with several names; keep the shortest.
        candidates.sort_by(|a, b| (a.path.len(), &a.path).cmp(&(b.path.len(), &b.path)));
        for candidate in candidates {
            by_hash.entry(candidate.hash).or_insert(candidate.path);
        }
        for kept in &self.kept {
            by_hash.remove(&kept.hash);
        }
        Targets::new(by_hash)
    }
}

/// A path as it is after `renames` (applied in order, deepest first).
fn translate(path: &RelPath, renames: &[(RelPath, RelPath)]) -> RelPath {
    let mut path = path.clone();
    for (from, to) in renames {
        let bytes = path.as_bytes();
        if bytes == from.as_bytes() {
            path = to.clone();
        } else if let Some(rest) = bytes
            .strip_prefix(from.as_bytes())
            .and_then(|r| r.strip_prefix(b"/"))
        {
            path = to.join(rest);
        }
    }
    path
}

pub(crate) fn parent(path: &RelPath) -> RelPath {
    let bytes = path.as_bytes();
    match memchr::memrchr(b'/', bytes) {
        Some(i) => RelPath(ByteString(bytes[..i].to_vec())),
        None => RelPath::root(),
    }
}

fn sorted_by_path(mut reports: Vec<pyfod_manifest::ElfReport>) -> Vec<pyfod_manifest::ElfReport> {
    reports.sort_by(|a, b| a.path.cmp(&b.path));
    reports
}

fn read_some(file: &mut File, buffer: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match file.read(buffer) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}
