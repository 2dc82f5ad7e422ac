//! The index kept with every tree in the store, and the checks made against it
//! before the tree is used.
//!
//! An index is a hash manifest: the tree's NAR hash and every entry in NAR order
//! (type, executable bit, size and SHA-256 of files, symlink targets). When a tree
//! is indexed, every regular file's modification time is set to one second past
//! the epoch, as Nix does in its store; nothing pyfod writes later changes it.
//!
//! - The **quick check** lists the tree and compares each entry's name, type,
//!   executable bit, size and symlink target with the index, and its mtime with
//!   the sealed one. A file whose mtime moved is read and hashed: the same bytes
//!   are sealed again, other bytes are damage. Any edit made by ordinary means
//!   (an editor, `cp`, `sed -i`, a truncation) moves the mtime, so it is found at
//!   the cost of a `stat` per entry.
//! - The **full check** hashes every byte again: what `--verify-store` and
//!   `pyfod store verify` do, for damage that kept size and mtime.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use pyfod_digest::{Sha256, Sha256Hasher};
use pyfod_manifest::{ByteString, HashManifest, Manifest, NarEntry, NarNode, RelPath};

use crate::StoreError;

/// The modification time of every file the store has sealed.
pub fn sealed_mtime() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1)
}

/// What a tree in the store must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeIndex(pub HashManifest);

/// What a check found wrong with a tree or blob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {what}")]
pub struct Damage {
    /// The entry, relative to the tree's root (`.` for the root itself).
    pub path: String,
    pub what: String,
}

impl Damage {
    fn at(path: &RelPath, what: impl Into<String>) -> Damage {
        Damage {
            path: path.to_string(),
            what: what.into(),
        }
    }
}

/// How thoroughly to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Thoroughness {
    /// Names, types, sizes, modes, symlink targets and sealed mtimes.
    #[default]
    Quick,
    /// Every byte hashed again.
    Full,
}

impl TreeIndex {
    /// Hashes the tree at `root`, records every entry, and seals its files' mtimes.
    pub fn make(root: &Path) -> Result<TreeIndex, StoreError> {
        let settings = pyfod_nar::HashSettings {
            record_entries: true,
            ..Default::default()
        };
        let hash = pyfod_nar::hash_path(root, &settings, None)
            .map_err(|e| StoreError::io("index", root, io::Error::other(e)))?;
        for entry in &hash.entries {
            if matches!(entry.node, NarNode::Regular { .. }) {
                let path = join(root, &entry.path);
                seal(&path).map_err(|e| StoreError::io("seal", &path, e))?;
            }
        }
        Ok(TreeIndex(HashManifest {
            nar_sha256: hash.nar_sha256,
            nar_size: hash.nar_size,
            entries: hash.entries,
            inputs: Vec::new(),
        }))
    }

    pub fn nar_sha256(&self) -> Sha256 {
        self.0.nar_sha256
    }

    pub fn encode(&self) -> Vec<u8> {
        self.0.encode(None)
    }

    pub fn decode(bytes: &[u8]) -> Option<TreeIndex> {
        HashManifest::decode(bytes).ok().map(|(_, m)| TreeIndex(m))
    }

    /// The regular file at `path` (relative to the root), with its digest and size.
    pub fn file(&self, path: &[u8]) -> Option<(Sha256, u64, bool)> {
        let at = self
            .0
            .entries
            .binary_search_by(|e| nar_order(e.path.as_bytes(), path))
            .ok()?;
        match self.0.entries[at].node {
            NarNode::Regular {
                executable,
                size,
                sha256,
            } => Some((sha256, size, executable)),
            _ => None,
        }
    }

    /// Checks the tree at `root` against this index.
    pub fn check(&self, root: &Path, how: Thoroughness) -> Result<(), Damage> {
        match how {
            Thoroughness::Quick => Checker { root }.quick(&self.0.entries),
            Thoroughness::Full => self.full(root),
        }
    }

    fn full(&self, root: &Path) -> Result<(), Damage> {
        let settings = pyfod_nar::HashSettings {
            record_entries: true,
            ..Default::default()
        };
        let now = pyfod_nar::hash_path(root, &settings, None).map_err(|e| Damage {
            path: ".".into(),
            what: format!("cannot be read: {e}"),
        })?;
        if now.nar_sha256 == self.0.nar_sha256 {
            return Ok(());
        }
        let first = self
            .0
            .entries
            .iter()
            .zip(&now.entries)
            .find(|(a, b)| a != b)
            .map(|(a, _)| a.path.clone())
            .or_else(|| {
                let shorter = self.0.entries.len().min(now.entries.len());
                self.0
                    .entries
                    .get(shorter)
                    .or(now.entries.get(shorter))
                    .map(|e| e.path.clone())
            })
            .unwrap_or_default();
        Err(Damage::at(
            &first,
            "its contents changed since it was stored",
        ))
    }
}

/// Entries compare in NAR order: a directory's entries follow it, by name bytes.
fn nar_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.split(|&c| c == b'/').cmp(b.split(|&c| c == b'/'))
}

fn join(root: &Path, path: &RelPath) -> PathBuf {
    if path.is_root() {
        root.to_path_buf()
    } else {
        root.join(std::ffi::OsStr::from_bytes(path.as_bytes()))
    }
}

/// Checks one file of an indexed tree as it is used: `meta` (of the file, or of
/// the open handle) against the size the index gives and the sealed mtime; the
/// bytes when the mtime moved (and seals them again when they are right).
pub fn check_file(
    path: &Path,
    meta: &fs::Metadata,
    size: u64,
    sha256: &Sha256,
) -> Result<(), String> {
    if !meta.is_file() {
        return Err("is no longer a regular file".into());
    }
    if meta.len() != size {
        return Err(format!("has {} bytes, not the {size} stored", meta.len()));
    }
    if !is_sealed(meta) {
        let (now, _) = file_digest(path).map_err(|e| format!("cannot be read: {e}"))?;
        if now != *sha256 {
            return Err("its contents changed".into());
        }
        let _ = seal(path);
    }
    Ok(())
}

/// Sets a file's mtime to [`sealed_mtime`].
pub fn seal(path: &Path) -> io::Result<()> {
    File::open(path)?.set_modified(sealed_mtime())
}

/// Whether `meta` carries the sealed mtime.
pub fn is_sealed(meta: &fs::Metadata) -> bool {
    meta.mtime() == 1 && meta.mtime_nsec() == 0
}

/// The SHA-256 of a file's bytes.
pub fn file_digest(path: &Path) -> io::Result<(Sha256, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = hasher.len();
    Ok((hasher.finish(), len))
}

struct Checker<'a> {
    root: &'a Path,
}

/// Each directory's entries, as the index has them: by the directory's path.
type Children<'a> = std::collections::HashMap<&'a [u8], Vec<&'a [u8]>>;

impl Checker<'_> {
    fn quick(&self, entries: &[NarEntry]) -> Result<(), Damage> {
        // Each directory's listing must be exactly the entries the index puts
        // directly under it; each entry must be what the index says.
        let mut children = Children::new();
        for entry in entries {
            let path = entry.path.as_bytes();
            if path.is_empty() {
                continue;
            }
            let (parent, name) = match path.iter().rposition(|&c| c == b'/') {
                Some(i) => (&path[..i], &path[i + 1..]),
                None => (&path[..0], path),
            };
            children.entry(parent).or_default().push(name);
        }
        for entry in entries {
            let path = join(self.root, &entry.path);
            let meta = path.symlink_metadata().map_err(|e| {
                Damage::at(
                    &entry.path,
                    if e.kind() == io::ErrorKind::NotFound {
                        "is missing".to_owned()
                    } else {
                        format!("cannot be read: {e}")
                    },
                )
            })?;
            match &entry.node {
                NarNode::Directory => directory(&entry.path, &path, &meta, &children)?,
                NarNode::Symlink { target } => symlink(&entry.path, &path, &meta, target)?,
                NarNode::Regular {
                    executable,
                    size,
                    sha256,
                } => file(&entry.path, &path, &meta, (*executable, *size, sha256))?,
            }
        }
        Ok(())
    }
}

fn directory(
    rel: &RelPath,
    path: &Path,
    meta: &fs::Metadata,
    children: &Children<'_>,
) -> Result<(), Damage> {
    if !meta.is_dir() {
        return Err(Damage::at(rel, "is no longer a directory"));
    }
    let mut names: Vec<Vec<u8>> = fs::read_dir(path)
        .and_then(|d| {
            d.map(|e| e.map(|e| e.file_name().as_bytes().to_vec()))
                .collect()
        })
        .map_err(|e| Damage::at(rel, format!("cannot be listed: {e}")))?;
    names.sort();
    let mut want: Vec<&[u8]> = children.get(rel.as_bytes()).cloned().unwrap_or_default();
    want.sort();
    if names.len() == want.len() && names.iter().zip(&want).all(|(a, b)| a == b) {
        return Ok(());
    }
    let extra = names
        .iter()
        .find(|n| !want.contains(&n.as_slice()))
        .map(|n| rel.join(n));
    Err(match extra {
        Some(extra) => Damage::at(&extra, "was added since it was stored"),
        None => Damage::at(rel, "lost an entry since it was stored"),
    })
}

fn symlink(
    rel: &RelPath,
    path: &Path,
    meta: &fs::Metadata,
    target: &ByteString,
) -> Result<(), Damage> {
    if !meta.file_type().is_symlink() {
        return Err(Damage::at(rel, "is no longer a symlink"));
    }
    let now = fs::read_link(path).map_err(|e| Damage::at(rel, format!("cannot be read: {e}")))?;
    if ByteString::from(now.as_os_str().as_bytes()) != *target {
        return Err(Damage::at(rel, "points elsewhere than it did"));
    }
    Ok(())
}

fn file(
    rel: &RelPath,
    path: &Path,
    meta: &fs::Metadata,
    (executable, size, sha256): (bool, u64, &Sha256),
) -> Result<(), Damage> {
    if meta.is_file() && (meta.permissions().mode() & 0o100 != 0) != executable {
        return Err(Damage::at(rel, "changed its executable bit"));
    }
    check_file(path, meta, size, sha256).map_err(|what| Damage::at(rel, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) {
        fs::create_dir_all(root.join("lib/pkg")).unwrap();
        fs::write(root.join("lib/pkg/a.py"), b"print(1)\n").unwrap();
        fs::write(root.join("run"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(root.join("run"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("lib", root.join("lib64")).unwrap();
    }

    #[test]
    fn a_sealed_tree_passes_both_checks() {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path());
        let index = TreeIndex::make(dir.path()).unwrap();
        assert!(is_sealed(&dir.path().join("run").metadata().unwrap()));
        index.check(dir.path(), Thoroughness::Quick).unwrap();
        index.check(dir.path(), Thoroughness::Full).unwrap();
        let back = TreeIndex::decode(&index.encode()).unwrap();
        assert_eq!(back, index);
        assert_eq!(back.file(b"lib/pkg/a.py").unwrap().1, 9);
        assert!(back.file(b"lib/pkg").is_none());
    }

    #[test]
    fn the_quick_check_finds_every_kind_of_change() {
        type Change = fn(&Path);
        let cases: [(&str, Change, &str); 7] = [
            (
                "same size edit",
                |r| fs::write(r.join("lib/pkg/a.py"), b"print(2)\n").unwrap(),
                "lib/pkg/a.py: its contents changed",
            ),
            (
                "longer",
                |r| fs::write(r.join("lib/pkg/a.py"), b"print(22)\n").unwrap(),
                "lib/pkg/a.py: has 10 bytes",
            ),
            (
                "deleted",
                |r| fs::remove_file(r.join("lib/pkg/a.py")).unwrap(),
                "lib/pkg: lost an entry",
            ),
            (
                "added",
                |r| fs::write(r.join("lib/new"), b"").unwrap(),
                "lib/new: was added",
            ),
            (
                "chmod",
                |r| fs::set_permissions(r.join("run"), fs::Permissions::from_mode(0o644)).unwrap(),
                "run: changed its executable bit",
            ),
            (
                "relinked",
                |r| {
                    fs::remove_file(r.join("lib64")).unwrap();
                    std::os::unix::fs::symlink("/etc", r.join("lib64")).unwrap();
                },
                "lib64: points elsewhere",
            ),
            (
                "file for dir",
                |r| {
                    fs::remove_dir_all(r.join("lib/pkg")).unwrap();
                    fs::write(r.join("lib/pkg"), b"").unwrap();
                },
                "lib/pkg: is no longer a directory",
            ),
        ];
        for (name, change, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            tree(dir.path());
            let index = TreeIndex::make(dir.path()).unwrap();
            change(dir.path());
            let damage = index.check(dir.path(), Thoroughness::Quick).unwrap_err();
            assert!(damage.to_string().starts_with(expected), "{name}: {damage}");
            assert!(
                index.check(dir.path(), Thoroughness::Full).is_err(),
                "{name}"
            );
        }
    }

    #[test]
    fn a_touched_file_with_the_same_bytes_is_sealed_again() {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path());
        let index = TreeIndex::make(dir.path()).unwrap();
        let file = dir.path().join("lib/pkg/a.py");
        File::open(&file)
            .unwrap()
            .set_modified(SystemTime::now())
            .unwrap();
        index.check(dir.path(), Thoroughness::Quick).unwrap();
        assert!(is_sealed(&file.metadata().unwrap()));
    }

    #[test]
    fn only_the_full_check_sees_an_edit_that_kept_size_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path());
        let index = TreeIndex::make(dir.path()).unwrap();
        let file = dir.path().join("lib/pkg/a.py");
        fs::write(&file, b"print(3)\n").unwrap();
        seal(&file).unwrap();
        index.check(dir.path(), Thoroughness::Quick).unwrap();
        let damage = index.check(dir.path(), Thoroughness::Full).unwrap_err();
        assert_eq!(damage.path, "lib/pkg/a.py");
    }
}
