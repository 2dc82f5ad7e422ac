use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

/// Copies the tree at `from` to `to` (which must not exist): directories,
/// regular files with their modes, and symlinks as symlinks. Directory modes are
/// set last, so read-only directories can still be filled. Other file types are
/// an error naming the path.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
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
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
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
