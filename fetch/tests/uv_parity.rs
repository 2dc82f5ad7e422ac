//! pyfod picks what `uv sync --frozen --no-install-project --no-install-workspace
//! --no-dev` installs, from locks the real uv wrote against the test index.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use pyfod_tests::index::{PackageIndex, normalise};
use pyfod_tests::oracle::tool_available;
use pyfod_tests::uvproject::{Installed, installed, make_dist, uv_ok};

/// The packages of the project below, every case of the issue that needs no git:
/// markers on python_version and sys_platform, an extra, a dev group, an
/// sdist-only package, no-binary-package, and several platform wheels.
fn publish(dists: &Path) {
    for args in [
        &[
            "wheel",
            "alpha",
            "1.0",
            "--requires",
            "beta>=1",
            "--extra",
            "fast=gamma",
        ][..],
        &["sdist", "beta", "1.0"],
        &[
            "wheel",
            "gamma",
            "2.0",
            "--tag",
            "cp311-cp311-manylinux_2_17_x86_64",
            "--tag",
            "cp311-cp311-manylinux2014_x86_64",
        ],
        &[
            "wheel",
            "gamma",
            "2.0",
            "--tag",
            "cp311-cp311-manylinux_2_28_x86_64",
        ],
        &[
            "wheel",
            "gamma",
            "2.0",
            "--tag",
            "cp311-cp311-macosx_11_0_arm64",
        ],
        &["wheel", "gamma", "2.0", "--tag", "py3-none-any"],
        &["sdist", "gamma", "2.0"],
        &["wheel", "delta", "1.0"],
        &["wheel", "eps", "1.0"],
        &["sdist", "eps", "1.0"],
        &["wheel", "zeta", "1.0"],
        &["wheel", "devtool", "3.0"],
        &["wheel", "old", "1.0"],
        &["wheel", "old", "2.0"],
    ] {
        make_dist(dists, args);
    }
}

const PYPROJECT: &str = r#"[project]
name = "app"
version = "0.1.0"
requires-python = ">=3.8"
dependencies = [
    "alpha[fast]",
    "delta; python_version < '3.0'",
    "eps; sys_platform == 'linux'",
    "zeta; sys_platform == 'win32'",
    "old<2",
]

[dependency-groups]
dev = ["devtool"]

[tool.uv]
package = false
no-binary-package = ["eps"]
"#;

struct Project {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    cache: std::path::PathBuf,
    index: PackageIndex,
}

fn project(test: &str) -> Option<Project> {
    if !tool_available("uv", test) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let dists = dir.path().join("dists");
    let root = dir.path().join("app");
    let cache = dir.path().join("uv-cache");
    fs::create_dir_all(&dists).unwrap();
    fs::create_dir_all(&root).unwrap();
    publish(&dists);
    let index = PackageIndex::serve(&dists).unwrap();
    fs::write(root.join("pyproject.toml"), PYPROJECT).unwrap();
    uv_ok(
        &root,
        &cache,
        &["lock", "--index-url", &index.url(), "--python", "python3"],
    );
    Some(Project {
        _dir: dir,
        root,
        cache,
        index,
    })
}

/// `name==version file` lines from `pyfod fetch --dry-run`, as (name, version, tags).
fn pyfod_plan(project: &Project, args: &[&str]) -> Vec<Installed> {
    let output = Command::cargo_bin("pyfod-fetch")
        .unwrap()
        .args(["--dry-run", "--python", "python3", "--lock"])
        .arg(project.root.join("uv.lock"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut plan: Vec<Installed> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (spec, file) = line.split_once(' ').unwrap();
            let (name, version) = spec.split_once("==").unwrap();
            let tags = match file.strip_suffix(".whl") {
                // An sdist: uv builds it with the in-tree backend, which tags
                // the wheel py3-none-any.
                None => vec!["py3-none-any".to_owned()],
                Some(stem) => {
                    let parts: Vec<&str> = stem.rsplitn(4, '-').collect();
                    let (plat, abi, py) = (parts[0], parts[1], parts[2]);
                    let mut tags = Vec::new();
                    for p in py.split('.') {
                        for a in abi.split('.') {
                            for pl in plat.split('.') {
                                tags.push(format!("{p}-{a}-{pl}"));
                            }
                        }
                    }
                    tags.sort();
                    tags
                }
            };
            Installed {
                name: normalise(name),
                version: version.to_owned(),
                tags,
            }
        })
        .collect();
    plan.sort();
    plan
}

fn uv_sync(project: &Project, args: &[&str]) -> Vec<Installed> {
    let venv = project.root.join(".venv");
    if venv.exists() {
        fs::remove_dir_all(&venv).unwrap();
    }
    let mut all = vec![
        "sync",
        "--frozen",
        "--no-install-project",
        "--no-install-workspace",
        "--python",
        "python3",
        "--index-url",
    ];
    let url = project.index.url();
    all.push(&url);
    all.extend_from_slice(args);
    uv_ok(&project.root, &project.cache, &all);
    installed(&venv)
}

#[test]
fn picks_what_uv_sync_installs() {
    let Some(project) = project("picks_what_uv_sync_installs") else {
        return;
    };
    let ours = pyfod_plan(&project, &[]);
    let names: Vec<&str> = ours.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta", "eps", "gamma", "old"], "{ours:?}");
    let gamma = ours.iter().find(|p| p.name == "gamma").unwrap();
    assert_eq!(gamma.tags, ["cp311-cp311-manylinux_2_28_x86_64"]);
    assert_eq!(
        ours.iter().find(|p| p.name == "old").unwrap().version,
        "1.0"
    );
    assert_eq!(uv_sync(&project, &["--no-dev"]), ours);

    // With the dev group, as `uv sync` without --no-dev.
    let with_dev = pyfod_plan(&project, &["--dev"]);
    assert!(with_dev.iter().any(|p| p.name == "devtool"));
    assert_eq!(uv_sync(&project, &[]), with_dev);
}

#[test]
fn a_target_for_another_machine_needs_no_interpreter() {
    let Some(project) = project("a_target_for_another_machine_needs_no_interpreter") else {
        return;
    };
    let output = Command::cargo_bin("pyfod-fetch")
        .unwrap()
        .args([
            "--dry-run",
            "--target",
            "python=3.11,platform=manylinux_2_17_x86_64",
            "--lock",
        ])
        .arg(project.root.join("uv.lock"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(
            "gamma==2.0 gamma-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        ),
        "{text}"
    );
    // The same target from a file.
    let file = project.root.join("../target.toml");
    fs::write(
        &file,
        "python = \"3.11\"\nplatform = \"manylinux_2_17_x86_64\"\n",
    )
    .unwrap();
    let output = Command::cargo_bin("pyfod-fetch")
        .unwrap()
        .args(["--dry-run", "--target"])
        .arg(&file)
        .arg("--lock")
        .arg(project.root.join("uv.lock"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8(output.stdout).unwrap(), text);

    // no-build with an sdist-only package is an error that names it.
    let output = Command::cargo_bin("pyfod-fetch")
        .unwrap()
        .args([
            "--dry-run",
            "--python",
            "python3",
            "--no-build-package",
            "beta",
            "--lock",
        ])
        .arg(project.root.join("uv.lock"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("beta would have to be built from its sdist"),
        "{stderr}"
    );
}

#[test]
fn the_lock_must_fit_the_interpreter() {
    let Some(project) = project("the_lock_must_fit_the_interpreter") else {
        return;
    };
    let lock = project.root.join("uv.lock");
    let text = fs::read_to_string(&lock).unwrap().replace(
        "requires-python = \">=3.8\"",
        "requires-python = \">=3.99\"",
    );
    fs::write(&lock, text).unwrap();
    let output = Command::cargo_bin("pyfod-fetch")
        .unwrap()
        .args(["--dry-run", "--python", "python3", "--lock"])
        .arg(&lock)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("the lock wants Python >=3.99, but the target is Python 3."),
        "{stderr}"
    );
}

/// A workspace: a root project and two members, one reached from the root and
/// one not, and a dependency on a local wheel file. uv installs the members'
/// dependencies reachable from the root, never the members themselves.
#[test]
fn a_workspace_and_a_path_source_match_uv() {
    if !tool_available("uv", "a_workspace_and_a_path_source_match_uv") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let (dists, local, root) = (t.join("dists"), t.join("local"), t.join("app"));
    for d in [&dists, &local, &root] {
        fs::create_dir_all(d).unwrap();
    }
    make_dist(&dists, &["wheel", "gamma", "2.0"]);
    make_dist(&dists, &["wheel", "zeta", "1.0"]);
    make_dist(&local, &["wheel", "delta", "1.0"]);
    for (member, requires) in [("pkg-a", "gamma"), ("pkg-b", "zeta")] {
        let scratch = t.join(format!("sdist-{member}"));
        fs::create_dir_all(&scratch).unwrap();
        make_dist(&scratch, &["sdist", member, "1.0", "--requires", requires]);
        let target = root.join("packages").join(member);
        fs::create_dir_all(&target).unwrap();
        let tarball = scratch.join(format!("{}-1.0.tar.gz", member.replace('-', "_")));
        let status = std::process::Command::new("tar")
            .args(["-x", "--strip-components=1", "-f"])
            .arg(&tarball)
            .arg("-C")
            .arg(&target)
            .status()
            .unwrap();
        assert!(status.success());
        // make-dist's pyproject.toml names the dependencies; the member also
        // says which Pythons it supports.
        let pyproject = fs::read_to_string(target.join("pyproject.toml")).unwrap();
        assert!(pyproject.contains(&format!("dependencies = [\"{requires}\"]")));
        fs::write(
            target.join("pyproject.toml"),
            format!("{pyproject}requires-python = \">=3.8\"\n"),
        )
        .unwrap();
    }
    fs::write(
        root.join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\n\
         dependencies = [\"pkg-a\", \"delta\"]\n\n[tool.uv]\npackage = false\n\n\
         [tool.uv.workspace]\nmembers = [\"packages/*\"]\n\n\
         [tool.uv.sources]\npkg-a = { workspace = true }\ndelta = { path = \"../local/delta-1.0-py3-none-any.whl\" }\n",
    )
    .unwrap();
    let index = PackageIndex::serve(&dists).unwrap();
    let project = Project {
        root: root.clone(),
        cache: t.join("uv-cache"),
        index,
        _dir: dir,
    };
    uv_ok(
        &project.root,
        &project.cache,
        &[
            "lock",
            "--index-url",
            &project.index.url(),
            "--python",
            "python3",
        ],
    );
    let lock = fs::read_to_string(project.root.join("uv.lock")).unwrap();
    assert!(lock.contains("members = ["), "a workspace lock: {lock}");

    let ours = pyfod_plan(&project, &[]);
    let names: Vec<&str> = ours.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["delta", "gamma"], "{ours:?}");
    assert_eq!(uv_sync(&project, &["--no-dev"]), ours);

    // And the local wheel is read from disk into the store, verified.
    let store = project.root.join("../store");
    let output = Command::cargo_bin("pyfod-fetch")
        .unwrap()
        .args(["--python", "python3", "--lock"])
        .arg(project.root.join("uv.lock"))
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
