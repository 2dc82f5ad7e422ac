//! Work areas under `tmp/`, each owned by a lock, so that a later process can tell
//! a live writer's work from a dead one's.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// A path under the store's `tmp/`, reserved for one writer. The writer creates a
/// file or directory there; it is removed on drop unless it was renamed away.
#[derive(Debug)]
pub struct TempEntry {
    path: PathBuf,
    lock_path: PathBuf,
    _lock: File,
}

impl TempEntry {
    pub(crate) fn new(tmp: &Path) -> Result<TempEntry, StoreError> {
        loop {
            let id = format!("{:016x}", fastrand::u64(..));
            let pending = tmp.join(format!("{id}.lock.new"));
            let lock_path = tmp.join(format!("{id}.lock"));
            let file = match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&pending)
            {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(StoreError::io("create", &pending, e)),
            };
            file.lock()
                .map_err(|e| StoreError::io("lock", &pending, e))?;
            // Only a locked file is given its final name: a sweeper that saw the
            // pending name unlocked may have removed it, and then the rename fails
            // and we start over.
            match fs::rename(&pending, &lock_path) {
                Ok(()) => {
                    return Ok(TempEntry {
                        path: tmp.join(id),
                        lock_path,
                        _lock: file,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("create", &lock_path, e)),
            }
        }
    }

    /// The first free one of `<stem>-0`, `<stem>-1`, …: a work area whose path
    /// is the same from one run to the next, for tools that key on it (a
    /// compiler cache hashes the paths in a compiler's arguments). What a dead
    /// writer left there is removed first.
    pub(crate) fn named(tmp: &Path, stem: &str) -> Result<TempEntry, StoreError> {
        // The stem is made of a lock's name and version: one plain file name only.
        if !crate::entry::is_plain_name(stem) {
            return Err(StoreError::io(
                "name a work area",
                &tmp.join(stem),
                io::Error::new(io::ErrorKind::InvalidInput, "not a plain file name"),
            ));
        }
        for slot in 0.. {
            let id = format!("{stem}-{slot}");
            let lock_path = tmp.join(format!("{id}.lock"));
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_path)
                .map_err(|e| StoreError::io("create", &lock_path, e))?;
            if file.try_lock().is_err() {
                continue;
            }
            // A sweeper may have removed the file between our open and our lock:
            // then the lock is on a name no one sees, and another may hold the new one.
            if !same_file(&file, &lock_path) {
                continue;
            }
            let path = tmp.join(&id);
            remove_any(&path);
            return Ok(TempEntry {
                path,
                lock_path,
                _lock: file,
            });
        }
        unreachable!("some slot is free")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether `path` still names the open `file`.
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl Drop for TempEntry {
    fn drop(&mut self) {
        remove_any(&self.path);
        let _ = fs::remove_file(&self.lock_path);
    }
}

/// Removes work whose writer is gone: every `<id>.lock` (or pending `.lock.new`)
/// that can be locked, with its `<id>`, and every `<id>` with no lock file.
pub(crate) fn sweep(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    for name in &names {
        let id = name
            .strip_suffix(".lock")
            .or_else(|| name.strip_suffix(".lock.new"));
        let Some(id) = id else {
            // Look again rather than trust the listing: a directory listing taken
            // while others write is not a snapshot.
            let has_lock = tmp.join(format!("{name}.lock")).exists()
                || tmp.join(format!("{name}.lock.new")).exists();
            if !has_lock {
                tracing::debug!("removing orphaned {}", tmp.join(name).display());
                remove_any(&tmp.join(name));
            }
            continue;
        };
        let lock_path = tmp.join(name);
        let Ok(file) = File::open(&lock_path) else {
            continue;
        };
        if file.try_lock().is_ok() {
            tracing::debug!("removing work left by a dead process: {id}");
            remove_any(&tmp.join(id));
            let _ = fs::remove_file(&lock_path);
        }
    }
}

pub(crate) fn remove_any(path: &Path) {
    match path.symlink_metadata() {
        Ok(meta) if meta.is_dir() => {
            make_writable(path);
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// Read-only directories cannot be emptied; give the owner write permission back
/// before removing a tree.
fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = dir.symlink_metadata() else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let mode = meta.permissions().mode();
    if mode & 0o700 != 0o700 {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700));
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            make_writable(&entry.path());
        }
    }
}
