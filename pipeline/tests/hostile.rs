//! The hostile-input suite, as data: one row per attack. Each row builds a project
//! whose lock names one crafted wheel (or is itself crafted), runs `pyfod build`
//! in a scratch directory, and checks that the build is refused with the exit
//! code given, that the message names the file and the member, that nothing was
//! written outside the scratch directory, and that the interpreter — a throwaway
//! stand-in whose `bin/python` a venv would link to — is byte for byte as it was.

#[path = "common/rows.rs"]
mod rows;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;

/// A wheel, described member by member, written with whatever flaw a row wants.
#[derive(Clone)]
struct Wheel {
    name: String,
    version: String,
    /// The package's own members.
    files: Vec<(String, Vec<u8>, u32)>,
    entry_points: Option<String>,
    metadata: Option<String>,
    wheel_meta: Option<String>,
    /// Members added after the RECORD is written: listed nowhere.
    unlisted: Vec<(String, Vec<u8>)>,
    /// Rewrites the RECORD's text once it is computed.
    record: fn(String) -> String,
    /// Rewrites the finished archive's bytes.
    patch: fn(Vec<u8>) -> Vec<u8>,
}

fn same(text: String) -> String {
    text
}

fn unpatched(bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

impl Wheel {
    fn new() -> Wheel {
        Wheel {
            name: "evil".into(),
            version: "1.0".into(),
            files: vec![("evil/__init__.py".into(), b"x = 1\n".to_vec(), 0o644)],
            entry_points: None,
            metadata: None,
            wheel_meta: None,
            unlisted: Vec::new(),
            record: same,
            patch: unpatched,
        }
    }

    fn file(mut self, path: &str, bytes: &[u8]) -> Wheel {
        self.files.push((path.into(), bytes.to_vec(), 0o644));
        self
    }

    fn filename(&self) -> String {
        format!("{}-{}-py3-none-any.whl", self.name, self.version)
    }

    fn dist_info(&self) -> String {
        format!("{}-{}.dist-info", self.name, self.version)
    }

    fn write(&self, dir: &Path) -> (PathBuf, String) {
        let info = self.dist_info();
        let mut members = self.files.clone();
        let metadata = self.metadata.clone().unwrap_or_else(|| {
            format!(
                "Metadata-Version: 2.1\nName: {}\nVersion: {}\n",
                self.name, self.version
            )
        });
        let wheel = self.wheel_meta.clone().unwrap_or_else(|| {
            "Wheel-Version: 1.0\nGenerator: hostile\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .into()
        });
        members.push((format!("{info}/METADATA"), metadata.into_bytes(), 0o644));
        members.push((format!("{info}/WHEEL"), wheel.into_bytes(), 0o644));
        if let Some(entry_points) = &self.entry_points {
            members.push((
                format!("{info}/entry_points.txt"),
                entry_points.clone().into_bytes(),
                0o644,
            ));
        }
        let mut record = String::new();
        for (path, bytes, _) in &members {
            let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha256(bytes));
            record.push_str(&format!("{path},sha256={digest},{}\n", bytes.len()));
        }
        record.push_str(&format!("{info}/RECORD,,\n"));
        members.push((
            format!("{info}/RECORD"),
            (self.record)(record).into_bytes(),
            0o644,
        ));
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        for (path, bytes, mode) in &members {
            out.start_file(path.as_str(), options.unix_permissions(*mode))
                .unwrap();
            out.write_all(bytes).unwrap();
        }
        for (path, bytes) in &self.unlisted {
            out.start_file(path.as_str(), options).unwrap();
            out.write_all(bytes).unwrap();
        }
        let bytes = (self.patch)(out.finish().unwrap().into_inner());
        let path = dir.join(self.filename());
        fs::write(&path, &bytes).unwrap();
        (path, hex(&sha256(&bytes)))
    }
}

/// Replaces every occurrence of `from` in the archive by `to` (of the same length).
fn replace_all(mut bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
        bytes[at + found..at + found + from.len()].copy_from_slice(to);
        at += found + from.len();
    }
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The scratch directory of one row: the project, the store, `--out`, a place
/// outside that must stay untouched, and the stand-in interpreter.
struct Scratch {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    project: PathBuf,
    outside: PathBuf,
    python: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let project = root.join("scratch/project");
        fs::create_dir_all(&project).unwrap();
        let outside = root.join("outside");
        fs::create_dir_all(&outside).unwrap();
        let python = stand_in_python(&root.join("python/bin"));
        Scratch {
            _tmp: tmp,
            root,
            project,
            outside,
            python,
        }
    }

    /// A lock whose project depends on one local wheel.
    fn lock_wheel(&self, wheel: &Wheel) {
        let (path, hash) = wheel.write(&self.project);
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        self.lock(&format!(
            "[[package]]\nname = \"{name}\"\nversion = \"{version}\"\nsource = {{ path = \"{file}\" }}\nwheels = [\n    {{ filename = \"{file}\", hash = \"sha256:{hash}\" }},\n]\n",
            name = wheel.name,
            version = wheel.version,
        ), &wheel.name);
    }

    fn lock(&self, packages: &str, dependency: &str) {
        fs::write(
            self.project.join("uv.lock"),
            format!(
                "version = 1\nrevision = 5\nrequires-python = \">=3.8\"\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = {{ virtual = \".\" }}\ndependencies = [\n    {{ name = \"{dependency}\" }},\n]\n\n{packages}"
            ),
        )
        .unwrap();
        fs::write(
            self.project.join("pyproject.toml"),
            format!("[project]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\"{dependency}\"]\n\n[tool.uv]\npackage = false\n"),
        )
        .unwrap();
    }

    fn build(&self, extra: &[&str]) -> std::process::Output {
        Command::new(assert_cmd::cargo::cargo_bin("pyfod"))
            .env_remove("RUST_LOG")
            .current_dir(&self.root)
            .arg("--store")
            .arg(self.root.join("scratch/store"))
            .arg("build")
            .arg("--python")
            .arg(&self.python)
            .args(if extra.contains(&"--prefix") {
                &[][..]
            } else {
                &["--prefix", "/opt/hostile"][..]
            })
            .arg("--lock")
            .arg(self.project.join("uv.lock"))
            .arg("--out")
            .arg(self.root.join("scratch/out"))
            .args(extra)
            .output()
            .unwrap()
    }

    /// Every path under the temporary root but the scratch directory.
    fn outside_snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        walk(&self.root, &self.root.join("scratch"), &mut out);
        out.sort();
        out
    }
}

fn walk(dir: &Path, skip: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path == skip {
            continue;
        }
        let meta = path.symlink_metadata().unwrap();
        let contents = if meta.is_file() {
            let mut bytes = fs::read(&path).unwrap();
            bytes.extend_from_slice(&meta.permissions().mode().to_le_bytes());
            bytes
        } else {
            Vec::new()
        };
        out.push((path.clone(), contents));
        if meta.is_dir() {
            walk(&path, skip, out);
        }
    }
}

/// An interpreter that answers pyfod's question as the real one does, but names
/// itself: a venv built for it links `bin/python` here, so anything that wrote
/// through that link would change this file.
fn stand_in_python(bin: &Path) -> PathBuf {
    fs::create_dir_all(bin).unwrap();
    let real = pyfod_python::Interpreter::probe("python3").unwrap();
    let path = bin.join("python3");
    let markers: Vec<serde_json::Value> = real
        .markers
        .iter()
        .map(|(k, v)| serde_json::json!([k, v]))
        .collect();
    let answer = serde_json::json!({
        "executable": path,
        "real_executable": path,
        "version": real.version,
        "minor": real.minor,
        "build": real.build,
        "markers": markers,
        "glibc": real.glibc,
        "gil_disabled": false,
        "cflags": real.cflags,
        "ext_suffix": real.ext_suffix,
        "include": real.include,
    });
    fs::write(&path, format!("#!/bin/sh\ncat <<'EOF'\n{answer}\nEOF\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// One attack.
struct Row {
    attack: &'static str,
    /// Sets up the scratch project.
    setup: fn(&Scratch),
    /// Extra arguments to `pyfod build`.
    args: &'static [&'static str],
    code: i32,
    /// What the message must say (file names, members).
    says: &'static [&'static str],
}

fn wheel_row(attack: &'static str, says: &'static [&'static str], setup: fn(&Scratch)) -> Row {
    Row {
        attack,
        setup,
        args: &[],
        code: 1,
        says,
    }
}

const WHL: &str = "evil-1.0-py3-none-any.whl";

#[rustfmt::skip]
fn rows() -> Vec<Row> {
    vec![
        // Writing outside the venv, or over what it owns.
        wheel_row("an entry point named as a path out", &[WHL, "../../../../outside/x"], |s| s.lock_wheel(&Wheel { entry_points: Some("[console_scripts]\n../../../../outside/x = evil:main\n".into()), ..Wheel::new() })),
        wheel_row("an entry point named python", &[WHL, "`python`"], |s| s.lock_wheel(&Wheel { entry_points: Some("[console_scripts]\npython = evil:main\n".into()), ..Wheel::new() })),
        wheel_row("an entry point named python3.Y", &[WHL, "python3.11"], |s| s.lock_wheel(&Wheel { entry_points: Some("[console_scripts]\npython3.11 = evil:main\n".into()), ..Wheel::new() })),
        wheel_row("an entry point named activate", &[WHL, "activate"], |s| s.lock_wheel(&Wheel { entry_points: Some("[gui_scripts]\nactivate = evil:main\n".into()), ..Wheel::new() })),
        wheel_row("an entry point whose object is code", &[WHL, "`bad`"], |s| s.lock_wheel(&Wheel { entry_points: Some("[console_scripts]\nbad = os; import shutil:f\n".into()), ..Wheel::new() })),
        wheel_row(".data/scripts/python", &[WHL, "evil-1.0.data/scripts/python"], |s| s.lock_wheel(&Wheel::new().file("evil-1.0.data/scripts/python", b"#!/bin/sh\necho pwned\n"))),
        wheel_row(".data/scripts/python3", &[WHL, "evil-1.0.data/scripts/python3"], |s| s.lock_wheel(&Wheel::new().file("evil-1.0.data/scripts/python3", b"#!/bin/sh\necho pwned\n"))),
        wheel_row(".data/scripts/activate", &[WHL, "evil-1.0.data/scripts/activate"], |s| s.lock_wheel(&Wheel::new().file("evil-1.0.data/scripts/activate", b"echo pwned\n"))),
        wheel_row(".data/scripts in a subdirectory out", &[WHL, "../"], |s| s.lock_wheel(&Wheel::new().file("evil-1.0.data/scripts/../../../x", b"x"))),
        wheel_row(".data/data/bin/python", &[WHL, "evil-1.0.data/data/bin/python", "would overwrite a symlink"], |s| s.lock_wheel(&Wheel::new().file("evil-1.0.data/data/bin/python", b"#!/bin/sh\necho pwned\n"))),
        wheel_row(".data/data/lib64/… through the venv's symlink", &[WHL, "lib64"], |s| s.lock_wheel(&Wheel::new().file("evil-1.0.data/data/lib64/python3.11/site-packages/x.py", b"x"))),
        wheel_row(".data/data/pyvenv.cfg", &[WHL, "pyvenv.cfg", "would overwrite a file"], |s| s.lock_wheel(&Wheel::new().file("evil-1.0.data/data/pyvenv.cfg", b"home = /tmp\n"))),
        wheel_row("a member with ..", &[WHL, "../../../outside/x"], |s| s.lock_wheel(&Wheel::new().file("../../../outside/x", b"x"))),
        wheel_row("a member in a directory named ..", &[WHL, "evil/../../x"], |s| s.lock_wheel(&Wheel::new().file("evil/../../x", b"x"))),
        wheel_row("an absolute member", &[WHL, "/tmp/x"], |s| s.lock_wheel(&Wheel::new().file("/tmp/x", b"x"))),
        // RECORD as a contract.
        wheel_row("a member not in RECORD", &[WHL, "evil/sneaky.py", "not in its RECORD"], |s| s.lock_wheel(&Wheel { unlisted: vec![("evil/sneaky.py".into(), b"import os\n".to_vec())], ..Wheel::new() })),
        wheel_row("a RECORD row without a member", &[WHL, "evil/ghost.py", "does not hold"], |s| s.lock_wheel(&Wheel { record: |r| format!("evil/ghost.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n{r}"), ..Wheel::new() })),
        wheel_row("a RECORD digest that is wrong", &[WHL, "evil/__init__.py", "does not have the hash its RECORD gives"], |s| s.lock_wheel(&Wheel { record: wrong_digest, ..Wheel::new() })),
        wheel_row("a RECORD size that is wrong", &[WHL, "evil/__init__.py", "is 7 bytes"], |s| s.lock_wheel(&Wheel { record: |r| r.replacen(",6\n", ",7\n", 1), ..Wheel::new() })),
        wheel_row("a RECORD row without a digest", &[WHL, "evil/__init__.py", "gives no digest"], |s| s.lock_wheel(&Wheel { record: |r| { let at = r.find(",sha256=").unwrap(); let end = r[at..].find(",6\n").unwrap(); format!("{}{}", &r[..at + 1], &r[at + end..]) }, ..Wheel::new() })),
        wheel_row("a member twice", &[WHL, "a member name twice"], |s| s.lock_wheel(&Wheel { unlisted: vec![("evil/__init__.PY".into(), b"import os\n".to_vec())], patch: |b| replace_all(b, b"evil/__init__.PY", b"evil/__init__.py"), ..Wheel::new() })),
        wheel_row("METADATA of another name", &[WHL, "METADATA names other"], |s| s.lock_wheel(&Wheel { metadata: Some("Metadata-Version: 2.1\nName: other\nVersion: 1.0\n".into()), ..Wheel::new() })),
        wheel_row("METADATA of another version", &[WHL, "METADATA names evil 6.6.6"], |s| s.lock_wheel(&Wheel { metadata: Some("Metadata-Version: 2.1\nName: evil\nVersion: 6.6.6\n".into()), ..Wheel::new() })),
        wheel_row("a WHEEL tag that is not the file name's", &[WHL, "WHEEL says its tags are cp311-cp311-manylinux_2_17_x86_64"], |s| s.lock_wheel(&Wheel { wheel_meta: Some("Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: cp311-cp311-manylinux_2_17_x86_64\n".into()), ..Wheel::new() })),
        wheel_row("a Wheel-Version 2", &[WHL, "Wheel-Version 2.0"], |s| s.lock_wheel(&Wheel { wheel_meta: Some("Wheel-Version: 2.0\nTag: py3-none-any\n".into()), ..Wheel::new() })),
        wheel_row("two dist-info directories", &[WHL, "exactly one .dist-info"], |s| s.lock_wheel(&Wheel::new().file("other-1.0.dist-info/METADATA", b"Name: other\n"))),
        wheel_row("a member name that is not UTF-8", &[WHL, "is not UTF-8"], |s| s.lock_wheel(&Wheel { patch: |b| replace_all(b, b"evil/NAME.py", b"evil/\xff\xfe\xfd\xfc.py"), ..Wheel::new().file("evil/NAME.py", b"x") })),
        // Resources.
        wheel_row("a zip bomb", &[WHL, "zip bomb"], |s| s.lock_wheel(&Wheel::new().file("evil/zeros.bin", &vec![0u8; 300 << 20]))),
        wheel_row("a member that inflates past what it declares", &[WHL, "evil/big.bin", "larger than its declared"], |s| s.lock_wheel(&Wheel { patch: |b| declare_smaller(b, 4096), record: |r| r.replace(",4096\n", ",\n"), ..Wheel::new().file("evil/big.bin", &[7u8; 4096]) })),
        // A hostile lock.
        Row { attack: "a git commit that is a path", setup: |s| s.lock("[[package]]\nname = \"evil\"\nversion = \"1.0\"\nsource = { git = \"https://example.invalid/r#../../../../outside/x\" }\n", "evil"), args: &[], code: 1, says: &["evil", "does not end in #<the full commit hash"] },
        Row { attack: "a version that is a path", setup: |s| s.lock("[[package]]\nname = \"evil\"\nversion = \"1.0/../../../../outside/x\"\nsource = { path = \"e.whl\" }\n", "evil"), args: &[], code: 1, says: &["evil", "is not a PEP 440 version"] },
        Row { attack: "a package name that is a path", setup: |s| s.lock("[[package]]\nname = \"../evil\"\nversion = \"1.0\"\nsource = { path = \"e.whl\" }\n", "../evil"), args: &[], code: 1, says: &["../evil", "is not a package name"] },
        Row { attack: "a repository git takes for an option", setup: |s| s.lock("[[package]]\nname = \"evil\"\nversion = \"1.0\"\nsource = { git = \"--upload-pack=touch /tmp/x#3127df0b308938faaa52dcaab9f661fa837ab5d0\" }\n", "evil"), args: &[], code: 1, says: &["evil", "option"] },
        Row { attack: "a directory source outside the project, refused", setup: |s| { fs::write(s.project.join("pyfod.toml"), "[fetch]\noutside-project = \"refuse\"\n").unwrap(); s.lock("[[package]]\nname = \"evil\"\nversion = \"1.0\"\nsource = { directory = \"../../outside\" }\n", "evil"); }, args: &[], code: 1, says: &["evil", "outside the project's directory"] },
        // A hostile command line.
        Row { attack: "--jobs 100000", setup: |s| s.lock_wheel(&Wheel::new()), args: &["--jobs", "100000"], code: 2, says: &["--jobs", "at most 256"] },
        Row { attack: "a relative --prefix", setup: |s| s.lock_wheel(&Wheel::new()), args: &["--prefix", "relative/venv"], code: 1, says: &["--prefix relative/venv is relative"] },
    ]
}

/// The RECORD with the digest of `evil/__init__.py` another, of the same length.
fn wrong_digest(record: String) -> String {
    let at = record.find("evil/__init__.py,sha256=").unwrap() + "evil/__init__.py,sha256=".len();
    let mut bytes = record.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// The archive with `evil/big.bin` declared as 1 byte in its local and central
/// headers: the member inflates past what it declares.
fn declare_smaller(mut bytes: Vec<u8>, member_size: u32) -> Vec<u8> {
    let name = b"evil/big.bin";
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(name.len()).position(|w| w == name) {
        let name_at = at + found;
        // A local header is 30 bytes before its name, a central one 46.
        for (header, signature, size_at) in [(30, 0x04034b50u32, 22), (46, 0x02014b50, 24)] {
            if name_at >= header
                && bytes[name_at - header..name_at - header + 4] == signature.to_le_bytes()
            {
                let field = name_at - header + size_at;
                assert_eq!(bytes[field..field + 4], member_size.to_le_bytes());
                bytes[field..field + 4].copy_from_slice(&1u32.to_le_bytes());
            }
        }
        at = name_at + name.len();
    }
    bytes
}

#[test]
fn every_attack_is_refused_naming_its_file_and_nothing_escapes() {
    let failures = rows::failures(&rows(), check);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn check(row: &Row) -> Result<(), String> {
    let scratch = Scratch::new();
    (row.setup)(&scratch);
    let python_before = fs::read(&scratch.python).unwrap();
    let before = scratch.outside_snapshot();
    let output = scratch.build(row.args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let fail = |what: String| Err(format!("{}: {what}\n{stderr}", row.attack));
    if output.status.code() != Some(row.code) {
        return fail(format!("exit {:?}, not {}", output.status.code(), row.code));
    }
    if let Some(missing) = row.says.iter().find(|s| !stderr.contains(**s)) {
        return fail(format!("the message does not say {missing:?}"));
    }
    if scratch.outside_snapshot() != before {
        return fail("something outside the scratch directory changed".into());
    }
    if fs::read_dir(&scratch.outside).unwrap().next().is_some() {
        return fail("something was written into outside/".into());
    }
    if fs::read(&scratch.python).unwrap() != python_before {
        return fail("the interpreter changed".into());
    }
    if scratch.root.join("scratch/out").exists() {
        return fail("--out was written".into());
    }
    Ok(())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    pyfod_digest::Sha256::of(bytes).0
}
