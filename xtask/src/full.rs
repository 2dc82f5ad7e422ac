//! `cargo xtask full`: the main job on the bundled example, `examples/hello` (a
//! project whose packages ship beside it, so no network is needed: two wheels, an
//! sdist, and a C extension's source tree): `pyfod build` from its uv.lock to a
//! scrubbed venv and its NAR hash, checked against `nix-hash` where Nix is
//! installed, with its packages imported.

use std::process::Command;

use anyhow::{Context, bail};

use crate::{release_pyfod, workspace_root};

pub fn run() -> anyhow::Result<()> {
    let pyfod = release_pyfod()?;
    let root = workspace_root();
    let out = root.join("target/full/hello-venv");
    let store = root.join("target/full/store");
    // A fixed prefix, though the scrub removes what names it (bin/) and its RECORD
    // rows: the unscrubbed venv stays the same wherever this checkout is.
    eprintln!(
        "$ pyfod build --lock examples/hello/uv.lock --python python3 --prefix /opt/hello-venv --out target/full/hello-venv --force"
    );
    let output = Command::new(&pyfod)
        .args([
            "build",
            "--python",
            "python3",
            "--force",
            "--prefix",
            "/opt/hello-venv",
            "--lock",
        ])
        .arg(root.join("examples/hello/uv.lock"))
        .arg("--out")
        .arg(&out)
        .arg("--store")
        .arg(&store)
        .output()
        .context("cannot run pyfod")?;
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        bail!(
            "pyfod build failed on the bundled example ({})",
            output.status
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let hash = stdout.lines().last().unwrap_or_default().to_owned();
    // The result works: its packages import, the C extension built from source runs.
    let site = out
        .join("lib")
        .read_dir()?
        .flatten()
        .next()
        .map(|d| d.path().join("site-packages"));
    let check = Command::new("python3")
        .args([
            "-c",
            "import colorless, greeting, plainsdist, tinyext; assert tinyext.square(7) == 49",
        ])
        .env("PYTHONPATH", site.context("the venv has no lib/pythonX.Y")?)
        .output()
        .context("cannot run python3")?;
    if !check.status.success() {
        bail!(
            "the built venv's packages do not import:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    eprintln!("the venv's packages import; tinyext.square(7) == 49");
    match pyfod_tests::oracle::nix_hash(&out) {
        Some(nix32) => {
            let ours = Command::new(&pyfod)
                .args(["hash", "--format", "nix32"])
                .arg(&out)
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
