//! Applies edits to a file, a symlink or a name, atomically.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use crate::tree::{in_writable_dir, temp_sibling};

/// Replace `len` bytes at `offset` with `with`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    pub(crate) offset: u64,
    pub(crate) original: Vec<u8>,
    pub(crate) with: Vec<u8>,
}

/// Sorts edits and drops any that overlap an earlier one.
pub(crate) fn normalise(mut edits: Vec<Edit>) -> Vec<Edit> {
    edits.sort_by_key(|e| e.offset);
    let mut out: Vec<Edit> = Vec::with_capacity(edits.len());
    for edit in edits {
        let overlaps = out
            .last()
            .is_some_and(|prev| prev.offset + prev.original.len() as u64 > edit.offset);
        if !overlaps {
            out.push(edit);
        }
    }
    out
}

/// Applies sorted, non-overlapping edits to bytes in memory.
pub(crate) fn apply(bytes: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0usize;
    for edit in edits {
        let start = edit.offset as usize;
        out.extend_from_slice(&bytes[at..start]);
        out.extend_from_slice(&edit.with);
        at = start + edit.original.len();
    }
    out.extend_from_slice(&bytes[at..]);
    out
}

/// Rewrites a regular file with `edits`, streaming: a new file beside it, the
/// same mode, renamed over it. The bytes under each edit must still be what the
/// scan saw; otherwise the file changed meanwhile, and it is left as it was.
pub(crate) fn rewrite_file(path: &Path, edits: &[Edit]) -> io::Result<()> {
    let mut source = File::open(path)?;
    let mode = source.metadata()?.permissions().mode();
    let temp = temp_sibling(path);
    let dir = path.parent().unwrap_or(Path::new("."));
    in_writable_dir(dir, || {
        let result = (|| {
            let mut out = BufWriter::with_capacity(256 * 1024, File::create(&temp)?);
            let mut at = 0u64;
            let mut original = Vec::new();
            for edit in edits {
                copy_exact(&mut source, &mut out, edit.offset - at)?;
                original.resize(edit.original.len(), 0);
                source.read_exact(&mut original)?;
                if original != edit.original {
                    return Err(io::Error::other(format!(
                        "the bytes at offset {} changed since the scan; run scrub again",
                        edit.offset
                    )));
                }
                out.write_all(&edit.with)?;
                at = edit.offset + edit.original.len() as u64;
            }
            io::copy(&mut source, &mut out)?;
            let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
            file.set_permissions(fs::Permissions::from_mode(mode))?;
            drop(file);
            fs::rename(&temp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    })
}

/// Writes whole new contents over a file, keeping its mode.
pub(crate) fn replace_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mode = fs::symlink_metadata(path)?.permissions().mode();
    let temp = temp_sibling(path);
    let dir = path.parent().unwrap_or(Path::new("."));
    in_writable_dir(dir, || {
        let result = fs::write(&temp, contents)
            .and_then(|()| fs::set_permissions(&temp, fs::Permissions::from_mode(mode)))
            .and_then(|()| fs::rename(&temp, path));
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    })
}

/// Points a symlink somewhere else, atomically.
pub(crate) fn retarget_symlink(path: &Path, target: &[u8]) -> io::Result<()> {
    let temp = temp_sibling(path);
    let dir = path.parent().unwrap_or(Path::new("."));
    in_writable_dir(dir, || {
        symlink(std::ffi::OsStr::new_from_bytes(target), &temp)?;
        fs::rename(&temp, path).inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })
    })
}

fn copy_exact(source: &mut File, out: &mut impl Write, len: u64) -> io::Result<()> {
    let copied = io::copy(&mut source.take(len), out)?;
    if copied != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file is shorter than when it was scanned; run scrub again",
        ));
    }
    Ok(())
}

/// `OsStr` from bytes, on Unix.
trait FromBytes {
    fn new_from_bytes(bytes: &[u8]) -> &Self;
}

impl FromBytes for std::ffi::OsStr {
    fn new_from_bytes(bytes: &[u8]) -> &Self {
        std::os::unix::ffi::OsStrExt::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(offset: u64, original: &[u8], with: &[u8]) -> Edit {
        Edit {
            offset,
            original: original.to_vec(),
            with: with.to_vec(),
        }
    }

    #[test]
    fn streams_edits_and_keeps_the_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        fs::write(&path, b"aaXXbbYYYcc").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o555)).unwrap();
        let edits = [edit(2, b"XX", b"ee"), edit(6, b"YYY", b"@")];
        rewrite_file(&path, &edits).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"aaeebb@cc");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o555
        );
        assert_eq!(apply(b"aaXXbbYYYcc", &edits), b"aaeebb@cc");
    }

    #[test]
    fn refuses_when_the_file_changed_and_leaves_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        fs::write(&path, b"aaZZbb").unwrap();
        let error = rewrite_file(&path, &[edit(2, b"XX", b"ee")]).unwrap_err();
        assert!(error.to_string().contains("changed since the scan"));
        assert_eq!(fs::read(&path).unwrap(), b"aaZZbb");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn overlapping_edits_keep_the_first() {
        let edits = normalise(vec![
            edit(5, b"abc", b"x"),
            edit(0, b"0123456", b"y"),
            edit(7, b"z", b"w"),
        ]);
        assert_eq!(edits.iter().map(|e| e.offset).collect::<Vec<_>>(), [0, 7]);
    }
}
