//! `cargo xtask bench ccache`: what `[build] compiler-cache = "ccache"` saves
//! when only the build environments change. The e2e project (locked at run time)
//! is built cold in two stores, one with the compiler cache; then every build
//! lock that does not pin it takes setuptools one release older, which changes
//! those builds' keys but none of their C, and both stores build again, side by
//! side. Each pair must give one hash. Uses the package registry.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::ensure;

use super::{Table, seconds};
use crate::e2e::{self, EXCLUDE_NEWER, Project};
use crate::workspace_root;

pub fn run() -> anyhow::Result<()> {
    let dir = workspace_root().join("target/bench/ccache");
    let project = Project::prepare(&dir)?;
    let prefix = Path::new("/opt/authentik-deps");
    let config = fs::read_to_string(dir.join("pyfod.toml"))?;
    ensure!(
        config.contains("\n[build]\n"),
        "pyfod.toml has no [build] table"
    );
    fs::write(
        dir.join("pyfod-ccache.toml"),
        config.replacen("\n[build]\n", "\n[build]\ncompiler-cache = \"ccache\"\n", 1),
    )?;
    let (plain, cached) = (dir.join("store"), dir.join("store-ccache"));
    for store in [&plain, &cached] {
        let _ = fs::remove_dir_all(store);
    }
    let build = |store: &Path, with_cache: bool| {
        let mut extra = vec!["-v"];
        if with_cache {
            extra.extend(["--config", "pyfod-ccache.toml"]);
        }
        project.pyfod_build(store, &dir.join("out"), prefix, &extra)
    };

    eprintln!("bench ccache: cold, without and with the compiler cache");
    let (hash, plain_cold) = build(&plain, false)?;
    let (cached_hash, cold) = build(&cached, true)?;
    ensure!(cached_hash == hash, "the compiler cache changed the hash");
    let filled = hits(&cold.stderr);

    let changed = older_setuptools(&dir.join("build"))?;
    ensure!(!changed.is_empty(), "no build lock took another setuptools");
    let changed = changed.join(", ");
    eprintln!("bench ccache: setuptools changed for {changed}");
    let (hash, without) = build(&plain, false)?;
    let (cached_hash, with) = build(&cached, true)?;
    ensure!(
        cached_hash == hash,
        "the compiler cache changed the hash after the change"
    );
    let reused = hits(&with.stderr);

    println!(
        "\n### ccache (the e2e project; setuptools one release older for {changed}; 2 cores)\n"
    );
    let table = Table::new(
        &[
            "",
            "pyfod build",
            "× without",
            "compilations from the cache",
        ],
        &[44, 12, 10, 28],
    );
    let pairs = [
        ("cold", &plain_cold, &cold, filled),
        ("after the change", &without, &with, reused),
    ];
    for (when, plain, cached, (hits, of)) in pairs {
        let ratio = cached.wall.as_secs_f64() / plain.wall.as_secs_f64();
        table.row(&[
            format!("{when}, without the cache"),
            seconds(plain.wall),
            "1".to_owned(),
            String::new(),
        ]);
        table.row(&[
            format!("{when}, with the cache"),
            seconds(cached.wall),
            format!("{ratio:.3}"),
            format!("{hits}/{of}"),
        ]);
    }
    println!("\nThe same hash with and without the cache, before and after: {hash}");
    Ok(())
}

/// Each build lock under `build` relocked with setuptools below its locked
/// version, where its requirements allow; the packages whose lock changed.
fn older_setuptools(build: &Path) -> anyhow::Result<Vec<String>> {
    let mut changed = Vec::new();
    for entry in fs::read_dir(build)? {
        let dir = entry?.path();
        let lock = dir.join("uv.lock");
        let Ok(text) = fs::read_to_string(&lock) else {
            continue;
        };
        let Some(version) = super::e2e::locked_version(&text, "setuptools") else {
            continue;
        };
        let older = format!("setuptools<{version}");
        let mut uv = Command::new("uv");
        uv.args([
            "lock",
            "--exclude-newer",
            EXCLUDE_NEWER,
            "--python",
            "python3",
        ])
        .args(["--upgrade-package", &older])
        .current_dir(&dir);
        // A backend that pins its setuptools (xmlsec, psycopg-c) keeps it.
        if let Err(error) = e2e::run(&mut uv) {
            eprintln!("  {} keeps setuptools {version}: {error:#}", dir.display());
            continue;
        }
        if fs::read_to_string(&lock)? != text {
            changed.push(dir.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    changed.sort();
    Ok(changed)
}

/// The hits and cacheable compilations `-v` reported, over every build.
fn hits(stderr: &str) -> (u64, u64) {
    stderr
        .lines()
        .filter_map(|line| {
            line.split_once(": ")?
                .1
                .split_once(" compilations from the cache")
        })
        .filter_map(|(counts, _)| {
            let (hits, of) = counts.split_once('/')?;
            Some((hits.parse::<u64>().ok()?, of.parse::<u64>().ok()?))
        })
        .fold((0, 0), |(h, n), (hits, of)| (h + hits, n + of))
}
