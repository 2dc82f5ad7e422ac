//! `pyfod-scrub` as a user runs it: where the result goes, bad input, and the
//! rules one can switch.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use assert_cmd::Command;
use pyfod_manifest::{Manifest, ReplacementKind, ScrubManifest};
use pyfod_tests::nixlike::hash_part;

const STORE: &str = "/nix/store";

fn store_path(name: &str) -> String {
    format!("{STORE}/{}-{name}", hash_part(name))
}

/// A small tree with references of several kinds, made without any tool.
fn tree(root: &Path) {
    let site = root.join("lib/python3.11/site-packages");
    fs::create_dir_all(site.join("pkg/__pycache__")).unwrap();
    fs::create_dir_all(root.join("bin")).unwrap();
    let python = store_path("python3-3.11.7");
    fs::write(
        root.join("pyvenv.cfg"),
        format!("home = {python}/bin\nversion_info = 3.11.7\n"),
    )
    .unwrap();
    fs::write(
        root.join("bin/tool"),
        format!("#!{python}/bin/python3.11\n"),
    )
    .unwrap();
    fs::write(
        site.join("pkg/paths.py"),
        format!(
            "ZLIB = '{}/lib'\nPY = '{python}/lib/python3.11'\n",
            store_path("zlib-1.3")
        ),
    )
    .unwrap();
    fs::write(
        site.join("pkg/__pycache__/paths.cpython-311.pyc"),
        b"\x00compiled",
    )
    .unwrap();
    symlink(
        format!("{}/lib/libz.so", store_path("zlib-1.3")),
        site.join("pkg/libz.so"),
    )
    .unwrap();
}

fn scrub() -> Command {
    let mut command = Command::cargo_bin("pyfod-scrub").unwrap();
    command.env_remove("RUST_LOG");
    command
}

fn read_manifest(path: &Path) -> ScrubManifest {
    ScrubManifest::decode(&fs::read(path).unwrap()).unwrap().1
}

#[test]
fn out_makes_a_scrubbed_copy_and_leaves_the_source() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, out) = (tmp.path().join("venv"), tmp.path().join("out"));
    tree(&src);
    let before = fs::read(src.join("lib/python3.11/site-packages/pkg/paths.py")).unwrap();
    let manifest = tmp.path().join("scrub.manifest");
    let output = scrub()
        .arg(&src)
        .arg("--out")
        .arg(&out)
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        fs::read(src.join("lib/python3.11/site-packages/pkg/paths.py")).unwrap(),
        before
    );
    let scrubbed =
        fs::read_to_string(out.join("lib/python3.11/site-packages/pkg/paths.py")).unwrap();
    assert!(!scrubbed.contains(&hash_part("zlib-1.3")), "{scrubbed}");
    assert!(!out.join("bin").exists());
    let link = fs::read_link(out.join("lib/python3.11/site-packages/pkg/libz.so")).unwrap();
    assert!(
        link.to_string_lossy()
            .contains("/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-zlib-1.3/")
    );
    let manifest = read_manifest(&manifest);
    assert_eq!(manifest.targets.len(), 2, "{:?}", manifest.targets);
    assert!(manifest.residuals.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("2 store paths stripped"), "{stderr}");
    // Nothing but `out` and the manifest was left beside it.
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 3);
}

#[test]
fn out_into_a_non_empty_directory_is_refused_and_nothing_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, out) = (tmp.path().join("venv"), tmp.path().join("out"));
    tree(&src);
    fs::create_dir(&out).unwrap();
    fs::write(out.join("keep.txt"), b"mine").unwrap();
    let output = scrub().arg(&src).arg("--out").arg(&out).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
    assert!(src.join("bin").exists());
}

#[test]
fn a_destination_is_required() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let output = scrub().arg(tmp.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("--in-place")
    );
    assert!(tmp.path().join("bin").exists());
}

#[test]
fn strict_makes_a_residual_exit_102() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    // The seed preset leaves symlinks and names alone: both are residuals.
    let site = tmp.path().join("lib/python3.11/site-packages");
    fs::write(site.join(format!("{}.txt", hash_part("zlib-1.3"))), b"").unwrap();
    let output = scrub()
        .args(["--in-place", "--preset", "seed", "--strict"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(102), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("warning: lib/python3.11/site-packages/pkg/libz.so still refers to"),
        "{stderr}"
    );
    assert!(stderr.contains("in its symlink target"), "{stderr}");
    assert!(stderr.contains("in its name"), "{stderr}");
}

#[test]
fn no_pyvenv_cfg_skips_the_interpreter_rule_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    fs::remove_file(tmp.path().join("pyvenv.cfg")).unwrap();
    let manifest = tmp.path().join("../scrub.manifest");
    let output = scrub()
        .arg("--in-place")
        .arg(tmp.path())
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("note: no pyvenv.cfg"), "{stderr}");
    let manifest = read_manifest(&manifest);
    assert!(manifest.python_prefix.is_none());
    // The seed preset fails here, as the seed's `sed -i` would.
    let output = scrub()
        .args(["--in-place", "--preset", "seed"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("has no pyvenv.cfg")
    );
}

#[test]
fn read_only_files_and_directories_are_scrubbed_with_their_modes() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let pkg = tmp.path().join("lib/python3.11/site-packages/pkg");
    fs::set_permissions(pkg.join("paths.py"), fs::Permissions::from_mode(0o444)).unwrap();
    fs::set_permissions(&pkg, fs::Permissions::from_mode(0o555)).unwrap();
    scrub().arg("--in-place").arg(tmp.path()).assert().success();
    let text = fs::read_to_string(pkg.join("paths.py")).unwrap();
    assert!(
        text.contains("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-zlib-1.3"),
        "{text}"
    );
    assert_eq!(
        fs::metadata(pkg.join("paths.py"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o444
    );
    assert_eq!(
        fs::metadata(&pkg).unwrap().permissions().mode() & 0o777,
        0o555
    );
    fs::set_permissions(&pkg, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Root reads anything, so this runs the binary as `nobody`.
#[test]
fn an_unreadable_file_is_an_error_that_names_it_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("venv");
    tree(&root);
    let secret = root.join("lib/python3.11/site-packages/pkg/secret.txt");
    fs::write(&secret, b"x").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(tmp.path())
        .status()
        .unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let binary =
        pyfod_tests::runnable_by_anyone(&assert_cmd::cargo::cargo_bin("pyfod-scrub"), tmp.path());
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&binary)
        .arg("--in-place")
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("secret.txt") && stderr.contains("Permission denied"),
        "{stderr}"
    );
    // It failed while reading, before changing anything.
    let paths = fs::read_to_string(root.join("lib/python3.11/site-packages/pkg/paths.py")).unwrap();
    assert!(paths.contains(&hash_part("zlib-1.3")));
    assert!(root.join("bin/tool").exists());
    assert!(
        fs::read_to_string(root.join("pyvenv.cfg"))
            .unwrap()
            .contains("/nix/store/")
    );
}

#[test]
fn explicit_keep_and_ref_rules() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let site = tmp.path().join("lib/python3.11/site-packages");
    // A bare hash part of a path found nowhere with its prefix: only --ref knows it.
    fs::write(site.join("pkg/id.txt"), hash_part("openssl-3")).unwrap();
    let refs = tmp.path().join("../closure.txt");
    fs::write(&refs, format!("# closure\n{}\n", store_path("openssl-3"))).unwrap();
    let manifest = tmp.path().join("../m");
    scrub()
        .arg("--in-place")
        .arg(tmp.path())
        .arg("--refs-from")
        .arg(&refs)
        .args(["--keep", &store_path("zlib-1.3")])
        .arg("--manifest")
        .arg(&manifest)
        .assert()
        .success();
    assert_eq!(
        fs::read_to_string(site.join("pkg/id.txt")).unwrap(),
        "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
    );
    let paths = fs::read_to_string(site.join("pkg/paths.py")).unwrap();
    assert!(paths.contains(&store_path("zlib-1.3")), "kept: {paths}");
    let manifest = read_manifest(&manifest);
    assert_eq!(manifest.kept, [store_path("zlib-1.3")]);
    assert!(manifest.targets.contains(&store_path("openssl-3")));

    let output = scrub()
        .arg("--in-place")
        .arg(tmp.path())
        .args(["--ref", "/usr/lib/libz.so"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("`/usr/lib/libz.so` is not a store path")
    );
}

#[test]
fn python_everywhere_puts_the_placeholder_in_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let manifest = tmp.path().join("../m");
    scrub()
        .args(["--in-place", "--python-everywhere", "--keep-bin"])
        .arg(tmp.path())
        .arg("--manifest")
        .arg(&manifest)
        .assert()
        .success();
    let paths =
        fs::read_to_string(tmp.path().join("lib/python3.11/site-packages/pkg/paths.py")).unwrap();
    assert!(paths.contains("PY = '@python@/lib/python3.11'"), "{paths}");
    assert_eq!(
        fs::read_to_string(tmp.path().join("bin/tool")).unwrap(),
        "#!@python@/bin/python3.11\n"
    );
    let manifest = read_manifest(&manifest);
    assert!(
        manifest
            .replacements
            .iter()
            .any(|r| r.kind == ReplacementKind::InterpreterPrefix)
    );
}

#[test]
fn seed_preset_refuses_rules_the_seed_does_not_have() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let output = scrub()
        .args(["--in-place", "--preset", "seed", "--keep-bin"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("--keep-bin does not apply")
    );
}

/// `none` is the scrub turned off: the tree is left byte for byte, and the
/// closing check names every reference Nix would find, in every kind of place.
#[test]
fn none_preset_changes_nothing_and_reports_every_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    tree(&venv);
    let nar = |tree: &Path| {
        pyfod_nar::hash_path(tree, &pyfod_nar::HashSettings::default(), None)
            .unwrap()
            .nar_sha256
    };
    let before = nar(&venv);
    let manifest = tmp.path().join("scrub.manifest");
    let output = scrub()
        .args(["--in-place", "--preset", "none", "--manifest"])
        .arg(&manifest)
        .arg(&venv)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(nar(&venv), before);
    let manifest = read_manifest(&manifest);
    assert!(manifest.replacements.is_empty() && manifest.removed.is_empty());
    let mut found: Vec<(String, String)> = manifest
        .residuals
        .iter()
        .map(|r| (r.path.to_string(), r.store_path.clone()))
        .collect();
    found.dedup();
    let (python, zlib) = (store_path("python3-3.11.7"), store_path("zlib-1.3"));
    let site = "lib/python3.11/site-packages/pkg";
    assert_eq!(
        found,
        [
            ("bin/tool".to_owned(), python.clone()),
            (format!("{site}/libz.so"), zlib.clone()),
            (format!("{site}/paths.py"), zlib.clone()),
            (format!("{site}/paths.py"), python.clone()),
            ("pyvenv.cfg".to_owned(), python.clone()),
        ]
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("warning: pyvenv.cfg still refers to {python}")),
        "{stderr}"
    );
    // With --strict the same check refuses the tree, as Nix would.
    let strict = scrub()
        .args(["--in-place", "--preset", "none", "--strict"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(102), "{strict:?}");
}

#[test]
fn none_preset_refuses_rules_that_change_the_tree() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let output = scrub()
        .args(["--in-place", "--preset", "none", "--keep-pyc"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("--keep-pyc does not apply to --preset none: it changes nothing"),
        "{stderr}"
    );
}
