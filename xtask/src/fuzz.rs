//! `cargo xtask fuzz [TARGET…] [--time S]`: the coverage-guided fuzz targets of
//! `fuzz/` (libFuzzer, through cargo-fuzz, on the stable toolchain), each run for
//! S seconds (default 60) from a corpus seeded with the project's fixtures. A
//! crash fails the task and is kept in `target/fuzz-artifacts/<target>/`: turn
//! it into a regression test.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use pyfod_manifest::Manifest;

use crate::workspace_root;

/// Every target of `fuzz/Cargo.toml`.
const TARGETS: &[&str] = &[
    "uv_lock",
    "pyproject",
    "pyfod_toml",
    "wheel",
    "record",
    "wheel_text",
    "sdist",
    "manifest",
    "nar",
    "remote_record",
    "pylock",
];

pub fn run(args: &[&str]) -> anyhow::Result<()> {
    let mut seconds = 60u64;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--time" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .context("--time takes a number of seconds")?;
            }
            target if TARGETS.contains(&target) => targets.push(target),
            other => bail!(
                "`{other}` is not a fuzz target; the targets are {}",
                TARGETS.join(", ")
            ),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    ensure_cargo_fuzz()?;
    let mut report = Vec::new();
    for target in targets {
        let corpus = seed(target)?;
        report.push((target, fuzz(target, &corpus, seconds)?));
    }
    println!("\n| target | seconds | runs | coverage |\n|---|---:|---:|---|");
    for (target, stats) in report {
        println!(
            "| {target} | {seconds} | {} | {} |",
            stats.runs, stats.coverage
        );
    }
    Ok(())
}

fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        crate::run_step("cargo", &["install", "--locked", "cargo-fuzz"])?;
    }
    Ok(())
}

/// What libFuzzer's last line says of a run.
struct Stats {
    runs: String,
    coverage: String,
}

fn fuzz(target: &str, corpus: &Path, seconds: u64) -> anyhow::Result<Stats> {
    let root = workspace_root();
    let artifacts = root.join("target/fuzz-artifacts").join(target);
    fs::create_dir_all(&artifacts)?;
    eprintln!("$ cargo fuzz run {target} ({seconds} s)");
    let output = Command::new("cargo")
        .args(["fuzz", "run", "--sanitizer", "none", "--target-dir"])
        .arg(root.join("target/fuzz"))
        .arg(target)
        .arg(corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-rss_limit_mb=2048")
        .arg("-timeout=30")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .current_dir(root.join("fuzz"))
        // cargo-fuzz asks rustc for flags that are stable in all but name.
        .env("RUSTC_BOOTSTRAP", "1")
        .output()
        .context("cannot run cargo fuzz")?;
    let log = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "fuzz target {target} failed; what it found is in {}:\n{}",
            artifacts.display(),
            tail.join("\n")
        );
    }
    // `#42762	DONE   cov: 490 ft: 1529 corp: 346/29Kb …`
    let done = log
        .lines()
        .rev()
        .find(|l| {
            l.strip_prefix('#')
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .unwrap_or_default();
    let field = |name: &str| {
        done.split_whitespace()
            .skip_while(|w| *w != name)
            .nth(1)
            .unwrap_or("?")
            .to_owned()
    };
    Ok(Stats {
        runs: done
            .split_whitespace()
            .next()
            .unwrap_or("?")
            .trim_start_matches('#')
            .to_owned(),
        coverage: format!("cov {} ft {}", field("cov:"), field("ft:")),
    })
}

/// The target's corpus, seeded with the fixtures that fit it.
fn seed(target: &str) -> anyhow::Result<PathBuf> {
    let root = workspace_root();
    let corpus = root.join("target/fuzz-corpus").join(target);
    fs::create_dir_all(&corpus)?;
    let hello = root.join("examples/hello");
    let files: Vec<PathBuf> = match target {
        "uv_lock" => vec![hello.join("uv.lock")],
        "pylock" => vec![root.join("fetch/tests/fixtures/pylock.toml")],
        "pyproject" => vec![
            hello.join("pyproject.toml"),
            root.join("examples/authentik-like/pyproject.toml"),
        ],
        "pyfod_toml" => vec![root.join("examples/authentik-like/pyfod.toml")],
        "wheel" => list(&hello.join("wheels"))?,
        "sdist" => list(&hello.join("sdists"))?,
        _ => Vec::new(),
    };
    for file in files {
        let name = file.file_name().context("a fixture has a name")?;
        fs::copy(&file, corpus.join(name))
            .with_context(|| format!("cannot copy {}", file.display()))?;
    }
    let texts: &[(&str, &[u8])] = match target {
        "record" => &[(
            "RECORD",
            b"pkg/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n\"a,b\",sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\npkg-1.dist-info/RECORD,,\n",
        )],
        "wheel_text" => &[
            ("entry_points.txt", b"[console_scripts]\nhello = hello.cli:main [extra]\n[gui_scripts]\nwin = pkg.gui:App.run\n"),
            ("filename", b"foo_bar-1.0-2-py2.py3-none-any.whl"),
        ],
        "nar" => &[(
            "file.nar",
            b"\r\0\0\0\0\0\0\0nix-archive-1\0\0\0\x01\0\0\0\0\0\0\0(\0\0\0\0\0\0\0\x04\0\0\0\0\0\0\0type\0\0\0\0\x07\0\0\0\0\0\0\0regular\0\x08\0\0\0\0\0\0\0contents\x02\0\0\0\0\0\0\0hi\0\0\0\0\0\0\x01\0\0\0\0\0\0\0)\0\0\0\0\0\0\0",
        )],
        "remote_record" => &[(
            "record",
            b"pyfod-entry 1\nentry stages/af7299983d3ef07a1a864f33ee758cf1999fb2dddc4f00515df60fde3d975d12\nmanifest 398af507c9befda756fbe1ca8d844c8eb4a5e57f42c83dad20ae161b99811c17 654\ntree cfcdabcf61a0c06c52244077eee6641d87f7663e725992ad4bf3049d9fc3a05c 28208\nneed-blob 398af507c9befda756fbe1ca8d844c8eb4a5e57f42c83dad20ae161b99811c17 654\nneed-tree dir-619674832c8bef75a9b6261846d76dac2b9d76853aa6e12893da779548624f27\nsig test-1:gyqs4hGsWV4qf22H3v0xP5ZvUrStoz2FxLrTBtmhryTW3VmldKqQLZq76d6JxvqDILVD8BIrJrUGbyZvniuPCA==\n",
        )],
        _ => &[],
    };
    for (name, bytes) in texts {
        fs::write(corpus.join(name), bytes)?;
    }
    if target == "manifest" {
        let manifest = pyfod_manifest::HashManifest {
            nar_sha256: pyfod_digest::Sha256::of(b"tree"),
            nar_size: 96,
            entries: Vec::new(),
            inputs: vec![pyfod_manifest::InputRecord {
                name: "lock".into(),
                value: "x".into(),
            }],
        };
        fs::write(corpus.join("hash.manifest"), manifest.encode(None))?;
    }
    Ok(corpus)
}

fn list(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    Ok(fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect())
}
