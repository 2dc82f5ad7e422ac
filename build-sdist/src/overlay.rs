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
    let bad = bad_wheel(filename);
    let mut archive = open(wheel, filename)?;
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

/// A wheel of the store as a zip.
fn open(
    wheel: &Path,
    filename: &str,
) -> Result<zip::ZipArchive<io::BufReader<fs::File>>, BuildError> {
    let file = fs::File::open(wheel).map_err(|e| BuildError::io("open", wheel, e))?;
    zip::ZipArchive::new(io::BufReader::new(file)).map_err(|e| bad_wheel(filename)(e.to_string()))
}

/// The error for a wheel that is not what it should be, with what is wrong.
fn bad_wheel(filename: &str) -> impl Fn(String) -> BuildError + '_ {
    move |detail| BuildError::BadWheel {
        wheel: filename.to_owned(),
        detail,
    }
}

/// The most of a wheel's METADATA read: real ones are a few kB (their long
/// description is the bulk).
const METADATA_MAX: u64 = 16 << 20;

/// The `Requires-Dist` lines of `wheel`'s METADATA (its one top-level
/// `*.dist-info`), as written: what installing it would bring.
pub fn requires_dist(wheel: &Path, filename: &str) -> Result<Vec<String>, BuildError> {
    use std::io::Read;
    let bad = bad_wheel(filename);
    let mut archive = open(wheel, filename)?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .filter(|n| {
            n.strip_suffix(".dist-info/METADATA")
                .is_some_and(|dir| !dir.contains('/'))
        })
        .collect();
    let [name] = names.as_slice() else {
        return Err(bad(format!(
            "it has {} `*.dist-info/METADATA` at its root, not one",
            names.len()
        )));
    };
    let member = archive.by_name(name).map_err(|e| bad(e.to_string()))?;
    let mut text = String::new();
    member
        .take(METADATA_MAX)
        .read_to_string(&mut text)
        .map_err(|e| bad(format!("{name}: {e}")))?;
    Ok(pyfod_python::metadata::header_values(
        &text,
        "Requires-Dist",
    ))
}
