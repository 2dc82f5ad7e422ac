use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

/// Copies the tree at `from` to `to` (which must not exist): directories,
/// regular files with their modes, and symlinks as symlinks, never followed.
/// Directory modes are set last, so read-only directories can still be filled.
/// Other file types are an error naming the path.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    copy(from, to, &Copying::default())
}

/// [`copy_tree`] whose regular files are hard links to `from`'s, for a store
/// tree made from another: the new tree's writer must never write a file in
/// place (it writes beside and renames over), so the files both trees share
/// stay the bytes both indexes give. A venv's 500 MB is then linked, not copied.
pub fn link_tree(from: &Path, to: &Path) -> io::Result<()> {
    let how = Copying {
        link: true,
        ..Copying::default()
    };
    copy(from, to, &how)
}

/// [`copy_tree`] of a project directory: every entry (at any depth) whose name
/// `skip` picks is left out, and so are sockets, FIFOs and devices.
pub fn copy_tree_except(
    from: &Path,
    to: &Path,
    skip: &dyn Fn(&std::ffi::OsStr) -> bool,
) -> io::Result<()> {
    let how = Copying {
        skip: Some(skip),
        skip_special: true,
        seal: false,
        link: false,
    };
    copy(from, to, &how)
}

/// What a copy leaves out, and whether it seals mtimes.
#[derive(Default)]
struct Copying<'a> {
    skip: Option<&'a dyn Fn(&std::ffi::OsStr) -> bool>,
    skip_special: bool,
    seal: bool,
    /// Hard links instead of copies.
    link: bool,
}

fn copy(from: &Path, to: &Path, how: &Copying<'_>) -> io::Result<()> {
    let meta = from.symlink_metadata()?;
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        symlink(fs::read_link(from)?, to)
    } else if file_type.is_file() && how.link {
        fs::hard_link(from, to)
    } else if file_type.is_file() {
        copy_file(from, to, meta.permissions().mode(), how.seal)
    } else if file_type.is_dir() {
        fs::create_dir(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            let name = entry.file_name();
            if how.skip.is_some_and(|skip| skip(&name)) {
                continue;
            }
            let kind = entry.file_type()?;
            if how.skip_special && !(kind.is_dir() || kind.is_file() || kind.is_symlink()) {
                continue;
            }
            copy(&entry.path(), &to.join(name), how)?;
        }
        fs::set_permissions(to, fs::Permissions::from_mode(meta.permissions().mode()))
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is neither a file, a directory nor a symlink",
                from.display()
            ),
        ))
    }
}

/// One file: its bytes (copy_file_range where the kernel has it), its mode, and
/// with `seal` the store's modification time.
fn copy_file(from: &Path, to: &Path, mode: u32, seal: bool) -> io::Result<()> {
    let mut source = File::open(from)?;
    let mut dest = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    io::copy(&mut source, &mut dest)?;
    dest.set_permissions(fs::Permissions::from_mode(mode))?;
    if seal {
        dest.set_modified(crate::index::sealed_mtime())?;
    }
    Ok(())
}

/// Makes `out` hold `new`, the tree at `from`, when it holds `old` now (its
/// caller checked): the files `old` and `new` share are hard links to `out`'s
/// own, the others copied from `from`, all beside `out` first and renamed into
/// place as [`replace_tree`] does. A release that changed one package copies
/// that package, not the venv. Returns the bytes copied.
pub fn update_tree(
    from: &Path,
    out: &Path,
    old: &crate::TreeIndex,
    new: &crate::TreeIndex,
) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let staging = crate::sibling_temp(out, "copy");
    let at = |root: &Path, path: &[u8]| {
        if path.is_empty() {
            root.to_path_buf()
        } else {
            root.join(std::ffi::OsStr::from_bytes(path))
        }
    };
    let mut copied = 0;
    let mut directories = Vec::new();
    let made = (|| -> io::Result<()> {
        for entry in &new.0.entries {
            let path = entry.path.as_bytes();
            let to = at(&staging, path);
            match &entry.node {
                pyfod_manifest::NarNode::Directory => {
                    fs::create_dir(&to)?;
                    directories.push((to, at(from, path)));
                }
                pyfod_manifest::NarNode::Symlink { target } => {
                    symlink(std::ffi::OsStr::from_bytes(target.as_bytes()), &to)?;
                }
                pyfod_manifest::NarNode::Regular {
                    executable,
                    size,
                    sha256,
                } => {
                    if old.file(path) == Some((*sha256, *size, *executable)) {
                        fs::hard_link(at(out, path), &to)?;
                    } else {
                        let source = at(from, path);
                        let mode = source.symlink_metadata()?.permissions().mode();
                        copy_file(&source, &to, mode, true)?;
                        copied += size;
                    }
                }
            }
        }
        // Modes last, deepest first: a read-only directory takes no more entries.
        for (to, source) in directories.iter().rev() {
            let mode = source.symlink_metadata()?.permissions().mode();
            fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    })();
    if let Err(e) = made {
        crate::temp::remove_any(&staging);
        return Err(e);
    }
    swap_into_place(&staging, out)?;
    Ok(copied)
}

/// Copies the tree at `from` to `out`, beside it first and renamed into place,
/// so `out` is never seen half-made; an `out` already there is replaced. Files
/// get the store's sealed mtime, so a later check of `out` against the tree's
/// index costs a `stat` per file.
pub fn replace_tree(from: &Path, out: &Path) -> io::Result<()> {
    let staging = crate::sibling_temp(out, "copy");
    let how = Copying {
        seal: true,
        ..Copying::default()
    };
    if let Err(e) = copy(from, &staging, &how) {
        crate::temp::remove_any(&staging);
        return Err(e);
    }
    swap_into_place(&staging, out)
}

/// Renames `staging` to `out`, moving an `out` already there aside first and
/// removing it after; on failure the old one is put back.
fn swap_into_place(staging: &Path, out: &Path) -> io::Result<()> {
    if out.symlink_metadata().is_ok() {
        let old = crate::sibling_temp(out, "old");
        fs::rename(out, &old)?;
        if let Err(e) = fs::rename(staging, out) {
            // Put the old one back rather than leave nothing.
            let _ = fs::rename(&old, out);
            crate::temp::remove_any(staging);
            return Err(e);
        }
        crate::temp::remove_any(&old);
        return Ok(());
    }
    fs::rename(staging, out)
}
