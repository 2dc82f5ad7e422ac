//! `cargo xtask bench e2e`: the end-to-end project (`examples/authentik-like`,
//! locked at run time) built by `pyfod build` against the seed's way (`uv sync`
//! cold, the seed's installPhase, `nix-hash`), side by side in one run: cold; a
//! no-op re-run; a re-run after one package's version changed. Uses the package
//! registry.

use std::fs;
use std::path::Path;

use anyhow::Context;

use super::{Table, mib, seconds};
use crate::e2e::Project;
use crate::workspace_root;

/// The package whose version changes: pure Python, a leaf.
const CHANGED: &str = "pyyaml";

pub fn run() -> anyhow::Result<()> {
    let dir = workspace_root().join("target/bench/e2e");
    let project = Project::prepare(&dir)?;
    let prefix = Path::new("/opt/authentik-deps");
    let store = dir.join("store");
    let _ = fs::remove_dir_all(&store);

    eprintln!("bench e2e: cold, pyfod then the seed's way");
    let (_, cold) = project.pyfod_build(&store, &dir.join("out"), prefix, &[])?;
    let (_, seed_cold) = project.seed_way(&dir.join("seed-venv"))?;

    eprintln!("bench e2e: no-op re-run");
    let (_, noop) = project.pyfod_build(&store, &dir.join("out"), prefix, &[])?;

    // One package one release older: the lock changes in that package alone.
    let lock = fs::read_to_string(dir.join("uv.lock"))?;
    let current = locked_version(&lock, CHANGED).context("the changed package is not locked")?;
    project.relock(&["--upgrade-package", &format!("{CHANGED}<{current}")])?;
    let changed_to = locked_version(&fs::read_to_string(dir.join("uv.lock"))?, CHANGED)
        .context("the changed package left the lock")?;
    eprintln!("bench e2e: {CHANGED} {current} -> {changed_to}");
    let (_, one) = project.pyfod_build(&store, &dir.join("out"), prefix, &[])?;

    let of_seed =
        |d: std::time::Duration| format!("{:.3}", d.as_secs_f64() / seed_cold.as_secs_f64());
    println!("\n### e2e (82 packages, 4 from sdist; 2 cores)\n");
    let table = Table::new(
        &[
            "",
            "pyfod build",
            "× the seed's way cold",
            "× pyfod cold",
            "pyfod's own peak RSS",
        ],
        &[40, 12, 22, 12, 20],
    );
    table.row(&[
        "the seed's way, cold (uv sync + shell + nix-hash)".to_owned(),
        seconds(seed_cold),
        "1".to_owned(),
        String::new(),
        String::new(),
    ]);
    table.row(&[
        "cold (empty store)".to_owned(),
        seconds(cold.wall),
        of_seed(cold.wall),
        "1".to_owned(),
        mib(cold.own_peak_kib * 1024),
    ]);
    table.row(&[
        "no-op re-run".to_owned(),
        seconds(noop.wall),
        of_seed(noop.wall),
        format!("{:.3}", noop.wall.as_secs_f64() / cold.wall.as_secs_f64()),
        mib(noop.own_peak_kib * 1024),
    ]);
    table.row(&[
        format!("{CHANGED} {current} -> {changed_to}"),
        seconds(one.wall),
        of_seed(one.wall),
        format!("{:.3}", one.wall.as_secs_f64() / cold.wall.as_secs_f64()),
        mib(one.own_peak_kib * 1024),
    ]);
    Ok(())
}

/// The version the lock pins for `name`.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let marker = format!("name = \"{name}\"\nversion = \"");
    let start = lock.find(&marker)? + marker.len();
    let end = lock[start..].find('"')?;
    Some(lock[start..start + end].to_owned())
}
