//! A NAR read back into a tree: the inverse of [`crate::NarWriter`], for NARs
//! that come from outside (a shared cache), so read as hostile.
//!
//! The reader accepts exactly what Nix writes and nothing else: every token
//! where the grammar puts it, zero padding, entry names that are single plain
//! path components in strictly increasing byte order (so no duplicates, no
//! `.`, `..` or `/`), bounded depth and symlink length, and no byte after the
//! archive. A NAR that `unpack` accepts writes only below `dest`: names are
//! components and nothing follows a symlink it made (every file is created new,
//! in a directory this reader made).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, symlink};
use std::path::{Path, PathBuf};

/// Deeper than any real tree; a bound so a hostile NAR cannot exhaust the stack.
const MAX_DEPTH: usize = 256;
/// Longest name or symlink target accepted (`PATH_MAX`).
const MAX_TOKEN: u64 = 4096;

/// Why a NAR was refused or could not be written out.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("the NAR is malformed at byte {offset}: {what}")]
    Malformed { offset: u64, what: String },
    #[error("the NAR would unpack to more than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("reading the NAR failed")]
    Read(#[source] io::Error),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What an unpacked NAR held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unpacked {
    pub files: u64,
    pub bytes: u64,
}

/// Reads the NAR in `nar` and writes its tree at `dest`, which must not exist.
/// At most `max_bytes` of file contents are written.
pub fn unpack(nar: impl Read, dest: &Path, max_bytes: u64) -> Result<Unpacked, UnpackError> {
    let mut reader = Tokens {
        input: io::BufReader::with_capacity(1 << 20, nar),
        offset: 0,
        max_bytes,
        unpacked: Unpacked::default(),
    };
    reader.expect(b"nix-archive-1")?;
    reader.node(dest, 0)?;
    let mut extra = [0u8; 1];
    match reader.input.read(&mut extra) {
        Ok(0) => Ok(reader.unpacked),
        Ok(_) => Err(reader.malformed("bytes follow the end of the archive")),
        Err(e) => Err(UnpackError::Read(e)),
    }
}

struct Tokens<R> {
    input: R,
    offset: u64,
    max_bytes: u64,
    unpacked: Unpacked,
}

impl<R: Read> Tokens<R> {
    fn malformed(&self, what: impl Into<String>) -> UnpackError {
        UnpackError::Malformed {
            offset: self.offset,
            what: what.into(),
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), UnpackError> {
        self.input.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                self.malformed("it ends early")
            } else {
                UnpackError::Read(e)
            }
        })?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn length(&mut self) -> Result<u64, UnpackError> {
        let mut len = [0u8; 8];
        self.read_exact(&mut len)?;
        Ok(u64::from_le_bytes(len))
    }

    fn padding(&mut self, len: u64) -> Result<(), UnpackError> {
        let pad = ((8 - len % 8) % 8) as usize;
        let mut zeros = [0u8; 8];
        self.read_exact(&mut zeros[..pad])?;
        if zeros[..pad].iter().any(|&b| b != 0) {
            return Err(self.malformed("padding that is not zero"));
        }
        Ok(())
    }

    /// A token of at most [`MAX_TOKEN`] bytes.
    fn token(&mut self) -> Result<Vec<u8>, UnpackError> {
        let len = self.length()?;
        if len > MAX_TOKEN {
            return Err(self.malformed(format!("a {len}-byte token where at most {MAX_TOKEN} fit")));
        }
        let mut bytes = vec![0u8; len as usize];
        self.read_exact(&mut bytes)?;
        self.padding(len)?;
        Ok(bytes)
    }

    fn expect(&mut self, want: &[u8]) -> Result<(), UnpackError> {
        let got = self.token()?;
        if got != want {
            return Err(self.malformed(format!(
                "`{}` where `{}` belongs",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want)
            )));
        }
        Ok(())
    }

    fn node(&mut self, path: &Path, depth: usize) -> Result<(), UnpackError> {
        if depth > MAX_DEPTH {
            return Err(self.malformed(format!("directories nested deeper than {MAX_DEPTH}")));
        }
        self.expect(b"(")?;
        self.expect(b"type")?;
        match self.token()?.as_slice() {
            b"regular" => self.regular(path)?,
            b"symlink" => {
                self.expect(b"target")?;
                let target = self.token()?;
                if target.is_empty() || target.contains(&0) {
                    return Err(self.malformed("an empty symlink target, or one with a NUL"));
                }
                symlink(std::ffi::OsStr::from_bytes(&target), path).map_err(|e| write(path, e))?;
                self.expect(b")")?;
            }
            b"directory" => self.directory(path, depth)?,
            other => {
                return Err(self.malformed(format!(
                    "a node of type `{}`",
                    String::from_utf8_lossy(other)
                )));
            }
        }
        self.unpacked.files += 1;
        Ok(())
    }

    fn regular(&mut self, path: &Path) -> Result<(), UnpackError> {
        let mut tag = self.token()?;
        let executable = tag == b"executable";
        if executable {
            self.expect(b"")?;
            tag = self.token()?;
        }
        if tag != b"contents" {
            return Err(self.malformed("a regular file without `contents`"));
        }
        let len = self.length()?;
        if self.unpacked.bytes.saturating_add(len) > self.max_bytes {
            return Err(UnpackError::TooLarge {
                limit: self.max_bytes,
            });
        }
        // The modes a stage's own writes give; a NAR records only the `x` bit.
        let mode = if executable { 0o755 } else { 0o644 };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|e| write(path, e))?;
        let mut left = len;
        let mut buf = vec![0u8; (1 << 20).min(len as usize).max(1)];
        while left > 0 {
            let n = (left as usize).min(buf.len());
            self.read_exact(&mut buf[..n])?;
            file.write_all(&buf[..n]).map_err(|e| write(path, e))?;
            left -= n as u64;
        }
        self.unpacked.bytes += len;
        self.padding(len)?;
        self.expect(b")")
    }

    fn directory(&mut self, path: &Path, depth: usize) -> Result<(), UnpackError> {
        fs::create_dir(path).map_err(|e| write(path, e))?;
        let mut previous: Option<Vec<u8>> = None;
        loop {
            match self.token()?.as_slice() {
                b")" => return Ok(()),
                b"entry" => {}
                other => {
                    return Err(self.malformed(format!(
                        "`{}` inside a directory",
                        String::from_utf8_lossy(other)
                    )));
                }
            }
            self.expect(b"(")?;
            self.expect(b"name")?;
            let name = self.token()?;
            if name.is_empty()
                || name == b"."
                || name == b".."
                || name.contains(&b'/')
                || name.contains(&0)
            {
                return Err(self.malformed(format!(
                    "the entry name `{}`, which is not a plain file name",
                    String::from_utf8_lossy(&name)
                )));
            }
            if previous.as_ref().is_some_and(|p| *p >= name) {
                return Err(self.malformed(format!(
                    "the entry `{}` out of order or twice",
                    String::from_utf8_lossy(&name)
                )));
            }
            self.expect(b"node")?;
            let child = path.join(std::ffi::OsStr::from_bytes(&name));
            self.node(&child, depth + 1)?;
            self.expect(b")")?;
            previous = Some(name);
        }
    }
}

fn write(path: &Path, source: io::Error) -> UnpackError {
    UnpackError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Unpacks the NAR in the file at `nar` (see [`unpack`]).
pub fn unpack_file(nar: &Path, dest: &Path, max_bytes: u64) -> Result<Unpacked, UnpackError> {
    let file = File::open(nar).map_err(UnpackError::Read)?;
    unpack(file, dest, max_bytes)
}
