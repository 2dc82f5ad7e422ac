//! `cargo xtask bench hash`: `pyfod hash` against `nix-hash --type sha256` on a
//! venv-shaped tree (12,000 files, 300 MiB), with the page cache warm and cold,
//! and `openssl dgst -sha256` of one file of the same total size: the speed of a
//! single SHA-256 stream, which no NAR hasher can beat.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::bail;
use pyfod_tests::VenvShape;

use super::{Table, count, median_of, mib, ratio, seconds, venv_tree};
use crate::measure::{Run, drop_caches, measure};
use crate::{release_pyfod, workspace_root};

const SEED: u64 = 1;
const WARM_ROUNDS: usize = 7;
const COLD_ROUNDS: usize = 3;

pub fn run() -> anyhow::Result<()> {
    if !pyfod_tests::oracle::nix_hash_available() {
        bail!("nix-hash is not installed; install it (Debian: apt-get install nix-bin)");
    }
    let pyfod = release_pyfod()?;
    let bench_dir = workspace_root().join("target/bench");
    let tree = venv_tree(&bench_dir, "venv-tree", VenvShape::default(), SEED)?;
    let (files, bytes) = count(&tree)?;
    let single = ensure_single_file(&bench_dir, bytes)?;

    let mut tools: [(&str, Command); 3] = [
        ("pyfod hash", {
            let mut c = Command::new(&pyfod);
            c.args(["hash", "--format", "nix32"]).arg(&tree);
            c
        }),
        ("nix-hash --type sha256", {
            let mut c = Command::new("nix-hash");
            c.args(["--type", "sha256", "--base32"]).arg(&tree);
            c
        }),
        ("openssl dgst -sha256, one file", {
            let mut c = Command::new("openssl");
            c.args(["dgst", "-sha256"]).arg(&single);
            c
        }),
    ];

    eprintln!("bench hash: warming up");
    let mut first = Vec::new();
    for (_, command) in &mut tools {
        first.push(measure(command)?);
    }
    if first[0].stdout.trim() != first[1].stdout.trim() {
        bail!(
            "pyfod and nix-hash disagree on {}: {} vs {}",
            tree.display(),
            first[0].stdout.trim(),
            first[1].stdout.trim()
        );
    }

    let mut warm: Vec<Vec<Run>> = vec![Vec::new(); tools.len()];
    for round in 0..WARM_ROUNDS {
        eprintln!("bench hash: warm round {}/{WARM_ROUNDS}", round + 1);
        for (i, (_, command)) in tools.iter_mut().enumerate() {
            warm[i].push(measure(command)?);
        }
    }

    let mut cold: Vec<Vec<Run>> = vec![Vec::new(); tools.len()];
    let cold_note = match drop_caches() {
        Ok(()) => {
            for round in 0..COLD_ROUNDS {
                eprintln!("bench hash: cold round {}/{COLD_ROUNDS}", round + 1);
                for (i, (_, command)) in tools.iter_mut().enumerate() {
                    drop_caches().map_err(anyhow::Error::msg)?;
                    cold[i].push(measure(command)?);
                }
            }
            None
        }
        Err(why) => Some(why),
    };

    let warm_median: Vec<Duration> = warm.iter().map(|runs| median_of(runs)).collect();
    let cold_median: Vec<Option<Duration>> = cold
        .iter()
        .map(|runs| (!runs.is_empty()).then(|| median_of(runs)))
        .collect();
    let peak: Vec<u64> = warm
        .iter()
        .zip(&cold)
        .map(|(w, c)| w.iter().chain(c).map(|r| r.peak_rss_kib).max().unwrap_or(0))
        .collect();

    println!();
    println!(
        "hash: {files} files, {} in {} ({WARM_ROUNDS} warm rounds, {} cold; medians)",
        mib(bytes),
        tree.strip_prefix(workspace_root())
            .unwrap_or(&tree)
            .display(),
        if cold_note.is_some() { 0 } else { COLD_ROUNDS },
    );
    let table = Table::new(&["", "warm", "cold", "peak RSS"], &[32, 9, 9, 10]);
    for (i, (name, _)) in tools.iter().enumerate() {
        table.row(&[
            name.to_string(),
            seconds(warm_median[i]),
            cold_median[i].map_or("-".into(), seconds),
            mib(peak[i] * 1024),
        ]);
    }
    let cold_ratio = |a: usize, b: usize| match (cold_median[a], cold_median[b]) {
        (Some(x), Some(y)) => ratio(x, y),
        _ => "-".into(),
    };
    table.row(&[
        "ratio pyfod / nix-hash".into(),
        ratio(warm_median[0], warm_median[1]),
        cold_ratio(0, 1),
        String::new(),
    ]);
    table.row(&[
        "ratio pyfod / one sha256 stream".into(),
        ratio(warm_median[0], warm_median[2]),
        cold_ratio(0, 2),
        String::new(),
    ]);
    if let Some(why) = cold_note {
        println!("cold runs skipped: {why}");
    }
    Ok(())
}

/// One file as large as the whole tree, for the single-stream baseline.
fn ensure_single_file(bench_dir: &Path, bytes: u64) -> anyhow::Result<PathBuf> {
    let path = bench_dir.join("single-file.bin");
    if fs::metadata(&path).map(|m| m.len()).ok() == Some(bytes) {
        return Ok(path);
    }
    let mut source = pattern_bytes(bytes);
    let mut file = fs::File::create(&path)?;
    std::io::copy(&mut source, &mut file)?;
    Ok(path)
}

fn pattern_bytes(len: u64) -> impl std::io::Read {
    struct Pattern(u64);
    impl std::io::Read for Pattern {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            // Contents do not matter to SHA-256's speed; a cheap pattern will do.
            for (i, b) in buf.iter_mut().enumerate() {
                *b = ((self.0.wrapping_add(i as u64) * 2_654_435_761) >> 13) as u8;
            }
            self.0 = self.0.wrapping_add(buf.len() as u64);
            Ok(buf.len())
        }
    }
    std::io::Read::take(Pattern(0), len)
}
