//! The tree as a list of entries, and the file-system edits scrub makes to it.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use pyfod_manifest::RelPath;

use crate::ScrubError;

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) path: RelPath,
    pub(crate) kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File {
        size: u64,
    },
    Symlink {
        target: Vec<u8>,
    },
    /// Sockets, FIFOs, devices: left alone, as the seed's `find -type f` does.
    Other,
}

/// Every entry under `root` (not `root` itself), parents before children.
pub(crate) fn list(root: &Path) -> Result<Vec<Entry>, ScrubError> {
    let meta = root
        .symlink_metadata()
        .map_err(|e| ScrubError::io("read", root, e))?;
    if !meta.is_dir() {
        return Err(ScrubError::NotADirectory(root.to_path_buf()));
    }
    let mut entries = Vec::new();
    let mut stack = vec![RelPath::root()];
    while let Some(dir) = stack.pop() {
        let full = dir.under(root);
        let mut children = Vec::new();
        for item in fs::read_dir(&full).map_err(|e| ScrubError::io("list", &full, e))? {
            let item = item.map_err(|e| ScrubError::io("list", &full, e))?;
            let path = dir.join(item.file_name().as_bytes());
            let meta = item
                .metadata()
                .map_err(|e| ScrubError::io("read", &item.path(), e))?;
            let kind = if meta.is_dir() {
                Kind::Dir
            } else if meta.is_file() {
                Kind::File { size: meta.len() }
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(item.path())
                    .map_err(|e| ScrubError::io("read the symlink", &item.path(), e))?;
                Kind::Symlink {
                    target: target.into_os_string().into_encoded_bytes(),
                }
            } else {
                Kind::Other
            };
            children.push(Entry { path, kind });
        }
        children.sort_by(|a, b| a.path.cmp(&b.path));
        for child in children.iter().rev() {
            if child.kind == Kind::Dir {
                stack.push(child.path.clone());
            }
        }
        entries.extend(children);
    }
    Ok(entries)
}

/// The last component of a path.
pub(crate) fn file_name(path: &RelPath) -> &[u8] {
    let bytes = path.as_bytes();
    match memchr::memrchr(b'/', bytes) {
        Some(i) => &bytes[i + 1..],
        None => bytes,
    }
}

/// Runs `edit` on something inside `dir`, giving the directory owner write
/// permission for the time it takes if it lacks it (a read-only directory of a
/// wheel, say), and restoring its mode after.
pub(crate) fn in_writable_dir<T>(
    dir: &Path,
    edit: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    let mode = fs::symlink_metadata(dir)?.mode();
    if mode & 0o200 != 0 {
        return edit();
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o200))?;
    let result = edit();
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))?;
    result
}

/// Removes a file or a whole directory (even read-only ones).
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    let meta = path.symlink_metadata()?;
    let parent = path.parent().unwrap_or(Path::new("."));
    if meta.is_dir() {
        make_writable(path)?;
        in_writable_dir(parent, || fs::remove_dir_all(path))
    } else {
        in_writable_dir(parent, || fs::remove_file(path))
    }
}

fn make_writable(dir: &Path) -> io::Result<()> {
    let mode = fs::symlink_metadata(dir)?.mode();
    if mode & 0o700 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700))?;
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_writable(&entry.path())?;
        }
    }
    Ok(())
}

/// A sibling of `path` with a name no one else uses, for write-then-rename.
pub(crate) fn temp_sibling(path: &Path) -> PathBuf {
    pyfod_store::sibling_temp(path, "scrub")
}
