//! pyfod's Nix side: the fixed-output derivation whose builder is `pyfod build`
//! ([`FodExpression`]), and Nix's verdict on it ([`NixBuild`], [`Verdict`]).
//!
//! Nothing here evaluates Nix: the expression is text made from checked values
//! ([`syntax`]), and the verdict is read from what `nix-build` prints.

mod expression;
mod nix_build;
mod report;
pub mod syntax;

pub use expression::{FAKE_HASH, FodExpression, Network, NixPython, Prefix};
pub use nix_build::{NixBuild, NixBuildError, NixBuildOutput};
pub use report::{HashMismatch, Verdict};
