//! Source fixtures (`fixtures/sources/`) packed into sdists and git repositories,
//! and the wheels of the build tools (setuptools, flit_core) that build them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The build tools' wheels the tests serve from their index, downloaded before the
/// tests by `cargo xtask ci` (the tests themselves never touch the network).
pub const BUILD_TOOLS: &[&str] = &["setuptools==80.9.0", "flit_core==3.12.0", "maturin==1.16.0"];

/// Where the build tools' wheels are: `$PYFOD_TEST_BUILD_TOOLS`, else
/// `target/test-build-tools` in the workspace.
pub fn build_tools_dir() -> PathBuf {
    match std::env::var_os("PYFOD_TEST_BUILD_TOOLS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-build-tools"),
    }
}

/// Copies the build tools' wheels into `dists`, or says loudly why the test
/// cannot run (and fails under `PYFOD_REQUIRE_ORACLE`, as in CI).
pub fn add_build_tools(dists: &Path, test: &str) -> bool {
    let dir = build_tools_dir();
    let wheels: Vec<PathBuf> = fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    let has = |prefix: &str| {
        wheels.iter().any(|w| {
            w.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
    };
    if !(has("setuptools-") && has("flit_core-")) {
        crate::oracle::announce_skip(
            test,
            &format!(
                "the build tools' wheels in {} (`cargo xtask ci` downloads them)",
                dir.display()
            ),
        );
        return false;
    }
    for wheel in wheels {
        fs::copy(&wheel, dists.join(wheel.file_name().unwrap())).expect("copy a build tool");
    }
    true
}

/// `fixtures/sources/<source>` packed as the sdist `<name>-<version>.tar.gz` in
/// `outdir`; returns its path.
pub fn pack_sdist(source: &str, name: &str, version: &str, outdir: &Path) -> PathBuf {
    let output = Command::new("python3")
        .arg(crate::fixture("pack-sdist.py"))
        .arg(crate::fixture("sources").join(source))
        .args([name, version])
        .arg(outdir)
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "pack-sdist {source}: {output:?}");
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// `fixtures/sources/<source>` committed to a new git repository at `dir`;
/// returns the commit.
pub fn git_repository(source: &str, dir: &Path) -> String {
    fs::create_dir_all(dir).unwrap();
    crate::copy_dir(&crate::fixture("sources").join(source), dir);
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "pyfod tests")
            .env("GIT_AUTHOR_EMAIL", "tests@pyfod.invalid")
            .env("GIT_COMMITTER_NAME", "pyfod tests")
            .env("GIT_COMMITTER_EMAIL", "tests@pyfod.invalid")
            .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
            .output()
            .expect("git runs");
        assert!(output.status.success(), "git {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "fixture"]);
    git(&["rev-parse", "HEAD"]).trim().to_owned()
}
