//! `cargo xtask bench scrub`: `pyfod scrub` against the seed's installPhase shell
//! (find | xargs grep, then a `sed -i` pass over every file per store path) on
//! the same Nix-like venv: 300 MiB, 12,000 files, 20 store paths. Each run gets a
//! fresh copy of the tree; copying is not timed.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use pyfod_tests::{VenvShape, add_store_references};

use super::{Table, count, median_of, mib, ratio, seconds, venv_tree};
use crate::measure::{Run, measure};
use crate::{release_pyfod, workspace_root};

const SEED: u64 = 2;
const STORE_PATHS: usize = 20;
const ROUNDS: usize = 3;

/// Makes the command of one contestant, afresh for each run.
type MakeCommand<'a> = Box<dyn Fn() -> Command + 'a>;

pub fn run() -> anyhow::Result<()> {
    let pyfod = release_pyfod()?;
    let bench_dir = workspace_root().join("target/bench");
    let store_dir = bench_dir.join("store").to_string_lossy().into_owned();
    let pristine = bench_dir.join("scrub-tree");
    let stamp = bench_dir.join("scrub-tree.refs");
    let base = venv_tree(&bench_dir, "scrub-base", VenvShape::default(), SEED)?;
    let wanted = format!("{STORE_PATHS} paths under {store_dir}, seed {SEED}\n");
    if fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) || !pristine.is_dir() {
        eprintln!("bench scrub: writing store references into a copy of the tree");
        if pristine.exists() {
            fs::remove_dir_all(&pristine)?;
        }
        copy(&base, &pristine)?;
        add_store_references(&pristine, &store_dir, STORE_PATHS, SEED)?;
        fs::write(&stamp, wanted)?;
    }
    let (files, bytes) = count(&pristine)?;
    let python = format!(
        "{store_dir}/{}-python3-3.11.7",
        pyfod_tests::nixlike::hash_part(&format!("{SEED}-0"))
    );
    let seed_script = pyfod_tests::fixture("seed-install-phase.sh");
    let work = bench_dir.join("scrub-work");

    let tools: [(&str, MakeCommand<'_>); 3] = [
        (
            "pyfod scrub (default rules)",
            Box::new(|| {
                let mut c = Command::new(&pyfod);
                c.args(["scrub", "--in-place", "--store-dir", &store_dir])
                    .arg(&work);
                c
            }),
        ),
        (
            "pyfod scrub --preset seed",
            Box::new(|| {
                let mut c = Command::new(&pyfod);
                c.args([
                    "scrub",
                    "--in-place",
                    "--preset",
                    "seed",
                    "--store-dir",
                    &store_dir,
                ])
                .arg(&work);
                c
            }),
        ),
        (
            "the seed's shell (sed per path)",
            Box::new(|| {
                let mut c = Command::new(&seed_script);
                c.arg(&work).arg(&python).arg(&store_dir);
                c
            }),
        ),
    ];

    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); tools.len()];
    let mut results: Vec<String> = vec![String::new(); tools.len()];
    for round in 0..ROUNDS {
        for (i, (name, command)) in tools.iter().enumerate() {
            eprintln!("bench scrub: round {}/{ROUNDS}: {name}", round + 1);
            if work.exists() {
                fs::remove_dir_all(&work)?;
            }
            copy(&pristine, &work)?;
            runs[i].push(measure(&mut command())?);
            results[i] = nar_hash(&pyfod, &work)?;
        }
    }
    if results[1] != results[2] {
        bail!(
            "pyfod's seed preset and the seed's shell disagree: {} vs {}",
            results[1],
            results[2]
        );
    }
    fs::remove_dir_all(&work)?;

    let medians: Vec<Duration> = runs.iter().map(|r| median_of(r)).collect();
    println!();
    println!(
        "scrub: {files} files, {} with {STORE_PATHS} store paths ({ROUNDS} rounds, fresh copy each, page cache warm; medians)",
        mib(bytes)
    );
    let table = Table::new(
        &["", "time", "ratio to the seed", "peak RSS"],
        &[32, 9, 17, 10],
    );
    for (i, (name, _)) in tools.iter().enumerate() {
        let peak = runs[i].iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
        table.row(&[
            name.to_string(),
            seconds(medians[i]),
            ratio(medians[i], medians[2]),
            mib(peak * 1024),
        ]);
    }
    println!(
        "the seed preset's result has the same NAR hash as the seed's shell: {}",
        results[2]
    );
    Ok(())
}

fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status()?;
    anyhow::ensure!(
        status.success(),
        "cp -a {} {} failed",
        from.display(),
        to.display()
    );
    Ok(())
}

fn nar_hash(pyfod: &Path, tree: &Path) -> anyhow::Result<String> {
    let output = Command::new(pyfod)
        .arg("hash")
        .arg(tree)
        .output()
        .context("pyfod hash")?;
    anyhow::ensure!(
        output.status.success(),
        "pyfod hash {} failed",
        tree.display()
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
