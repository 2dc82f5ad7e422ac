//! Projects locked by the real `uv` against the test index: the way locks are
//! made at test time, with no network.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `python3 tests/fixtures/make-dist.py ARGS…` into `outdir`.
pub fn make_dist(outdir: &Path, args: &[&str]) {
    let (kind, rest) = args.split_first().expect("wheel|sdist NAME VERSION …");
    let (fixed, options) = rest.split_at(2);
    let output = Command::new("python3")
        .arg(crate::fixture("make-dist.py"))
        .arg(kind)
        .args(fixed)
        .arg(outdir)
        .args(options)
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "make-dist {args:?}: {output:?}");
}

/// `uv` with a private cache, no user configuration, no downloads of Pythons.
pub fn uv(dir: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new("uv")
        .args(args)
        .current_dir(dir)
        .env("UV_CACHE_DIR", cache)
        .env("UV_NO_CONFIG", "1")
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env_remove("UV_INDEX_URL")
        .env_remove("UV_DEFAULT_INDEX")
        .output()
        .expect("uv runs")
}

/// Like [`uv`], failing the test with uv's own words when uv fails.
pub fn uv_ok(dir: &Path, cache: &Path, args: &[&str]) -> String {
    let output = uv(dir, cache, args);
    assert!(
        output.status.success(),
        "uv {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// An installed distribution, as a venv's `*.dist-info` says.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Installed {
    pub name: String,
    pub version: String,
    /// `Tag:` lines of its WHEEL file, sorted.
    pub tags: Vec<String>,
}

/// Every distribution in a venv's site-packages, sorted by name.
pub fn installed(venv: &Path) -> Vec<Installed> {
    let mut out = Vec::new();
    for site in site_packages(venv) {
        for entry in fs::read_dir(&site).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".dist-info") else {
                continue;
            };
            let metadata = fs::read_to_string(entry.path().join("METADATA")).unwrap_or_default();
            let field = |key: &str| {
                metadata
                    .lines()
                    .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
                    .unwrap_or_else(|| stem.to_owned())
            };
            let wheel = fs::read_to_string(entry.path().join("WHEEL")).unwrap_or_default();
            let mut tags: Vec<String> = wheel
                .lines()
                .filter_map(|l| l.strip_prefix("Tag:").map(|t| t.trim().to_owned()))
                .collect();
            tags.sort();
            out.push(Installed {
                name: crate::index::normalise(&field("Name:")),
                version: field("Version:"),
                tags,
            });
        }
    }
    out.sort();
    out
}

fn site_packages(venv: &Path) -> Vec<PathBuf> {
    fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .filter(|p| p.is_dir())
        .collect()
}
