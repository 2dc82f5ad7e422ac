//! The `pyfod` command across stages: manifest show, diff, and the stages still
//! to come saying so.

#[path = "common/hello.rs"]
mod hello;

use std::fs;
use std::path::Path;

use assert_cmd::Command;

fn pyfod() -> Command {
    let mut command = Command::cargo_bin("pyfod").unwrap();
    command.env_remove("RUST_LOG");
    command
}

/// `pyfod build` of the bundled example, for the prefix `/opt/hello`, on `store`:
/// add `--out` and whatever else the test needs.
fn build_hello(store: &Path) -> std::process::Command {
    hello::build_hello(store, "/opt/hello")
}

fn tree(root: &Path, data: &[u8]) {
    fs::create_dir_all(root.join("lib/site-packages")).unwrap();
    fs::write(root.join("lib/site-packages/mod.py"), data).unwrap();
    fs::write(root.join("pyvenv.cfg"), b"home = /usr/bin\n").unwrap();
}

#[test]
fn hash_manifest_shows_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    tree(&tmp.path().join("venv"), b"print('hi')\n");
    let manifest = tmp.path().join("hash.manifest");
    pyfod()
        .args(["hash", "--manifest"])
        .arg(&manifest)
        .arg(tmp.path().join("venv"))
        .assert()
        .success();
    let output = pyfod()
        .args(["manifest", "show"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["stage"], "hash");
    let entries = json["manifest"]["entries"].as_array().unwrap();
    let paths: Vec<&str> = entries
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "",
            "lib",
            "lib/site-packages",
            "lib/site-packages/mod.py",
            "pyvenv.cfg"
        ]
    );
    assert_eq!(entries[3]["node"]["regular"]["size"], 12);
}

#[test]
fn manifest_show_explains_a_file_that_is_not_one() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("uv.lock");
    fs::write(&file, "version = 1\n").unwrap();
    let output = pyfod()
        .args(["manifest", "show"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("uv.lock is not a usable manifest"),
        "{stderr}"
    );
    assert!(
        stderr.contains("caused by: not a pyfod manifest"),
        "{stderr}"
    );
}

#[test]
fn diff_compares_trees_and_manifests_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    tree(&old, b"print('hi')\n");
    tree(&new, b"print('hello')\n");
    fs::write(new.join("lib/added.txt"), b"").unwrap();
    let old_manifest = tmp.path().join("old.manifest");
    pyfod()
        .args(["hash", "--manifest"])
        .arg(&old_manifest)
        .arg(&old)
        .assert()
        .success();

    for old_side in [old.as_path(), old_manifest.as_path()] {
        let output = pyfod()
            .arg("diff")
            .arg(old_side)
            .arg(&new)
            .output()
            .unwrap();
        assert!(output.status.success());
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(
            stdout.contains("added    lib/added.txt  (file, 0 bytes)"),
            "{stdout}"
        );
        assert!(
            stdout.contains("changed  lib/site-packages/mod.py  size 12 -> 15, sha256 "),
            "{stdout}"
        );
        assert!(
            stdout.ends_with("1 changed, 1 added, 0 removed\n"),
            "{stdout}"
        );
    }
    pyfod()
        .args(["diff", "--exit-code"])
        .arg(&old)
        .arg(&new)
        .assert()
        .code(1);
    pyfod()
        .args(["diff", "--exit-code"])
        .arg(&old)
        .arg(&old_manifest)
        .assert()
        .code(0);
}

#[test]
fn build_sdist_names_what_it_cannot_read() {
    let tmp = tempfile::tempdir().unwrap();
    let output = pyfod()
        .args(["build-sdist", "--lock", "uv.lock"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "an unknown flag is bad usage"
    );
    let missing = tmp.path().join("fetch.manifest");
    let output = pyfod()
        .arg("--store")
        .arg(tmp.path().join("store"))
        .args(["build-sdist", "--in"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("cannot read {}", missing.display())),
        "{stderr}"
    );
}

#[test]
fn hash_in_refuses_a_manifest_without_a_tree() {
    let tmp = tempfile::tempdir().unwrap();
    tree(&tmp.path().join("venv"), b"x");
    let manifest = tmp.path().join("hash.manifest");
    pyfod()
        .args(["hash", "--manifest"])
        .arg(&manifest)
        .arg(tmp.path().join("venv"))
        .assert()
        .success();
    let output = pyfod()
        .args(["hash", "--store"])
        .arg(tmp.path().join("store"))
        .arg("--in")
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("is a `hash` manifest"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    pyfod().args(["hash"]).assert().code(2);
    pyfod()
        .args(["hash", "--format", "hex", "."])
        .assert()
        .code(2);
}

/// `pyfod build` on the bundled example: every stage, the hash last, the same
/// hash every run, and a mismatch that leaves --out alone.
#[test]
fn build_runs_every_stage_on_the_bundled_example() {
    let tmp = tempfile::tempdir().unwrap();
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/uv.lock");
    let out = tmp.path().join("out");
    let build = |extra: &[&str]| {
        pyfod()
            .args(["build", "--python", "python3", "--force", "--lock"])
            .arg(&lock)
            .arg("--out")
            .arg(&out)
            .arg("--store")
            .arg(tmp.path().join("store"))
            .args(extra)
            .output()
            .unwrap()
    };
    let first = build(&[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stderr = String::from_utf8(first.stderr).unwrap();
    for stage in ["fetch", "build-sdist", "install", "scrub"] {
        assert!(stderr.contains(&format!("{stage}: ran")), "{stderr}");
    }
    let hash = String::from_utf8(first.stdout).unwrap().trim().to_owned();
    assert!(hash.starts_with("sha256-"), "{hash}");
    let site = fs::read_dir(out.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages");
    assert!(site.join("greeting/__init__.py").is_file());
    assert!(site.join("colorless-1.2.dist-info/RECORD").is_file());
    assert!(!out.join("bin").exists(), "scrub removes bin/ by default");
    assert!(
        fs::read_to_string(out.join("pyvenv.cfg"))
            .unwrap()
            .starts_with("home = @python@/bin\n")
    );
    let rehash = pyfod().arg("hash").arg(&out).output().unwrap();
    assert_eq!(String::from_utf8(rehash.stdout).unwrap().trim(), hash);

    // Nothing changed: every stage comes from the store, and the hash is the same.
    let second = build(&[]);
    assert_eq!(String::from_utf8(second.stdout).unwrap().trim(), hash);
    let stderr = String::from_utf8(second.stderr).unwrap();
    for stage in ["fetch", "build-sdist", "install", "scrub"] {
        assert!(stderr.contains(&format!("{stage}: cached")), "{stderr}");
    }
    // Other scrub rules redo only scrub.
    let seed = build(&["--preset", "seed"]);
    let stderr = String::from_utf8(seed.stderr).unwrap();
    assert!(
        stderr.contains("fetch: cached") && stderr.contains("install: cached"),
        "{stderr}"
    );
    assert!(stderr.contains("scrub: ran"), "{stderr}");
    assert!(build(&[]).status.success());

    let before = fs::read(out.join("pyvenv.cfg")).unwrap();
    let wrong = build(&[
        "--expect",
        "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ]);
    assert_eq!(wrong.status.code(), Some(102));
    let stderr = String::from_utf8(wrong.stderr).unwrap();
    assert!(stderr.contains(&format!("     got:    {hash}")), "{stderr}");
    assert_eq!(fs::read(out.join("pyvenv.cfg")).unwrap(), before);
    assert!(build(&["--expect", &hash]).status.success());

    // --manifests keeps every stage's manifest, readable by `pyfod manifest show`.
    let manifests = tmp.path().join("manifests");
    assert!(
        build(&["--manifests", manifests.to_str().unwrap()])
            .status
            .success()
    );
    for (name, stage) in [
        ("fetch.manifest", "fetch"),
        ("wheels.manifest", "build-sdist"),
        ("install.manifest", "install"),
        ("scrub.manifest", "scrub"),
    ] {
        let shown = pyfod()
            .args(["manifest", "show"])
            .arg(manifests.join(name))
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
        assert_eq!(json["stage"], stage);
    }
}

/// `kill -9` at any moment — in fetch, in the example's two builds from source, in
/// install or scrub — leaves a store the next build uses, to the same hash.
#[test]
fn a_build_killed_at_any_point_is_finished_by_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let command = |out: &str, store: &Path| {
        let mut command = build_hello(store);
        command
            .arg("--force")
            .arg("--out")
            .arg(tmp.path().join(out));
        command
    };
    let clean = command("clean", &tmp.path().join("clean-store"))
        .output()
        .unwrap();
    assert!(clean.status.success());
    let mut rng = fastrand::Rng::with_seed(5);
    for round in 0..6 {
        let mut child = command(&format!("killed-{round}"), &store)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(rng.u64(0..700)));
        let _ = child.kill();
        let _ = child.wait();
    }
    let last = command("after", &store).output().unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    assert_eq!(last.stdout, clean.stdout);
}

/// Two builds of one project on one store at once: both succeed, one hash.
#[test]
fn two_builds_at_once_on_one_store_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let spawn = |out: &str| {
        build_hello(&store)
            .arg("--out")
            .arg(tmp.path().join(out))
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("a"));
        let b = s.spawn(|| spawn("b"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(a.stdout, b.stdout);
    let entries = fs::read_dir(store.join("stages")).unwrap().count();
    assert_eq!(
        entries, 8,
        "one fetch, one build-sdist, one install, one scrub, and for each of the example's two sources, what its backend asked for and its build"
    );
}

/// A mismatch names the files that differ from the last build that matched, and
/// an expected hash last produced from other inputs is called out.
#[test]
fn a_mismatch_shows_what_changed_since_the_last_match() {
    let tmp = tempfile::tempdir().unwrap();
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/uv.lock");
    let build = |prefix: &str, extra: &[&str]| {
        pyfod()
            .args([
                "build", "--python", "python3", "--force", "--prefix", prefix, "--lock",
            ])
            .arg(&lock)
            .arg("--out")
            .arg(tmp.path().join("out"))
            .arg("--store")
            .arg(tmp.path().join("store"))
            .args(extra)
            .output()
            .unwrap()
    };
    let first = build("/opt/a", &[]);
    let hash = String::from_utf8(first.stdout).unwrap().trim().to_owned();
    let matched = build("/opt/a", &["--expect", &hash]);
    assert!(matched.status.success());
    assert!(
        !String::from_utf8(matched.stderr)
            .unwrap()
            .contains("warning")
    );

    // uv's install metadata changes files of every dist-info.
    let moved = build("/opt/a", &["--expect", &hash, "--compat", "uv=0.9.5"]);
    assert_eq!(moved.status.code(), Some(102));
    let stderr = String::from_utf8(moved.stderr).unwrap();
    assert!(
        stderr.contains("was last produced from other inputs (install settings changed since)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("files that differ from the last build of this project that matched"),
        "{stderr}"
    );
    assert!(
        stderr.contains("changed  lib/python3.")
            && stderr.contains("greeting-1.0.dist-info/INSTALLER  size 5 -> 2"),
        "{stderr}"
    );
}

/// Settings may live in pyproject.toml's `[tool.pyfod]`, found beside the lock as
/// pyfod.toml would be; a misspelt key there is an error with the right one.
#[test]
fn settings_from_tool_pyfod_in_pyproject() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("hello");
    pyfod_tests::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello"),
        &project,
    );
    let pyproject = project.join("pyproject.toml");
    let text = fs::read_to_string(&pyproject).unwrap();
    let build = |extra: &str| {
        fs::write(&pyproject, format!("{text}\n[tool.pyfod.scrub]\n{extra}\n")).unwrap();
        pyfod()
            .args(["build", "--python", "python3", "--force", "--lock"])
            .arg(project.join("uv.lock"))
            .arg("--out")
            .arg(tmp.path().join("out"))
            .arg("--store")
            .arg(tmp.path().join("store"))
            .output()
            .unwrap()
    };
    let kept = build("keep-bin = true");
    assert!(
        kept.status.success(),
        "{}",
        String::from_utf8_lossy(&kept.stderr)
    );
    assert!(
        tmp.path().join("out/bin").is_dir(),
        "[tool.pyfod.scrub] keep-bin was read"
    );
    let typo = build("keep_bin = true");
    assert_eq!(typo.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(stderr.contains("pyproject.toml"), "{stderr}");
    assert!(stderr.contains("did you mean `keep-bin`?"), "{stderr}");
}

/// `preset = "seed"` in pyfod.toml: uv's install metadata and the seed's scrub,
/// the same tree as the flags `--compat` and `--preset seed` give.
#[test]
fn the_seed_preset_in_pyfod_toml_is_the_seed_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("hello");
    pyfod_tests::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello"),
        &project,
    );
    let build = |out: &str, extra: &[&str]| {
        let output = pyfod()
            .args([
                "build",
                "--python",
                "python3",
                "--prefix",
                "/opt/hello",
                "--lock",
            ])
            .arg(project.join("uv.lock"))
            .arg("--out")
            .arg(tmp.path().join(out))
            .arg("--store")
            .arg(tmp.path().join("store"))
            .args(extra)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let flags = build("flags", &["--preset", "seed", "--compat", "uv=0.13.9"]);
    fs::write(
        project.join("pyfod.toml"),
        "preset = \"seed\"\n\n[install]\ncompat = \"uv=0.13.9\"\n",
    )
    .unwrap();
    let preset = build("preset", &[]);
    assert_eq!(preset, flags);
    let cfg = fs::read_to_string(tmp.path().join("preset/pyvenv.cfg")).unwrap();
    assert!(cfg.contains("uv = 0.13.9"), "{cfg}");
}

/// A full disk under the store: a clear error; with room again, the same store
/// finishes the build, to the hash of a clean one.
#[test]
fn a_full_disk_is_a_clear_error_and_the_store_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk");
    fs::create_dir(&disk).unwrap();
    let mount = |options: &str| {
        std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&disk)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !mount("size=150k") {
        // Mounting needs privileges a container may not grant; nothing to test then.
        eprintln!("\n!!! SKIPPED a_full_disk_is_a_clear_error: cannot mount a tmpfs here\n");
        return;
    }
    let build = |store: &Path| {
        build_hello(store)
            .arg("--force")
            .arg("--out")
            .arg(tmp.path().join("out"))
            .output()
            .unwrap()
    };
    let store = disk.join("store");
    let full = build(&store);
    let remount = std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&disk)
        .status();
    let after = build(&store);
    let clean = build(&tmp.path().join("clean-store"));
    let _ = std::process::Command::new("umount").arg(&disk).status();
    assert_eq!(full.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert!(stderr.contains("No space left on device"), "{stderr}");
    // Said by pyfod when its own write failed, or read from the build's log when
    // the build's did.
    assert!(
        stderr.contains("the file system is full; free some space"),
        "{stderr}"
    );
    assert!(remount.is_ok_and(|s| s.success()));
    assert!(
        after.status.success(),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
    assert_eq!(after.stdout, clean.stdout);
}

/// `--to` stops after a stage with its manifests kept; `--from` starts there, on
/// another day or machine, to the hash a whole run gives.
#[test]
fn a_run_split_by_to_and_from_gives_the_whole_runs_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = tmp.path().join("manifests");
    let run = |store: &str, args: &[&str]| {
        build_hello(&tmp.path().join(store))
            .args(args)
            .output()
            .unwrap()
    };
    let whole = run(
        "whole",
        &["--out", tmp.path().join("whole-out").to_str().unwrap()],
    );
    assert!(
        whole.status.success(),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );

    let first = run(
        "split",
        &[
            "--to",
            "build-sdist",
            "--manifests",
            manifests.to_str().unwrap(),
        ],
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(first.stdout.is_empty(), "no hash before the end");
    assert!(manifests.join("wheels.manifest").is_file());
    assert!(!manifests.join("install.manifest").exists());

    let rest = run(
        "split",
        &[
            "--from",
            "install",
            "--manifests",
            manifests.to_str().unwrap(),
            "--out",
            tmp.path().join("split-out").to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&rest.stderr);
    assert!(rest.status.success(), "{stderr}");
    assert!(
        !stderr.contains("fetch:") && !stderr.contains("build-sdist:"),
        "{stderr}"
    );
    assert_eq!(rest.stdout, whole.stdout);

    let backwards = run(
        "split",
        &[
            "--from",
            "scrub",
            "--to",
            "install",
            "--manifests",
            manifests.to_str().unwrap(),
        ],
    );
    assert_eq!(backwards.status.code(), Some(1));
    let missing = run(
        "fresh",
        &[
            "--from",
            "scrub",
            "--manifests",
            tmp.path().join("none").to_str().unwrap(),
            "--out",
            tmp.path().join("x").to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("install.manifest"), "{stderr}");
    assert!(stderr.contains("--to"), "{stderr}");
}

#[test]
fn a_changed_package_is_all_a_second_delivery_copies() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("hello");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello"))
        .arg(&project)
        .status()
        .unwrap();
    assert!(copied.success());
    let (store, out) = (tmp.path().join("store"), tmp.path().join("out"));
    let deliver = || {
        let output = pyfod()
            .arg("--store")
            .arg(&store)
            .args([
                "build",
                "--python",
                "python3",
                "--prefix",
                "/opt/hello",
                "--lock",
            ])
            .arg(project.join("uv.lock"))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    deliver();
    let site = out.join("lib/python3.11/site-packages");
    let site = if site.is_dir() {
        site
    } else {
        fs::read_dir(out.join("lib"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join("site-packages")
    };
    let inode = |path: &Path| fs::metadata(path).unwrap().ino();
    let (unchanged, changed) = (
        site.join("greeting/__init__.py"),
        site.join("tinyext/__init__.py"),
    );
    let (unchanged_before, changed_before) = (inode(&unchanged), inode(&changed));

    // One package's source changes: a new venv, delivered over the old one.
    let init = project.join("sources/tinyext/tinyext/__init__.py");
    let mut text = fs::read_to_string(&init).unwrap();
    text.push_str("\nANSWER = 42\n");
    fs::write(&init, text).unwrap();
    let hash = deliver();
    assert!(
        fs::read_to_string(&changed)
            .unwrap()
            .contains("ANSWER = 42")
    );
    assert_eq!(
        inode(&unchanged),
        unchanged_before,
        "an unchanged file was copied again"
    );
    assert_ne!(inode(&changed), changed_before);
    // What --out holds is what was hashed.
    let tree = pyfod_nar::hash_path(&out, &pyfod_nar::HashSettings::default(), None).unwrap();
    assert_eq!(tree.nar_sha256.to_sri(), hash);
}
