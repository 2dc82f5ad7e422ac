//! `cargo xtask bench install`: `pyfod install` against `uv sync --frozen` with
//! `UV_LINK_MODE=copy`, on a lock of 120 packages from the test index, wheels
//! already in both caches, a fresh venv each run, alternating.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use pyfod_tests::index::PackageIndex;

use super::{Table, count, median_of, mib, ratio, seconds};
use crate::measure::{Run, measure};
use crate::{release_pyfod, workspace_root};

const PACKAGES: usize = 120;
const ROUNDS: usize = 5;

pub fn run() -> anyhow::Result<()> {
    let pyfod = release_pyfod()?;
    let dir = workspace_root().join("target/bench/install");
    let dists = dir.join("dists");
    let project = dir.join("app");
    let stamp = dir.join("dists.done");
    if !stamp.exists() {
        eprintln!("bench install: making {PACKAGES} wheels");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dists)?;
        fs::create_dir_all(&project)?;
        for i in 0..PACKAGES {
            // Sizes spread as in a real lock: most small, a few large.
            let (files, bytes) = match i % 10 {
                0 => (400, 3_000_000),
                1 | 2 => (120, 600_000),
                _ => (30, 120_000),
            };
            let status = Command::new("python3")
                .arg(pyfod_tests::fixture("make-dist.py"))
                .args(["wheel", &format!("bench-pkg{i}"), "1.0"])
                .arg(&dists)
                .args([
                    "--payload",
                    &format!("{files}:{bytes}"),
                    "--script",
                    &format!("tool{i}=bench_pkg{i}:main"),
                ])
                .stdout(std::process::Stdio::null())
                .status()?;
            anyhow::ensure!(status.success(), "make-dist failed");
        }
        let dependencies: Vec<String> =
            (0..PACKAGES).map(|i| format!("\"bench-pkg{i}\"")).collect();
        fs::write(
            project.join("pyproject.toml"),
            format!(
                "[project]\nname = \"bench\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [{}]\n\n[tool.uv]\npackage = false\n",
                dependencies.join(", ")
            ),
        )?;
        fs::write(&stamp, "")?;
    }
    let index = PackageIndex::serve(&dists)?;
    let cache = dir.join("uv-cache");
    let uv = |args: &[&str], venv: Option<&Path>| {
        let mut command = Command::new("uv");
        command
            .args(args)
            .args([
                "--python",
                "python3",
                "--index-url",
                &index.url(),
                "--quiet",
            ])
            .current_dir(&project)
            .env("UV_CACHE_DIR", &cache)
            .env("UV_NO_CONFIG", "1")
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("UV_LINK_MODE", "copy");
        if let Some(venv) = venv {
            command.env("UV_PROJECT_ENVIRONMENT", venv);
        }
        command
    };
    let status = uv(&["lock"], None).status().context("uv lock")?;
    anyhow::ensure!(status.success(), "uv lock failed");

    let store = dir.join("store");
    let manifest = dir.join("fetch.manifest");
    let status = Command::new(&pyfod)
        .args(["fetch", "--python", "python3", "--quiet", "--lock"])
        .arg(project.join("uv.lock"))
        .arg("--store")
        .arg(&store)
        .arg("--manifest")
        .arg(&manifest)
        .status()?;
    anyhow::ensure!(status.success(), "pyfod fetch failed");

    let uv_venv = dir.join("venv-uv");
    let sync_args = ["sync", "--frozen", "--no-install-project", "--no-dev"];
    // Warm uv's cache: its wheels unpacked, as pyfod's are in the store.
    let _ = fs::remove_dir_all(&uv_venv);
    anyhow::ensure!(
        uv(&sync_args, Some(&uv_venv)).status()?.success(),
        "uv sync failed"
    );

    // Each run writes a new directory, and all are removed at the end: ext4 makes
    // creating files slow right after thousands were deleted nearby (it skips
    // recently freed inodes), which would punish whichever tool runs second.
    let rounds = dir.join("rounds");
    let _ = fs::remove_dir_all(&rounds);
    fs::create_dir_all(&rounds)?;
    let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        eprintln!("bench install: round {}/{ROUNDS}", round + 1);
        runs[0].push(measure(&mut uv(
            &sync_args,
            Some(&rounds.join(format!("uv-{round}"))),
        ))?);
        let mut command = Command::new(&pyfod);
        command
            .args(["install", "--quiet", "--python", "python3", "--in"])
            .arg(&manifest)
            .arg("--out")
            .arg(rounds.join(format!("pyfod-{round}")))
            .arg("--store")
            .arg(&store);
        runs[1].push(measure(&mut command)?);
    }
    let pyfod_venv = rounds.join("pyfod-0");
    let (files, bytes) = count(&pyfod_venv)?;
    fs::remove_dir_all(&rounds)?;
    let medians: Vec<Duration> = runs.iter().map(|r| median_of(r)).collect();
    println!();
    println!(
        "install: {PACKAGES} packages, {files} files, {} installed ({ROUNDS} rounds, fresh venv each, caches warm; medians)",
        mib(bytes)
    );
    let table = Table::new(&["", "time", "ratio to uv", "peak RSS"], &[36, 9, 11, 10]);
    let names = ["uv sync --frozen (UV_LINK_MODE=copy)", "pyfod install"];
    for (i, name) in names.iter().enumerate() {
        let peak = runs[i].iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
        table.row(&[
            name.to_string(),
            seconds(medians[i]),
            ratio(medians[i], medians[0]),
            mib(peak * 1024),
        ]);
    }
    Ok(())
}
