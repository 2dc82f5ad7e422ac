//! Source archives unpacked safely: no member may land outside the tree, whether
//! by `..`, an absolute path, a link, or a write through a symlink an earlier member
//! made.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use pyfod_python::Limits;

use crate::BuildError;

/// What an sdist may still unpack to.
struct Budget {
    left: u64,
    compressed: u64,
    limits: Limits,
}

impl Budget {
    /// Copies a member from `reader` to `out`, within what is left.
    fn copy(&mut self, reader: &mut dyn Read, out: &mut impl io::Write) -> Result<(), String> {
        let copied = io::copy(&mut reader.take(self.left + 1), out).map_err(|e| e.to_string())?;
        if copied > self.left {
            let unpacked = self.limits.allowed(self.compressed) + 1;
            return Err(self
                .limits
                .refuse(unpacked, self.compressed, "build")
                .unwrap_or_else(|| "it unpacks to more than it may".into()));
        }
        self.left -= copied;
        Ok(())
    }
}

/// Unpacks the sdist `archive` (`.tar.gz`, `.tgz`, `.tar`, `.zip`) into the new
/// directory `dest`, within `limits`, and returns the source tree: the
/// archive's single top-level directory, or `dest` itself when members do not
/// share one.
pub fn unpack_sdist(
    archive: &Path,
    filename: &str,
    dest: &Path,
    limits: &Limits,
) -> Result<PathBuf, BuildError> {
    fs::create_dir_all(dest).map_err(|e| BuildError::io("create", dest, e))?;
    let file = fs::File::open(archive).map_err(|e| BuildError::io("open", archive, e))?;
    let compressed = file.metadata().map_or(0, |m| m.len());
    let mut budget = Budget {
        left: limits.allowed(compressed),
        compressed,
        limits: *limits,
    };
    let bad = |detail: String| BuildError::BadSdist {
        sdist: filename.to_owned(),
        detail,
    };
    let lower = filename.to_ascii_lowercase();
    if lower.ends_with(".zip") {
        unpack_zip(file, dest, &mut budget).map_err(bad)?;
    } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") || lower.ends_with(".tar") {
        let reader: Box<dyn Read> = if lower.ends_with(".tar") {
            Box::new(io::BufReader::new(file))
        } else {
            Box::new(flate2::read::GzDecoder::new(io::BufReader::new(file)))
        };
        unpack_tar(reader, dest, &mut budget).map_err(bad)?;
    } else {
        return Err(bad(
            "pyfod unpacks .tar.gz, .tgz, .tar and .zip sdists".into()
        ));
    }
    if fs::read_dir(dest)
        .map_err(|e| BuildError::io("read", dest, e))?
        .next()
        .is_none()
    {
        return Err(bad("it is empty: it holds no source to build".into()));
    }
    top_level(dest).map_err(|e| BuildError::io("read", dest, e))
}

fn unpack_zip(file: fs::File, dest: &Path, budget: &mut Budget) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(file).map_err(|e| format!("not a readable zip: {e}"))?;
    for index in 0..zip.len() {
        let mut member = zip.by_index(index).map_err(|e| e.to_string())?;
        let name = std::str::from_utf8(member.name_raw())
            .map_err(|_| format!("the name of member {index} is not UTF-8"))?
            .to_owned();
        let target = member_path(dest, &name)?;
        if member.is_dir() {
            make_dir(dest, &target)?;
        } else {
            let executable = member.unix_mode().is_some_and(|m| m & 0o111 != 0);
            write_member(dest, &target, &mut member, executable, budget)?;
        }
    }
    Ok(())
}

fn unpack_tar(reader: impl Read, dest: &Path, budget: &mut Budget) -> Result<(), String> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| e.to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let name = String::from_utf8(entry.path_bytes().into_owned()).map_err(|e| {
            format!(
                "the name {} is not UTF-8",
                String::from_utf8_lossy(e.as_bytes())
            )
        })?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let target = member_path(dest, &name)?;
        if kind.is_dir() {
            make_dir(dest, &target)?;
        } else if kind.is_symlink() || kind.is_hard_link() {
            let link = entry
                .link_name()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{name}: a link without a target"))?;
            let link = link.to_string_lossy().into_owned();
            if kind.is_symlink() {
                let parent = target.parent().unwrap_or(dest);
                let resolved = pyfod_config::lexical_path(&parent.join(&link));
                if Path::new(&link).is_absolute() || !resolved.starts_with(dest) {
                    return Err(format!(
                        "the member {name} is a link to {link}, outside the source tree; refusing the sdist"
                    ));
                }
                make_parents(dest, &target)?;
                std::os::unix::fs::symlink(&link, &target)
                    .map_err(|e| format!("{name}: cannot make the symlink: {e}"))?;
            } else {
                let from = member_path(dest, &link)?;
                make_parents(dest, &target)?;
                check_no_symlink(dest, &from)?;
                fs::copy(&from, &target).map_err(|e| format!("{name}: cannot link: {e}"))?;
            }
        } else if kind.is_file() || kind.is_contiguous() {
            let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
            write_member(dest, &target, &mut entry, executable, budget)?;
        }
        // Devices and FIFOs have no place in a source tree: skipped, as pip does.
    }
    Ok(())
}

/// Where member `name` goes under `dest`, or why it may not go anywhere.
fn member_path(dest: &Path, name: &str) -> Result<PathBuf, String> {
    let path = Path::new(name);
    let mut out = dest.to_path_buf();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "the member {name} would land outside the source tree; refusing the sdist"
                ));
            }
        }
    }
    if out == dest {
        return Err(format!("the member `{name}` has no name"));
    }
    Ok(out)
}

/// Refuses a path whose directories (below `dest`) include a symlink: writing
/// through it could land anywhere.
fn check_no_symlink(dest: &Path, target: &Path) -> Result<(), String> {
    let relative = target.strip_prefix(dest).unwrap_or(target);
    let mut at = dest.to_path_buf();
    for part in relative.parent().into_iter().flat_map(Path::components) {
        at.push(part);
        if at
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(format!(
                "{} would be written through the symlink {}; refusing the sdist",
                relative.display(),
                at.strip_prefix(dest).unwrap_or(&at).display()
            ));
        }
    }
    Ok(())
}

fn make_parents(dest: &Path, target: &Path) -> Result<(), String> {
    check_no_symlink(dest, target)?;
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    Ok(())
}

fn make_dir(dest: &Path, target: &Path) -> Result<(), String> {
    check_no_symlink(dest, target)?;
    fs::create_dir_all(target).map_err(|e| format!("{}: {e}", target.display()))
}

fn write_member(
    dest: &Path,
    target: &Path,
    reader: &mut dyn Read,
    executable: bool,
    budget: &mut Budget,
) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    make_parents(dest, target)?;
    if target.symlink_metadata().is_ok() {
        fs::remove_file(target).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if executable { 0o755 } else { 0o644 })
        .open(target)
        .map_err(|e| format!("{}: {e}", target.display()))?;
    budget.copy(reader, &mut out).map_err(|e| {
        format!(
            "{}: {e}",
            target.strip_prefix(dest).unwrap_or(target).display()
        )
    })
}

fn top_level(dest: &Path) -> io::Result<PathBuf> {
    let entries: Vec<_> = fs::read_dir(dest)?.collect::<Result<_, _>>()?;
    match entries.as_slice() {
        [only] if only.file_type()?.is_dir() => Ok(only.path()),
        _ => Ok(dest.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(members: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, body) in members {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            if kind.is_symlink() {
                header.set_size(0);
                builder.append_link(&mut header, name, body).unwrap();
            } else {
                header.set_size(body.len() as u64);
                // Written raw, so that the test can put `..` in a name.
                let bytes = name.as_bytes();
                header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
                header.set_cksum();
                builder.append(&header, body.as_bytes()).unwrap();
            }
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    /// The source tree unpacked in a directory removed when the result drops.
    fn unpack(
        members: &[(&str, tar::EntryType, &str)],
    ) -> (tempfile::TempDir, Result<PathBuf, BuildError>) {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("p-1.tar.gz");
        fs::write(&archive, tar_gz(members)).unwrap();
        let src = unpack_sdist(
            &archive,
            "p-1.tar.gz",
            &dir.path().join("out"),
            &Limits::default(),
        );
        (dir, src)
    }

    #[test]
    fn returns_the_single_top_level_directory() {
        let (_dir, src) = unpack(&[
            ("p-1/pyproject.toml", tar::EntryType::Regular, "x"),
            ("p-1/p/__init__.py", tar::EntryType::Regular, ""),
        ]);
        let src = src.unwrap();
        assert!(src.ends_with("out/p-1"));
        assert_eq!(fs::read_to_string(src.join("pyproject.toml")).unwrap(), "x");
    }

    #[test]
    fn refuses_parent_components() {
        let error = unpack(&[("p-1/../../evil", tar::EntryType::Regular, "x")])
            .1
            .unwrap_err();
        assert!(
            error.to_string().contains("outside the source tree"),
            "{error}"
        );
    }

    #[test]
    fn refuses_symlinks_out_of_the_tree_and_writes_through_them() {
        let error = unpack(&[("p-1/link", tar::EntryType::Symlink, "../../etc")])
            .1
            .unwrap_err();
        assert!(
            error.to_string().contains("outside the source tree"),
            "{error}"
        );
        let error = unpack(&[
            ("p-1/link", tar::EntryType::Symlink, "."),
            ("p-1/link/file", tar::EntryType::Regular, "x"),
        ])
        .1
        .unwrap_err();
        assert!(error.to_string().contains("through the symlink"), "{error}");
    }
}
