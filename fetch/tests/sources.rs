//! Git and local-directory sources: checked out at the locked commit, copied
//! into the store, and named by content.

use std::fs;
use std::path::Path;
use std::process::Command;

use pyfod_manifest::{Artifact, FetchManifest, Manifest};
use pyfod_tests::oracle::tool_available;
use pyfod_tests::uvproject::{make_dist, uv_ok};

/// Unpacks an sdist made by make-dist into `dir`: a buildable project.
fn project_from_sdist(dists: &Path, name: &str, dir: &Path) {
    make_dist(dists, &["sdist", name, "1.0"]);
    fs::create_dir_all(dir).unwrap();
    let status = Command::new("tar")
        .args(["-x", "--strip-components=1", "-f"])
        .arg(dists.join(format!("{name}-1.0.tar.gz")))
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn git_and_directory_sources_become_store_trees() {
    if !(tool_available("uv", "git_and_directory_sources")
        && tool_available("git", "git_and_directory_sources"))
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let dists = t.join("dists");
    fs::create_dir_all(&dists).unwrap();
    let repo = t.join("octo-repo");
    project_from_sdist(&dists, "octo", &repo.join("python"));
    fs::write(
        repo.join("README"),
        "a repository with the package in a subdirectory\n",
    )
    .unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    git(&repo, &["tag", "v1"]);
    let commit = git(&repo, &["rev-parse", "HEAD"]);
    // A later commit the lock does not ask for.
    fs::write(repo.join("README"), "changed\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "two"]);

    project_from_sdist(&dists, "loco", &t.join("loco"));
    let root = t.join("app");
    fs::create_dir_all(&root).unwrap();
    fs::write(
        root.join("pyproject.toml"),
        format!(
            "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"octo\", \"loco\"]\n\n\
             [tool.uv]\npackage = false\n\n[tool.uv.sources]\n\
             octo = {{ git = \"file://{}\", tag = \"v1\", subdirectory = \"python\" }}\nloco = {{ path = \"../loco\" }}\n",
            repo.display()
        ),
    )
    .unwrap();
    uv_ok(
        &root,
        &t.join("uv-cache"),
        &["lock", "--no-index", "--python", "python3"],
    );

    let store = t.join("store");
    let manifest_path = t.join("fetch.manifest");
    let fetch = |extra: &[&str]| {
        assert_cmd::Command::cargo_bin("pyfod-fetch")
            .unwrap()
            .args(["--python", "python3", "--lock"])
            .arg(root.join("uv.lock"))
            .arg("--store")
            .arg(&store)
            .arg("--manifest")
            .arg(&manifest_path)
            .args(extra)
            .output()
            .unwrap()
    };
    let output = fetch(&[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (_, manifest) = FetchManifest::decode(&fs::read(&manifest_path).unwrap()).unwrap();
    let tree_of = |name: &str| {
        let package = manifest.packages.iter().find(|p| p.name == name).unwrap();
        match &package.artifact {
            Artifact::Tree {
                tree,
                commit,
                subdirectory,
            } => (tree.clone(), commit.clone(), subdirectory.clone()),
            other => panic!("{name}: {other:?}"),
        }
    };
    let (octo, octo_commit, subdirectory) = tree_of("octo");
    assert_eq!(octo_commit.as_deref(), Some(commit.as_str()));
    assert_eq!(subdirectory.as_deref(), Some("python"));
    let checkout = store.join(&octo.store_path.0);
    assert!(
        checkout.join("pyproject.toml").is_file(),
        "the subdirectory is the tree"
    );
    assert!(!checkout.join("README").exists());
    let nar = pyfod_nar::hash_path(&checkout, &Default::default(), None).unwrap();
    assert_eq!(nar.nar_sha256, octo.nar_sha256);

    let (loco, commit, _) = tree_of("loco");
    assert!(commit.is_none());
    assert!(
        store
            .join(&loco.store_path.0)
            .join("pyproject.toml")
            .is_file()
    );

    // The commit is in the store's clone now: offline works, and the same trees come back.
    let output = fetch(&["--offline"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (_, again) = FetchManifest::decode(&fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(again, manifest);

    // A change to the local project is a new tree.
    fs::write(t.join("loco/loco_extra.py"), "X = 1\n").unwrap();
    assert!(fetch(&[]).status.success());
    let (_, changed) = FetchManifest::decode(&fs::read(&manifest_path).unwrap()).unwrap();
    assert_ne!(changed, manifest);
}
