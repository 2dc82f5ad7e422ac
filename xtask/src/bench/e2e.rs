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
    let (cold_hash, cold) = project.pyfod_build(&store, &dir.join("out"), prefix, &["-v"])?;
    let (_, seed_cold) = project.seed_way(&dir.join("seed-venv"))?;
    let cold_floor = Floor::of(&cold)?;

    eprintln!("bench e2e: cold again with --jobs 1, in another empty store");
    let serial_store = dir.join("store-jobs1");
    let _ = fs::remove_dir_all(&serial_store);
    let (serial_hash, serial) = project.pyfod_build(
        &serial_store,
        &dir.join("out-jobs1"),
        prefix,
        &["-v", "--jobs", "1"],
    )?;
    anyhow::ensure!(
        serial_hash == cold_hash,
        "--jobs 1 gave another hash: {serial_hash} vs {cold_hash}"
    );
    let serial_floor = Floor::of(&serial)?;
    let _ = fs::remove_dir_all(&serial_store);

    // The median of three: a no-op is half a second of `stat`s, and the first
    // one after the removal above shares the disk with the file system's own
    // work on it.
    eprintln!("bench e2e: no-op re-run, three times");
    let mut noops = Vec::new();
    for _ in 0..3 {
        noops.push(
            project
                .pyfod_build(&store, &dir.join("out"), prefix, &[])?
                .1,
        );
    }
    noops.sort_by_key(|run| run.wall);
    let noop = noops.swap_remove(1);

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
        "cold, --jobs 1".to_owned(),
        seconds(serial.wall),
        of_seed(serial.wall),
        format!("{:.3}", serial.wall.as_secs_f64() / cold.wall.as_secs_f64()),
        mib(serial.own_peak_kib * 1024),
    ]);
    table.row(&[
        "no-op re-run (median of 3)".to_owned(),
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
    println!(
        "\nThe floor (`pyfod build -v`'s critical-path report): the builds' own CPU time over"
    );
    println!(
        "the cores they may use, plus the time outside the builds (fetch, build environments,"
    );
    println!("install, scrub, hash, the copy to --out), as measured in the same run.\n");
    let floors = Table::new(
        &[
            "cold run",
            "wall",
            "builds wall",
            "builds CPU",
            "cores",
            "floor",
            "× floor",
        ],
        &[14, 10, 12, 11, 5, 10, 8],
    );
    for (what, run, floor) in [
        ("all cores", &cold, &cold_floor),
        ("--jobs 1", &serial, &serial_floor),
    ] {
        let total = floor.total(run.wall.as_secs_f64());
        floors.row(&[
            what.to_owned(),
            seconds(run.wall),
            format!("{:.1} s", floor.builds_wall),
            format!("{:.1} s", floor.builds_cpu),
            floor.cores.to_string(),
            format!("{total:.1} s"),
            format!("{:.3}", run.wall.as_secs_f64() / total),
        ]);
    }
    println!("\nwhere the one-package change's time went:\n");
    for line in one
        .stderr
        .lines()
        .filter(|l| l.contains(": ran (") || l.contains(": cached"))
    {
        println!("    {line}");
    }
    println!("\ncritical path of the cold build (all cores):\n");
    for line in cold
        .stderr
        .lines()
        .filter(|l| l.contains(" at ") && l.contains(" cpu "))
    {
        println!("    {}", line.trim_start_matches(" INFO").trim_start());
    }
    Ok(())
}

/// The builds' figures from the `builds: … floor …` line of `pyfod build -v`.
struct Floor {
    builds_wall: f64,
    builds_cpu: f64,
    cores: usize,
}

impl Floor {
    fn of(run: &crate::measure::Run) -> anyhow::Result<Floor> {
        let line = run
            .stderr
            .lines()
            .find(|l| l.contains("builds: ") && l.contains(" floor "))
            .context("pyfod build -v printed no critical-path summary")?;
        let number_before = |marker: &str| -> anyhow::Result<f64> {
            let head = &line[..line
                .find(marker)
                .with_context(|| format!("no `{marker}` in {line}"))?];
            let word = head.split_whitespace().last().unwrap_or_default();
            word.parse::<f64>()
                .with_context(|| format!("`{word}` in {line}"))
        };
        Ok(Floor {
            builds_wall: number_before(" s wall")?,
            builds_cpu: number_before(" s CPU")?,
            cores: number_before(" cores")? as usize,
        })
    }

    /// The whole run's floor: the builds' CPU over the cores, and what the run
    /// spent outside the builds, as it is.
    fn total(&self, wall: f64) -> f64 {
        self.builds_cpu / self.cores as f64 + (wall - self.builds_wall)
    }
}

/// The version the lock pins for `name`.
pub(super) fn locked_version(lock: &str, name: &str) -> Option<String> {
    let marker = format!("name = \"{name}\"\nversion = \"");
    let start = lock.find(&marker)? + marker.len();
    let end = lock[start..].find('"')?;
    Some(lock[start..start + end].to_owned())
}
