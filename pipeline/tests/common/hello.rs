//! `pyfod build` of the bundled example, shared by the test files that need it.

use std::path::Path;
use std::process::Command;

/// `pyfod build` of `examples/hello` for `prefix`, on `store`, with `python3`:
/// add `--out` and whatever else the test needs.
pub fn build_hello(store: &Path, prefix: &str) -> Command {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/uv.lock");
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("pyfod"));
    command
        .env_remove("RUST_LOG")
        .arg("--store")
        .arg(store)
        .args(["build", "--python", "python3", "--prefix", prefix, "--lock"])
        .arg(lock);
    command
}
