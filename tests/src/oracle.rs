//! Nix itself, as the judge of NAR hashes.

use std::path::Path;
use std::process::Command;

/// `nix-hash --type sha256 --base32 PATH` (Nix's base-32; nix-hash 2.8 has no
/// SRI output), or `None` when nix-hash is not installed. Any other failure
/// panics with nix-hash's own message.
pub fn nix_hash(path: &Path) -> Option<String> {
    let output = match Command::new("nix-hash")
        .args(["--type", "sha256", "--base32"])
        .arg(path)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run nix-hash: {e}"),
    };
    assert!(
        output.status.success(),
        "nix-hash failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap().trim().to_owned())
}

/// Whether the Nix oracle can run here. When it cannot, the caller should say so
/// loudly: CI installs it, so a skip there is a broken CI.
pub fn nix_hash_available() -> bool {
    Command::new("nix-hash").arg("--version").output().is_ok()
}

/// Whether `tool` runs here. When it does not, says so loudly ([`announce_skip`]),
/// so a test can skip rather than fail on a machine without it.
pub fn tool_available(tool: &str, test: &str) -> bool {
    if Command::new(tool).arg("--version").output().is_ok() {
        return true;
    }
    announce_skip(test, tool);
    false
}

/// The loud message of a skipped test; a failure instead when
/// `PYFOD_REQUIRE_ORACLE` is set, as CI sets it, so CI never skips.
pub fn announce_skip(test: &str, tool: &str) {
    if std::env::var_os("PYFOD_REQUIRE_ORACLE").is_some() {
        panic!("{test}: `{tool}` is required (PYFOD_REQUIRE_ORACLE is set) but not installed");
    }
    eprintln!(
        "\n!!! SKIPPED {test}: `{tool}` is not installed here; install it to run this test (CI does: see .ci/run).\n"
    );
}

/// The NAR bytes `nix-store --dump PATH` writes, or `None` without Nix.
pub fn nix_store_dump(path: &Path) -> Option<Vec<u8>> {
    let output = match Command::new("nix-store").arg("--dump").arg(path).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run nix-store: {e}"),
    };
    assert!(
        output.status.success(),
        "nix-store --dump failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(output.stdout)
}
