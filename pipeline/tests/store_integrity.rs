//! Damage in the store never reaches `--out`: a changed blob, stage tree or
//! unpacked wheel, or a file gone from a cached venv, is found before use,
//! reported, and made again; the hash printed is the hash of what `--out` holds.

#[path = "common/hello.rs"]
mod hello;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn build(store: &Path, out: &Path, prefix: &str) -> Output {
    hello::build_hello(store, prefix)
        .arg("--force")
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn hash_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// What `pyfod hash` says of a tree.
fn hash_tree(tree: &Path) -> String {
    let output = Command::new(assert_cmd::cargo::cargo_bin("pyfod"))
        .arg("hash")
        .arg(tree)
        .output()
        .unwrap();
    hash_of(&output)
}

/// The stage trees of the store: (the install stage's, the scrub stage's).
fn stage_trees(store: &Path) -> (PathBuf, PathBuf) {
    let mut install = None;
    let mut scrub = None;
    for entry in fs::read_dir(store.join("stages")).unwrap() {
        let tree = entry.unwrap().path().join("tree");
        if !tree.join("pyvenv.cfg").is_file() {
            continue;
        }
        if tree.join("bin").is_dir() {
            install = Some(tree);
        } else {
            scrub = Some(tree);
        }
    }
    (install.unwrap(), scrub.unwrap())
}

/// Overwrites a byte of a read-only file, keeping its size.
fn flip_a_byte(path: &Path) {
    let mode = fs::metadata(path).unwrap().permissions().mode();
    fs::set_permissions(path, fs::Permissions::from_mode(mode | 0o200)).unwrap();
    let mut bytes = fs::read(path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

fn site_file(tree: &Path, name: &str) -> PathBuf {
    let lib = tree.join("lib");
    let python = fs::read_dir(&lib).unwrap().next().unwrap().unwrap().path();
    python.join("site-packages").join(name)
}

#[test]
fn damage_anywhere_in_the_store_is_found_reported_and_made_again() {
    type Damage = fn(&Path);
    let cases: [(&str, Damage, &str); 5] = [
        (
            "a byte of a stored wheel",
            |store| {
                let blob = store.join(
                    "blobs/sha256/8540a4cd16776cbd53f5cfd4893f183a9823f55cb4de36c74098d30c81278eaf",
                );
                flip_a_byte(&blob);
            },
            "blob 8540a4cd",
        ),
        (
            "a file of the scrubbed venv",
            |store| flip_a_byte(&site_file(&stage_trees(store).1, "greeting/__init__.py")),
            "greeting/__init__.py",
        ),
        (
            "a file deleted from the installed venv",
            |store| {
                let file = site_file(&stage_trees(store).0, "colorless/__init__.py");
                let dir = file.parent().unwrap();
                fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
                fs::remove_file(file).unwrap();
            },
            "lost an entry",
        ),
        (
            "a file added to the scrubbed venv",
            |store| {
                let evil = site_file(&stage_trees(store).1, "evil.pth");
                fs::write(evil, b"import os\n").unwrap();
            },
            "evil.pth: was added",
        ),
        (
            "the manifest of a stage",
            |store| {
                let (_, scrub) = stage_trees(store);
                let manifest = scrub.parent().unwrap().join("manifest");
                flip_a_byte(&manifest);
            },
            "does not decode",
        ),
    ];
    for (what, damage, said) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        let clean = hash_of(&build(&store, &tmp.path().join("a"), "/opt/hello"));
        damage(&store);
        let again = build(&store, &tmp.path().join("b"), "/opt/hello");
        let stderr = String::from_utf8_lossy(&again.stderr).into_owned();
        assert_eq!(hash_of(&again), clean, "{what}: {stderr}");
        assert!(
            stderr.contains(said),
            "{what}: the damage was not reported: {stderr}"
        );
        assert_eq!(hash_tree(&tmp.path().join("b")), clean, "{what}");
        // And the store is whole again.
        let third = build(&store, &tmp.path().join("c"), "/opt/hello");
        let stderr = String::from_utf8_lossy(&third.stderr).into_owned();
        assert!(!stderr.contains("cannot be used"), "{what}: {stderr}");
    }
}

/// An unpacked wheel is used only when a venv is installed: its damage shows
/// when one is, and the venv is what a clean store makes.
#[test]
fn a_changed_unpacked_wheel_is_unpacked_again_before_an_install() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    hash_of(&build(&store, &tmp.path().join("a"), "/opt/one"));
    let wheel = fs::read_dir(store.join("trees"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("tree/greeting/__init__.py").is_file())
        .unwrap();
    flip_a_byte(&wheel.join("tree/greeting/__init__.py"));
    let output = build(&store, &tmp.path().join("b"), "/opt/two");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(stderr.contains("greeting/__init__.py"), "{stderr}");
    let clean = hash_of(&build(
        &tmp.path().join("clean-store"),
        &tmp.path().join("c"),
        "/opt/two",
    ));
    assert_eq!(hash_of(&output), clean);
}

/// A re-run whose `--out` already holds the result copies nothing; an `--out`
/// changed since is put right.
#[test]
fn out_is_left_alone_when_it_holds_the_result_and_put_right_when_not() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let out = tmp.path().join("out");
    let hash = hash_of(&build(&store, &out, "/opt/hello"));
    let marker = fs::metadata(out.join("pyvenv.cfg")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(hash_of(&build(&store, &out, "/opt/hello")), hash);
    let after = fs::metadata(out.join("pyvenv.cfg")).unwrap();
    assert_eq!(marker.ino(), after.ino(), "--out was copied again");
    fs::write(site_file(&out, "greeting/__init__.py"), b"changed\n").unwrap();
    assert_eq!(hash_of(&build(&store, &out, "/opt/hello")), hash);
    assert_eq!(hash_tree(&out), hash);
}

/// Manifests read back with `--from` are input like any other: a store path
/// that leads out of the store, or a tree other than the one the manifest's hash
/// names, is refused before anything reads it.
#[test]
fn a_crafted_manifest_cannot_lead_out_of_the_store() {
    use pyfod_manifest::{InstallManifest, Manifest, StorePath};
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let manifests = tmp.path().join("manifests");
    let run = |args: &[&str]| {
        hello::build_hello(&store, "/opt/hello")
            .arg("--manifests")
            .arg(&manifests)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&["--to", "install"]).status.success());
    let path = manifests.join("install.manifest");
    let (_, good) = InstallManifest::decode(&fs::read(&path).unwrap()).unwrap();
    let out = tmp.path().join("out");
    let out = out.to_str().unwrap();
    type Craft = fn(&mut InstallManifest);
    let cases: [(&str, Craft, &str); 3] = [
        (
            "out of the store",
            |m| m.tree.store_path = StorePath("../../etc".into()),
            "not the tree of a store entry",
        ),
        (
            "another area",
            |m| m.tree.store_path = StorePath("blobs/sha256/x".into()),
            "not the tree of a store entry",
        ),
        (
            "another hash",
            |m| m.tree.nar_sha256 = pyfod_digest::Sha256::of(b"other"),
            "the manifest says its NAR hash is",
        ),
    ];
    for (what, craft, says) in cases {
        let mut manifest = good.clone();
        craft(&mut manifest);
        fs::write(&path, manifest.encode(None)).unwrap();
        let output = run(&["--from", "scrub", "--out", out]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
        assert!(stderr.contains(says), "{what}: {stderr}");
    }
}

/// The installed venv links the unpacked wheels' files and the scrubbed venv
/// links the installed one's (500 MB of a real venv is not copied twice), so
/// a file scrub rewrites must be a new file: every tree still holds what its
/// index says, and what leaves the store shares no file with it.
#[test]
fn linked_trees_in_the_store_stay_whole_and_out_owns_its_files() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let out = tmp.path().join("out");
    hash_of(&build(&store, &out, "/opt/hello"));
    let (install, scrub) = stage_trees(&store);
    let module = "greeting/__init__.py";
    assert!(
        fs::metadata(site_file(&scrub, module)).unwrap().nlink() > 2,
        "an unchanged file is one file in the unpacked wheel, the venv and the scrubbed venv"
    );
    // Scrub rewrites each RECORD (the rows of the removed `bin/` go): the
    // installed one must be left as it was.
    let dist_info = fs::read_dir(site_file(&scrub, ""))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with("greeting") && n.ends_with(".dist-info"))
        .unwrap();
    let record = format!("{dist_info}/RECORD");
    let (installed, scrubbed) = (
        fs::read(site_file(&install, &record)).unwrap(),
        fs::read(site_file(&scrub, &record)).unwrap(),
    );
    assert_ne!(installed, scrubbed, "scrub did not rewrite {record}");
    let verify = Command::new(assert_cmd::cargo::cargo_bin("pyfod"))
        .arg("--store")
        .arg(&store)
        .args(["store", "verify"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "{said}");
    assert!(said.contains(": 0 damaged"), "{said}");
    for entry in walkdir(&out) {
        let meta = entry.symlink_metadata().unwrap();
        if meta.is_file() {
            assert_eq!(meta.nlink(), 1, "{} is shared", entry.display());
        }
    }
}

/// Every path under `root`.
fn walkdir(root: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.symlink_metadata().unwrap().is_dir() {
                stack.push(path.clone());
            }
            all.push(path);
        }
    }
    all
}
