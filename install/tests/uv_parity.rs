//! pyfod install against `uv sync` on the same lock, the same wheels and the same
//! prefix: the same files with the same bytes and modes, but for a short list of
//! differences, each documented in ARCHITECTURE.md.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use pyfod_tests::index::PackageIndex;
use pyfod_tests::oracle::tool_available;
use pyfod_tests::uvproject::{make_dist, uv_ok};

/// Every entry of a tree: path → (kind and mode, contents or target).
fn listing(root: &Path) -> BTreeMap<String, (String, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = entry.path().symlink_metadata().unwrap();
            if meta.is_dir() {
                stack.push(path);
                out.insert(rel, ("dir".to_owned(), Vec::new()));
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap();
                out.insert(
                    rel,
                    (
                        "symlink".to_owned(),
                        target.to_string_lossy().as_bytes().to_vec(),
                    ),
                );
            } else {
                let mode = meta.permissions().mode() & 0o777;
                out.insert(rel, (format!("file {mode:o}"), fs::read(&path).unwrap()));
            }
        }
    }
    out
}

#[test]
fn same_files_as_uv_sync_but_the_documented_differences() {
    if !tool_available("uv", "same_files_as_uv_sync") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let (dists, root) = (t.join("dists"), t.join("app"));
    fs::create_dir_all(&dists).unwrap();
    fs::create_dir_all(&root).unwrap();
    make_dist(
        &dists,
        &[
            "wheel",
            "alpha",
            "1.0",
            "--requires",
            "gamma",
            "--script",
            "hello=alpha:main",
        ],
    );
    make_dist(
        &dists,
        &["wheel", "gamma", "2.0", "--script", "gamma-tool=gamma:main"],
    );
    let index = PackageIndex::serve(&dists).unwrap();
    fs::write(
        root.join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"alpha\"]\n\n[tool.uv]\npackage = false\n",
    )
    .unwrap();
    let cache = t.join("uv-cache");
    uv_ok(
        &root,
        &cache,
        &["lock", "--index-url", &index.url(), "--python", "python3"],
    );

    // uv's venv, at the prefix both will name.
    let prefix = t.join("venv");
    let output = Command::new("uv")
        .args([
            "sync",
            "--frozen",
            "--no-install-project",
            "--no-dev",
            "--quiet",
            "--python",
            "python3",
            "--index-url",
            &index.url(),
        ])
        .current_dir(&root)
        .env("UV_CACHE_DIR", &cache)
        .env("UV_NO_CONFIG", "1")
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_PROJECT_ENVIRONMENT", &prefix)
        .env("UV_LINK_MODE", "copy")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let theirs = listing(&prefix);

    // pyfod's, built elsewhere for the same prefix.
    let store = t.join("store");
    let manifest = t.join("fetch.manifest");
    let pyfod = |args: &[&str]| {
        let output = assert_cmd::Command::cargo_bin("pyfod")
            .unwrap()
            .arg("--store")
            .arg(&store)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pyfod {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let lock = root.join("uv.lock");
    pyfod(&[
        "fetch",
        "--python",
        "python3",
        "--lock",
        lock.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
    ]);
    let ours_dir = t.join("built-elsewhere");
    pyfod(&[
        "install",
        "--in",
        manifest.to_str().unwrap(),
        "--out",
        ours_dir.to_str().unwrap(),
        "--python",
        "python3",
        "--prefix",
        prefix.to_str().unwrap(),
    ]);
    let ours = listing(&ours_dir);

    // The differences, each with its reason in ARCHITECTURE.md.
    let documented = |path: &str| {
        path == "pyvenv.cfg"
            || path == ".lock"
            || path.starts_with("bin/activate")
            || path.starts_with("bin/deactivate")
            || path == "bin/pydoc.bat"
            || path.ends_with(".dist-info/INSTALLER")
            || path.ends_with(".dist-info/REQUESTED")
            || path.ends_with(".dist-info/RECORD")
            || path.ends_with(".dist-info/uv_cache.json")
    };
    let mut differences = Vec::new();
    for path in theirs
        .keys()
        .chain(ours.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if documented(path) {
            continue;
        }
        if theirs.get(path) != ours.get(path) {
            differences.push(path.clone());
        }
    }
    assert_eq!(differences, Vec::<String>::new());
    // The RECORDs differ only in the rows of those files.
    for (path, (_, bytes)) in theirs.iter().filter(|(p, _)| p.ends_with("/RECORD")) {
        let keep = |text: &[u8]| -> Vec<String> {
            String::from_utf8_lossy(text)
                .lines()
                .filter(|l| {
                    !["INSTALLER,", "REQUESTED,", "uv_cache.json,"]
                        .iter()
                        .any(|d| l.contains(d))
                })
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(keep(&ours[path].1), keep(bytes), "{path}");
    }

    // With --compat uv=<that uv>, nothing differs outside bin/: the seed's FOD,
    // which deletes bin/, keeps its hash when it moves to pyfod.
    let uv_version =
        String::from_utf8(Command::new("uv").arg("--version").output().unwrap().stdout).unwrap();
    let uv_version = uv_version.split_whitespace().nth(1).unwrap().to_owned();
    let compat_dir = t.join("compat");
    pyfod(&[
        "install",
        "--in",
        manifest.to_str().unwrap(),
        "--out",
        compat_dir.to_str().unwrap(),
        "--python",
        "python3",
        "--prefix",
        prefix.to_str().unwrap(),
        "--prompt",
        "app",
        "--compat",
        &format!("uv={uv_version}"),
    ]);
    let without_bin = |tree: &Path| {
        let copy = t.join(format!(
            "{}-no-bin",
            tree.file_name().unwrap().to_string_lossy()
        ));
        pyfod_store::copy_tree(tree, &copy).unwrap();
        fs::remove_dir_all(copy.join("bin")).unwrap();
        pyfod_nar::hash_path(&copy, &Default::default(), None)
            .unwrap()
            .nar_sha256
    };
    assert_eq!(without_bin(&compat_dir), without_bin(&prefix));

    // And the venv works where it was built for: move it there and run it.
    fs::remove_dir_all(&prefix).unwrap();
    fs::rename(&ours_dir, &prefix).unwrap();
    let run = Command::new(prefix.join("bin/hello")).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello from alpha 1.0\n"
    );
    let import = Command::new(prefix.join("bin/python"))
        .args(["-c", "import alpha, gamma, sys; print(sys.prefix)"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&import.stdout).trim(),
        prefix.to_string_lossy()
    );

    // bin/activate puts the venv first on PATH and deactivate takes it away.
    let shell = Command::new("bash")
        .arg("-c")
        .arg(". bin/activate && python -c 'import sys; print(sys.prefix)' && echo \"$VIRTUAL_ENV\" && deactivate && echo \"[${VIRTUAL_ENV:-}]\"")
        .current_dir(&prefix)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shell.stdout);
    let prefix_text = prefix.to_string_lossy();
    assert_eq!(
        text,
        format!("{prefix_text}\n{prefix_text}\n[]\n"),
        "{shell:?}"
    );
}
