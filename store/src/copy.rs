use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

/// Copies the tree at `from` to `to` (which must not exist): directories,
/// regular files with their modes, and symlinks as symlinks. Directory modes are
/// set last, so read-only directories can still be filled. Other file types are
/// an error naming the path.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    copy_tree_except(from, to, &|_| false)
}

/// [`copy_tree`], leaving out every entry (at any depth) whose name `skip` picks.
pub fn copy_tree_except(
    from: &Path,
    to: &Path,
    skip: &dyn Fn(&std::ffi::OsStr) -> bool,
) -> io::Result<()> {
    let meta = from.symlink_metadata()?;
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        symlink(fs::read_link(from)?, to)
    } else if file_type.is_file() {
        fs::copy(from, to).map(drop)
    } else if file_type.is_dir() {
        fs::create_dir(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            if !skip(&entry.file_name()) {
                copy_tree_except(&entry.path(), &to.join(entry.file_name()), skip)?;
            }
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
