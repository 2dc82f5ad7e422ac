//! The real Nix builds the fixed-output derivations `pyfod nix fod` writes, in
//! its sandbox, with an interpreter and a library that live in the Nix store:
//! Nix accepts pyfod's hash, Nix's `got:` is pyfod's hash, Nix does not accept
//! the references pyfod's closing check names first, and the references Nix
//! finds are those the scrub manifest records. nixpkgs is out of reach here, so
//! `<nixpkgs>` is the stand-in of `tests/fixtures/nixpkgs`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use pyfod_digest::{HashFormat, Sha256};
use pyfod_manifest::{Manifest, ScrubManifest};
use pyfod_nix::{HashMismatch, Verdict};
use pyfod_tests::nixbuild::{self, Nix};

/// What every test here shares: Nix, and in its store the interpreter, pyfod
/// and libtiny.
struct Shared {
    nix: &'static Nix,
    /// `PYFOD_TEST_PACKAGES` for the stand-in nixpkgs.
    packages: String,
    python: nixbuild::StorePython,
    tinylib: String,
}

static SHARED: OnceLock<Option<Shared>> = OnceLock::new();

fn shared(test: &str) -> Option<&'static Shared> {
    let nix = Nix::get(test)?;
    if !pyfod_tests::oracle::tool_available("cc", test) {
        return None;
    }
    let shared = SHARED.get_or_init(|| {
        let scratch = tempfile::tempdir().unwrap();
        let python = nixbuild::store_python(nix, scratch.path())?;
        let pyfod = scratch.path().join("pyfod");
        fs::create_dir_all(pyfod.join("bin")).unwrap();
        fs::copy(env!("CARGO_BIN_EXE_pyfod"), pyfod.join("bin/pyfod")).unwrap();
        let pyfod = nix.add(&pyfod);
        let tinylib = nix.add(&libtiny(scratch.path()));
        let packages = nixbuild::packages(&[
            (&python.attribute, &python.path),
            ("pyfod", &pyfod),
            ("tinylib", &tinylib),
        ]);
        Some(Shared {
            nix,
            packages,
            python,
            tinylib,
        })
    });
    if shared.is_none() {
        pyfod_tests::oracle::announce_skip(test, "Debian's python3 at /usr/bin/python3");
    }
    shared.as_ref()
}

/// `tests/fixtures/storelink/tiny` compiled: `include/tiny.h`, `lib/libtiny.so`.
fn libtiny(scratch: &Path) -> PathBuf {
    let source = pyfod_tests::fixture("storelink/tiny");
    let dir = scratch.join("tinylib");
    fs::create_dir_all(dir.join("include")).unwrap();
    fs::create_dir_all(dir.join("lib")).unwrap();
    fs::copy(source.join("tiny.h"), dir.join("include/tiny.h")).unwrap();
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(dir.join("lib/libtiny.so"))
        .arg(source.join("tiny.c"))
        .status()
        .unwrap();
    assert!(status.success(), "cc libtiny");
    dir
}

fn pyfod(shared: &Shared) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyfod"));
    shared.nix.configure(&mut command);
    command
        .env("PYFOD_TEST_PACKAGES", &shared.packages)
        .env_remove("RUST_LOG");
    command
}

fn nix_build(shared: &Shared, file: &Path) -> Output {
    let mut command = shared.nix.command("nix-build");
    command
        .arg(file)
        .arg("--no-out-link")
        .env("PYFOD_TEST_PACKAGES", &shared.packages);
    command.output().unwrap()
}

/// A copy of a project in a new directory.
fn project(from: &Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    pyfod_tests::copy_dir(from, &dir);
    (tmp, dir)
}

fn hello() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello")
}

/// `pyfod nix fod --lock DIR/uv.lock --python … ARGS… --output FILE`.
fn fod_command(shared: &Shared, dir: &Path, args: &[&str], file: &Path) -> Command {
    let mut command = pyfod(shared);
    command
        .args(["nix", "fod", "--lock"])
        .arg(dir.join("uv.lock"))
        .arg("--python")
        .arg(format!("{}/bin/python3", shared.python.path))
        .args(args)
        .arg("--output")
        .arg(file);
    command
}

/// `pyfod nix fod ARGS… --output DIR/NAME`.
fn write_fod(shared: &Shared, dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let file = dir.join(name);
    let output = fod_command(shared, dir, args, &file).output().unwrap();
    assert!(output.status.success(), "pyfod nix fod: {output:?}");
    file
}

/// `pyfod nix fod … --build`: the hash Nix accepted, where the output is, and
/// the log.
fn build_fod(shared: &Shared, dir: &Path, args: &[&str]) -> (Sha256, String, String) {
    let file = dir.join("python-deps.nix");
    let output = fod_command(shared, dir, args, &file)
        .arg("--build")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "pyfod nix fod --build: {stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let hash = HashFormat::parse_any(stdout.lines().last().unwrap()).unwrap();
    let accepted = format!("pyfod: Nix accepts {} for ", hash.to_sri());
    let path = stderr
        .lines()
        .find_map(|l| l.strip_prefix(&accepted))
        .unwrap_or_else(|| panic!("no `{accepted}` in {stderr}"))
        .to_owned();
    let written = fs::read_to_string(&file).unwrap();
    assert!(
        written.contains(&format!("outputHash = \"{}\";", hash.to_sri())),
        "{written}"
    );
    (hash, path, stderr)
}

/// The hashes `pyfod build` printed inside Nix's builder: the lines of Nix's log
/// that are a hash alone.
fn printed_by_pyfod(log: &str) -> Vec<Sha256> {
    log.lines()
        .filter(|l| l.starts_with("sha256-"))
        .filter_map(|l| HashFormat::parse_any(l).ok())
        .collect()
}

/// Nix accepts a valid output with no references, whose NAR hash (by
/// nix-hash, the oracle) is `hash`; and built again from nothing, where `$out`
/// is the output's own path rather than the fake hash's, the output is the same.
fn assert_accepted(shared: &Shared, file: &Path, path: &str, hash: &Sha256) {
    assert!(shared.nix.is_valid(path), "{path} is not valid");
    assert_eq!(shared.nix.references(path), Vec::<String>::new());
    let oracle = pyfod_tests::oracle::nix_hash(Path::new(path)).expect("nix-hash");
    assert_eq!(oracle, hash.format(HashFormat::Nix32));
    let again = shared
        .nix
        .command("nix-build")
        .arg(file)
        .args(["--no-out-link", "--check"])
        .env("PYFOD_TEST_PACKAGES", &shared.packages)
        .output()
        .unwrap();
    assert!(again.status.success(), "nix-build --check: {again:?}");
}

#[test]
fn nix_takes_pyfods_hash_for_the_bundled_example() {
    let test = "nix_takes_pyfods_hash_for_the_bundled_example";
    let Some(shared) = shared(test) else { return };
    let (_tmp, dir) = project(&hello());
    let (hash, path, log) = build_fod(shared, &dir, &[]);
    // The first build, with the fake hash: Nix's `got:` is what pyfod printed.
    assert!(log.contains(&format!("got:    {}", hash.to_sri())), "{log}");
    assert_eq!(printed_by_pyfod(&log), [hash]);
    assert_accepted(shared, &dir.join("python-deps.nix"), &path, &hash);
    let cfg = fs::read_to_string(Path::new(&path).join("pyvenv.cfg")).unwrap();
    assert!(cfg.contains("home = @python@/bin"), "{cfg}");

    // pyfod outside Nix, with the same interpreter (by the same name: a venv's
    // bin/python names it) and prefix: the same hash.
    let outside = dir.join("outside");
    let output = pyfod(shared)
        .arg("--store")
        .arg(dir.join("store"))
        .args(["build", "--lock"])
        .arg(dir.join("uv.lock"))
        .args([
            "--python",
            &format!("{}/bin/{}", shared.python.path, shared.python.executable),
            "--prefix",
            &path,
            "--out",
        ])
        .arg(&outside)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().last(), Some(hash.to_sri().as_str()));
}

#[test]
fn a_wrong_hash_fails_and_nixs_got_is_pyfods_hash() {
    let test = "a_wrong_hash_fails_and_nixs_got_is_pyfods_hash";
    let Some(shared) = shared(test) else { return };
    let (_tmp, dir) = project(&hello());
    let wrong = Sha256::of(b"not the venv").to_sri();
    let file = write_fod(shared, &dir, "python-deps.nix", &["--hash", &wrong]);
    let output = nix_build(shared, &file);
    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stderr);
    let mismatch = HashMismatch::find(&log).unwrap_or_else(|| panic!("no mismatch in {log}"));
    assert_eq!(mismatch.specified.map(|h| h.to_sri()), Some(wrong.clone()));
    assert_eq!(printed_by_pyfod(&log), [mismatch.got]);

    // `--build --hash` checks the hash: Nix's report, exit 102, Nix's hash last.
    let checked = fod_command(shared, &dir, &["--hash", &wrong], &file)
        .arg("--build")
        .output()
        .unwrap();
    assert_eq!(checked.status.code(), Some(102), "{checked:?}");
    let stdout = String::from_utf8(checked.stdout).unwrap();
    assert_eq!(stdout.lines().last(), Some(mismatch.got.to_sri().as_str()));
    let stderr = String::from_utf8(checked.stderr).unwrap();
    assert!(
        stderr.contains(&format!("  specified: {wrong}\n")),
        "{stderr}"
    );
}

#[test]
fn the_seed_style_fod_is_accepted_with_pyfods_hash() {
    let test = "the_seed_style_fod_is_accepted_with_pyfods_hash";
    let Some(shared) = shared(test) else { return };
    if !pyfod_tests::oracle::tool_available("uv", test) {
        return;
    }
    let (_tmp, dir) = project(&hello());
    fs::write(dir.join("pyfod.toml"), "preset = \"seed\"\n").unwrap();
    let (hash, path, log) = build_fod(shared, &dir, &[]);
    assert_eq!(printed_by_pyfod(&log), [hash]);
    assert_accepted(shared, &dir.join("python-deps.nix"), &path, &hash);
    let written = fs::read_to_string(dir.join("python-deps.nix")).unwrap();
    assert!(written.contains("--compat uv="), "{written}");
    // The seed's installPhase: no bin/, no bytecode.
    assert!(!Path::new(&path).join("bin").exists());
}

/// The extension links libtiny with an RPATH into the store; scrubbed, Nix
/// accepts the venv, and the RPATH keeps its length with the hash part gone.
#[test]
fn an_extension_linked_into_the_store_is_accepted_scrubbed() {
    let test = "an_extension_linked_into_the_store_is_accepted_scrubbed";
    let Some(shared) = shared(test) else { return };
    let (_tmp, dir) = project(&pyfod_tests::fixture("storelink"));
    let (hash, path, log) = build_fod(shared, &dir, &["--build-input", "tinylib"]);
    assert_eq!(printed_by_pyfod(&log), [hash]);
    assert_accepted(shared, &dir.join("python-deps.nix"), &path, &hash);
    let extension = find(Path::new(&path), "_linked.cpython").expect("the extension");
    let bytes = fs::read(&extension).unwrap();
    let scrubbed = format!(
        "/nix/store/{}-{}/lib",
        "e".repeat(32),
        nixbuild::store_name(&shared.tinylib)
    );
    assert!(
        contains(&bytes, scrubbed.as_bytes()),
        "{} has no {scrubbed}",
        extension.display()
    );
}

/// With the scrub turned off (`--preset none`), pyfod's closing check names the
/// references, Nix does not accept the output, and the references Nix registers
/// for the same venv in an ordinary derivation are exactly those: the ones the
/// scrub manifest records, the ELF run paths among them.
#[test]
fn unscrubbed_references_are_those_pyfod_names_and_nix_finds() {
    let test = "unscrubbed_references_are_those_pyfod_names_and_nix_finds";
    let Some(shared) = shared(test) else { return };
    let (_tmp, dir) = project(&pyfod_tests::fixture("storelink"));
    let args = ["--build-input", "tinylib", "--preset", "none"];
    let file = write_fod(shared, &dir, "unscrubbed.nix", &args);
    let text = fs::read_to_string(&file).unwrap();
    assert!(!text.contains("--strict"), "{text}");

    // The fixed output: once to learn its hash, then with it.
    let first = nix_build(shared, &file);
    let log = String::from_utf8_lossy(&first.stderr).into_owned();
    let named = named_by_pyfod(&log);
    let verdict = match HashMismatch::find(&log) {
        Some(mismatch) => {
            let fake = pyfod_nix::FAKE_HASH.to_sri();
            fs::write(&file, text.replace(&fake, &mismatch.got.to_sri())).unwrap();
            let second = nix_build(shared, &file);
            Verdict::read(
                second.status.success(),
                &String::from_utf8_lossy(&second.stdout),
                &String::from_utf8_lossy(&second.stderr),
            )
        }
        None => Verdict::read(false, "", &log),
    };
    match verdict {
        // Nix before 2.12 prints the output path but registers the output
        // elsewhere, under a path that names its references.
        Verdict::Built { path } => assert!(!shared.nix.is_valid(&path), "Nix accepted {path}"),
        Verdict::RefersToStore { .. } => {}
        other => panic!("Nix neither refused nor mis-registered the output: {other:?}\n{log}"),
    }

    // The same venv as an ordinary derivation: Nix registers what it finds.
    let twin = dir.join("twin.nix");
    let ordinary: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("outputHash"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&twin, ordinary).unwrap();
    let built = nix_build(shared, &twin);
    assert!(built.status.success(), "{built:?}");
    let twin_out = nixbuild::stdout_path(&built).to_string_lossy().into_owned();
    let found: BTreeSet<String> = shared.nix.references(&twin_out).into_iter().collect();
    assert!(
        found.contains(&shared.tinylib) && found.contains(&shared.python.path),
        "{found:?}"
    );
    assert!(
        found.contains(&twin_out),
        "the launchers name the venv: {found:?}"
    );

    // pyfod named the same paths first (its own output path stands for the twin's).
    let others = |paths: &BTreeSet<String>| -> BTreeSet<String> {
        paths
            .iter()
            .filter(|p| nixbuild::store_name(p) != "storelink-python-deps")
            .cloned()
            .collect()
    };
    assert_eq!(others(&named), others(&found), "{log}");
    assert_eq!(named.len(), found.len(), "one output path each: {named:?}");

    // The scrub manifest of that venv records exactly what Nix found (with bin/
    // kept: the references there are the venv's own and the interpreter's), and
    // the extension's RPATH entry into libtiny.
    let manifest = dir.join("scrub.manifest");
    let scrub = pyfod(shared)
        .args(["scrub", "--keep-bin", &twin_out, "--out"])
        .arg(dir.join("scrubbed"))
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(scrub.status.success(), "{scrub:?}");
    let manifest = ScrubManifest::decode(&fs::read(&manifest).unwrap())
        .unwrap()
        .1;
    let recorded: BTreeSet<String> = manifest
        .targets
        .iter()
        .chain(&manifest.python_prefix)
        .cloned()
        .collect();
    assert_eq!(recorded, found);
    let rpaths: BTreeSet<String> = manifest
        .elf
        .iter()
        .flat_map(|elf| &elf.store_entries)
        .map(|entry| store_path_of(&String::from_utf8_lossy(entry.as_bytes())))
        .collect();
    assert_eq!(rpaths, BTreeSet::from([shared.tinylib.clone()]));
}

/// The store paths of pyfod's "still refers to" warnings in a log.
fn named_by_pyfod(log: &str) -> BTreeSet<String> {
    log.lines()
        .filter_map(|l| l.split_once(" still refers to ").map(|(_, path)| path))
        .map(|path| store_path_of(path.split_whitespace().next().unwrap_or(path)))
        .collect()
}

/// `/nix/store/<hash>-<name>` of a path inside it.
fn store_path_of(path: &str) -> String {
    let rest = path.strip_prefix("/nix/store/").unwrap_or(path);
    format!("/nix/store/{}", rest.split('/').next().unwrap_or(rest))
}

fn find(dir: &Path, prefix: &str) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if entry.file_type().ok()?.is_dir() {
            if let Some(found) = find(&path, prefix) {
                return Some(found);
            }
        } else if entry.file_name().to_string_lossy().starts_with(prefix) {
            return Some(path);
        }
    }
    None
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
