//! `cargo xtask e2e`: the real thing, with the package registry. The project in
//! `examples/authentik-like` (only its pyproject.toml and pyfod.toml are committed)
//! is locked by `uv lock --exclude-newer`, its build locks by `pyfod lock-build`,
//! and built twice cold by `pyfod build` and twice cold the seed's way (`uv sync`,
//! the seed's installPhase, `nix-hash`). Checks: pyfod's two hashes are equal; the
//! venv imports lxml.etree, xmlsec, gssapi and psycopg with its C implementation;
//! compared file by file with the seed's result at the same prefix, only the four
//! packages built from sdist differ.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};

use crate::measure::{Run, measure};
use crate::{release_pyfod, workspace_root};

/// Every lock of the run is resolved as the registry stood then.
pub const EXCLUDE_NEWER: &str = "2026-11-01T00:00:00Z";
/// The packages built from sdist.
pub const BUILT: [&str; 4] = ["lxml", "xmlsec", "psycopg-c", "gssapi"];

/// The project, locked and ready to build, in `dir`.
#[derive(Debug)]
pub struct Project {
    pub dir: PathBuf,
    pub pyfod: PathBuf,
}

impl Project {
    /// A fresh copy of the project in `dir`, with its uv.lock and build locks.
    pub fn prepare(dir: &Path) -> anyhow::Result<Project> {
        let source = workspace_root().join("examples/authentik-like/pyproject.toml");
        Project::prepare_with(dir, &fs::read_to_string(source)?)
    }

    /// Like [`Project::prepare`], with another pyproject.toml (the same pyfod.toml).
    pub fn prepare_with(dir: &Path, pyproject: &str) -> anyhow::Result<Project> {
        Project::prepare_example(dir, "authentik-like", pyproject)
    }

    /// `examples/<example>`'s pyfod.toml and `pyproject` in `dir`, locked, with
    /// its build locks in `dir/build`.
    pub fn prepare_example(dir: &Path, example: &str, pyproject: &str) -> anyhow::Result<Project> {
        let pyfod = release_pyfod()?;
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir)?;
        let source = workspace_root().join("examples").join(example);
        fs::copy(source.join("pyfod.toml"), dir.join("pyfod.toml"))?;
        fs::write(dir.join("pyproject.toml"), pyproject)?;
        let project = Project {
            dir: dir.to_path_buf(),
            pyfod,
        };
        run(Command::new("uv")
            .args([
                "lock",
                "--exclude-newer",
                EXCLUDE_NEWER,
                "--python",
                "python3",
            ])
            .current_dir(dir))?;
        let store = dir.join("lock-store");
        project.pyfod_ok(
            &store,
            &[
                "fetch",
                "--python",
                "python3",
                "--manifest",
                "fetch.manifest",
            ],
        )?;
        project.pyfod_ok(
            &store,
            &[
                "lock-build",
                "--in",
                "fetch.manifest",
                "--lock",
                "uv.lock",
                "--out",
                "build",
                "--",
                "--exclude-newer",
                EXCLUDE_NEWER,
                "--python",
                "python3",
            ],
        )?;
        Ok(project)
    }

    fn pyfod_ok(&self, store: &Path, args: &[&str]) -> anyhow::Result<()> {
        run(Command::new(&self.pyfod)
            .arg("--store")
            .arg(store)
            .args(args)
            .current_dir(&self.dir))
    }

    /// Locks again with `uv lock ARGS` (the same cut-off date).
    pub fn relock(&self, args: &[&str]) -> anyhow::Result<()> {
        run(Command::new("uv")
            .args([
                "lock",
                "--exclude-newer",
                EXCLUDE_NEWER,
                "--python",
                "python3",
            ])
            .args(args)
            .current_dir(&self.dir))
    }

    /// `pyfod build` into `out` with the store `store`; the hash and the run.
    pub fn pyfod_build(
        &self,
        store: &Path,
        out: &Path,
        prefix: &Path,
        extra: &[&str],
    ) -> anyhow::Result<(String, Run)> {
        self.pyfod_build_with(store, out, prefix, extra, &[])
    }

    /// [`Project::pyfod_build`] with variables added to its environment.
    pub fn pyfod_build_with(
        &self,
        store: &Path,
        out: &Path,
        prefix: &Path,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> anyhow::Result<(String, Run)> {
        eprintln!(
            "$ pyfod build --store {} --out {} {}",
            store.display(),
            out.display(),
            extra.join(" ")
        );
        let run = measure(
            Command::new(&self.pyfod)
                .arg("--store")
                .arg(store)
                .args([
                    "build", "--python", "python3", "--force", "--lock", "uv.lock", "--out",
                ])
                .arg(out)
                .arg("--prefix")
                .arg(prefix)
                .args(extra)
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .current_dir(&self.dir),
        )?;
        let hash = run.stdout.lines().last().unwrap_or_default().to_owned();
        eprintln!("  {hash} in {:.1} s", run.wall.as_secs_f64());
        Ok((hash, run))
    }

    /// The seed's way, cold: `uv sync` with an empty cache into `venv`, the seed's
    /// installPhase, `nix-hash`. The hash (nix32) and the whole run's time.
    pub fn seed_way(&self, venv: &Path) -> anyhow::Result<(String, std::time::Duration)> {
        let cache = venv.with_extension("uv-cache");
        let _ = fs::remove_dir_all(&cache);
        let _ = fs::remove_dir_all(venv);
        eprintln!(
            "$ uv sync --frozen --no-install-project --no-install-workspace --no-dev (cold) && the seed's installPhase && nix-hash"
        );
        let start = std::time::Instant::now();
        run(Command::new("uv")
            .args([
                "sync",
                "--frozen",
                "--no-install-project",
                "--no-install-workspace",
                "--no-dev",
                "--quiet",
                "--python",
                "python3",
            ])
            .current_dir(&self.dir)
            .env("UV_CACHE_DIR", &cache)
            .env("UV_PROJECT_ENVIRONMENT", venv)
            .env("UV_LINK_MODE", "copy")
            // What the seed's NIX_CFLAGS_COMPILE adds; CPPFLAGS, because setuptools
            // appends it, where CFLAGS would replace the interpreter's flags.
            .env("CPPFLAGS", "-include gssapi/gssapi_ext.h"))?;
        let python = python_prefix()?;
        run(Command::new("bash")
            .arg(pyfod_tests::fixture("seed-install-phase.sh"))
            .arg(venv)
            .arg(&python)
            .arg("/nix/store"))?;
        let hash = pyfod_tests::oracle::nix_hash(venv)
            .context("nix-hash is needed (apt-get install nix-bin)")?;
        let took = start.elapsed();
        let _ = fs::remove_dir_all(&cache);
        eprintln!("  {hash} in {:.1} s", took.as_secs_f64());
        Ok((hash, took))
    }
}

pub fn run_e2e() -> anyhow::Result<()> {
    let dir = workspace_root().join("target/e2e-run");
    let project = Project::prepare(&dir)?;
    let prefix = Path::new("/opt/authentik-deps");

    // pyfod, twice cold, in two stores.
    let (first, cold) =
        project.pyfod_build(&dir.join("store-a"), &dir.join("out-a"), prefix, &[])?;
    let (second, _) = project.pyfod_build(&dir.join("store-b"), &dir.join("out-b"), prefix, &[])?;
    ensure!(
        first == second,
        "two cold pyfod builds gave {first} and {second}"
    );

    // The venv works.
    let site = site_packages(&dir.join("out-a"))?;
    let check = "import lxml.etree, xmlsec, gssapi, psycopg\n\
                 assert psycopg.pq.__impl__ == 'c', psycopg.pq.__impl__\n\
                 print('lxml', lxml.etree.LXML_VERSION, 'libxml2', lxml.etree.LIBXML_VERSION, 'xmlsec', xmlsec.__version__ if hasattr(xmlsec, '__version__') else '?', 'psycopg', psycopg.pq.__impl__)";
    let output = Command::new("python3")
        .args(["-c", check])
        .env("PYTHONPATH", &site)
        .output()?;
    ensure!(
        output.status.success(),
        "the venv does not import its packages:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "imports: {}",
        String::from_utf8_lossy(&output.stdout).trim()
    );

    // The seed's way, twice cold.
    let uv_one = dir.join("uv-venv-1");
    let (seed_one, seed_cold) = project.seed_way(&uv_one)?;
    let (seed_two, _) = project.seed_way(&dir.join("uv-venv-2"))?;

    // pyfod as close to the seed as it goes: the same prefix, uv's metadata, the
    // seed's scrub; then file by file.
    let uv_version = String::from_utf8(Command::new("uv").arg("--version").output()?.stdout)?;
    let uv_version = uv_version
        .split_whitespace()
        .nth(1)
        .context("uv --version")?
        .to_owned();
    let seedlike = dir.join("out-seedlike");
    project.pyfod_build(
        &dir.join("store-a"),
        &seedlike,
        &uv_one,
        &["--preset", "seed", "--compat", &format!("uv={uv_version}")],
    )?;
    let differences = compare(&seedlike, &uv_one)?;

    println!("\n## cargo xtask e2e\n");
    println!(
        "- lock: {} packages, {} built from sdist",
        count_packages(&dir.join("uv.lock"))?,
        BUILT.len()
    );
    println!("- pyfod build, cold, two stores: {first} and {second} (equal)");
    println!(
        "- the seed's way, cold, twice: {seed_one} and {seed_two} ({})",
        if seed_one == seed_two {
            "equal"
        } else {
            "different"
        }
    );
    println!(
        "- pyfod cold: {:.1} s (peak RSS {} MiB); the seed's way cold: {:.1} s; ratio {:.2}",
        cold.wall.as_secs_f64(),
        cold.peak_rss_kib / 1024,
        seed_cold.as_secs_f64(),
        cold.wall.as_secs_f64() / seed_cold.as_secs_f64()
    );
    println!(
        "- file by file against the seed's result at the same prefix (pyfod with --preset seed --compat uv={uv_version}):"
    );
    for (package, paths) in &differences {
        println!(
            "  - {package}: {} files differ: {}",
            paths.len(),
            paths.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let unexpected: Vec<&String> = differences
        .keys()
        .filter(|p| !BUILT.contains(&p.as_str()))
        .collect();
    ensure!(
        unexpected.is_empty(),
        "files differ outside the packages built from sdist: {unexpected:?}"
    );
    Ok(())
}

/// The files that differ (in bytes, executable bit, or presence) between two
/// trees, grouped by the package whose RECORD names them.
pub fn compare(a: &Path, b: &Path) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let (left, right) = (listing(a)?, listing(b)?);
    let owners = owners(a)?;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let paths: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
    for path in paths {
        if left.get(path) != right.get(path) {
            let owner = owners
                .get(path)
                .cloned()
                .unwrap_or_else(|| "(the venv)".to_owned());
            out.entry(owner).or_default().insert(path.clone());
        }
    }
    Ok(out)
}

/// Path → (executable, contents' digest or link target) of every file and symlink.
fn listing(root: &Path) -> anyhow::Result<BTreeMap<String, (bool, String)>> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let meta = entry.metadata()?;
            let relative = path.strip_prefix(root)?.to_string_lossy().into_owned();
            if entry.file_type()?.is_symlink() {
                out.insert(
                    relative,
                    (false, fs::read_link(&path)?.display().to_string()),
                );
            } else if meta.is_dir() {
                stack.push(path);
            } else {
                let digest = pyfod_digest::Sha256::of(&fs::read(&path)?).to_hex();
                out.insert(relative, (meta.permissions().mode() & 0o100 != 0, digest));
            }
        }
    }
    Ok(out)
}

/// Path (relative to the venv) → the normalised name of the package that installed it.
fn owners(venv: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let site = site_packages(venv)?;
    let site_rel = site.strip_prefix(venv)?.to_string_lossy().into_owned();
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(&site)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".dist-info") else {
            continue;
        };
        let package = pyfod_manifest::normalise_name(stem.split('-').next().unwrap_or(stem));
        let record = fs::read_to_string(entry.path().join("RECORD")).unwrap_or_default();
        for line in record.lines() {
            let path = line.split(',').next().unwrap_or_default();
            let full = lexical(&Path::new(&site_rel).join(path));
            out.insert(full, package.clone());
        }
    }
    Ok(out)
}

fn lexical(path: &Path) -> String {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(p) => parts.push(p),
            _ => {}
        }
    }
    parts
        .iter()
        .map(|p| p.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

pub fn site_packages(venv: &Path) -> anyhow::Result<PathBuf> {
    let lib = venv.join("lib");
    let version = fs::read_dir(&lib)
        .with_context(|| format!("{} has no lib/", venv.display()))?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("python"))
        .context("no lib/pythonX.Y")?;
    Ok(version.path().join("site-packages"))
}

fn count_packages(lock: &Path) -> anyhow::Result<usize> {
    Ok(fs::read_to_string(lock)?.matches("[[package]]").count())
}

/// The interpreter's prefix, as the seed's `sed` replaces it in pyvenv.cfg.
fn python_prefix() -> anyhow::Result<String> {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.base_prefix)"])
        .output()?;
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

pub fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}
