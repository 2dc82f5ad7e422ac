//! Fixture builders for pyfod's tests and benchmarks.
//!
//! - [`random_tree`]: seeded trees full of the cases a NAR must get right (odd
//!   names, modes, symlinks of every kind, empty files and directories).
//! - [`venv_like_tree`]: a tree shaped like a real venv, for benchmarks.
//! - [`oracle`]: the real Nix tools, found on PATH, for comparing against.

pub mod oracle;
mod random;
mod venv;

pub use random::{TRICKY_NAMES, random_tree};
pub use venv::{VenvShape, venv_like_tree};
