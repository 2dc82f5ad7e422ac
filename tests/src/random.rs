//! Seeded random trees for the Nix oracle tests.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// Names whose order and bytes a NAR must get exactly right: the sort order of
/// unsigned bytes, spaces, a newline, control characters, and bytes that are not
/// UTF-8.
pub const TRICKY_NAMES: &[&[u8]] = &[
    b"0",
    b"A",
    b"B",
    b"a",
    b"a-b",
    b"a.b",
    b"aa",
    b"z",
    b"~",
    b"\x7f",
    b"\x80",
    b"\xff",
    b"with space",
    b"new\nline",
    b"tab\there",
    b"\x01ctrl",
    b"caf\xc3\xa9",
    b"bad\xc3utf8",
    b"-leading-dash",
    b".hidden",
    b"__pycache__",
];

const MODES: &[u32] = &[
    0o644, 0o600, 0o755, 0o700, 0o744, 0o677, 0o444, 0o555, 0o711,
];

/// Fills `root` (which must not exist) with a tree generated from `seed`: the
/// same seed always gives the same tree. Some seeds give a lone file or symlink
/// at the root instead of a directory.
pub fn random_tree(root: &Path, seed: u64) -> io::Result<()> {
    let mut rng = fastrand::Rng::with_seed(seed);
    match rng.u8(..20) {
        0 => write_file(&mut rng, root),
        1 => symlink(random_target(&mut rng), root),
        _ => {
            fs::create_dir(root)?;
            let mut budget = rng.usize(5..120);
            fill_dir(&mut rng, root, 0, &mut budget)
        }
    }
}

fn fill_dir(rng: &mut fastrand::Rng, dir: &Path, depth: u32, budget: &mut usize) -> io::Result<()> {
    let entries = rng.usize(0..8);
    let mut used = std::collections::HashSet::new();
    for _ in 0..entries {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let name = random_name(rng);
        if !used.insert(name.clone()) {
            continue;
        }
        let path = dir.join(std::ffi::OsStr::from_bytes(&name));
        match rng.u8(..10) {
            0..=4 => write_file(rng, &path)?,
            5 | 6 if depth < 6 => {
                fs::create_dir(&path)?;
                fill_dir(rng, &path, depth + 1, budget)?;
                // Directory modes do not matter to a NAR; keep them readable.
                fs::set_permissions(
                    &path,
                    fs::Permissions::from_mode(0o755 - rng.u32(0..2) * 0o050),
                )?;
            }
            7 | 8 => symlink(random_target(rng), &path)?,
            _ => fs::create_dir(&path)?,
        }
    }
    Ok(())
}

fn random_name(rng: &mut fastrand::Rng) -> Vec<u8> {
    if rng.bool() {
        return TRICKY_NAMES[rng.usize(..TRICKY_NAMES.len())].to_vec();
    }
    let len = rng.usize(1..24);
    let mut name: Vec<u8> = (0..len)
        .map(|_| {
            loop {
                let b = rng.u8(1..=255);
                if b != b'/' {
                    break b;
                }
            }
        })
        .collect();
    if name == b"." || name == b".." {
        name.push(b'x');
    }
    name
}

fn random_target(rng: &mut fastrand::Rng) -> PathBuf {
    let target: &[u8] = match rng.u8(..5) {
        0 => b"/nix/store/00000000000000000000000000000000-x/y",
        1 => b"../relative/target",
        2 => b"dangling-nowhere",
        3 => b"/bin/sh",
        _ => b"odd \xff target\nwith newline",
    };
    PathBuf::from(std::ffi::OsStr::from_bytes(target))
}

fn write_file(rng: &mut fastrand::Rng, path: &Path) -> io::Result<()> {
    // Sizes around multiples of 8 (NAR padding) and across the readers' chunk
    // size, with most files small, as in a real tree.
    let size = match rng.u8(..12) {
        0 => 0,
        1..=6 => rng.usize(1..64),
        7..=9 => rng.usize(64..8192),
        10 => 256 * 1024 + rng.usize(0..17) - 8,
        _ => rng.usize(8192..600_000),
    };
    let mut data = vec![0u8; size];
    rng.fill(&mut data);
    fs::write(path, &data)?;
    fs::set_permissions(
        path,
        fs::Permissions::from_mode(MODES[rng.usize(..MODES.len())]),
    )
}
