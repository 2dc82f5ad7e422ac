//! A tree shaped like a real venv, for benchmarks: thousands of small Python
//! files, their `.pyc`, metadata directories, and a few large shared objects that
//! hold most of the bytes.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

#[derive(Debug, Clone, Copy)]
pub struct VenvShape {
    pub packages: usize,
    pub files: usize,
    pub bytes: u64,
}

impl Default for VenvShape {
    /// About authentik's size: 12,000 files, 300 MB.
    fn default() -> Self {
        VenvShape {
            packages: 120,
            files: 12_000,
            bytes: 300 * 1024 * 1024,
        }
    }
}

/// Writes a venv-shaped tree of about `shape.files` files and `shape.bytes` bytes
/// to `root` (which must not exist), the same for the same seed.
pub fn venv_like_tree(root: &Path, shape: VenvShape, seed: u64) -> io::Result<()> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let site = root.join("lib/python3.11/site-packages");
    fs::create_dir_all(&site)?;
    fs::create_dir_all(root.join("bin"))?;
    symlink("/usr/bin/python3.11", root.join("bin/python"))?;
    symlink("python", root.join("bin/python3"))?;
    symlink("python", root.join("bin/python3.11"))?;
    symlink("lib", root.join("lib64"))?;
    fs::write(
        root.join("pyvenv.cfg"),
        "home = /usr/bin\nimplementation = CPython\nversion_info = 3.11.7\ninclude-system-site-packages = false\n",
    )?;

    // A fifth of the bytes go to small files with a log-normal-ish spread; the
    // rest to shared objects, as in a real venv where a few `.so` dominate.
    let small_files = shape.files.saturating_sub(shape.packages * 5);
    let small_budget = shape.bytes / 5;
    let mean_small = (small_budget / small_files.max(1) as u64).max(1);
    let so_count = (shape.packages / 4).max(1);
    let so_budget = shape.bytes - small_budget;
    let mut buffer = Vec::new();
    for p in 0..shape.packages {
        let pkg = site.join(format!("package_{p:03}"));
        let dist = site.join(format!("package_{p:03}-1.{p}.0.dist-info"));
        fs::create_dir_all(pkg.join("__pycache__"))?;
        fs::create_dir_all(&dist)?;
        for (name, size) in [
            ("METADATA", 2000),
            ("RECORD", 6000),
            ("WHEEL", 100),
            ("INSTALLER", 2),
        ] {
            write_random(&mut rng, &mut buffer, &dist.join(name), size, 0o644)?;
        }
        let share = small_files / shape.packages + usize::from(p < small_files % shape.packages);
        for f in 0..share / 2 {
            let size = skewed(&mut rng, mean_small);
            let sub = if f % 7 == 0 {
                pkg.join(format!("sub{}", f % 5))
            } else {
                pkg.clone()
            };
            fs::create_dir_all(&sub)?;
            write_random(
                &mut rng,
                &mut buffer,
                &sub.join(format!("module_{f}.py")),
                size,
                0o644,
            )?;
            let pyc = size / 2 + 200;
            write_random(
                &mut rng,
                &mut buffer,
                &pkg.join(format!("__pycache__/module_{f}.cpython-311.pyc")),
                pyc,
                0o644,
            )?;
        }
        if p < so_count {
            let size = so_budget / so_count as u64;
            write_random(
                &mut rng,
                &mut buffer,
                &pkg.join("_native.cpython-311-x86_64-linux-gnu.so"),
                size,
                0o755,
            )?;
        }
        write_random(
            &mut rng,
            &mut buffer,
            &root.join(format!("bin/tool-{p}")),
            300,
            0o755,
        )?;
    }
    Ok(())
}

/// Sizes with a long tail: most near the mean, a few much larger.
fn skewed(rng: &mut fastrand::Rng, mean: u64) -> u64 {
    let factor = match rng.u8(..10) {
        0..=3 => rng.f64() * 0.5,
        4..=7 => 0.5 + rng.f64(),
        8 => 1.5 + rng.f64() * 2.0,
        _ => 3.5 + rng.f64() * 3.0,
    };
    ((mean as f64) * factor) as u64
}

fn write_random(
    rng: &mut fastrand::Rng,
    buffer: &mut Vec<u8>,
    path: &Path,
    size: u64,
    mode: u32,
) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    let mut left = size;
    while left > 0 {
        let n = left.min(1 << 20) as usize;
        buffer.resize(n, 0);
        rng.fill(buffer);
        file.write_all(buffer)?;
        left -= n as u64;
    }
    file.set_permissions(fs::Permissions::from_mode(mode))
}

/// Makes a venv-shaped tree look like one built inside Nix: `paths` store paths
/// under `store_dir` (the first one the interpreter, named in `pyvenv.cfg`), each
/// written into text files as `<path>/lib`, a few into the `.so` files as a
/// RUNPATH would be, and one a symlink target. Returns the store paths.
pub fn add_store_references(
    root: &Path,
    store_dir: &str,
    paths: usize,
    seed: u64,
) -> io::Result<Vec<String>> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let store_paths: Vec<String> = (0..paths)
        .map(|i| {
            let name = if i == 0 {
                "python3-3.11.7".to_owned()
            } else {
                format!("lib{i}-1.0")
            };
            format!(
                "{store_dir}/{}-{name}",
                crate::nixlike::hash_part(&format!("{seed}-{i}"))
            )
        })
        .collect();
    fs::write(
        root.join("pyvenv.cfg"),
        format!(
            "home = {}/bin\nimplementation = CPython\nversion_info = 3.11.7\ninclude-system-site-packages = false\n",
            store_paths[0]
        ),
    )?;
    let mut files = Vec::new();
    collect_files(root, &mut files)?;
    files.sort();
    for (i, file) in files.iter().enumerate() {
        let name = file.to_string_lossy();
        let is_so = name.ends_with(".so");
        // About one text file in twenty names a store path; every `.so` does.
        if !is_so && (!name.ends_with(".py") || rng.usize(..20) != 0) {
            continue;
        }
        let path = &store_paths[(i % (paths - 1)) + 1];
        let mut data = fs::read(file)?;
        let at = rng.usize(..=data.len());
        let snippet = if is_so {
            format!("\0{path}/lib:{}/lib\0", store_paths[1])
        } else {
            format!("\nLIB = \"{path}/lib\"\n")
        };
        data.splice(at..at, snippet.bytes());
        fs::write(file, data)?;
    }
    symlink(
        format!("{}/lib/libdata.so", store_paths[paths - 1]),
        root.join("lib/python3.11/site-packages/libdata.so"),
    )?;
    Ok(store_paths)
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}
