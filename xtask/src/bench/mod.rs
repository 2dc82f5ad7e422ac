//! `cargo xtask bench [SUITE…]`: pyfod against the tool it replaces, measured side
//! by side in one run (alternating, so both see the same machine state), reported
//! as medians and ratios. Benchmarks are never tests: timings belong here.

mod build;
mod ccache;
mod e2e;
mod hash;
mod install;
mod remote;
mod scrub;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use pyfod_tests::{VenvShape, venv_like_tree};

use crate::measure::{Run, median};

/// The suites `cargo xtask bench` runs with none named: those that need no
/// network. `build`, `e2e`, `ccache` and `remote` use the package registry and
/// take minutes.
const SUITES: &[&str] = &["hash", "scrub", "install"];
const ALL_SUITES: &[&str] = &[
    "hash", "scrub", "install", "build", "e2e", "ccache", "remote",
];

pub fn run(suites: &[&str]) -> anyhow::Result<()> {
    let suites: Vec<&str> = if suites.is_empty() {
        SUITES.to_vec()
    } else {
        suites.to_vec()
    };
    for suite in &suites {
        match *suite {
            "hash" => hash::run()?,
            "scrub" => scrub::run()?,
            "install" => install::run()?,
            "build" => build::run()?,
            "e2e" => e2e::run()?,
            "ccache" => ccache::run()?,
            "remote" => remote::run()?,
            "all" => run(ALL_SUITES)?,
            other => anyhow::bail!(
                "unknown benchmark `{other}`; the benchmarks are: {} (or all)",
                ALL_SUITES.join(", ")
            ),
        }
    }
    Ok(())
}

pub(crate) fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub(crate) fn median_of(runs: &[Run]) -> Duration {
    let mut walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
    median(&mut walls)
}

pub(crate) fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.3}", a.as_secs_f64() / b.as_secs_f64())
}

/// A Markdown table, printed as it is filled.
pub(crate) struct Table {
    widths: Vec<usize>,
}

impl Table {
    pub(crate) fn new(header: &[&str], widths: &[usize]) -> Table {
        let table = Table {
            widths: widths.to_vec(),
        };
        table.row(header);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        println!("|{}|", rule.join("|"));
        table
    }

    pub(crate) fn row<S: AsRef<str>>(&self, cells: &[S]) {
        let cells: Vec<String> = cells
            .iter()
            .zip(&self.widths)
            .enumerate()
            .map(|(i, (cell, width))| {
                if i == 0 {
                    format!(" {:<width$} ", cell.as_ref())
                } else {
                    format!(" {:>width$} ", cell.as_ref())
                }
            })
            .collect();
        println!("|{}|", cells.join("|"));
    }
}

/// The benchmark venv tree, generated once under `target/bench` and reused while
/// its shape is unchanged.
pub(crate) fn venv_tree(
    bench_dir: &Path,
    name: &str,
    shape: VenvShape,
    seed: u64,
) -> anyhow::Result<PathBuf> {
    let tree = bench_dir.join(name);
    let stamp = bench_dir.join(format!("{name}.shape"));
    let wanted = format!("{shape:?} seed={seed}\n");
    if fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && tree.is_dir() {
        return Ok(tree);
    }
    eprintln!("bench: generating {} ({shape:?})", tree.display());
    if tree.exists() {
        fs::remove_dir_all(&tree)?;
    }
    fs::create_dir_all(bench_dir)?;
    venv_like_tree(&tree, shape, seed).context("cannot generate the benchmark tree")?;
    fs::write(&stamp, wanted)?;
    Ok(tree)
}

/// Regular files and their total size.
pub(crate) fn count(root: &Path) -> anyhow::Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    Ok((files, bytes))
}
