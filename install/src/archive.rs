//! A wheel's zip, read as hostile: every member name checked (UTF-8, relative,
//! no `..`, no duplicates) before anything is written, the sizes it declares held
//! to limits before anything is inflated, and every member streamed — hashed as
//! it is written, never held whole in memory, and stopped the moment it inflates
//! past what it declared.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use pyfod_digest::{Sha256, Sha256Hasher};

use crate::InstallError;

pub use pyfod_python::Limits;

/// One member of the zip.
#[derive(Debug, Clone)]
pub struct Member {
    pub index: usize,
    pub name: String,
    /// What the central directory says it inflates to.
    pub size: u64,
    pub executable: bool,
    pub is_dir: bool,
}

/// A wheel's zip with its members listed and checked.
pub struct WheelArchive {
    zip: zip::ZipArchive<BufReader<File>>,
    /// The wheel's file name, for messages.
    pub filename: String,
    pub members: Vec<Member>,
}

impl std::fmt::Debug for WheelArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WheelArchive")
            .field("filename", &self.filename)
            .field("members", &self.members.len())
            .finish()
    }
}

impl WheelArchive {
    /// Opens the wheel at `file` and checks every member's name and declared size.
    pub fn open(
        file: &Path,
        filename: &str,
        limits: &Limits,
    ) -> Result<WheelArchive, InstallError> {
        let bad = |detail: String| InstallError::BadWheel {
            wheel: filename.to_owned(),
            detail,
        };
        let handle = File::open(file).map_err(|source| InstallError::Io {
            action: "open",
            path: file.to_path_buf(),
            source,
        })?;
        // Buffered: members are read in many small pieces.
        let mut zip = zip::ZipArchive::new(BufReader::with_capacity(256 * 1024, handle))
            .map_err(|e| bad(format!("it is not a readable zip archive: {e}")))?;
        // The zip crate keeps one entry per name: a name given twice is found here.
        if zip.has_duplicate_names() {
            return Err(bad(
                "it holds a member name twice, so which of them is meant is unknowable".into(),
            ));
        }
        let mut members = Vec::with_capacity(zip.len());
        let mut seen = HashSet::new();
        let (mut total, mut compressed) = (0u64, 0u64);
        for index in 0..zip.len() {
            let entry = zip
                .by_index_raw(index)
                .map_err(|e| bad(format!("member {index} cannot be read: {e}")))?;
            let name = std::str::from_utf8(entry.name_raw())
                .map_err(|_| {
                    bad(format!(
                        "the name of member {index} ({}) is not UTF-8",
                        String::from_utf8_lossy(entry.name_raw())
                    ))
                })?
                .to_owned();
            check_name(&name).map_err(|why| InstallError::UnsafePath {
                wheel: filename.to_owned(),
                path: name.clone(),
                why,
            })?;
            if !seen.insert(name.clone()) {
                return Err(bad(format!("it holds {name} twice")));
            }
            total = total.saturating_add(entry.size());
            compressed = compressed.saturating_add(entry.compressed_size());
            members.push(Member {
                index,
                is_dir: name.ends_with('/'),
                size: entry.size(),
                executable: entry.unix_mode().is_some_and(|m| m & 0o100 != 0),
                name,
            });
        }
        check_sizes(total, compressed, limits).map_err(bad)?;
        Ok(WheelArchive {
            zip,
            filename: filename.to_owned(),
            members,
        })
    }

    /// A small text member (METADATA, WHEEL, RECORD, entry_points.txt), whole;
    /// `None` when the wheel has none of that name.
    pub fn text(&mut self, name: &str) -> Result<Option<String>, InstallError> {
        let Some(member) = self.members.iter().find(|m| m.name == name).cloned() else {
            return Ok(None);
        };
        const MAX_TEXT: u64 = 64 << 20;
        if member.size > MAX_TEXT {
            return Err(self.bad(format!(
                "{name} is {} bytes; metadata that large is not real",
                member.size
            )));
        }
        let mut bytes = Vec::with_capacity(member.size as usize);
        self.copy(&member, &mut bytes)?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| self.bad(format!("{name} is not UTF-8 text")))
    }

    /// Streams `member` into `out`; returns its digest and size. A member that
    /// inflates past the size it declares, or fails its CRC, is an error.
    pub fn copy(
        &mut self,
        member: &Member,
        out: &mut impl Write,
    ) -> Result<(Sha256, u64), InstallError> {
        let filename = self.filename.clone();
        let bad = |detail: String| InstallError::BadWheel {
            wheel: filename.clone(),
            detail,
        };
        let entry = self
            .zip
            .by_index(member.index)
            .map_err(|e| bad(format!("{} cannot be read: {e}", member.name)))?;
        // One byte more than declared is enough to know it lied.
        let mut reader = entry.take(member.size + 1);
        let mut hasher = Sha256Hasher::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(bad(format!("{} cannot be inflated: {e}", member.name))),
            };
            hasher.update(&buf[..n]);
            if hasher.len() > member.size {
                return Err(bad(format!(
                    "{} inflates to more than the {} bytes it declares",
                    member.name, member.size
                )));
            }
            out.write_all(&buf[..n]).map_err(|e| InstallError::Io {
                action: "write",
                path: Path::new(&member.name).to_path_buf(),
                source: e,
            })?;
        }
        let size = hasher.len();
        if size != member.size {
            return Err(bad(format!(
                "{} inflates to {size} bytes, not the {} it declares",
                member.name, member.size
            )));
        }
        Ok((hasher.finish(), size))
    }

    fn bad(&self, detail: String) -> InstallError {
        InstallError::BadWheel {
            wheel: self.filename.clone(),
            detail,
        }
    }
}

/// A member name is a relative path of plain components (a directory ends in `/`).
fn check_name(name: &str) -> Result<(), &'static str> {
    let path = name.strip_suffix('/').unwrap_or(name);
    if path.is_empty() || path.starts_with('/') {
        return Err("it is empty or absolute");
    }
    if path.contains('\0') {
        return Err("it holds a NUL byte");
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err("a component is empty, `.` or `..`");
    }
    Ok(())
}

/// The sizes a wheel declares, against the limits, before anything is inflated.
fn check_sizes(total: u64, compressed: u64, limits: &Limits) -> Result<(), String> {
    match limits.refuse(total, compressed, "install") {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_plain_relative_paths() {
        for good in ["a.py", "pkg/a.py", "pkg/", "a-1.0.data/scripts/x"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "/abs", "../x", "a/../b", "a//b", "./a", "a\0b", "/"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes_beyond_the_limits_are_refused_before_inflating() {
        let limits = Limits::default();
        assert!(check_sizes(5 << 30, 1 << 30, &limits).is_ok());
        assert!(
            check_sizes(1 << 20, 1, &limits).is_ok(),
            "small wheels may compress well"
        );
        let error = check_sizes(1 << 30, 1 << 20, &limits).unwrap_err();
        assert!(error.contains("zip bomb"), "{error}");
        let error = check_sizes(17 << 30, 16 << 30, &limits).unwrap_err();
        assert!(error.contains("max-unpacked-size"), "{error}");
    }
}
