//! The same checks as `.ci/run`, minus the system packages it installs.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{Context, ensure};

use crate::{run_step, workspace_root};

pub fn run() -> anyhow::Result<()> {
    run_step("cargo", &["fmt", "--all", "--", "--check"])?;
    run_step(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    build_tools()?;
    test()?;
    // Every fuzz target, briefly: a parser that panics on some input fails CI.
    crate::fuzz::run(&["--time", "15"])
}

/// The build tools' wheels the build-sdist tests serve from their own index:
/// downloaded here, once, so that the tests themselves never use the network.
fn build_tools() -> anyhow::Result<()> {
    let dir = pyfod_tests::sources::build_tools_dir();
    let missing: Vec<&str> = pyfod_tests::sources::BUILD_TOOLS
        .iter()
        .copied()
        .filter(|spec| {
            let (name, version) = spec.split_once("==").expect("name==version");
            // Any platform's wheel of that version: maturin's names its platforms.
            let prefix = format!("{name}-{version}-");
            !fs::read_dir(&dir).into_iter().flatten().flatten().any(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                file.starts_with(&prefix) && file.ends_with(".whl")
            })
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let dest = dir.to_string_lossy().into_owned();
    let mut args = vec![
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary",
        ":all:",
        "--no-deps",
        "--dest",
        &dest,
    ];
    args.extend(missing);
    run_step("python3", &args)
}

/// `cargo test --workspace`, echoed as it runs, then one closing line with the
/// totals: cargo's own last line is that of whichever test binary ran last,
/// often a crate's doc tests with nothing in them.
fn test() -> anyhow::Result<()> {
    eprintln!("$ cargo test --workspace");
    let mut child = Command::new("cargo")
        .args(["test", "--workspace"])
        .current_dir(workspace_root())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo test")?;
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line?;
        println!("{line}");
        if let Some(counts) = line.strip_prefix("test result: ") {
            passed += count(counts, "passed");
            failed += count(counts, "failed");
            ignored += count(counts, "ignored");
        }
    }
    let status = child.wait()?;
    println!("tests: {passed} passed, {failed} failed, {ignored} skipped");
    ensure!(status.success(), "cargo test failed ({status})");
    Ok(())
}

/// The number before `word` in `ok. 8 passed; 0 failed; 1 ignored; …`.
fn count(counts: &str, word: &str) -> u64 {
    counts
        .split([';', '.'])
        .filter_map(|part| part.trim().strip_suffix(word))
        .find_map(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
