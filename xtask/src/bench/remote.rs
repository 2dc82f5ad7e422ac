//! `cargo xtask bench remote`: two machines and one shared cache. Machine A
//! builds the end-to-end project cold with an empty store, uploading to a real
//! S3 server on 127.0.0.1 (`s3s-fs`); machine B, its store empty too, builds
//! the same lock reading from it. Both stores are at one path, as on machines
//! made from one image (A's is moved aside before B runs): build environments
//! live where the store is, and that place is part of their key. Side by side in one run: both times, their
//! ratio (the goal: B ≤ 0.1 × A), the bytes moved, that B compiled nothing,
//! and that both hashes are the same. Uses the package registry.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, ensure};

use super::{Table, seconds};
use crate::e2e::Project;
use crate::workspace_root;

pub fn run() -> anyhow::Result<()> {
    let dir = workspace_root().join("target/bench/remote");
    let project = Project::prepare(&dir)?;
    let server = pyfod_tests::s3::S3Server::start("bench remote", &dir).context(
        "bench remote needs s3s-fs (cargo install s3s-fs --version 0.14.1 --features binary)",
    )?;
    let secret = dir.join("ci.sk");
    let _ = fs::remove_file(&secret);
    let public = Command::new(&project.pyfod)
        .args(["key", "generate", "bench-1", "--secret-key-file"])
        .arg(&secret)
        .output()?;
    ensure!(public.status.success(), "pyfod key generate failed");
    let public = String::from_utf8(public.stdout)?.trim().to_owned();
    let env = server.env();
    let prefix = Path::new("/opt/authentik-deps");
    let remote = "s3://cache/bench";
    let secret_arg = secret.to_string_lossy().into_owned();

    eprintln!("bench remote: machine A, cold, uploading");
    let store = dir.join("store");
    let (a_hash, a) = project.pyfod_build_with(
        &store,
        &dir.join("out-a"),
        prefix,
        &["--remote", remote, "--secret-key-file", &secret_arg],
        &env,
    )?;
    fs::rename(&store, dir.join("store-a"))?;
    eprintln!("bench remote: machine B, empty store, reading");
    let (b_hash, b) = project.pyfod_build_with(
        &store,
        &dir.join("out-b"),
        prefix,
        &[
            "--remote",
            remote,
            "--remote-mode",
            "read",
            "--trusted-public-key",
            &public,
        ],
        &env,
    )?;
    ensure!(a_hash == b_hash, "A and B disagree: {a_hash} vs {b_hash}");
    let compiled = b.stderr.lines().filter(|l| l.contains(": built (")).count();
    ensure!(
        compiled == 0,
        "machine B compiled {compiled} packages:\n{}",
        b.stderr
    );
    let moved = |stderr: &str| {
        stderr
            .lines()
            .find_map(|l| l.strip_prefix("remote: "))
            .unwrap_or("-")
            .to_owned()
    };

    println!("\n### remote (the e2e project; two stores, one S3 server on 127.0.0.1; 2 cores)\n");
    let table = Table::new(&["", "wall", "× A cold", "moved"], &[44, 10, 9, 30]);
    table.row(&[
        "machine A: cold, empty store, uploading".to_owned(),
        seconds(a.wall),
        "1".to_owned(),
        moved(&a.stderr),
    ]);
    table.row(&[
        "machine B: empty store, reading the remote".to_owned(),
        seconds(b.wall),
        format!("{:.3}", b.wall.as_secs_f64() / a.wall.as_secs_f64()),
        moved(&b.stderr),
    ]);
    println!("\nsame hash on both: {a_hash}; B compiled nothing.");
    Ok(())
}
