//! What an ELF file links against, and where its dynamic strings are.

use std::ops::Range;

use goblin::elf::Elf;
use goblin::elf::program_header::PT_LOAD;
use pyfod_manifest::{ByteString, ElfReport, RelPath};

pub(crate) const MAGIC: &[u8; 4] = b"\x7fELF";

/// The report for the manifest, and the byte range of the dynamic string table
/// (where RPATH, RUNPATH and NEEDED live), to tell those replacements apart.
#[derive(Debug, Clone)]
pub(crate) struct ElfInfo {
    pub(crate) report: ElfReport,
    pub(crate) dynstr: Option<Range<u64>>,
}

/// Reads an ELF file's dynamic section; `None` when it does not parse (a
/// truncated or foreign file that merely starts like ELF).
pub(crate) fn inspect(path: &RelPath, bytes: &[u8], store_prefix: &[u8]) -> Option<ElfInfo> {
    let elf = Elf::parse(bytes).ok()?;
    let split = |entries: &[&str]| -> Vec<ByteString> {
        entries
            .iter()
            .flat_map(|entry| entry.split(':'))
            .filter(|entry| !entry.is_empty())
            .map(ByteString::from)
            .collect()
    };
    let rpath = split(&elf.rpaths);
    let runpath = split(&elf.runpaths);
    let needed = elf.libraries.iter().map(|l| ByteString::from(*l)).collect();
    let store_entries = rpath
        .iter()
        .chain(&runpath)
        .filter(|entry| entry.as_bytes().starts_with(store_prefix))
        .cloned()
        .collect();
    Some(ElfInfo {
        report: ElfReport {
            path: path.clone(),
            rpath,
            runpath,
            needed,
            store_entries,
        },
        dynstr: dynstr_range(&elf),
    })
}

/// DT_STRTAB is a virtual address; the loadable segment holding it says where
/// that is in the file.
fn dynstr_range(elf: &Elf<'_>) -> Option<Range<u64>> {
    let info = &elf.dynamic.as_ref()?.info;
    let (address, size) = (info.strtab as u64, info.strsz as u64);
    elf.program_headers
        .iter()
        .filter(|ph| ph.p_type == PT_LOAD)
        .find(|ph| ph.p_vaddr <= address && address + size <= ph.p_vaddr + ph.p_filesz)
        .map(|ph| {
            let start = address - ph.p_vaddr + ph.p_offset;
            start..start + size
        })
}
