//! `cargo xtask full`: the main job on the bundled example, with the stages that
//! exist. Today that is the hash stage: the example venv tree hashed by pyfod,
//! checked against its recorded hash and, where Nix is installed, against
//! `nix-hash`. Each stage extends this as it lands.

use std::fs;
use std::process::Command;

use anyhow::{Context, bail};

use crate::{release_pyfod, workspace_root};

pub fn run() -> anyhow::Result<()> {
    let pyfod = release_pyfod()?;
    let example = workspace_root().join("examples/hello-venv");
    let recorded_path = workspace_root().join("examples/hello-venv.hash");
    let recorded = fs::read_to_string(&recorded_path)
        .with_context(|| format!("cannot read {}", recorded_path.display()))?;
    let recorded = recorded.trim();

    eprintln!("$ pyfod hash --expect {recorded} examples/hello-venv");
    let output = Command::new(&pyfod)
        .args(["hash", "--expect", recorded])
        .arg(&example)
        .output()
        .context("cannot run pyfod")?;
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    let hash = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() {
        bail!(
            "pyfod hash of the bundled example did not match {} (exit {:?})",
            recorded_path.display(),
            output.status.code()
        );
    }
    match pyfod_tests::oracle::nix_hash(&example) {
        Some(nix32) => {
            let ours = Command::new(&pyfod)
                .args(["hash", "--format", "nix32"])
                .arg(&example)
                .output()?;
            let ours = String::from_utf8_lossy(&ours.stdout).trim().to_owned();
            if ours != nix32 {
                bail!("pyfod says {ours} but nix-hash says {nix32}");
            }
            eprintln!("nix-hash agrees: {nix32}");
        }
        None => eprintln!("nix-hash is not installed; skipped the comparison with Nix"),
    }
    println!("{hash}");
    Ok(())
}
