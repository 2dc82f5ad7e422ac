//! The cache soundness suite: one row per input of a build. Each row starts from
//! a fresh copy of the bundled example built once on a fresh store, changes one
//! input, builds again, and checks which stages ran (the others must say
//! `cached`), which sources were compiled again, and whether the hash changed.
//! A change that can alter the result must rerun what it alters; an irrelevant
//! change must rerun nothing.

#[path = "common/rows.rs"]
mod rows;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const STAGES: [&str; 4] = ["fetch", "build-sdist", "install", "scrub"];

/// A copy of `examples/hello` with settings that name files and variables, so
/// each can be changed.
struct Project {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    store: PathBuf,
    /// A fake `pkg-config` lives here, first on PATH.
    bin: PathBuf,
}

/// What a build is run with; a row changes it.
#[derive(Clone)]
struct Run {
    python: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
}

#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stderr: String,
    hash: String,
}

impl Outcome {
    fn ran(&self) -> Vec<&'static str> {
        STAGES
            .into_iter()
            .filter(|stage| {
                self.stderr
                    .lines()
                    .any(|l| l.starts_with(&format!("{stage}: ran")))
            })
            .collect()
    }

    fn cached(&self) -> Vec<&'static str> {
        STAGES
            .into_iter()
            .filter(|stage| self.stderr.lines().any(|l| l == format!("{stage}: cached")))
            .collect()
    }

    fn built(&self) -> Vec<String> {
        self.stderr
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_suffix(')')
                    .and_then(|l| l.split_once(": built ("))
            })
            .map(|(package, _)| package.split(' ').next().unwrap().to_owned())
            .collect()
    }
}

const CLOSURE: &str = "# the store paths of the build's closure\n";
/// A hash part the example's C extension mentions, bare: only a listed store
/// path strips it.
const MENTIONED: &str = "11111111111111111111111111111111";

impl Project {
    fn new() -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("hello");
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello");
        pyfod_store::copy_tree(&example, &root).unwrap();
        fs::write(
            root.join("pyfod.toml"),
            "[build]\npass-env = [\"PATH\", \"PYFOD_TEST_VALUE\"]\nsystem-libraries = [\"zlib\"]\n\n[scrub]\nrefs-from = [\"closure.txt\"]\n",
        )
        .unwrap();
        fs::write(root.join("closure.txt"), CLOSURE).unwrap();
        let init = root.join("sources/tinyext/tinyext/__init__.py");
        let mut text = fs::read_to_string(&init).unwrap();
        text.push_str(&format!("# linked against {MENTIONED}\n"));
        fs::write(&init, text).unwrap();
        let bin = tmp.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        fs::write(bin.join("zlib-version"), "1.2.13\n").unwrap();
        let pkg_config = bin.join("pkg-config");
        fs::write(
            &pkg_config,
            format!("#!/bin/sh\ncat {}\n", bin.join("zlib-version").display()),
        )
        .unwrap();
        fs::set_permissions(&pkg_config, fs::Permissions::from_mode(0o755)).unwrap();
        Project {
            store: tmp.path().join("store"),
            root,
            bin,
            _tmp: tmp,
        }
    }

    fn baseline(&self) -> Run {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Run {
            python: "python3".into(),
            args: vec![
                "--prefix".into(),
                "/opt/hello".into(),
                "--out".into(),
                self.root
                    .parent()
                    .unwrap()
                    .join("out")
                    .display()
                    .to_string(),
                "--force".into(),
            ],
            env: BTreeMap::from([
                ("PATH".into(), path),
                ("PYFOD_TEST_VALUE".into(), "one".into()),
            ]),
        }
    }

    fn build(&self, run: &Run) -> Outcome {
        let output = Command::new(assert_cmd::cargo::cargo_bin("pyfod"))
            .env_clear()
            .envs(&run.env)
            .env("HOME", self.root.parent().unwrap())
            .arg("--store")
            .arg(&self.store)
            .args(["build", "--python", &run.python, "--lock"])
            .arg(self.root.join("uv.lock"))
            .args(&run.args)
            .output()
            .unwrap();
        Outcome {
            code: output.status.code(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            hash: String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        }
    }

    fn edit(&self, path: &str, edit: impl FnOnce(String) -> String) {
        let path = self.root.join(path);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, edit(text)).unwrap();
    }

    fn add_to_pyfod_toml(&self, table: &str, line: &str) {
        self.edit("pyfod.toml", |text| {
            let header = format!("[{table}]\n");
            match text.find(&header) {
                Some(at) => {
                    let at = at + header.len();
                    format!("{}{line}\n{}", &text[..at], &text[at..])
                }
                None => format!("{text}\n{header}{line}\n"),
            }
        });
    }
}

/// What the second build must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The result's hash is another.
    Changes,
    /// The same hash.
    Same,
    /// The build fails, saying this.
    Fails(&'static str),
}

struct Row {
    input: &'static str,
    change: fn(&Project, &mut Run),
    /// The stages that run again; every other one is found in the store.
    reruns: &'static [&'static str],
    /// The sources compiled again.
    built: &'static [&'static str],
    result: Expect,
}

use Expect::{Changes, Fails, Same};

const ALL: &[&str] = &STAGES;
const AFTER_FETCH: &[&str] = &["build-sdist", "install", "scrub"];
const INSTALL_ON: &[&str] = &["install", "scrub"];
const SCRUB: &[&str] = &["scrub"];
/// The wheels come out the same: nothing after build-sdist runs again.
const BUILD: &[&str] = &["build-sdist"];
const NOTHING: &[&str] = &[];

#[rustfmt::skip]
fn rows() -> Vec<Row> {
    vec![
        // The lock and the project.
        Row { input: "lock: a dependency dropped", change: |p, _| p.edit("uv.lock", |t| t.replacen("    { name = \"plainsdist\" },\n", "", 1)), reruns: ALL, built: &[], result: Changes },
        Row { input: "lock: a comment (other bytes, same lock)", change: |p, _| p.edit("uv.lock", |t| format!("# relocked\n{t}")), reruns: &["fetch"], built: &[], result: Same },
        Row { input: "pyproject.toml: [tool.uv] no-build-package", change: |p, _| p.edit("pyproject.toml", |t| t.replace("package = false\n", "package = false\nno-build-package = [\"plainsdist\"]\n")), reruns: NOTHING, built: &[], result: Fails("no-build forbids") },
        Row { input: "pyproject.toml: a description (irrelevant)", change: |p, _| p.edit("pyproject.toml", |t| t.replace("version = \"0.1.0\"\n", "version = \"0.1.0\"\ndescription = \"changed\"\n")), reruns: NOTHING, built: &[], result: Same },
        // A directory source, by content.
        Row { input: "directory source: C code changed", change: |p, _| p.edit("sources/tinyext/src/_tiny.c", |t| t.replace("n * n", "n * n + 1")), reruns: ALL, built: &["tinyext"], result: Changes },
        Row { input: "directory source: Python code changed", change: |p, _| p.edit("sources/tinyext/tinyext/__init__.py", |t| format!("{t}VERSION = 2\n")), reruns: ALL, built: &["tinyext"], result: Changes },
        Row { input: "directory source: touched, unchanged (irrelevant)", change: |p, _| touch(&p.root.join("sources/tinyext/src/_tiny.c")), reruns: NOTHING, built: &[], result: Same },
        Row { input: "directory source: a .git and __pycache__ appear (irrelevant)", change: |p, _| noise(&p.root.join("sources/tinyext")), reruns: NOTHING, built: &[], result: Same },
        // Path sources, by content.
        Row { input: "path wheel replaced", change: |p, _| replace_with_other_bytes(&p.root.join("wheels/colorless-1.2-py3-none-any.whl")), reruns: NOTHING, built: &[], result: Fails("does not have the hash the lock records") },
        Row { input: "path sdist replaced", change: |p, _| replace_with_other_bytes(&p.root.join("sdists/plainsdist-1.0.tar.gz")), reruns: NOTHING, built: &[], result: Fails("does not have the hash the lock records") },
        Row { input: "path wheel touched, unchanged (irrelevant)", change: |p, _| touch(&p.root.join("wheels/colorless-1.2-py3-none-any.whl")), reruns: NOTHING, built: &[], result: Same },
        // pyfod.toml, key by key.
        Row { input: "pyfod.toml: a comment (irrelevant)", change: |p, _| p.edit("pyfod.toml", |t| format!("# settings\n{t}")), reruns: NOTHING, built: &[], result: Same },
        Row { input: "[build] env CFLAGS", change: |p, _| p.add_to_pyfod_toml("build.env", "CFLAGS = \"-O0\""), reruns: AFTER_FETCH, built: &["plainsdist", "tinyext"], result: Changes },
        Row { input: "[build] debug", change: |p, _| p.add_to_pyfod_toml("build", "debug = true"), reruns: AFTER_FETCH, built: &["plainsdist", "tinyext"], result: Changes },
        Row { input: "[build] parallel-extensions (changes no wheel)", change: |p, _| p.add_to_pyfod_toml("build", "parallel-extensions = false"), reruns: NOTHING, built: &[], result: Same },
        Row { input: "[build] source-date-epoch", change: |p, _| p.add_to_pyfod_toml("build", "source-date-epoch = 1000000000"), reruns: &["build-sdist", "install"], built: &["plainsdist", "tinyext"], result: Same },
        Row { input: "[build.packages] config-settings", change: |p, _| p.add_to_pyfod_toml("build.packages.tinyext", "config-settings = { flavour = \"x\" }"), reruns: BUILD, built: &["tinyext"], result: Same },
        Row { input: "[build.packages] env", change: |p, _| p.add_to_pyfod_toml("build.packages.tinyext", "env = { CFLAGS = \"-O1\" }"), reruns: AFTER_FETCH, built: &["tinyext"], result: Changes },
        Row { input: "[build] pass-env: a variable that is not set", change: |p, _| p.edit("pyfod.toml", |t| t.replace("\"PYFOD_TEST_VALUE\"]", "\"PYFOD_TEST_VALUE\", \"PYFOD_UNSET\"]")), reruns: BUILD, built: &[], result: Same },
        Row { input: "pass-env variable's value", change: |_, r| set_env(r, "PYFOD_TEST_VALUE", "two"), reruns: BUILD, built: &["plainsdist", "tinyext"], result: Same },
        Row { input: "a variable pass-env does not pass (irrelevant)", change: |_, r| set_env(r, "PYFOD_OTHER", "x"), reruns: NOTHING, built: &[], result: Same },
        Row { input: "system library version (pkg-config)", change: |p, _| write(&p.bin.join("zlib-version"), "1.3.1\n"), reruns: BUILD, built: &["plainsdist", "tinyext"], result: Same },
        Row { input: "[install] compat", change: |p, _| p.add_to_pyfod_toml("install", "compat = \"uv=0.13.9\""), reruns: INSTALL_ON, built: &[], result: Changes },
        Row { input: "[install.collisions] a rule", change: |p, _| p.add_to_pyfod_toml("install.collisions", "\"docs/Makefile\" = \"drop\""), reruns: &["install"], built: &[], result: Same },
        Row { input: "[scrub] preset (seed keeps the RECORD rows of bin/)", change: |p, _| p.edit("pyfod.toml", |t| t.replace("refs-from = [\"closure.txt\"]", "preset = \"seed\"")), reruns: SCRUB, built: &[], result: Changes },
        Row { input: "[scrub] preset seed with a rule it cannot take", change: |p, _| p.add_to_pyfod_toml("scrub", "preset = \"seed\""), reruns: NOTHING, built: &[], result: Fails("--refs-from does not apply") },
        Row { input: "[scrub] refs", change: |p, _| p.add_to_pyfod_toml("scrub", &format!("refs = [\"/nix/store/{MENTIONED}-dep\"]")), reruns: SCRUB, built: &[], result: Changes },
        Row { input: "[scrub] refs-from: the file's contents", change: |p, _| write(&p.root.join("closure.txt"), &format!("{CLOSURE}/nix/store/{MENTIONED}-dep\n")), reruns: SCRUB, built: &[], result: Changes },
        Row { input: "[scrub] refs-from: touched, unchanged (irrelevant)", change: |p, _| touch(&p.root.join("closure.txt")), reruns: NOTHING, built: &[], result: Same },
        Row { input: "[scrub] keep", change: |p, _| p.add_to_pyfod_toml("scrub", "keep = [\"/nix/store/22222222222222222222222222222222-x\"]"), reruns: SCRUB, built: &[], result: Same },
        Row { input: "[scrub] store-dir", change: |p, _| p.add_to_pyfod_toml("scrub", "store-dir = \"/gnu/store\""), reruns: SCRUB, built: &[], result: Same },
        Row { input: "[scrub] python-prefix", change: |p, _| p.add_to_pyfod_toml("scrub", "python-prefix = \"/opt/python\""), reruns: SCRUB, built: &[], result: Changes },
        Row { input: "[scrub] python-everywhere", change: |p, _| p.add_to_pyfod_toml("scrub", "python-everywhere = true"), reruns: SCRUB, built: &[], result: Same },
        Row { input: "[scrub] keep-bin", change: |p, _| p.add_to_pyfod_toml("scrub", "keep-bin = true"), reruns: SCRUB, built: &[], result: Changes },
        Row { input: "[scrub] keep-pyc", change: |p, _| p.add_to_pyfod_toml("scrub", "keep-pyc = true"), reruns: SCRUB, built: &[], result: Same },
        Row { input: "[scrub] strict (no byte changes)", change: |p, _| p.add_to_pyfod_toml("scrub", "strict = true"), reruns: NOTHING, built: &[], result: Same },
        Row { input: "preset = \"seed\"", change: |p, _| p.edit("pyfod.toml", |t| t.replace("[scrub]\nrefs-from = [\"closure.txt\"]\n", "").replace("[build]", "preset = \"seed\"\n[install]\ncompat = \"uv=0.13.9\"\n[build]")), reruns: INSTALL_ON, built: &[], result: Changes },
        // The command line.
        Row { input: "--prefix (only bin/ names it, and the scrub removes bin/ and its RECORD rows)", change: |_, r| set_arg(r, "--prefix", "/opt/other"), reruns: INSTALL_ON, built: &[], result: Same },
        Row { input: "--compat", change: |_, r| r.args.extend(["--compat".into(), "uv=0.13.9".into()]), reruns: INSTALL_ON, built: &[], result: Changes },
        Row { input: "--store-dir", change: |_, r| r.args.extend(["--store-dir".into(), "/gnu/store".into()]), reruns: SCRUB, built: &[], result: Same },
        Row { input: "--out elsewhere (irrelevant)", change: |p, r| set_arg(r, "--out", &p.root.parent().unwrap().join("elsewhere").display().to_string()), reruns: NOTHING, built: &[], result: Same },
        Row { input: "--jobs (irrelevant)", change: |_, r| r.args.extend(["--jobs".into(), "1".into()]), reruns: NOTHING, built: &[], result: Same },
        Row { input: "--manifests (irrelevant)", change: |p, r| r.args.extend(["--manifests".into(), p.root.parent().unwrap().join("m").display().to_string()]), reruns: NOTHING, built: &[], result: Same },
        Row { input: "--verify-store (irrelevant)", change: |_, r| r.args.push("--verify-store".into()), reruns: NOTHING, built: &[], result: Same },
        Row { input: "--check builds again", change: |_, r| r.args.push("--check".into()), reruns: BUILD, built: &["plainsdist", "tinyext"], result: Same },
        // The interpreter, by what it is, not what it is called.
        Row { input: "interpreter: python3.Y, another name for it", change: |_, r| r.python = python_minor(), reruns: INSTALL_ON, built: &[], result: Same },
        Row { input: "interpreter: a link to it elsewhere", change: |p, r| r.python = link_to_python(p), reruns: INSTALL_ON, built: &[], result: Same },
        Row { input: "interpreter: another version", change: |_, r| r.python = other_version().unwrap(), reruns: ALL, built: &["plainsdist", "tinyext"], result: Changes },
    ]
    .into_iter()
    .filter(|row| !row.input.ends_with("another version") || other_version().is_some())
    .collect()
}

fn set_env(run: &mut Run, name: &str, value: &str) {
    run.env.insert(name.into(), value.into());
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
}

/// What a checkout accumulates that is not source: never copied, never keyed.
fn noise(tree: &Path) {
    for dir in [".git", "tinyext/__pycache__"] {
        fs::create_dir_all(tree.join(dir)).unwrap();
        fs::write(tree.join(dir).join("x"), b"noise").unwrap();
    }
}

/// An interpreter of another version than `python3`'s, with its headers: the
/// system's, where `python3` on PATH is another (CI installs Debian's python3-dev).
fn other_version() -> Option<String> {
    let version = |python: &str| {
        Command::new(python)
            .args(["-c", "import platform, sysconfig, os; print(platform.python_version() if os.path.exists(os.path.join(sysconfig.get_path('include'), 'Python.h')) else '')"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let system = "/usr/bin/python3";
    let here = version("python3")?;
    match version(system) {
        Some(other) if other != here => Some(system.into()),
        _ => {
            pyfod_tests::oracle::announce_skip(
                "the cache soundness row `interpreter: another version`",
                &format!(
                    "an interpreter of another version than python3's ({here}), with headers, at {system}"
                ),
            );
            None
        }
    }
}

#[test]
fn each_input_reruns_what_it_can_change_and_nothing_else() {
    if !pyfod_tests::oracle::tool_available("cc", "cache soundness") {
        return;
    }
    let failures = rows::failures(&rows(), check);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn check(row: &Row) -> std::result::Result<(), String> {
    let project = Project::new();
    let mut run = project.baseline();
    let first = project.build(&run);
    if first.code != Some(0) {
        return Err(format!(
            "{}: the baseline failed: {}",
            row.input, first.stderr
        ));
    }
    (row.change)(&project, &mut run);
    let second = project.build(&run);
    let fail = |what: String| Err(format!("{}: {what}\n{}", row.input, second.stderr));
    match row.result {
        Fails(text) => {
            if second.code == Some(0) || !second.stderr.contains(text) {
                return fail(format!("expected a failure saying {text:?}"));
            }
            return Ok(());
        }
        _ if second.code != Some(0) => return fail("the build failed".into()),
        Changes if second.hash == first.hash => return fail("the hash did not change".into()),
        Same if second.hash != first.hash => {
            return fail(format!(
                "the hash changed: {} -> {}",
                first.hash, second.hash
            ));
        }
        _ => {}
    }
    if second.ran() != row.reruns {
        return fail(format!(
            "expected {:?} to run, {:?} ran",
            row.reruns,
            second.ran()
        ));
    }
    let cached: Vec<&str> = STAGES
        .into_iter()
        .filter(|s| !row.reruns.contains(s))
        .collect();
    if second.cached() != cached {
        return fail(format!(
            "expected {cached:?} cached, {:?} were",
            second.cached()
        ));
    }
    let mut built = second.built();
    built.sort();
    if built != row.built {
        return fail(format!("expected {:?} built, {built:?} were", row.built));
    }
    Ok(())
}

fn touch(path: &Path) {
    let file = fs::File::options().append(true).open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
}

fn replace_with_other_bytes(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    bytes.extend_from_slice(b"\0trailing");
    fs::write(path, bytes).unwrap();
}

fn set_arg(run: &mut Run, flag: &str, value: &str) {
    let at = run.args.iter().position(|a| a == flag).unwrap();
    run.args[at + 1] = value.to_owned();
}

/// `python3.Y` for the `python3` on PATH.
fn python_minor() -> String {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.version_info[1])"])
        .output()
        .unwrap();
    format!("python3.{}", String::from_utf8_lossy(&output.stdout).trim())
}

/// A symlink to the real interpreter, in a directory of its own.
fn link_to_python(project: &Project) -> String {
    let output = Command::new("python3")
        .args([
            "-c",
            "import os, sys; print(os.path.realpath(sys.executable))",
        ])
        .output()
        .unwrap();
    let real = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let dir = project.root.parent().unwrap().join("other-python/bin");
    fs::create_dir_all(&dir).unwrap();
    let link = dir.join("python3");
    std::os::unix::fs::symlink(real, &link).unwrap();
    link.display().to_string()
}

/// The last row of the suite, which no build can show: a stage's format version
/// is part of its key, so a pyfod that writes differently never takes an older
/// pyfod's results.
#[test]
fn a_stage_format_version_is_part_of_every_key() {
    use pyfod_store::Stage;
    let input = pyfod_digest::Sha256::of(b"input");
    for (name, version) in [
        (
            pyfod_fetch::Fetch::STAGE,
            pyfod_fetch::Fetch::FORMAT_VERSION,
        ),
        (
            pyfod_build_sdist::BuildSdist::STAGE,
            pyfod_build_sdist::BuildSdist::FORMAT_VERSION,
        ),
        (
            pyfod_install::Install::STAGE,
            pyfod_install::Install::FORMAT_VERSION,
        ),
        (
            pyfod_scrub::Scrub::STAGE,
            pyfod_scrub::Scrub::FORMAT_VERSION,
        ),
    ] {
        let key = |v| pyfod_store::StageKey::new(name.name(), v, &input, &"settings");
        assert_ne!(key(version), key(version + 1), "{name}");
    }
}
