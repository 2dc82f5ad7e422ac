//! A planned wheel's files written into the venv, all through [`VenvWriter`]:
//! from the zip, each member streamed and checked against the RECORD as it is
//! written; or from the store's unpacked tree, each file checked against the
//! tree's index as it is copied or linked.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pyfod_digest::Sha256;

use crate::archive::{Member, WheelArchive};
use crate::unpacked::{LinkMode, Members};
use crate::wheel::{WheelPlan, Written};
use crate::writer::{VenvWriter, WriteError};
use crate::{InstallError, launcher};

/// Scripts are read whole to rewrite their first line; larger files are not
/// scripts to rewrite.
const SCRIPT_MAX: u64 = 16 << 20;

impl WheelPlan {
    /// Unpacks every member into `dir` at its path in the zip, checked against the
    /// RECORD: a tree of [`crate::unpacked`].
    pub fn unpack_members(&self, dir: &Path) -> Result<(), InstallError> {
        let mut writer = VenvWriter::new(dir);
        let members = self
            .members
            .iter()
            .map(|(member, _, executable)| (member, member.name.as_str(), *executable));
        self.extract(members, &mut writer, None).map(drop)
    }

    /// Installs every member straight from the zip, scripts rewritten for `shebang`.
    pub fn unpack(
        &self,
        writer: &mut VenvWriter<'_>,
        shebang: &str,
    ) -> Result<Vec<Written>, InstallError> {
        let members = self
            .members
            .iter()
            .map(|(member, destination, executable)| (member, destination.as_str(), *executable));
        self.extract(members, writer, Some(shebang))
    }

    fn extract<'m>(
        &self,
        members: impl Iterator<Item = (&'m Member, &'m str, bool)>,
        writer: &mut VenvWriter<'_>,
        shebang: Option<&str>,
    ) -> Result<Vec<Written>, InstallError> {
        let mut archive = WheelArchive::open(&self.file, &self.filename, &self.limits)?;
        let mut written = Vec::with_capacity(self.members.len());
        for (member, destination, executable) in members {
            let script =
                shebang.filter(|_| destination.starts_with("bin/") && member.size <= SCRIPT_MAX);
            if let Some(shebang) = script {
                let mut bytes = Vec::with_capacity(member.size as usize);
                let (digest, _) = archive.copy(member, &mut bytes)?;
                self.verify(member, &digest)?;
                let to = (destination, executable);
                written.push(self.write_script(writer, &member.name, to, &bytes, shebang)?);
                continue;
            }
            let file = writer
                .create(destination, executable)
                .map_err(|e| self.unwritable(&member.name, e))?;
            let mut out = BufWriter::with_capacity(64 * 1024, file);
            let (digest, size) = archive.copy(member, &mut out)?;
            out.flush().map_err(|source| InstallError::Io {
                action: "write",
                path: Path::new(destination).to_path_buf(),
                source,
            })?;
            self.verify(member, &digest)?;
            written.push(Written {
                path: destination.to_owned(),
                sha256: digest,
                size,
            });
        }
        Ok(written)
    }

    /// Installs from the wheel's unpacked tree: each file copied or linked to its
    /// place (`mode`), scripts rewritten for `shebang`.
    pub fn install_from(
        &self,
        tree: &Path,
        files: &Members,
        writer: &mut VenvWriter<'_>,
        shebang: &str,
        mode: LinkMode,
    ) -> Result<Vec<Written>, InstallError> {
        let mut written = Vec::with_capacity(self.members.len());
        for (member, destination, executable) in &self.members {
            let damaged = |what: &str| InstallError::Damaged {
                entry: entry_of(tree),
                path: member.name.clone(),
                what: what.to_owned(),
            };
            let (sha256, size) = *files
                .get(&member.name)
                .ok_or_else(|| damaged("is not in its index"))?;
            let from = tree.join(&member.name);
            if destination.starts_with("bin/") && size <= SCRIPT_MAX {
                let bytes = fs::read(&from).map_err(|_| damaged("cannot be read"))?;
                if Sha256::of(&bytes) != sha256 {
                    return Err(damaged("its contents changed"));
                }
                let to = (destination.as_str(), *executable);
                written.push(self.write_script(writer, &member.name, to, &bytes, shebang)?);
                continue;
            }
            place(
                &from,
                (writer, destination, *executable),
                mode,
                (&sha256, size),
            )
            .map_err(|e| match e {
                Placing::Damaged(what) => damaged(&what),
                Placing::Write(e) => self.unwritable(&member.name, e),
            })?;
            written.push(Written {
                path: destination.clone(),
                sha256,
                size,
            });
        }
        Ok(written)
    }

    /// A script, its `#!python` line made the venv's.
    fn write_script(
        &self,
        writer: &mut VenvWriter<'_>,
        member: &str,
        (destination, executable): (&str, bool),
        bytes: &[u8],
        shebang: &str,
    ) -> Result<Written, InstallError> {
        let rewritten = launcher::rewrite_script(shebang, bytes);
        let contents = rewritten.as_deref().unwrap_or(bytes);
        writer
            .write(destination, contents, executable)
            .map_err(|e| self.unwritable(member, e))?;
        Ok(Written {
            path: destination.to_owned(),
            sha256: Sha256::of(contents),
            size: contents.len() as u64,
        })
    }

    fn verify(&self, member: &Member, digest: &Sha256) -> Result<(), InstallError> {
        match self.record.get(&member.name) {
            Some((expected, _)) if expected == digest => Ok(()),
            _ => Err(InstallError::RecordMismatch {
                wheel: self.filename.clone(),
                path: member.name.clone(),
            }),
        }
    }

    fn unwritable(&self, member: &str, source: WriteError) -> InstallError {
        InstallError::Unwritable {
            wheel: self.filename.clone(),
            member: member.to_owned(),
            source,
        }
    }
}

/// Why a file could not be placed.
#[derive(Debug)]
pub(crate) enum Placing {
    /// The unpacked file is not what its index says.
    Damaged(String),
    Write(WriteError),
}

/// Makes `destination` from the unpacked file `from` (checked against the digest
/// and size its tree's index gives first), by `mode`.
pub(crate) fn place(
    from: &Path,
    (writer, destination, executable): (&mut VenvWriter<'_>, &str, bool),
    mode: LinkMode,
    (sha256, size): (&Sha256, u64),
) -> Result<(), Placing> {
    let meta = from
        .metadata()
        .map_err(|e| Placing::Damaged(format!("cannot be read: {e}")))?;
    pyfod_store::index::check_file(from, &meta, size, sha256).map_err(Placing::Damaged)?;
    // A link takes the unpacked file's mode: only when it is the one this
    // member must have, else the member is copied with its own.
    let wanted = if executable { 0o755 } else { 0o644 };
    let mode = match mode {
        LinkMode::Hardlink if meta.permissions().mode() & 0o7777 != wanted => LinkMode::Copy,
        mode => mode,
    };
    let io = |action, source| {
        Placing::Write(WriteError::Io {
            action,
            path: from.to_path_buf(),
            source,
        })
    };
    match mode {
        LinkMode::Copy => {
            let mut source = File::open(from).map_err(|e| io("open", e))?;
            let mut out = writer
                .create(destination, executable)
                .map_err(Placing::Write)?;
            std::io::copy(&mut source, &mut out).map_err(|e| io("copy", e))?;
        }
        LinkMode::Hardlink => writer
            .make_with(destination, |to| fs::hard_link(from, to))
            .map_err(Placing::Write)?,
        LinkMode::Reflink => writer
            .make_with(destination, |to| reflink_copy::reflink(from, to))
            .map_err(|e| match e {
                WriteError::Io { source, .. } => io(
                    "clone (reflink; this file system may not clone files: use --link-mode copy)",
                    source,
                ),
                other => Placing::Write(other),
            })?,
    }
    Ok(())
}

/// The name of the store entry a tree is the `tree/` of.
pub(crate) fn entry_of(tree: &Path) -> String {
    tree.parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
