//! One wheel, planned: its archive checked as a whole before anything of it is
//! written — one `.dist-info` whose name and version, `METADATA` and `WHEEL`
//! agree with the file name and the lock; a RECORD that lists every member, with
//! its digest and size, and nothing else — and every member given its place in
//! the venv ([`crate::place`] writes them).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep508_rs::pep440_rs::Version;
use pyfod_digest::Sha256;
use pyfod_python::{WheelFilename, normalise_name};

use crate::InstallError;
use crate::archive::{Limits, Member, WheelArchive};

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
    /// What to install: each member, its venv-relative destination, and whether
    /// it is executable.
    pub members: Vec<(Member, String, bool)>,
    /// Each member's digest and size, from the RECORD (checked complete).
    pub record: HashMap<String, (Sha256, u64)>,
    /// Its console and GUI scripts (`entry_points.txt`), each checked to be a
    /// launcher pyfod can write.
    pub scripts: Vec<crate::launcher::EntryPoint>,
    pub limits: Limits,
}

/// Files of a dist-info the installer writes itself; a wheel's own are left out.
const INSTALLERS_OWN: [&str; 5] = [
    "RECORD",
    "INSTALLER",
    "REQUESTED",
    "direct_url.json",
    "uv_build.json",
];

/// Opens a wheel, checks it, and decides where each file goes. `site` is the
/// venv-relative site-packages, `python` is `python3.Y`.
pub fn plan(
    file: &Path,
    filename: &str,
    (name, version): (&str, &str),
    site: &str,
    python: &str,
    limits: &Limits,
) -> Result<WheelPlan, InstallError> {
    let mut archive = WheelArchive::open(file, filename, limits)?;
    let bad = |detail: String| InstallError::BadWheel {
        wheel: filename.to_owned(),
        detail,
    };
    let dist_info = dist_info_of(&archive.members).map_err(&bad)?;
    let stem = dist_info.trim_end_matches(".dist-info");
    let (dist_name, dist_version) = stem
        .rsplit_once('-')
        .filter(|(n, _)| pep508_rs::PackageName::new((*n).to_owned()).is_ok())
        .ok_or_else(|| bad(format!("{dist_info} is not <name>-<version>.dist-info")))?;
    if normalise_name(dist_name) != normalise_name(name) || !same_version(dist_version, version) {
        return Err(bad(format!(
            "{dist_info} does not match the lock's {name} {version}"
        )));
    }
    check_metadata(&mut archive, &dist_info, filename, (name, version))?;
    let record = check_record(&mut archive, &dist_info)?;
    let entry_points = archive.text(&format!("{dist_info}/entry_points.txt"))?;
    let scripts = entry_points
        .as_deref()
        .map(crate::launcher::scripts)
        .unwrap_or_default()
        .into_iter()
        .map(|entry| {
            entry.map_err(|(name, why)| InstallError::BadEntryPoint {
                package: filename.to_owned(),
                name,
                why,
            })
        })
        .collect::<Result<_, _>>()?;
    let members = destinations(&archive, &dist_info, dist_name, site, python)?;
    Ok(WheelPlan {
        filename: filename.to_owned(),
        file: file.to_path_buf(),
        dist_info,
        members,
        record,
        scripts,
        limits: *limits,
    })
}

/// The one top-level `*.dist-info` directory.
fn dist_info_of(members: &[Member]) -> Result<String, String> {
    let mut dist_infos: Vec<&str> = members
        .iter()
        .filter_map(|m| {
            m.name
                .split('/')
                .next()
                .filter(|d| d.ends_with(".dist-info"))
        })
        .collect();
    dist_infos.sort_unstable();
    dist_infos.dedup();
    match dist_infos.as_slice() {
        [one] => Ok((*one).to_owned()),
        other => Err(format!(
            "a wheel has exactly one .dist-info directory; this one has {}",
            other.len()
        )),
    }
}

/// PEP 440 equality (`1.0` is `1.0.0`), else the same text.
fn same_version(a: &str, b: &str) -> bool {
    match (Version::from_str(a), Version::from_str(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The file name, `WHEEL` and `METADATA` tell of one package: the lock's.
fn check_metadata(
    archive: &mut WheelArchive,
    dist_info: &str,
    filename: &str,
    (name, version): (&str, &str),
) -> Result<(), InstallError> {
    let bad = |detail: String| InstallError::BadWheel {
        wheel: filename.to_owned(),
        detail,
    };
    let parsed = WheelFilename::from_str(filename).map_err(&bad)?;
    if normalise_name(&parsed.name) != normalise_name(name)
        || !same_version(&parsed.version, version)
    {
        return Err(bad(format!(
            "its file name is not of the lock's {name} {version}"
        )));
    }
    let wheel = archive
        .text(&format!("{dist_info}/WHEEL"))?
        .ok_or_else(|| bad(format!("it has no {dist_info}/WHEEL")))?;
    let field = pyfod_python::metadata::header_values;
    let wheel_version = field(&wheel, "Wheel-Version");
    match wheel_version.first() {
        Some(v) if v.starts_with("1.") => {}
        Some(v) => {
            return Err(bad(format!(
                "Wheel-Version {v}: pyfod installs wheels of version 1"
            )));
        }
        None => return Err(bad("WHEEL has no Wheel-Version".into())),
    }
    let tags = field(&wheel, "Tag");
    if !tags.is_empty() && !parsed.tags().iter().any(|t| tags.contains(t)) {
        return Err(bad(format!(
            "WHEEL says its tags are {}, but its file name says {}",
            tags.join(", "),
            parsed.tags().join(", ")
        )));
    }
    let metadata = archive
        .text(&format!("{dist_info}/METADATA"))?
        .ok_or_else(|| bad(format!("it has no {dist_info}/METADATA")))?;
    let (meta_name, meta_version) = (field(&metadata, "Name"), field(&metadata, "Version"));
    match (meta_name.first(), meta_version.first()) {
        (Some(n), Some(v))
            if normalise_name(n) == normalise_name(name) && same_version(v, version) =>
        {
            Ok(())
        }
        (n, v) => Err(bad(format!(
            "its METADATA names {} {}, not the lock's {name} {version}",
            n.map_or("no name", String::as_str),
            v.map_or("no version", String::as_str)
        ))),
    }
}

/// The wheel's RECORD, as a contract: every member (but RECORD and its
/// signatures) listed with a SHA-256 and the size the zip gives, and no row for
/// anything the wheel does not hold.
fn check_record(
    archive: &mut WheelArchive,
    dist_info: &str,
) -> Result<HashMap<String, (Sha256, u64)>, InstallError> {
    let filename = archive.filename.clone();
    let bad = |detail: String| InstallError::BadWheel {
        wheel: filename.clone(),
        detail,
    };
    let own = format!("{dist_info}/RECORD");
    let text = archive
        .text(&own)?
        .ok_or_else(|| bad(format!("it has no {own}")))?;
    let rows = pyfod_python::record::parse(&text).map_err(|e| bad(format!("its {e}")))?;
    let exempt =
        |path: &str| path == own || path == format!("{own}.jws") || path == format!("{own}.p7s");
    let mut record = HashMap::new();
    for row in rows {
        if exempt(&row.path) || row.path.ends_with('/') {
            continue;
        }
        let hash = row
            .hash
            .ok_or_else(|| bad(format!("its RECORD gives no digest for {}", row.path)))?;
        let sha256 = hash.sha256().ok_or_else(|| {
            bad(if hash.algorithm == "sha256" {
                format!(
                    "its RECORD gives a malformed sha256 digest for {}",
                    row.path
                )
            } else {
                format!(
                    "its RECORD gives a {} digest for {}; pyfod checks sha256",
                    hash.algorithm, row.path
                )
            })
        })?;
        let Some(member) = archive.members.iter().find(|m| m.name == row.path) else {
            return Err(bad(format!(
                "its RECORD lists {}, which the wheel does not hold",
                row.path
            )));
        };
        if row.size.is_some_and(|size| size != member.size) {
            return Err(bad(format!(
                "its RECORD says {} is {} bytes, but it is {}",
                row.path,
                row.size.unwrap_or_default(),
                member.size
            )));
        }
        if record
            .insert(row.path.clone(), (sha256, member.size))
            .is_some_and(|old| old != (sha256, member.size))
        {
            return Err(bad(format!(
                "its RECORD lists {} twice, with two digests",
                row.path
            )));
        }
    }
    if let Some(missing) = archive
        .members
        .iter()
        .find(|m| !m.is_dir && !exempt(&m.name) && !record.contains_key(&m.name))
    {
        return Err(InstallError::NotInRecord {
            wheel: archive.filename.clone(),
            path: missing.name.clone(),
        });
    }
    Ok(record)
}

/// Where each member goes: site-packages, or the place its `.data` scheme names.
fn destinations(
    archive: &WheelArchive,
    dist_info: &str,
    dist_name: &str,
    site: &str,
    python: &str,
) -> Result<Vec<(Member, String, bool)>, InstallError> {
    let bad = |detail: String| InstallError::BadWheel {
        wheel: archive.filename.clone(),
        detail,
    };
    let data = format!("{}.data/", dist_info.trim_end_matches(".dist-info"));
    let mut members = Vec::new();
    for member in archive.members.iter().filter(|m| !m.is_dir) {
        let in_dist_info = member.name.strip_prefix(&format!("{dist_info}/"));
        if in_dist_info.is_some_and(|f| INSTALLERS_OWN.contains(&f) || f.starts_with("RECORD.")) {
            continue;
        }
        let destination = match member.name.strip_prefix(&data) {
            None => format!("{site}/{}", member.name),
            Some(rest) => {
                let (scheme, path) = rest.split_once('/').ok_or_else(|| {
                    bad(format!(
                        "{} is not inside a .data scheme directory",
                        member.name
                    ))
                })?;
                match scheme {
                    "purelib" | "platlib" => format!("{site}/{path}"),
                    "scripts" => {
                        crate::launcher::check_script_name(path).map_err(|why| {
                            InstallError::ReservedScript {
                                package: archive.filename.clone(),
                                name: format!("{} ({why})", member.name),
                            }
                        })?;
                        format!("bin/{path}")
                    }
                    "headers" => format!("include/site/{python}/{dist_name}/{path}"),
                    "data" => path.to_owned(),
                    other => {
                        return Err(bad(format!(
                            "unknown .data scheme `{other}` in {}",
                            member.name
                        )));
                    }
                }
            }
        };
        let is_script = member.name.starts_with(&format!("{data}scripts/"));
        let executable = member.executable || is_script;
        members.push((member.clone(), destination, executable));
    }
    Ok(members)
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
