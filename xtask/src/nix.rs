//! `cargo xtask nix`: the real Nix builds the fixed-output derivations `pyfod
//! nix fod` writes — the bundled example, a wrong hash, the seed's way, an
//! extension linked into the store, the scrub turned off — in its sandbox where
//! the machine allows it, none skipped (`pipeline/tests/nix_fod.rs`, and the
//! expressions themselves in `nix_expression.rs`).

use std::process::Command;

use anyhow::{Context, ensure};

use crate::workspace_root;

pub fn run() -> anyhow::Result<()> {
    let args = [
        "test",
        "-p",
        "pyfod",
        "--test",
        "nix_fod",
        "--test",
        "nix_expression",
        "--",
        "--nocapture",
    ];
    eprintln!("$ PYFOD_REQUIRE_ORACLE=1 cargo {}", args.join(" "));
    let status = Command::new("cargo")
        .args(args)
        .current_dir(workspace_root())
        .env("PYFOD_REQUIRE_ORACLE", "1")
        .status()
        .context("cannot run cargo")?;
    ensure!(status.success(), "the Nix tests failed ({status})");
    Ok(())
}
