//! `pyfod fetch` against the test index: verified downloads, no request for what
//! the store has, and every fault with a clear error and nothing half-stored.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use pyfod_manifest::{Artifact, FetchManifest, Manifest};
use pyfod_tests::index::{Fault, PackageIndex};
use pyfod_tests::oracle::tool_available;
use pyfod_tests::uvproject::{make_dist, uv_ok};

struct Project {
    dir: tempfile::TempDir,
    lock: PathBuf,
    index: PackageIndex,
}

impl Project {
    fn store(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn project(test: &str) -> Option<Project> {
    if !tool_available("uv", test) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let dists = dir.path().join("dists");
    let root = dir.path().join("app");
    fs::create_dir_all(&dists).unwrap();
    fs::create_dir_all(&root).unwrap();
    make_dist(&dists, &["wheel", "alpha", "1.0", "--requires", "beta"]);
    make_dist(&dists, &["sdist", "beta", "1.0"]);
    make_dist(&dists, &["wheel", "gamma", "2.0"]);
    let index = PackageIndex::serve(&dists).unwrap();
    fs::write(
        root.join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"alpha\", \"gamma\"]\n\n[tool.uv]\npackage = false\n",
    )
    .unwrap();
    uv_ok(
        &root,
        &dir.path().join("uv-cache"),
        &["lock", "--index-url", &index.url(), "--python", "python3"],
    );
    index.clear_requests();
    Some(Project {
        lock: root.join("uv.lock"),
        dir,
        index,
    })
}

fn fetch(lock: &Path, store: &Path, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("pyfod-fetch")
        .unwrap()
        .args(["--python", "python3", "--lock"])
        .arg(lock)
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap()
}

fn blobs(store: &Path) -> usize {
    fs::read_dir(store.join("blobs/sha256")).map_or(0, |d| d.count())
}

fn tmp_is_empty(store: &Path) -> bool {
    fs::read_dir(store.join("tmp")).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn fetches_verified_artifacts_and_asks_nothing_the_second_time() {
    let Some(project) = project("fetches_verified_artifacts_and_asks_nothing_the_second_time")
    else {
        return;
    };
    let store = project.store("store");
    let manifest_path = project.dir.path().join("fetch.manifest");
    let output = fetch(
        &project.lock,
        &store,
        &["--manifest", manifest_path.to_str().unwrap()],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (header, manifest) = FetchManifest::decode(&fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(header.input, Some(manifest.lock));
    let files: Vec<(&str, &str)> = manifest
        .packages
        .iter()
        .map(|p| match &p.artifact {
            Artifact::Wheel(f) => ("wheel", f.filename.as_str()),
            Artifact::Sdist(f) => ("sdist", f.filename.as_str()),
            Artifact::Tree { .. } => ("tree", ""),
        })
        .collect();
    assert_eq!(
        files,
        [
            ("wheel", "alpha-1.0-py3-none-any.whl"),
            ("sdist", "beta-1.0.tar.gz"),
            ("wheel", "gamma-2.0-py3-none-any.whl"),
        ]
    );
    for package in &manifest.packages {
        let (Artifact::Wheel(file) | Artifact::Sdist(file)) = &package.artifact else {
            unreachable!()
        };
        let bytes = fs::read(store.join("blobs/sha256").join(file.sha256.to_hex())).unwrap();
        assert_eq!(pyfod_digest::Sha256::of(&bytes), file.sha256);
        assert_eq!(bytes.len() as u64, file.size);
        assert!(file.hash_from_lock);
    }
    let downloads = project.index.requests();
    assert_eq!(downloads.len(), 3, "{downloads:?}");

    project.index.clear_requests();
    let output = fetch(&project.lock, &store, &[]);
    assert!(output.status.success());
    assert_eq!(
        project.index.requests(),
        Vec::<String>::new(),
        "the second fetch asked the index"
    );
}

#[test]
fn wrong_bytes_are_refused_and_never_stored() {
    let Some(project) = project("wrong_bytes_are_refused_and_never_stored") else {
        return;
    };
    project
        .index
        .set_fault("gamma-2.0-py3-none-any.whl", Fault::WrongBytes);
    let store = project.store("store");
    let output = fetch(&project.lock, &store, &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("gamma") && stderr.contains("does not have the hash the lock records"),
        "{stderr}"
    );
    assert!(
        stderr.contains("expected: sha256-") && stderr.contains("actual:   sha256-"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/files/gamma-2.0-py3-none-any.whl"),
        "{stderr}"
    );
    assert!(tmp_is_empty(&store));
    // What was fetched whole stays; the bad file is not among it.
    let gamma = pyfod_digest::Sha256::of(
        &fs::read(project.dir.path().join("dists/gamma-2.0-py3-none-any.whl")).unwrap(),
    );
    assert!(!store.join("blobs/sha256").join(gamma.to_hex()).exists());
}

#[test]
fn not_found_is_an_error_and_server_errors_are_retried() {
    let Some(project) = project("not_found_is_an_error_and_server_errors_are_retried") else {
        return;
    };
    project
        .index
        .set_fault("alpha-1.0-py3-none-any.whl", Fault::NotFound);
    let output = fetch(&project.lock, &project.store("a"), &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("cannot download alpha") && stderr.contains("404"),
        "{stderr}"
    );

    project.index.clear_faults();
    project
        .index
        .set_fault("alpha-1.0-py3-none-any.whl", Fault::ServerErrors(2));
    let output = fetch(&project.lock, &project.store("b"), &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tries = project
        .index
        .requests()
        .iter()
        .filter(|r| r.ends_with("alpha-1.0-py3-none-any.whl"))
        .count();
    assert_eq!(
        tries,
        4,
        "two 500s, then the file: {:?}",
        project.index.requests()
    );
}

#[test]
fn a_connection_dropped_midway_leaves_nothing() {
    let Some(project) = project("a_connection_dropped_midway_leaves_nothing") else {
        return;
    };
    project
        .index
        .set_fault("beta-1.0.tar.gz", Fault::DropMidway);
    let store = project.store("store");
    let output = fetch(&project.lock, &store, &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("cannot download beta") && stderr.contains("attempts"),
        "{stderr}"
    );
    assert!(tmp_is_empty(&store));
}

#[test]
fn offline_names_what_is_missing() {
    let Some(project) = project("offline_names_what_is_missing") else {
        return;
    };
    let output = fetch(&project.lock, &project.store("empty"), &["--offline"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("--offline, and the store lacks 3"),
        "{stderr}"
    );
    assert!(stderr.contains("beta-1.0.tar.gz (beta)"), "{stderr}");
    assert!(project.index.requests().is_empty());
}

#[test]
fn two_fetches_into_one_store_at_once_both_succeed() {
    let Some(project) = project("two_fetches_into_one_store_at_once_both_succeed") else {
        return;
    };
    let store = project.store("shared");
    let spawn = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("pyfod-fetch"))
            .args(["--python", "python3", "--lock"])
            .arg(&project.lock)
            .arg("--store")
            .arg(&store)
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(blobs(&store), 3);
    assert!(tmp_is_empty(&store));
}

#[test]
fn bad_locks_say_where() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("uv.lock");
    let store = dir.path().join("store");
    for (text, expected) in [
        (
            "version = 1\n[[package]]\nname = \"x\"\nsource = { svn = \"http://x\" }\n",
            "no kind pyfod knows (`svn`)",
        ),
        (
            "version = 1\n[[package]]\nversion = \"1\"\nsource = { registry = \"r\" }\n",
            "line 2",
        ),
        ("version = 2\n", "lock version 2 is not supported"),
        ("version = [\n", "line 1"),
    ] {
        fs::write(&lock, text).unwrap();
        let output = fetch(&lock, &store, &["--dry-run"]);
        assert_eq!(output.status.code(), Some(1), "{text}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.contains("uv.lock") && stderr.contains(expected),
            "{text}: {stderr}"
        );
    }
}

#[test]
fn entries_without_a_hash_need_allow_unhashed() {
    if !tool_available("uv", "entries_without_a_hash_need_allow_unhashed") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (dists, root) = (dir.path().join("dists"), dir.path().join("app"));
    fs::create_dir_all(&dists).unwrap();
    fs::create_dir_all(&root).unwrap();
    make_dist(&dists, &["wheel", "gamma", "2.0"]);
    fs::write(
        root.join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"gamma\"]\n\n[tool.uv]\npackage = false\n",
    )
    .unwrap();
    let cache = dir.path().join("uv-cache");
    uv_ok(
        &root,
        &cache,
        &[
            "lock",
            "--no-index",
            "--find-links",
            "../dists",
            "--python",
            "python3",
        ],
    );
    let lock = root.join("uv.lock");
    let store = dir.path().join("store");
    let output = fetch(&lock, &store, &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("no hash for gamma-2.0-py3-none-any.whl")
            && stderr.contains("--allow-unhashed"),
        "{stderr}"
    );
    let manifest = dir.path().join("m");
    let output = fetch(
        &lock,
        &store,
        &["--allow-unhashed", "--manifest", manifest.to_str().unwrap()],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (_, manifest) = FetchManifest::decode(&fs::read(&manifest).unwrap()).unwrap();
    let Artifact::Wheel(file) = &manifest.packages[0].artifact else {
        panic!()
    };
    assert!(!file.hash_from_lock);
    assert!(file.url.is_none());
}

#[test]
fn a_mirror_serves_instead_and_the_hashes_still_apply() {
    let Some(project) = project("a_mirror_serves_instead_and_the_hashes_still_apply") else {
        return;
    };
    let files = project.index.url().replace("/simple", "/files/");
    let dists = project.dir.path().join("dists");
    let mirror = format!("{files}={}/", dists.display());
    let store = project.store("store");
    let manifest = project.dir.path().join("m");
    let output = fetch(
        &project.lock,
        &store,
        &[
            "--mirror",
            &mirror,
            "--manifest",
            manifest.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        project.index.requests().is_empty(),
        "{:?}",
        project.index.requests()
    );
    let (_, manifest) = FetchManifest::decode(&fs::read(&manifest).unwrap()).unwrap();
    let Artifact::Wheel(file) = &manifest.packages[0].artifact else {
        panic!()
    };
    assert_eq!(
        file.url.as_deref(),
        Some(format!("{files}alpha-1.0-py3-none-any.whl").as_str())
    );

    // A mirror with other bytes is caught by the lock's hash.
    let bad = project.dir.path().join("bad-mirror");
    fs::create_dir_all(&bad).unwrap();
    for entry in fs::read_dir(&dists).unwrap() {
        let entry = entry.unwrap();
        fs::write(bad.join(entry.file_name()), b"not the file").unwrap();
    }
    let output = fetch(
        &project.lock,
        &project.store("other"),
        &["--mirror", &format!("{files}={}/", bad.display())],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("does not have the hash the lock records")
    );
}

#[test]
fn logins_come_from_netrc_and_a_refusal_says_where_to_put_them() {
    let Some(project) = project("logins_come_from_netrc_and_a_refusal_says_where_to_put_them")
    else {
        return;
    };
    project.index.require_login("alice", "s3cret");
    let netrc = project.dir.path().join("netrc");
    let fetch_with = |netrc: &Path, store: &str| {
        Command::cargo_bin("pyfod-fetch")
            .unwrap()
            .args(["--python", "python3", "--lock"])
            .arg(&project.lock)
            .arg("--store")
            .arg(project.store(store))
            .env("NETRC", netrc)
            .output()
            .unwrap()
    };
    let output = fetch_with(&netrc, "a");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("401") && stderr.contains("~/.netrc"),
        "{stderr}"
    );
    fs::write(
        &netrc,
        "machine 127.0.0.1\n  login alice\n  password s3cret\n",
    )
    .unwrap();
    let output = fetch_with(&netrc, "b");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains("s3cret"));
}
