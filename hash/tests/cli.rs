//! `pyfod-hash` as a user runs it: output, exit codes, and the files it writes.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;

const DIR_SRI: &str = "sha256-73KnUCGUddk7yNsl12F4kwXasq3T07hLXTvk5BupEZo=";

fn fixture(root: &Path) {
    fs::create_dir_all(root).unwrap();
    fs::write(root.join("f"), b"data").unwrap();
    fs::write(root.join("x"), b"run").unwrap();
    fs::set_permissions(root.join("x"), fs::Permissions::from_mode(0o755)).unwrap();
}

fn pyfod_hash() -> Command {
    let mut command = Command::cargo_bin("pyfod-hash").unwrap();
    command.env_remove("RUST_LOG");
    command
}

fn stdout_last_line(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn prints_the_hash_alone_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path());
    let cases = [
        ("sri", DIR_SRI),
        (
            "base16",
            "ef72a750219475d93bc8db25d761789305dab2add3d3b84b5d3be4e41ba9119a",
        ),
        (
            "nix32",
            "16him4dy9r1vbm5vilykmnrdl1ckg1hxf9fvr0xxjxcl458afwpg",
        ),
        ("base64", "73KnUCGUddk7yNsl12F4kwXasq3T07hLXTvk5BupEZo="),
    ];
    for (format, expected) in cases {
        let output = pyfod_hash()
            .args(["--format", format])
            .arg(tmp.path())
            .output()
            .unwrap();
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            format!("{expected}\n")
        );
    }
}

#[test]
fn expect_accepts_every_form_nix_does() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path());
    for expected in [
        DIR_SRI,
        "sha256:ef72a750219475d93bc8db25d761789305dab2add3d3b84b5d3be4e41ba9119a",
        "sha256:16him4dy9r1vbm5vilykmnrdl1ckg1hxf9fvr0xxjxcl458afwpg",
        "sha256:73KnUCGUddk7yNsl12F4kwXasq3T07hLXTvk5BupEZo=",
    ] {
        pyfod_hash()
            .args(["--expect", expected])
            .arg(tmp.path())
            .assert()
            .success();
    }
}

#[test]
fn a_mismatch_prints_nix_report_and_exits_102() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path());
    let wrong = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let output = pyfod_hash()
        .args(["--expect", wrong])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(102));
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert!(
        stderr.contains(&format!("  specified: {wrong}\n")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("     got:    {DIR_SRI}\n")),
        "{stderr}"
    );
    // nixpkgs' update scripts find the new hash with this pattern.
    let got = stderr
        .split("got:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    assert_eq!(got, DIR_SRI);
    assert_eq!(stdout_last_line(&output), DIR_SRI);
}

#[test]
fn a_mismatch_lists_what_differs_from_the_known_good_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    fixture(&tree);
    let good = tmp.path().join("good.manifest");
    pyfod_hash()
        .arg("--manifest")
        .arg(&good)
        .arg(&tree)
        .assert()
        .success();
    fs::write(tree.join("f"), b"other data").unwrap();
    fs::write(tree.join("new"), b"").unwrap();
    let output = pyfod_hash()
        .args(["--expect", DIR_SRI, "--known-good"])
        .arg(&good)
        .arg(&tree)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(102));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("changed  f  size 4 -> 10"), "{stderr}");
    assert!(stderr.contains("added    new  (file, 0 bytes)"), "{stderr}");
    assert!(stderr.contains("1 changed, 1 added, 0 removed"), "{stderr}");
}

#[test]
fn bad_expect_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let output = pyfod_hash()
        .args(["--expect", "sha256-tooshort"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("sha256-tooshort")
    );
}

#[test]
fn writes_the_nar_it_hashed() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    fixture(&tree);
    let nar = tmp.path().join("tree.nar");
    pyfod_hash()
        .args(["--format", "base16", "--nar"])
        .arg(&nar)
        .arg(&tree)
        .assert()
        .success()
        .stdout("ef72a750219475d93bc8db25d761789305dab2add3d3b84b5d3be4e41ba9119a\n");
    let bytes = fs::read(&nar).unwrap();
    assert_eq!(bytes.len(), 512);
    assert_eq!(pyfod_digest::Sha256::of(&bytes).to_sri(), DIR_SRI);
}

#[test]
fn errors_name_the_path_and_leave_no_partial_nar() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    fixture(&tree);
    let status = std::process::Command::new("mkfifo")
        .arg(tree.join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let nar = tmp.path().join("tree.nar");
    let output = pyfod_hash()
        .arg("--nar")
        .arg(&nar)
        .arg(&tree)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("pyfod-hash: error: cannot hash"),
        "{stderr}"
    );
    assert!(stderr.contains("pipe is a FIFO"), "{stderr}");
    assert!(!nar.exists());
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "a temporary file was left"
    );
}

/// Root reads any file, so the unreadable-file case runs the binary as `nobody`.
#[test]
fn an_unreadable_file_is_an_error_that_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    fixture(&tree);
    fs::write(tree.join("secret"), b"key").unwrap();
    fs::set_permissions(tree.join("secret"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let binary =
        pyfod_tests::runnable_by_anyone(&assert_cmd::cargo::cargo_bin("pyfod-hash"), tmp.path());
    let is_root = unsafe_free_uid() == 0;
    let mut command = if is_root {
        let mut command = std::process::Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&binary);
        command
    } else {
        std::process::Command::new(&binary)
    };
    let output = command.arg(&tree).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("cannot open") && stderr.contains("secret"),
        "{stderr}"
    );
    assert!(stderr.contains("Permission denied"), "{stderr}");
}

fn unsafe_free_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    // The owner of a file we just made is our effective uid.
    let tmp = tempfile::NamedTempFile::new().unwrap();
    tmp.path().metadata().unwrap().uid()
}
