//! The processes a build starts end with it: a backend that hangs is ended at
//! `[build] timeout`, naming the package; a pyfod sent SIGTERM, SIGINT or SIGHUP
//! ends the backend and everything it started, leaves no work area, and exits
//! 128 + the signal. And a store that cannot be written still serves a build it
//! has whole.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A project whose one dependency is a source tree with a backend that starts a
/// child, writes both their process ids to `pids`, and sleeps.
fn hanging_project(dir: &Path) -> (PathBuf, PathBuf) {
    let source = dir.join("project/sources/sleeper");
    fs::create_dir_all(&source).unwrap();
    let pids = dir.join("pids");
    fs::write(
        source.join("pyproject.toml"),
        "[build-system]\nrequires = []\nbuild-backend = \"sleeper_backend\"\nbackend-path = [\".\"]\n\n[project]\nname = \"sleeper\"\nversion = \"1.0\"\n",
    )
    .unwrap();
    fs::write(
        source.join("sleeper_backend.py"),
        format!(
            "import os, subprocess, time\n\ndef get_requires_for_build_wheel(config_settings=None):\n    return []\n\ndef build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n    child = subprocess.Popen(['sleep', '600'])\n    with open({pids:?}, 'w') as f:\n        f.write('%d %d' % (os.getpid(), child.pid))\n    time.sleep(600)\n",
            pids = pids.display().to_string()
        ),
    )
    .unwrap();
    let project = dir.join("project");
    fs::write(
        project.join("uv.lock"),
        "version = 1\nrevision = 5\nrequires-python = \">=3.8\"\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = { virtual = \".\" }\ndependencies = [\n    { name = \"sleeper\" },\n]\n\n[[package]]\nname = \"sleeper\"\nversion = \"1.0\"\nsource = { directory = \"sources/sleeper\" }\n",
    )
    .unwrap();
    fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\"sleeper\"]\n\n[tool.uv]\npackage = false\n",
    )
    .unwrap();
    (project.join("uv.lock"), pids)
}

fn pyfod(store: &Path, lock: &Path, out: &Path, prefix: &str) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("pyfod"));
    command
        .env_remove("RUST_LOG")
        .arg("--store")
        .arg(store)
        .args(["build", "--python", "python3", "--prefix", prefix, "--lock"])
        .arg(lock)
        .arg("--out")
        .arg(out);
    command
}

fn alive(pid: i32) -> bool {
    // /proc says whether it is still there and not a zombie.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')))
}

/// The backend's and its child's process ids, once it has written them.
fn wait_for_pids(pids: &Path) -> (i32, i32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(text) = fs::read_to_string(pids)
            && let Some((a, b)) = text.split_once(' ')
            && let (Ok(a), Ok(b)) = (a.parse(), b.parse())
        {
            return (a, b);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the backend never started");
}

fn tmp_is_empty(store: &Path) -> bool {
    fs::read_dir(store.join("tmp")).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn a_signal_ends_the_backend_and_its_children_and_leaves_nothing() {
    for (signal, name) in [
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGHUP, "SIGHUP"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (lock, pids) = hanging_project(tmp.path());
        let store = tmp.path().join("store");
        let child = pyfod(&store, &lock, &tmp.path().join("out"), "/opt/x")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (backend, grandchild) = wait_for_pids(&pids);
        // SAFETY: a signal to the pyfod this test started.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let started = Instant::now();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(128 + signal), "{name}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(20), "{name}");
        assert!(stderr.contains("interrupted"), "{name}: {stderr}");
        assert!(!alive(backend), "{name}: the backend is still running");
        assert!(
            !alive(grandchild),
            "{name}: the backend's child is still running"
        );
        assert!(tmp_is_empty(&store), "{name}: a work area was left behind");
    }
}

#[test]
fn a_hung_build_is_ended_at_its_timeout_naming_the_package() {
    let tmp = tempfile::tempdir().unwrap();
    let (lock, pids) = hanging_project(tmp.path());
    fs::write(
        lock.parent().unwrap().join("pyfod.toml"),
        "[build]\ntimeout = \"3s\"\n",
    )
    .unwrap();
    let store = tmp.path().join("store");
    let started = Instant::now();
    let output = pyfod(&store, &lock, &tmp.path().join("out"), "/opt/x")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "the build of sleeper 1.0 (build_wheel) ran for longer than its timeout of 3 s"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("[build] timeout"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let (backend, grandchild) = wait_for_pids(&pids);
    assert!(!alive(backend) && !alive(grandchild));
    assert!(tmp_is_empty(&store));
}

/// A store on a file system mounted read-only serves a build it has whole, and
/// says what it lacks otherwise.
#[test]
fn a_fully_cached_build_works_from_a_read_only_store() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk");
    fs::create_dir(&disk).unwrap();
    let mount = |args: &[&str]| {
        Command::new("mount")
            .args(args)
            .arg(&disk)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !mount(&["-t", "tmpfs", "-o", "size=64m", "tmpfs"]) {
        pyfod_tests::oracle::announce_skip(
            "a_fully_cached_build_works_from_a_read_only_store",
            "mount (a tmpfs)",
        );
        return;
    }
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/uv.lock");
    let store = disk.join("store");
    let build = |prefix: &str, out: &str| {
        pyfod(&store, &lock, &tmp.path().join(out), prefix)
            .output()
            .unwrap()
    };
    let first = build("/opt/x", "a");
    let remounted = mount(&["-o", "remount,ro"]);
    let again = build("/opt/x", "b");
    let other = build("/opt/y", "c");
    let _ = Command::new("umount").arg(&disk).status();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(remounted);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert_eq!(again.stdout, first.stdout);
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert_eq!(other.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is read-only, and has no"), "{stderr}");
}
