//! SHA-256 digests and their textual forms.
//!
//! Every content digest in pyfod is a SHA-256: blob names in the store, manifest
//! checksums, and the NAR hash a Nix fixed-output derivation declares. This crate
//! holds the digest type and the encodings Nix prints and parses, so that a hash
//! written by pyfod can be pasted into a `.nix` file and one copied from a Nix error
//! can be given to `pyfod --expect`.

mod base16;
mod encoding;
pub mod nix32;
mod sha256;

pub use encoding::{HashFormat, ParseHashError};
pub use sha256::{Sha256, Sha256Hasher};
