//! Fixture builders for pyfod's tests and benchmarks.
//!
//! - [`random_tree`]: seeded trees full of the cases a NAR must get right (odd
//!   names, modes, symlinks of every kind, empty files and directories).
//! - [`venv_like_tree`]: a tree shaped like a real venv, for benchmarks.
//! - [`index`]: a PEP 503/691 package index on 127.0.0.1 that counts requests and misbehaves on demand.
//! - [`nixlike`]: a venv as it looks inside a Nix build, store references and all.
//! - [`oracle`]: the real Nix tools, found on PATH, for comparing against.
//! - [`nixbuild`]: the real Nix building derivations, sandboxed, with a stand-in nixpkgs.
//! - [`uvproject`]: projects locked and synced by the real `uv` against the test index.
//! - [`sources`]: source fixtures as sdists and git repositories, and the build tools.
//! - [`s3`]: a real S3 server (`s3s-fs`) on 127.0.0.1, for the remote cache.
//! - `fixtures/`: the seed's installPhase as a shell script, the reference for scrub.

pub mod index;
pub mod nixbuild;
pub mod nixlike;
pub mod oracle;
mod random;
pub mod s3;
pub mod sources;
pub mod uvproject;
mod venv;

pub use random::{TRICKY_NAMES, random_tree};
pub use venv::{VenvShape, add_store_references, venv_like_tree};

/// `tests/fixtures/<name>` in the source tree.
pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A copy of `binary` in `dir`, executable by every user: the tests that run a
/// binary as `nobody` cannot count on the checkout's parents being open to it.
pub fn runnable_by_anyone(binary: &std::path::Path, dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let copy = dir.join(binary.file_name().expect("a binary has a name"));
    std::fs::copy(binary, &copy).expect("copy the binary");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    copy
}

/// A recursive copy of the directory `from` into `to` (files and directories).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create a directory");
    for entry in std::fs::read_dir(from).expect("read a fixture directory") {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a fixture file");
        }
    }
}
