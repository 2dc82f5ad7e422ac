//! `cargo xtask e2e matrix`: one real sdist per build backend
//! (`examples/backend-matrix`), locked at run time with `--exclude-newer`, its
//! build locks written by `pyfod lock-build` and nothing edited by hand. Built
//! cold twice by `pyfod build` as on two machines — other stores, `HOME`s,
//! `CARGO_HOME`s and project paths — for one hash; every package imports;
//! `--check` builds each source twice and compares; and `uv sync` of the same
//! lock, cold, is timed beside it. Uses the package and crate registries.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

use crate::e2e::{EXCLUDE_NEWER, Project, run, site_packages};
use crate::workspace_root;

/// Each package of the matrix, its backend, and a module that only imports when
/// its build worked (the compiled part, where there is one).
const PACKAGES: [(&str, &str, &str); 12] = [
    ("bitarray", "setuptools + C", "bitarray._bitarray"),
    ("cymem", "setuptools + Cython (C++)", "cymem.cymem"),
    ("propcache", "in-tree backend", "propcache._helpers_c"),
    (
        "argon2-cffi-bindings",
        "cffi at build time",
        "_argon2_cffi_bindings._ffi",
    ),
    ("rpds-py", "maturin", "rpds.rpds"),
    ("bcrypt", "setuptools-rust", "bcrypt._bcrypt"),
    ("cysignals", "meson-python", "cysignals.signals"),
    (
        "levenshtein",
        "scikit-build-core",
        "Levenshtein.levenshtein_cpp",
    ),
    ("jupyter-server", "hatchling + build hook", "jupyter_server"),
    ("findpython", "pdm-backend", "findpython"),
    ("tomlkit", "poetry-core", "tomlkit"),
    ("tomli", "flit-core", "tomli"),
];

pub fn run_matrix() -> anyhow::Result<()> {
    // Outside pyfod's own cargo workspace: cargo would take the Rust sources
    // built in a store under it for members of it.
    let root = std::env::temp_dir().join("pyfod-e2e-matrix");
    let _ = fs::remove_dir_all(&root);
    let example = workspace_root().join("examples/backend-matrix/pyproject.toml");
    let a = root.join("a");
    let project = Project::prepare_example(
        &a.join("project"),
        "backend-matrix",
        &fs::read_to_string(example)?,
    )?;
    name_build_locks(&project.dir)?;
    // The second machine: the same files at another path.
    let b = root.join("b");
    let elsewhere = Project {
        dir: b.join("somewhere/else/project"),
        pyfod: project.pyfod.clone(),
    };
    copy_project(&project.dir, &elsewhere.dir)?;

    let prefix = Path::new("/opt/backend-matrix");
    let (first, cold) =
        project.pyfod_build_with(&a.join("store"), &a.join("out"), prefix, &[], &machine(&a)?)?;
    let (second, _) =
        elsewhere.pyfod_build_with(&b.join("store"), &b.join("out"), prefix, &[], &machine(&b)?)?;
    ensure!(
        first == second,
        "two cold builds as on two machines gave {first} and {second}"
    );
    let imported = imports(&a.join("out"))?;
    eprintln!("bench matrix: --check, every source built twice");
    let (checked, _) = project.pyfod_build_with(
        &a.join("store"),
        &a.join("out-check"),
        prefix,
        &["--check"],
        &machine(&a)?,
    )?;
    ensure!(checked == first, "--check gave {checked}, not {first}");
    let uv = uv_sync_cold(&project.dir, &root.join("uv-venv"))?;

    println!("\n## cargo xtask e2e matrix\n");
    println!("| package | backend | import |");
    println!("|---|---|---|");
    for ((name, backend, module), ok) in PACKAGES.iter().zip(&imported) {
        println!("| {name} | {backend} | `{module}` {ok} |");
    }
    println!("\n- two cold builds (other store, HOME, CARGO_HOME, project path): {first} (equal)");
    println!("- `--check`: every source built twice, the same wheels");
    println!(
        "- pyfod build cold: {:.1} s; uv sync of the same lock, cold: {:.1} s; ratio {:.2}",
        cold.wall.as_secs_f64(),
        uv.as_secs_f64(),
        cold.wall.as_secs_f64() / uv.as_secs_f64()
    );
    Ok(())
}

/// Adds to pyfod.toml the locks `pyfod lock-build` wrote: one shared, or one
/// per package (the lines it prints).
fn name_build_locks(dir: &Path) -> anyhow::Result<()> {
    let build = dir.join("build");
    let mut lines = String::new();
    if build.join("uv.lock").is_file() {
        lines.push_str("[build]\nlock = \"build/uv.lock\"\n");
    } else {
        let mut packages: Vec<String> = fs::read_dir(&build)?
            .flatten()
            .filter(|e| e.path().join("uv.lock").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        packages.sort();
        for name in packages {
            lines.push_str(&format!(
                "[build.packages.{name}]\nlock = \"build/{name}/uv.lock\"\n"
            ));
        }
    }
    let config = dir.join("pyfod.toml");
    let text = fs::read_to_string(&config)? + &lines;
    fs::write(&config, text)?;
    eprintln!("build locks:\n{lines}");
    Ok(())
}

/// The project's files (not its stores) copied to `to`.
fn copy_project(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for name in ["pyproject.toml", "pyfod.toml", "uv.lock"] {
        fs::copy(from.join(name), to.join(name))?;
    }
    run(Command::new("cp")
        .arg("-a")
        .arg(from.join("build"))
        .arg(to.join("build")))
}

/// A machine's `HOME` and `CARGO_HOME` under `root`; rustup's home where this
/// machine keeps it, named, since `HOME` no longer leads to it.
fn machine(root: &Path) -> anyhow::Result<Vec<(&'static str, String)>> {
    let home = root.join("home");
    fs::create_dir_all(&home)?;
    let mut env = vec![
        ("HOME", home.display().to_string()),
        ("CARGO_HOME", home.join(".cargo").display().to_string()),
    ];
    let rustup = std::env::var("RUSTUP_HOME").ok().or_else(|| {
        let home = PathBuf::from(std::env::var_os("HOME")?).join(".rustup");
        home.is_dir().then(|| home.display().to_string())
    });
    env.extend(rustup.map(|r| ("RUSTUP_HOME", r)));
    Ok(env)
}

/// Whether each package's module imports from the venv at `out`.
fn imports(out: &Path) -> anyhow::Result<Vec<&'static str>> {
    let site = site_packages(out)?;
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for (name, _, module) in PACKAGES {
        let output = Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .env("PYTHONPATH", &site)
            .output()?;
        if output.status.success() {
            results.push("imports");
        } else {
            results.push("FAILS");
            failed.push(format!(
                "{name} ({module}): {}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
            ));
        }
    }
    ensure!(failed.is_empty(), "not importable: {}", failed.join("; "));
    Ok(results)
}

/// `uv sync` of the project's lock into `venv`, with an empty cache: the time.
fn uv_sync_cold(project: &Path, venv: &Path) -> anyhow::Result<Duration> {
    let cache = venv.with_extension("uv-cache");
    let _ = fs::remove_dir_all(&cache);
    eprintln!("$ uv sync --frozen (cold), the same lock (exclude-newer {EXCLUDE_NEWER})");
    let start = Instant::now();
    run(Command::new("uv")
        .args(["sync", "--frozen", "--quiet", "--python", "python3"])
        .current_dir(project)
        .env("UV_CACHE_DIR", &cache)
        .env("UV_PROJECT_ENVIRONMENT", venv))
    .context("uv sync of the matrix")?;
    Ok(start.elapsed())
}
