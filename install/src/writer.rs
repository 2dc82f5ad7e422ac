//! The one way the install stage writes into a venv.
//!
//! Every path is relative to the venv's root and made of plain components (no
//! `..`, no `.`, nothing empty, no NUL). Directories on the way are made, or must
//! already be real directories: a path through a symlink — the venv's own
//! `lib64 -> lib`, or anything a wheel made — is refused. Files are created new
//! (`O_CREAT|O_EXCL`, which never follows a link): nothing already there, the
//! venv's `bin/python` or `pyvenv.cfg` least of all, is ever overwritten or
//! written through.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a path cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("`{path}` is not a path inside the venv ({why})")]
    Outside { path: String, why: &'static str },
    #[error("`{path}` would be written through the symlink {link}")]
    ThroughSymlink { path: String, link: String },
    #[error("`{path}` would overwrite {what} already in the venv")]
    Exists { path: String, what: &'static str },
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Writes into the venv at `root`; directories it has seen to be real are
/// remembered, so a path costs a `stat` per new directory, not per component.
#[derive(Debug)]
pub struct VenvWriter<'a> {
    root: &'a Path,
    dirs: HashSet<PathBuf>,
}

impl<'a> VenvWriter<'a> {
    pub fn new(root: &'a Path) -> VenvWriter<'a> {
        VenvWriter {
            root,
            dirs: HashSet::new(),
        }
    }

    /// Creates the file `rel` (which must not exist), its directories first, with
    /// mode 0755 or 0644.
    pub fn create(&mut self, rel: &str, executable: bool) -> Result<File, WriteError> {
        let path = self.prepare(rel)?;
        let mode = if executable { 0o755 } else { 0o644 };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(|e| self.exists_or(rel, &path, e))?;
        // The umask may have taken bits the mode asked for.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|source| WriteError::Io {
                action: "set the mode of",
                path: path.clone(),
                source,
            })?;
        Ok(file)
    }

    /// `rel` with `contents`.
    pub fn write(
        &mut self,
        rel: &str,
        contents: &[u8],
        executable: bool,
    ) -> Result<(), WriteError> {
        use std::io::Write;
        let mut file = self.create(rel, executable)?;
        file.write_all(contents).map_err(|source| WriteError::Io {
            action: "write",
            path: self.root.join(rel),
            source,
        })
    }

    /// Checks `rel` and makes its directories; returns its full path.
    pub fn prepare(&mut self, rel: &str) -> Result<PathBuf, WriteError> {
        let outside = |why| WriteError::Outside {
            path: rel.to_owned(),
            why,
        };
        if rel.is_empty() || rel.starts_with('/') {
            return Err(outside("it is empty or absolute"));
        }
        if rel.contains('\0') {
            return Err(outside("it holds a NUL byte"));
        }
        let components: Vec<&str> = rel.split('/').collect();
        if components
            .iter()
            .any(|c| c.is_empty() || *c == "." || *c == "..")
        {
            return Err(outside("a component is empty, `.` or `..`"));
        }
        let mut dir = self.root.to_path_buf();
        for component in &components[..components.len() - 1] {
            dir.push(component);
            if self.dirs.contains(&dir) {
                continue;
            }
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => self.real_dir(rel, &dir)?,
                Err(source) => {
                    return Err(WriteError::Io {
                        action: "create",
                        path: dir,
                        source,
                    });
                }
            }
            self.dirs.insert(dir.clone());
        }
        Ok(self.root.join(rel))
    }

    /// `dir` exists: it must be a directory, not a link to one.
    fn real_dir(&self, rel: &str, dir: &Path) -> Result<(), WriteError> {
        let meta = dir.symlink_metadata().map_err(|source| WriteError::Io {
            action: "read",
            path: dir.to_path_buf(),
            source,
        })?;
        let shown = || {
            dir.strip_prefix(self.root)
                .unwrap_or(dir)
                .display()
                .to_string()
        };
        if meta.file_type().is_symlink() {
            return Err(WriteError::ThroughSymlink {
                path: rel.to_owned(),
                link: shown(),
            });
        }
        if !meta.is_dir() {
            return Err(WriteError::Exists {
                path: rel.to_owned(),
                what: "a file where it needs a directory",
            });
        }
        Ok(())
    }

    /// Makes the file `rel` (which must not exist) by `make` (a link or a clone
    /// of a file elsewhere), its directories first; an entry already there is
    /// refused as [`VenvWriter::create`] refuses it.
    pub fn make_with(
        &mut self,
        rel: &str,
        make: impl FnOnce(&Path) -> io::Result<()>,
    ) -> Result<(), WriteError> {
        let path = self.prepare(rel)?;
        make(&path).map_err(|e| self.exists_or(rel, &path, e))
    }

    fn exists_or(&self, rel: &str, path: &Path, error: io::Error) -> WriteError {
        if error.kind() != io::ErrorKind::AlreadyExists {
            return WriteError::Io {
                action: "create",
                path: path.to_path_buf(),
                source: error,
            };
        }
        let what = match path.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => "a symlink",
            Ok(meta) if meta.is_dir() => "a directory",
            _ => "a file",
        };
        WriteError::Exists {
            path: rel.to_owned(),
            what,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn venv() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("lib/python3.11/site-packages")).unwrap();
        fs::create_dir(dir.path().join("bin")).unwrap();
        std::os::unix::fs::symlink("lib", dir.path().join("lib64")).unwrap();
        std::os::unix::fs::symlink("/usr/bin/python3", dir.path().join("bin/python")).unwrap();
        fs::write(dir.path().join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        dir
    }

    #[test]
    fn writes_inside_and_refuses_every_way_out() {
        let dir = venv();
        let mut writer = VenvWriter::new(dir.path());
        writer
            .write("lib/python3.11/site-packages/pkg/mod.py", b"x = 1\n", false)
            .unwrap();
        writer.write("bin/tool", b"#!/bin/sh\n", true).unwrap();
        let mode = fs::metadata(dir.path().join("bin/tool"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        for (rel, expected) in [
            ("../outside", "is not a path inside the venv"),
            ("/etc/passwd", "is not a path inside the venv"),
            ("lib/../../x", "is not a path inside the venv"),
            ("lib//x", "is not a path inside the venv"),
            ("a\0b", "NUL"),
            ("lib64/python3.11/x", "through the symlink lib64"),
            ("bin/python", "would overwrite a symlink"),
            ("pyvenv.cfg", "would overwrite a file"),
            ("pyvenv.cfg/x", "a file where it needs a directory"),
            ("bin/tool", "would overwrite a file"),
        ] {
            let error = writer.write(rel, b"evil", false).unwrap_err().to_string();
            assert!(error.contains(expected), "{rel}: {error}");
        }
        assert_eq!(
            fs::read_to_string(dir.path().join("pyvenv.cfg")).unwrap(),
            "home = /usr/bin\n"
        );
        assert_eq!(
            fs::read_link(dir.path().join("bin/python")).unwrap(),
            Path::new("/usr/bin/python3")
        );
    }
}
