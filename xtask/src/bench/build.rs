//! `cargo xtask bench build`: lxml, xmlsec, psycopg-c and gssapi built from sdist
//! (with what they depend on), by `pyfod build` and by `uv sync`, side by side:
//! cold (empty store, empty uv cache), then warm (both caches full, a new venv).
//! Uses the package registry, as `cargo xtask e2e` does.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use super::{Table, mib, ratio, seconds};
use crate::e2e::Project;
use crate::measure::measure;
use crate::workspace_root;

const PYPROJECT: &str = r#"[project]
name = "build-bench"
version = "0.1.0"
requires-python = "==3.11.*"
dependencies = ["gssapi", "lxml==6.0.2", "psycopg[c]", "xmlsec"]

[tool.uv]
package = false
no-binary-package = ["lxml", "xmlsec"]
"#;

pub fn run() -> anyhow::Result<()> {
    let dir = workspace_root().join("target/bench/build");
    let project = Project::prepare_with(&dir, PYPROJECT)?;
    let prefix = Path::new("/opt/build-bench");
    let store = dir.join("store");
    let cache = dir.join("uv-cache");
    let _ = fs::remove_dir_all(&store);
    let _ = fs::remove_dir_all(&cache);

    let uv_sync = |venv: &Path| -> anyhow::Result<Duration> {
        let _ = fs::remove_dir_all(venv);
        let run = measure(
            Command::new("uv")
                .args([
                    "sync",
                    "--frozen",
                    "--no-install-project",
                    "--no-dev",
                    "--quiet",
                    "--python",
                    "python3",
                ])
                .current_dir(&dir)
                .env("UV_CACHE_DIR", &cache)
                .env("UV_PROJECT_ENVIRONMENT", venv)
                .env("UV_LINK_MODE", "copy")
                .env("CPPFLAGS", "-include gssapi/gssapi_ext.h"),
        )
        .context("uv sync")?;
        Ok(run.wall)
    };

    eprintln!("bench build: cold, pyfod then uv (each builds the four from sdist)");
    let (_, pyfod_cold) = project.pyfod_build(&store, &dir.join("out-cold"), prefix, &[])?;
    let uv_cold = uv_sync(&dir.join("venv-cold"))?;
    eprintln!("bench build: warm, a new output each");
    let (_, pyfod_warm) = project.pyfod_build(&store, &dir.join("out-warm"), prefix, &[])?;
    let uv_warm = uv_sync(&dir.join("venv-warm"))?;

    println!("\n### build (lxml, xmlsec, psycopg-c, gssapi from sdist; 2 cores)\n");
    let table = Table::new(
        &[
            "",
            "pyfod build",
            "uv sync",
            "ratio",
            "pyfod's own peak RSS",
        ],
        &[30, 12, 12, 7, 20],
    );
    table.row(&[
        "cold (empty store, empty cache)".to_owned(),
        seconds(pyfod_cold.wall),
        seconds(uv_cold),
        ratio(pyfod_cold.wall, uv_cold),
        mib(pyfod_cold.own_peak_kib * 1024),
    ]);
    table.row(&[
        "warm (caches full, new venv)".to_owned(),
        seconds(pyfod_warm.wall),
        seconds(uv_warm),
        ratio(pyfod_warm.wall, uv_warm),
        mib(pyfod_warm.own_peak_kib * 1024),
    ]);
    Ok(())
}
