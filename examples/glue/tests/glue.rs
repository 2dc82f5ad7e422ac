//! The glued builder runs on the bundled example and delivers what it says.

use std::path::Path;
use std::process::Command;

#[test]
fn a_builder_glued_from_the_libraries_installs_scrubs_and_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hello/uv.lock");
    let out = tmp.path().join("out");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_glue"))
            .arg(&lock)
            .arg(tmp.path().join("store"))
            .arg(&out)
            .arg("/opt/glued")
            .args(["plainsdist", "tinyext"])
            .output()
            .unwrap()
    };
    let output = run();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("glue: 2 RECORD files removed"), "{stderr}");
    let hash = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let site = std::fs::read_dir(out.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages");
    assert!(site.join("greeting/__init__.py").is_file());
    assert!(site.join("colorless").is_dir());
    assert!(!site.join("tinyext").exists(), "left out, as asked");
    assert!(!site.join("greeting-1.0.dist-info/RECORD").exists());
    assert!(!out.join("bin").exists(), "pyfod's scrub rules ran too");
    assert!(hash.starts_with("sha256-"), "{hash}");
    // Again, from the store: the same.
    let again = run();
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), hash);
}
