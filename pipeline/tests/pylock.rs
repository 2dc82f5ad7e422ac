//! `pylock.toml` (PEP 751) as input, against its real writers: `uv export
//! --format pylock.toml` of a uv.lock builds the venv the uv.lock builds, to
//! the hash; `pip lock`'s lock builds what `pip install -r pylock.toml`
//! installs; markers, extras, groups and a git source select as the PEP says;
//! malformed locks are refused with the file, and where.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pyfod_tests::index::PackageIndex;
use pyfod_tests::oracle::announce_skip;
use pyfod_tests::uvproject::{make_dist, uv_ok};

fn pyfod(store: &Path, args: &[&str]) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin("pyfod"))
        .env_remove("RUST_LOG")
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout_ok(output: &Output) -> String {
    assert!(output.status.success(), "pyfod failed:\n{}", stderr(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `pyfod build` of `lock` into `out`; the hash.
fn build(store: &Path, lock: &Path, out: &Path, extra: &[&str]) -> String {
    let lock = lock.to_str().unwrap();
    let out = out.to_str().unwrap();
    let mut args = vec![
        "build",
        "--python",
        "python3",
        "--prefix",
        "/opt/pylock-venv",
    ];
    args.extend(["--lock", lock, "--out", out, "--force"]);
    args.extend(extra);
    stdout_ok(&pyfod(store, &args)).trim().to_owned()
}

/// `pyfod fetch --lock LOCK --manifest MANIFEST`, as it ended.
fn fetch(store: &Path, lock: &Path, manifest: &Path) -> Output {
    let args = [
        "fetch",
        "--python",
        "python3",
        "--lock",
        lock.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
    ];
    pyfod(store, &args)
}

/// [`fetch`], then its manifest as `pyfod manifest show` prints it.
fn fetch_manifest(store: &Path, lock: &Path, manifest: &Path) -> String {
    stdout_ok(&fetch(store, lock, manifest));
    stdout_ok(&pyfod(
        store,
        &["manifest", "show", manifest.to_str().unwrap()],
    ))
}

/// The packages a fetch manifest names, with each artifact's digest.
fn fetched(store: &Path, lock: &Path, dir: &Path) -> Vec<(String, String)> {
    let manifest = dir.join(format!(
        "{}.manifest",
        lock.file_name().unwrap().to_str().unwrap()
    ));
    let json = fetch_manifest(store, lock, &manifest);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut out: Vec<(String, String)> = json["manifest"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let artifact = &p["artifact"];
            let digest = ["Wheel", "Sdist"]
                .iter()
                .find_map(|k| artifact[k]["sha256"].as_str())
                .or_else(|| artifact["Tree"]["tree"]["nar_sha256"].as_str())
                .unwrap_or("?")
                .to_owned();
            (p["name"].as_str().unwrap().to_owned(), digest)
        })
        .collect();
    out.sort();
    out
}

fn has(tool: &str, test: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        announce_skip(test, tool);
    }
    ok
}

#[test]
fn uv_export_of_the_bundled_example_builds_the_same_venv_to_the_hash() {
    if !has("uv", "uv_export_of_the_bundled_example") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("hello");
    let status = Command::new("cp")
        .arg("-a")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello"))
        .arg(&project)
        .status()
        .unwrap();
    assert!(status.success());
    uv_ok(
        &project,
        &tmp.path().join("uv-cache"),
        &[
            "export",
            "--format",
            "pylock.toml",
            "--frozen",
            "--no-emit-project",
            "--offline",
            "--quiet",
            "-o",
            "pylock.toml",
        ],
    );
    let store = tmp.path().join("store");
    let from_uv_lock = build(&store, &project.join("uv.lock"), &tmp.path().join("a"), &[]);
    let from_pylock = build(
        &store,
        &project.join("pylock.toml"),
        &tmp.path().join("b"),
        &[],
    );
    assert_eq!(from_pylock, from_uv_lock);
    assert_eq!(
        fetched(&store, &project.join("pylock.toml"), tmp.path()),
        fetched(&store, &project.join("uv.lock"), tmp.path()),
        "the two locks fetch different packages or artifacts"
    );
}

/// Wheels and an sdist on the tests' index: alpha needs beta; gamma is an
/// extra of the project, delta its `dev` group, winonly for Windows.
fn registry_project(tmp: &Path) -> (PackageIndex, PathBuf) {
    let dists = tmp.join("dists");
    fs::create_dir_all(&dists).unwrap();
    make_dist(&dists, &["wheel", "alpha", "1.0", "--requires", "beta>=2"]);
    make_dist(&dists, &["wheel", "beta", "2.0"]);
    make_dist(&dists, &["wheel", "beta", "1.0"]);
    make_dist(&dists, &["wheel", "gamma", "1.0"]);
    make_dist(&dists, &["wheel", "delta", "3.1"]);
    make_dist(&dists, &["wheel", "winonly", "1.0"]);
    make_dist(&dists, &["sdist", "plainpkg", "1.0"]);
    let index = PackageIndex::serve(&dists).unwrap();
    let app = tmp.join("app");
    fs::create_dir_all(&app).unwrap();
    fs::write(
        app.join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\n\
         dependencies = [\"alpha\", \"plainpkg\", \"winonly; sys_platform == 'win32'\"]\n\
         [project.optional-dependencies]\nx = [\"gamma\"]\n\
         [dependency-groups]\ndev = [\"delta\"]\n\n[tool.uv]\npackage = false\n",
    )
    .unwrap();
    uv_ok(
        &app,
        &tmp.join("uv-cache"),
        &["lock", "--index-url", &index.url(), "--python", "python3"],
    );
    (index, app)
}

#[test]
fn uv_export_of_a_registry_lock_builds_the_same_venv_to_the_hash() {
    if !has("uv", "uv_export_of_a_registry_lock") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_index, app) = registry_project(tmp.path());
    let cache = tmp.path().join("uv-cache");
    let store = tmp.path().join("store");
    // pyfod's default is uv sync's with --no-dev; the export says the same.
    for (file, flags) in [
        ("pylock.toml", vec!["--no-dev"]),
        ("pylock.all.toml", vec!["--all-extras", "--all-groups"]),
    ] {
        let mut args = vec!["export", "--format", "pylock.toml", "--frozen"];
        args.extend(["--no-emit-project", "--quiet", "-o", file]);
        args.extend(flags);
        uv_ok(&app, &cache, &args);
    }
    let from_uv_lock = build(&store, &app.join("uv.lock"), &tmp.path().join("a"), &[]);
    let from_pylock = build(&store, &app.join("pylock.toml"), &tmp.path().join("b"), &[]);
    assert_eq!(from_pylock, from_uv_lock);
    assert_eq!(
        fetched(&store, &app.join("pylock.toml"), tmp.path()),
        fetched(&store, &app.join("uv.lock"), tmp.path())
    );
    // lock-build reads the fetch of a pylock.toml, and the pylock.toml itself
    // (which has no build constraints), as it reads a uv.lock's.
    let manifest = tmp.path().join("pylock.fetch.manifest");
    let (lock, manifest_arg) = (
        app.join("pylock.toml"),
        manifest.to_str().unwrap().to_owned(),
    );
    stdout_ok(&fetch(&store, &lock, &manifest));
    let build_dir = tmp.path().join("build-locks");
    let lock_build = pyfod(
        &store,
        &[
            "lock-build",
            "--in",
            &manifest_arg,
            "--lock",
            lock.to_str().unwrap(),
            "--out",
            build_dir.to_str().unwrap(),
        ],
    );
    assert!(
        lock_build.status.success(),
        "lock-build: {}",
        stderr(&lock_build)
    );

    let everything = ["--all-extras", "--group", "dev"];
    let from_uv_lock = build(
        &store,
        &app.join("uv.lock"),
        &tmp.path().join("c"),
        &everything,
    );
    let from_pylock = build(
        &store,
        &app.join("pylock.all.toml"),
        &tmp.path().join("d"),
        &[],
    );
    assert_eq!(from_pylock, from_uv_lock);
    let names: Vec<String> = pyfod_tests::uvproject::installed(&tmp.path().join("d"))
        .into_iter()
        .map(|i| format!("{}=={}", i.name, i.version))
        .collect();
    assert_eq!(
        names,
        [
            "alpha==1.0",
            "beta==2.0",
            "delta==3.1",
            "gamma==1.0",
            "plainpkg==1.0"
        ]
    );
}

/// `*.dist-info` names in a directory, as `name==version`, sorted.
fn dist_infos(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".dist-info")?;
            let (n, v) = stem.split_once('-')?;
            Some(format!("{}=={v}", n.to_lowercase().replace('_', "-")))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn pip_lock_builds_what_pip_installs_from_it() {
    let test = "pip_lock_builds_what_pip_installs_from_it";
    let pip_lock = Command::new("python3")
        .args(["-m", "pip", "lock", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !pip_lock {
        announce_skip(test, "pip >= 25.1 (pip lock)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (index, _app) = registry_project(tmp.path());
    let dir = tmp.path().join("piplock");
    fs::create_dir_all(&dir).unwrap();
    let pip = |args: &[&str]| {
        let output = Command::new("python3")
            .args(["-m", "pip"])
            .args(args)
            .args([
                "--index-url",
                &index.url(),
                "--disable-pip-version-check",
                "--quiet",
            ])
            .env("PIP_CONFIG_FILE", "/dev/null")
            .env("PIP_NO_CACHE_DIR", "1")
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(output.status.success(), "pip {args:?}: {}", stderr(&output));
    };
    pip(&["lock", "alpha", "gamma", "-o", "pylock.toml"]);
    let store = tmp.path().join("store");
    build(
        &store,
        &dir.join("pylock.toml"),
        &tmp.path().join("venv"),
        &[],
    );
    let ours: Vec<String> = pyfod_tests::uvproject::installed(&tmp.path().join("venv"))
        .into_iter()
        .map(|i| format!("{}=={}", i.name, i.version))
        .collect();
    // pip >= 26.1 installs from the lock; before that, the lock's list is the reference.
    let pip_reads_pylock = Command::new("python3")
        .args([
            "-c",
            "import pip,sys; sys.exit(tuple(map(int, pip.__version__.split('.')[:2])) < (26, 1))",
        ])
        .status()
        .is_ok_and(|s| s.success());
    let theirs = if pip_reads_pylock {
        let target = tmp.path().join("pip-target");
        pip(&[
            "install",
            "--target",
            target.to_str().unwrap(),
            "-r",
            "pylock.toml",
        ]);
        dist_infos(&target)
    } else {
        let lock: toml::Value =
            toml::from_str(&fs::read_to_string(dir.join("pylock.toml")).unwrap()).unwrap();
        let mut listed: Vec<String> = lock["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{}=={}",
                    p["name"].as_str().unwrap(),
                    p["version"].as_str().unwrap()
                )
            })
            .collect();
        listed.sort();
        listed
    };
    assert_eq!(ours, theirs);
    assert_eq!(ours, ["alpha==1.0", "beta==2.0", "gamma==1.0"]);
}

/// A wheel of the tests' fixtures in `dir`; its file name and SHA-256.
fn wheel(dir: &Path, name: &str, version: &str) -> (String, String) {
    make_dist(dir, &["wheel", name, version]);
    let file = format!("{name}-{version}-py3-none-any.whl");
    let digest = pyfod_digest::Sha256::of(&fs::read(dir.join(&file)).unwrap()).to_hex();
    (file, digest)
}

/// `pyfod fetch --dry-run`'s packages for `lock` with `flags`, or its error.
fn planned(lock: &Path, flags: &[&str]) -> Result<Vec<String>, String> {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec![
        "fetch",
        "--dry-run",
        "--python",
        "python3",
        "--lock",
        lock.to_str().unwrap(),
    ];
    args.extend(flags);
    let output = pyfod(&tmp.path().join("store"), &args);
    if !output.status.success() {
        return Err(stderr(&output));
    }
    let mut names: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split("==").next().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

#[test]
fn markers_extras_and_groups_select_as_the_pep_says() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut text = String::from(
        "lock-version = \"1.0\"\ncreated-by = \"hand\"\nrequires-python = \">=3.8\"\n\
         extras = [\"x\"]\ndependency-groups = [\"dev\"]\ndefault-groups = [\"base\"]\n",
    );
    let packages = [
        ("always", None),
        ("with-x", Some("'x' in extras")),
        ("without-x", Some("'x' not in extras")),
        ("dev-only", Some("'dev' in dependency_groups")),
        ("base-only", Some("'base' in dependency_groups")),
        ("windows", Some("sys_platform == 'win32'")),
        (
            "x-on-linux",
            Some("\"x\" in extras and sys_platform == 'linux'"),
        ),
    ];
    for (name, marker) in packages {
        let (file, digest) = wheel(dir, &name.replace('-', "_"), "1.0");
        text.push_str(&format!(
            "\n[[packages]]\nname = \"{name}\"\nversion = \"1.0\"\n{}archive = {{ path = \"{file}\", hashes = {{ sha256 = \"{digest}\" }} }}\n",
            marker.map(|m| format!("marker = \"{}\"\n", m.replace('"', "\\\""))).unwrap_or_default()
        ));
    }
    let lock = dir.join("pylock.toml");
    fs::write(&lock, &text).unwrap();
    assert_eq!(
        planned(&lock, &[]).unwrap(),
        ["always", "base-only", "without-x"]
    );
    assert_eq!(
        planned(&lock, &["--extra", "x"]).unwrap(),
        ["always", "base-only", "with-x", "x-on-linux"]
    );
    // Asking for a group replaces the default groups, as uv and pip do.
    assert_eq!(
        planned(&lock, &["--group", "dev"]).unwrap(),
        ["always", "dev-only", "without-x"]
    );
    assert_eq!(
        planned(
            &lock,
            &["--all-extras", "--group", "dev", "--group", "base"]
        )
        .unwrap(),
        ["always", "base-only", "dev-only", "with-x", "x-on-linux"]
    );
    let error = planned(&lock, &["--extra", "y"]).unwrap_err();
    assert!(
        error.contains("--extra y: the lock's extras are [x]"),
        "{error}"
    );

    // Built and installed, not only planned.
    let store = dir.join("store");
    build(&store, &lock, &dir.join("venv"), &["--extra", "x"]);
    let names: Vec<String> = pyfod_tests::uvproject::installed(&dir.join("venv"))
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["always", "base-only", "with-x", "x-on-linux"]);
}

#[test]
fn a_git_source_is_checked_out_at_its_commit() {
    if !has("git", "a_git_source_is_checked_out_at_its_commit") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let commit = pyfod_tests::sources::git_repository("gitpkg", &repo);
    let lock = tmp.path().join("pylock.toml");
    fs::write(
        &lock,
        format!(
            "lock-version = \"1.0\"\ncreated-by = \"hand\"\n\n[[packages]]\nname = \"gitpkg\"\n\
             vcs = {{ type = \"git\", path = \"repo\", requested-revision = \"main\", commit-id = \"{commit}\" }}\n"
        ),
    )
    .unwrap();
    let store = tmp.path().join("store");
    let manifest = tmp.path().join("fetch.manifest");
    let json = fetch_manifest(&store, &lock, &manifest);
    assert!(json.contains(&commit), "{json}");
    assert!(
        json.contains(&format!("file://{}", repo.display())),
        "{json}"
    );

    // A commit the repository does not have is an error, not another checkout.
    let wrong = fs::read_to_string(&lock)
        .unwrap()
        .replace(&commit, &"0".repeat(40));
    fs::write(&lock, wrong).unwrap();
    assert!(!fetch(&store, &lock, &manifest).status.success());
}

#[test]
fn malformed_locks_are_refused_naming_the_file_and_the_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (file, digest) = wheel(dir, "always", "1.0");
    let package = format!(
        "[[packages]]\nname = \"always\"\nversion = \"1.0\"\narchive = {{ path = \"{file}\", hashes = {{ sha256 = \"{digest}\" }} }}\n"
    );
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "a major version pyfod does not read",
            format!("lock-version = \"2.0\"\ncreated-by = \"x\"\n{package}"),
            "lock-version 2.0 is not supported",
        ),
        (
            "no created-by",
            format!("lock-version = \"1.0\"\n{package}"),
            "created-by",
        ),
        (
            "a file without hashes",
            "lock-version = \"1.0\"\ncreated-by = \"x\"\n[[packages]]\nname = \"always\"\nversion = \"1.0\"\narchive = { path = \"always-1.0-py3-none-any.whl\" }\n".to_owned(),
            "line 6",
        ),
        (
            "a package twice",
            format!("lock-version = \"1.0\"\ncreated-by = \"x\"\n{package}{package}"),
            "`always` is listed more than once",
        ),
        (
            "two kinds of source",
            format!("lock-version = \"1.0\"\ncreated-by = \"x\"\n{package}directory = {{ path = \".\" }}\n"),
            "more than one kind of source",
        ),
        (
            "a Python the lock excludes",
            format!("lock-version = \"1.0\"\ncreated-by = \"x\"\nrequires-python = \"<3\"\n{package}"),
            "the lock requires Python <3",
        ),
        (
            "an environment the target is not in",
            format!("lock-version = \"1.0\"\ncreated-by = \"x\"\nenvironments = [\"sys_platform == 'win32'\"]\n{package}"),
            "none of the lock's environments",
        ),
        (
            "a marker using extra",
            format!("lock-version = \"1.0\"\ncreated-by = \"x\"\n{package}marker = \"extra == 'x'\"\n"),
            "`extra` variable is not defined in a lock file",
        ),
    ];
    let lock = dir.join("pylock.toml");
    for (what, text, expected) in cases {
        fs::write(&lock, text).unwrap();
        let error = planned(&lock, &[]).expect_err(what);
        assert!(error.contains(expected), "{what}: {error}");
        assert!(
            error.contains("pylock.toml"),
            "{what}: the file is not named: {error}"
        );
    }
    // A size the file does not have: its hash matched, the lock is wrong.
    let size = fs::metadata(dir.join(&file)).unwrap().len();
    fs::write(
        &lock,
        format!("lock-version = \"1.0\"\ncreated-by = \"x\"\n{package}")
            .replace("hashes = {", &format!("size = {}, hashes = {{", size + 1)),
    )
    .unwrap();
    let fetch = pyfod(
        &dir.join("store"),
        &[
            "fetch",
            "--python",
            "python3",
            "--lock",
            lock.to_str().unwrap(),
        ],
    );
    assert!(!fetch.status.success());
    assert!(
        stderr(&fetch).contains(&format!("is {size} bytes, but the lock says {}", size + 1)),
        "{}",
        stderr(&fetch)
    );

    // A newer minor version is read, with a warning.
    fs::write(
        &lock,
        format!("lock-version = \"1.7\"\ncreated-by = \"x\"\n{package}"),
    )
    .unwrap();
    assert_eq!(planned(&lock, &[]).unwrap(), ["always"]);
}
