//! Installing through the store's unpacked wheels: the same tree as straight from
//! the zips, cold or warm, by copy or by hard link; a corrupt wheel never enters
//! the store.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use pyfod_install::unpacked::{LinkMode, UnpackedWheels};
use pyfod_install::{InstallError, Interpreter, Layout, WheelInput, install, install_with};
use pyfod_tests::uvproject::make_dist;

fn layout() -> Layout {
    Layout {
        prefix: "/opt/app/venv".into(),
        prompt: None,
        compat: None,
        collisions: Default::default(),
        project_dir: None,
        limits: Default::default(),
    }
}

fn wheel(dir: &Path, name: &str, options: &[&str]) -> WheelInput {
    let mut args = vec!["wheel", name, "1.0"];
    args.extend_from_slice(options);
    make_dist(dir, &args);
    let filename = format!("{name}-1.0-py3-none-any.whl");
    let file = dir.join(&filename);
    WheelInput {
        name: name.to_owned(),
        version: "1.0".to_owned(),
        sha256: pyfod_digest::Sha256::of(&fs::read(&file).unwrap()),
        filename,
        file,
        source: None,
        built: false,
    }
}

fn hash(root: &Path) -> pyfod_digest::Sha256 {
    pyfod_nar::hash_path(root, &Default::default(), None)
        .unwrap()
        .nar_sha256
}

#[test]
fn cold_warm_copied_and_linked_installs_are_one_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let dists = tmp.path().join("dists");
    fs::create_dir_all(&dists).unwrap();
    let wheels = vec![
        wheel(
            &dists,
            "alpha",
            &[
                "--script",
                "alpha=alpha:main",
                "--file",
                "alpha-1.0.data/scripts/run=#!python\\nprint(1)\\n",
            ],
        ),
        wheel(&dists, "beta", &["--payload", "20:40000"]),
    ];
    let python = Interpreter::probe("python3").unwrap();
    let store = pyfod_store::Store::open(&tmp.path().join("store")).unwrap();
    let unpacked = UnpackedWheels::new(store.clone());

    let direct = tmp.path().join("direct");
    fs::create_dir(&direct).unwrap();
    install(&wheels, &direct, &layout(), &python).unwrap();
    let mut trees = Vec::new();
    for (name, mode) in [
        ("cold", LinkMode::Copy),
        ("warm", LinkMode::Copy),
        ("linked", LinkMode::Hardlink),
    ] {
        let root = tmp.path().join(name);
        fs::create_dir(&root).unwrap();
        install_with(&wheels, &root, &layout(), &python, Some((&unpacked, mode))).unwrap();
        assert_eq!(hash(&root), hash(&direct), "{name}");
        trees.push(root);
    }
    // The script was rewritten, so it is the venv's own even when linking.
    let site = "lib/python3.11/site-packages";
    let module = |root: &Path| fs::metadata(root.join(format!("{site}/beta/__init__.py")));
    if let Ok(copied) = module(&trees[1]) {
        assert_eq!(copied.nlink(), 1, "a copy owns its file");
        assert!(
            module(&trees[2]).unwrap().nlink() > 1,
            "a hard link shares the store's"
        );
        assert_eq!(fs::metadata(trees[2].join("bin/run")).unwrap().nlink(), 1);
    }
    let cached = fs::read_dir(store.root().join("trees")).unwrap().count();
    assert_eq!(cached, 2, "one unpacked tree per wheel");
}

#[test]
fn a_corrupt_wheel_never_enters_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dists = tmp.path().join("dists");
    fs::create_dir_all(&dists).unwrap();
    let bad = wheel(&dists, "gamma", &["--corrupt", "gamma/__init__.py"]);
    let python = Interpreter::probe("python3").unwrap();
    let store = pyfod_store::Store::open(&tmp.path().join("store")).unwrap();
    let unpacked = UnpackedWheels::new(store.clone());
    let root = tmp.path().join("venv");
    fs::create_dir(&root).unwrap();
    let error = install_with(
        &[bad],
        &root,
        &layout(),
        &python,
        Some((&unpacked, LinkMode::Copy)),
    )
    .unwrap_err();
    assert!(
        matches!(&error, InstallError::RecordMismatch { path, .. } if path == "gamma/__init__.py"),
        "{error}"
    );
    let trees = fs::read_dir(store.root().join("trees"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(trees, 0);
}
