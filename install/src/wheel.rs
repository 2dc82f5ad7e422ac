//! One wheel: where each of its files goes, checked against its RECORD while it
//! is unpacked.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pyfod_digest::Sha256;
use pyfod_python::normalise_name;

use crate::InstallError;
use crate::launcher;

/// A file written into the venv, for the new RECORD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Relative to the venv root.
    pub path: String,
    pub sha256: Sha256,
    pub size: u64,
}

/// A wheel opened and planned: every member with its place in the venv.
#[derive(Debug)]
pub struct WheelPlan {
    pub filename: String,
    pub file: PathBuf,
    /// `<name>-<version>.dist-info`
    pub dist_info: String,
    /// (index in the zip, venv-relative destination, executable)
    pub members: Vec<(usize, String, bool)>,
    /// Every member's name, by index in the zip.
    names: Vec<String>,
    /// `path → sha256` from the wheel's RECORD.
    record: HashMap<String, Option<Vec<u8>>>,
    /// The entry points, if the wheel has any.
    pub entry_points: Option<String>,
}

/// Opens a wheel and decides where each file goes. `site` is the venv-relative
/// site-packages, `python` is `python3.Y`.
pub fn plan(
    file: &Path,
    filename: &str,
    name: &str,
    version: &str,
    site: &str,
    python: &str,
) -> Result<WheelPlan, InstallError> {
    let bad = |detail: String| InstallError::BadWheel {
        wheel: filename.to_owned(),
        detail,
    };
    let mut archive = open(file, filename)?;
    let names: Vec<String> = (0..archive.len())
        .map(|i| {
            let entry = archive.by_index_raw(i)?;
            entry.name().map(|n| n.into_owned())
        })
        .collect::<Result<_, zip::result::ZipError>>()
        .map_err(|e| bad(e.to_string()))?;
    let mut dist_infos: Vec<&str> = names
        .iter()
        .filter_map(|n| n.split('/').next().filter(|d| d.ends_with(".dist-info")))
        .collect();
    dist_infos.sort_unstable();
    dist_infos.dedup();
    let [dist_info] = dist_infos.as_slice() else {
        return Err(bad(format!(
            "a wheel has exactly one .dist-info directory; this one has {}",
            dist_infos.len()
        )));
    };
    let dist_info = (*dist_info).to_owned();
    let stem = dist_info.trim_end_matches(".dist-info");
    let (dist_name, dist_version) = stem
        .rsplit_once('-')
        .ok_or_else(|| bad(format!("{dist_info} is not <name>-<version>.dist-info")))?;
    if normalise_name(dist_name) != normalise_name(name) || dist_version != version {
        return Err(bad(format!(
            "{dist_info} does not match the lock's {name} {version}"
        )));
    }
    let wheel_meta = read_text(&mut archive, &format!("{dist_info}/WHEEL"), filename)?;
    let wheel_version = wheel_meta
        .lines()
        .find_map(|l| l.strip_prefix("Wheel-Version:"))
        .map(str::trim)
        .ok_or_else(|| bad("WHEEL has no Wheel-Version".into()))?;
    if !wheel_version.starts_with("1.") {
        return Err(bad(format!(
            "Wheel-Version {wheel_version}: pyfod installs wheels of version 1"
        )));
    }
    let record_text = read_text(&mut archive, &format!("{dist_info}/RECORD"), filename)?;
    let record = parse_record(&record_text).map_err(|e| bad(format!("its RECORD: {e}")))?;
    let entry_points = read_text(
        &mut archive,
        &format!("{dist_info}/entry_points.txt"),
        filename,
    )
    .ok();

    let data = format!("{stem}.data/");
    let mut members = Vec::new();
    for (index, member) in names.iter().enumerate() {
        if member.ends_with('/') {
            continue;
        }
        if member.starts_with('/')
            || member.split('/').any(|c| c == ".." || c.is_empty())
            || member.contains('\0')
        {
            return Err(InstallError::UnsafePath {
                wheel: filename.to_owned(),
                path: member.clone(),
            });
        }
        let destination = match member.strip_prefix(&data) {
            None => format!("{site}/{member}"),
            Some(rest) => {
                let (scheme, path) = rest.split_once('/').ok_or_else(|| {
                    bad(format!("{member} is not inside a .data scheme directory"))
                })?;
                match scheme {
                    "purelib" | "platlib" => format!("{site}/{path}"),
                    "scripts" => format!("bin/{path}"),
                    "headers" => format!("include/site/{python}/{dist_name}/{path}"),
                    "data" => path.to_owned(),
                    other => {
                        return Err(bad(format!("unknown .data scheme `{other}` in {member}")));
                    }
                }
            }
        };
        let mode = archive
            .by_index_raw(index)
            .map_err(|e| bad(e.to_string()))?
            .unix_mode()
            .unwrap_or(0o644);
        let is_script = member.starts_with(&format!("{data}scripts/"));
        members.push((index, destination, mode & 0o100 != 0 || is_script));
    }
    Ok(WheelPlan {
        filename: filename.to_owned(),
        file: file.to_path_buf(),
        dist_info,
        members,
        names,
        record,
        entry_points,
    })
}

impl WheelPlan {
    /// Unpacks every member (its own RECORD aside) into `dir` at its path in the
    /// zip, checked against the wheel's RECORD: a tree of [`crate::unpacked`].
    pub fn unpack_members(&self, dir: &Path) -> Result<Vec<(String, Sha256, u64)>, InstallError> {
        let members: Vec<(usize, String, bool)> = self
            .members
            .iter()
            .map(|(index, _, executable)| (*index, self.names[*index].clone(), *executable))
            .collect();
        let written = self.extract(&members, dir, None)?;
        Ok(written
            .into_iter()
            .map(|w| (w.path, w.sha256, w.size))
            .collect())
    }

    /// Installs from the wheel's unpacked tree: each file copied or linked to its
    /// place (`mode`), scripts rewritten for `shebang`.
    pub fn install_from(
        &self,
        tree: &Path,
        files: &crate::unpacked::Members,
        root: &Path,
        shebang: &str,
        mode: crate::unpacked::LinkMode,
    ) -> Result<Vec<Written>, InstallError> {
        let mut written = Vec::with_capacity(self.members.len());
        let mut made = MadeDirs::default();
        let own_record = format!("{}/RECORD", self.dist_info);
        for (index, destination, executable) in &self.members {
            let member = &self.names[*index];
            if *member == own_record {
                continue;
            }
            let Some((sha256, size)) = files.get(member) else {
                return Err(InstallError::Damaged {
                    entry: tree
                        .parent()
                        .and_then(Path::file_name)
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    path: member.clone(),
                    what: "is not in its index".into(),
                });
            };
            let path = root.join(destination);
            made.parent_of(&path)?;
            let from = tree.join(member);
            if destination.starts_with("bin/") {
                let bytes = fs::read(&from).map_err(|source| InstallError::Io {
                    action: "read",
                    path: from.clone(),
                    source,
                })?;
                if Sha256::of(&bytes) != *sha256 {
                    return Err(InstallError::Damaged {
                        entry: tree
                            .parent()
                            .and_then(Path::file_name)
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        path: member.clone(),
                        what: "its contents changed".into(),
                    });
                }
                if let Some(script) = launcher::rewrite_script(shebang, &bytes) {
                    write_new_file(&path, &script, *executable)?;
                    written.push(Written {
                        path: destination.clone(),
                        sha256: Sha256::of(&script),
                        size: script.len() as u64,
                    });
                    continue;
                }
            }
            crate::unpacked::place(&from, &path, mode, (sha256, *size))?;
            written.push(Written {
                path: destination.clone(),
                sha256: *sha256,
                size: *size,
            });
        }
        Ok(written)
    }

    /// Unpacks every member into `root`, checking each against the wheel's RECORD.
    pub fn unpack(&self, root: &Path, shebang: &str) -> Result<Vec<Written>, InstallError> {
        self.extract(&self.members, root, Some(shebang))
    }

    /// Unpacks `members` (index, destination, executable) into `root`, checking
    /// each against the wheel's RECORD; with a shebang, scripts under `bin/` are
    /// rewritten for it.
    fn extract(
        &self,
        members: &[(usize, String, bool)],
        root: &Path,
        shebang: Option<&str>,
    ) -> Result<Vec<Written>, InstallError> {
        let mut archive = open(&self.file, &self.filename)?;
        let mut written = Vec::with_capacity(members.len());
        let mut buffer = Vec::new();
        let mut made = MadeDirs::default();
        let own_record = format!("{}/RECORD", self.dist_info);
        for (index, destination, executable) in members {
            let mut entry = archive
                .by_index(*index)
                .map_err(|e| InstallError::BadWheel {
                    wheel: self.filename.clone(),
                    detail: e.to_string(),
                })?;
            let member = entry
                .name()
                .map_err(|e| InstallError::BadWheel {
                    wheel: self.filename.clone(),
                    detail: e.to_string(),
                })?
                .into_owned();
            if member == own_record {
                // Replaced by the RECORD of what was installed.
                continue;
            }
            buffer.clear();
            entry
                .read_to_end(&mut buffer)
                .map_err(|e| InstallError::BadWheel {
                    wheel: self.filename.clone(),
                    detail: format!("{member}: {e}"),
                })?;
            drop(entry);
            let digest = Sha256::of(&buffer);
            if let Some(Some(expected)) = self.record.get(&member)
                && digest.as_bytes().as_slice() != expected.as_slice()
            {
                return Err(InstallError::RecordMismatch {
                    wheel: self.filename.clone(),
                    path: member,
                });
            }
            let rewritten = shebang
                .filter(|_| destination.starts_with("bin/"))
                .and_then(|shebang| launcher::rewrite_script(shebang, &buffer));
            let (contents, sha256) = match &rewritten {
                Some(script) => (script.as_slice(), Sha256::of(script)),
                None => (buffer.as_slice(), digest),
            };
            let path = root.join(destination);
            made.parent_of(&path)?;
            write_new_file(&path, contents, *executable)?;
            written.push(Written {
                path: destination.clone(),
                sha256,
                size: contents.len() as u64,
            });
        }
        Ok(written)
    }
}

/// Directories made so far: one `create_dir_all` per directory, not per file.
#[derive(Default)]
struct MadeDirs(std::collections::HashSet<PathBuf>);

impl MadeDirs {
    /// Makes the directory `path` goes in, unless it was made already.
    fn parent_of(&mut self, path: &Path) -> Result<(), InstallError> {
        if let Some(parent) = path.parent()
            && !self.0.contains(parent)
        {
            fs::create_dir_all(parent).map_err(|source| InstallError::Io {
                action: "create",
                path: parent.to_path_buf(),
                source,
            })?;
            self.0.insert(parent.to_path_buf());
        }
        Ok(())
    }
}

/// Writes a file whose directory exists.
fn write_new_file(path: &Path, contents: &[u8], executable: bool) -> Result<(), InstallError> {
    let io = |source| InstallError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::create(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    let mode = if executable { 0o755 } else { 0o644 };
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io)
}

pub(crate) fn write_file(
    path: &Path,
    contents: &[u8],
    executable: bool,
) -> Result<(), InstallError> {
    let io = |source| InstallError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let mut file = File::create(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    let mode = if executable { 0o755 } else { 0o644 };
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io)
}

fn open(file: &Path, filename: &str) -> Result<zip::ZipArchive<BufReader<File>>, InstallError> {
    let handle = File::open(file).map_err(|source| InstallError::Io {
        action: "open",
        path: file.to_path_buf(),
        source,
    })?;
    // Buffered: members are read in many small pieces.
    zip::ZipArchive::new(BufReader::with_capacity(256 * 1024, handle)).map_err(|e| {
        InstallError::BadWheel {
            wheel: filename.to_owned(),
            detail: format!("not a readable zip archive: {e}"),
        }
    })
}

fn read_text(
    archive: &mut zip::ZipArchive<BufReader<File>>,
    name: &str,
    filename: &str,
) -> Result<String, InstallError> {
    let mut entry = archive.by_name(name).map_err(|_| InstallError::BadWheel {
        wheel: filename.to_owned(),
        detail: format!("it has no {name}"),
    })?;
    let mut text = String::new();
    entry
        .read_to_string(&mut text)
        .map_err(|e| InstallError::BadWheel {
            wheel: filename.to_owned(),
            detail: format!("{name}: {e}"),
        })?;
    Ok(text)
}

/// RECORD rows: path → SHA-256 (`None` when the row has no sha256 hash).
fn parse_record(text: &str) -> Result<HashMap<String, Option<Vec<u8>>>, String> {
    let rows = pyfod_python::record::parse(text).map_err(|e| e.to_string())?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let sha256 = row
                .hash
                .filter(|h| h.algorithm == "sha256")
                .map(|h| h.digest);
            (row.path, sha256)
        })
        .collect())
}

/// A RECORD for the installed files, paths relative to site-packages, sorted,
/// with a row for itself.
pub fn record(site: &str, dist_info: &str, files: &[Written]) -> String {
    let rows: Vec<(String, Sha256, u64)> = files
        .iter()
        .map(|f| {
            let path = match f.path.strip_prefix(&format!("{site}/")) {
                Some(inside) => inside.to_owned(),
                None => format!("{}{}", "../".repeat(site.split('/').count()), f.path),
            };
            (path, f.sha256, f.size)
        })
        .collect();
    pyfod_python::record::write(&rows, &format!("{dist_info}/RECORD"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn record_rows_are_sorted_by_path_not_by_line() {
        let file = |path: &str| super::Written {
            path: format!("lib/python3.11/site-packages/{path}"),
            sha256: pyfod_digest::Sha256::of(b""),
            size: 0,
        };
        let text = super::record(
            "lib/python3.11/site-packages",
            "tzdata-1.dist-info",
            &[file("tz/GMT+0"), file("tz/GMT"), file("tz/GMT-0")],
        );
        let paths: Vec<&str> = text.lines().map(|l| l.split(',').next().unwrap()).collect();
        // What uv writes for tzdata's zoneinfo: by path.
        assert_eq!(
            paths,
            [
                "tz/GMT",
                "tz/GMT+0",
                "tz/GMT-0",
                "tzdata-1.dist-info/RECORD"
            ]
        );
    }
}
