//! Packages of the main lock that a build requires, unpacked where the build's
//! Python finds them (`PYTHONPATH`), so that a build compiles against the very
//! version the venv will run with (xmlsec against the locked lxml).

use std::fs;
use std::io;
use std::path::{Component, Path};

use crate::BuildError;

/// Unpacks the importable part of `wheel` (its root and `.data/purelib`,
/// `.data/platlib`) into `dir`.
pub fn unpack_wheel(wheel: &Path, filename: &str, dir: &Path) -> Result<(), BuildError> {
    let bad = |detail: String| BuildError::BadWheel {
        wheel: filename.to_owned(),
        detail,
    };
    let file = fs::File::open(wheel).map_err(|e| BuildError::io("open", wheel, e))?;
    let mut archive =
        zip::ZipArchive::new(io::BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
    for index in 0..archive.len() {
        let mut member = archive.by_index(index).map_err(|e| bad(e.to_string()))?;
        if member.is_dir() {
            continue;
        }
        let name = member.name().map_err(|e| bad(e.to_string()))?.into_owned();
        let relative = match name.split_once(".data/") {
            Some((head, rest)) if !head.contains('/') => {
                match rest.split_once('/') {
                    Some(("purelib" | "platlib", inner)) => inner.to_owned(),
                    // Scripts, headers and data are not imported by a build.
                    _ => continue,
                }
            }
            _ => name.clone(),
        };
        let path = Path::new(&relative);
        if !path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(bad(format!(
                "the entry `{name}` would land outside its directory"
            )));
        }
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| BuildError::io("create", parent, e))?;
        }
        let mut out =
            fs::File::create(&target).map_err(|e| BuildError::io("create", &target, e))?;
        io::copy(&mut member, &mut out).map_err(|e| BuildError::io("write", &target, e))?;
    }
    Ok(())
}
