//! pyfod's developer tasks, in Rust rather than shell:
//!
//! - `cargo xtask ci`: what CI checks: formatting, clippy with `-D warnings`, tests.
//! - `cargo xtask full`: the main job on the bundled example.
//! - `cargo xtask nix`: the real Nix builds the FODs `pyfod nix fod` writes.
//! - `cargo xtask e2e`: a real project from the package registry, four sdists built
//!   against system libraries, against the seed's way; `cargo xtask e2e matrix`:
//!   one real sdist per build backend, built as on two machines.
//! - `cargo xtask bench [SUITE…]`: pyfod against the tools it replaces, side by side.
//! - `cargo xtask fuzz [TARGET…] [--time S]`: the fuzz targets of `fuzz/`.

mod bench;
mod ci;
mod e2e;
mod full;
mod fuzz;
mod matrix;
mod measure;
mod nix;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <ci | full | nix | e2e [matrix] | bench [SUITE…] | fuzz [TARGET…] [--time S]>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["ci"] => ci::run(),
        ["full"] => full::run(),
        ["nix"] => nix::run(),
        ["e2e"] => e2e::run_e2e(),
        ["e2e", "matrix"] => matrix::run_matrix(),
        ["bench"] => bench::run(&[]),
        ["bench", suites @ ..] => bench::run(suites),
        ["fuzz", args @ ..] => fuzz::run(args),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// Runs a command in the workspace root, echoing it, failing on a non-zero exit.
fn run_step(program: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run {program}: {e}"))?;
    anyhow::ensure!(
        status.success(),
        "`{program} {}` failed ({status})",
        args.join(" ")
    );
    Ok(())
}

/// Builds the release `pyfod` binary and returns its path.
fn release_pyfod() -> anyhow::Result<PathBuf> {
    run_step("cargo", &["build", "--release", "--quiet", "-p", "pyfod"])?;
    Ok(workspace_root().join("target/release/pyfod"))
}
