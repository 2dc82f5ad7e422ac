//! The built wheel re-packed canonically, so that the same files give the same
//! bytes: members sorted (the `.dist-info` last, `RECORD` at the very end, as the
//! wheel spec recommends), one timestamp, modes 0644 or 0755, deflate at one level,
//! and a RECORD computed from the files themselves. Paths of the build named in
//! the `.dist-info` (maturin's SBOM names the directory it built in) are mapped
//! onto their fixed names, as the compiler's prefix map does in objects.

use std::io::{Cursor, Read, Write};

use base64::Engine;
use pyfod_digest::Sha256;
use zip::write::SimpleFileOptions;

/// Why a built wheel could not be re-packed.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct RepackError {
    pub detail: String,
}

fn fail(detail: impl std::fmt::Display) -> RepackError {
    RepackError {
        detail: detail.to_string(),
    }
}

/// Re-packs `wheel` (the backend's output), dating every member `epoch`, each
/// `(from, to)` of `paths` replaced in the members of its `.dist-info`.
pub fn repack(
    wheel: &[u8],
    epoch: u64,
    paths: &[(String, String)],
) -> Result<Vec<u8>, RepackError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(wheel)).map_err(fail)?;
    let mut members: Vec<(String, bool, Vec<u8>)> = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let mut member = archive.by_index(index).map_err(fail)?;
        if member.is_dir() {
            continue;
        }
        let name = member.name().map_err(fail)?.into_owned();
        let executable = member.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let mut bytes = Vec::with_capacity(member.size() as usize);
        member
            .read_to_end(&mut bytes)
            .map_err(|e| fail(format!("{name}: {e}")))?;
        members.push((name, executable, bytes));
    }
    let record = members
        .iter()
        .map(|(name, ..)| name)
        .find(|name| is_record(name))
        .cloned()
        .ok_or_else(|| fail("the wheel has no .dist-info/RECORD"))?;
    let dist_info = record.trim_end_matches("RECORD").to_owned();
    members.retain(|(name, ..)| {
        // Signatures sign the old RECORD: they cannot survive a re-pack.
        !(name == &record
            || name == &format!("{dist_info}RECORD.jws")
            || name == &format!("{dist_info}RECORD.p7s"))
    });
    for (name, _, bytes) in &mut members {
        if name.starts_with(&dist_info) {
            for (from, to) in paths {
                *bytes = replace(bytes, from.as_bytes(), to.as_bytes());
            }
        }
    }
    members.sort_by(|a, b| order(&a.0, &dist_info).cmp(&order(&b.0, &dist_info)));
    let mut duplicates = members.windows(2).filter(|w| w[0].0 == w[1].0);
    if let Some(pair) = duplicates.next() {
        return Err(fail(format!("the wheel has {} twice", pair[0].0)));
    }

    let mut text = String::new();
    for (name, _, bytes) in &members {
        let digest =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::of(bytes).as_bytes());
        text.push_str(&format!(
            "{},sha256={digest},{}\n",
            csv_field(name),
            bytes.len()
        ));
    }
    text.push_str(&format!("{},,\n", csv_field(&record)));

    let time = zip_time(epoch)?;
    let options = |executable: bool| {
        SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(time)
            .unix_permissions(if executable { 0o755 } else { 0o644 })
    };
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(wheel.len())));
    for (name, executable, bytes) in &members {
        out.start_file(name.as_str(), options(*executable))
            .map_err(fail)?;
        out.write_all(bytes).map_err(fail)?;
    }
    out.start_file(record.as_str(), options(false))
        .map_err(fail)?;
    out.write_all(text.as_bytes()).map_err(fail)?;
    Ok(out.finish().map_err(fail)?.into_inner())
}

/// `bytes` with every `from` replaced by `to`.
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = memchr::memmem::find(rest, from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn is_record(name: &str) -> bool {
    name.strip_suffix("/RECORD")
        .is_some_and(|dir| dir.ends_with(".dist-info") && !dir.contains('/'))
}

/// Sort key: files outside the dist-info first, then the dist-info's.
fn order<'a>(name: &'a str, dist_info: &str) -> (bool, &'a str) {
    (name.starts_with(dist_info), name)
}

fn csv_field(name: &str) -> String {
    if name.contains([',', '"', '\n']) {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_owned()
    }
}

/// A Unix time as a zip's MS-DOS date and time (UTC), clamped to what a zip can
/// hold: 1980 to 2107.
fn zip_time(epoch: u64) -> Result<zip::DateTime, RepackError> {
    let days = (epoch / 86_400) as i64;
    let seconds = epoch % 86_400;
    let (year, month, day) = civil_from_days(days);
    let (year, month, day, seconds) = match year {
        ..1980 => (1980, 1, 1, 0),
        2108.. => (2107, 12, 31, 86_398),
        _ => (year, month, day, seconds),
    };
    zip::DateTime::from_date_and_time(
        year as u16,
        month as u8,
        day as u8,
        (seconds / 3600) as u8,
        (seconds / 60 % 60) as u8,
        (seconds % 60) as u8,
    )
    .map_err(|e| fail(format!("SOURCE_DATE_EPOCH {epoch}: {e}")))
}

/// Days since 1970-01-01 as a proleptic Gregorian date (Howard Hinnant's method).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wheel(members: &[(&str, u32, &str)]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, mode, body) in members {
            out.start_file(
                *name,
                SimpleFileOptions::default()
                    .unix_permissions(*mode)
                    .compression_method(zip::CompressionMethod::Stored),
            )
            .unwrap();
            out.write_all(body.as_bytes()).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    fn names(bytes: &[u8]) -> Vec<String> {
        let archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        archive
            .file_names()
            .flatten()
            .map(|n| n.into_owned())
            .collect()
    }

    #[test]
    fn same_files_in_any_order_give_the_same_bytes() {
        let a = wheel(&[
            ("p-1.dist-info/RECORD", 0o600, "stale"),
            ("p/__init__.py", 0o600, "x = 1\n"),
            ("p-1.dist-info/METADATA", 0o644, "Name: p\n"),
            ("p/run.sh", 0o700, "#!/bin/sh\n"),
        ]);
        let b = wheel(&[
            ("p/run.sh", 0o775, "#!/bin/sh\n"),
            ("p-1.dist-info/METADATA", 0o666, "Name: p\n"),
            ("p/__init__.py", 0o640, "x = 1\n"),
            ("p-1.dist-info/RECORD", 0o644, "other"),
        ]);
        let (a, b) = (
            repack(&a, 315_532_800, &[]).unwrap(),
            repack(&b, 315_532_800, &[]).unwrap(),
        );
        assert_eq!(a, b);
        assert_eq!(
            names(&a),
            [
                "p/__init__.py",
                "p/run.sh",
                "p-1.dist-info/METADATA",
                "p-1.dist-info/RECORD"
            ]
        );
        let mut archive = zip::ZipArchive::new(Cursor::new(&a)).unwrap();
        assert_eq!(
            archive.by_name("p/run.sh").unwrap().unix_mode(),
            Some(0o100755)
        );
        assert_eq!(
            archive.by_name("p/__init__.py").unwrap().unix_mode(),
            Some(0o100644)
        );
        let mut record = String::new();
        archive
            .by_name("p-1.dist-info/RECORD")
            .unwrap()
            .read_to_string(&mut record)
            .unwrap();
        assert!(record.starts_with("p/__init__.py,sha256="), "{record}");
        assert!(record.ends_with("p-1.dist-info/RECORD,,\n"), "{record}");
    }

    #[test]
    fn build_paths_in_the_dist_info_are_mapped_and_nowhere_else() {
        let sbom = r#"{"component": "/tmp/store/tmp/ab12/p-1/Cargo.toml"}"#;
        let w = wheel(&[
            ("p/data.bin", 0o644, "/tmp/store/tmp/ab12"),
            ("p-1.dist-info/sboms/p.cdx.json", 0o644, sbom),
            ("p-1.dist-info/RECORD", 0o644, ""),
        ]);
        let paths = [("/tmp/store/tmp/ab12".to_owned(), "/build".to_owned())];
        let out = repack(&w, 315_532_800, &paths).unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(out)).unwrap();
        let read = |archive: &mut zip::ZipArchive<Cursor<Vec<u8>>>, name: &str| {
            let mut text = String::new();
            archive
                .by_name(name)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            text
        };
        assert_eq!(
            read(&mut archive, "p-1.dist-info/sboms/p.cdx.json"),
            r#"{"component": "/build/p-1/Cargo.toml"}"#
        );
        // A file of the package is the backend's: its bytes are left as they are.
        assert_eq!(read(&mut archive, "p/data.bin"), "/tmp/store/tmp/ab12");
    }

    #[test]
    fn the_epoch_sets_every_timestamp() {
        let w = wheel(&[("p/a.py", 0o644, ""), ("p-1.dist-info/RECORD", 0o644, "")]);
        assert_ne!(
            repack(&w, 315_532_800, &[]).unwrap(),
            repack(&w, 1_700_000_000, &[]).unwrap()
        );
        let time = zip_time(1_700_000_000).unwrap();
        assert_eq!(
            (
                time.year(),
                time.month(),
                time.day(),
                time.hour(),
                time.minute()
            ),
            (2023, 11, 14, 22, 13)
        );
        assert_eq!(zip_time(0).unwrap().year(), 1980);
    }

    #[test]
    fn a_wheel_without_record_is_refused() {
        let error = repack(&wheel(&[("p/a.py", 0o644, "")]), 0, &[]).unwrap_err();
        assert!(error.to_string().contains("RECORD"));
    }
}
