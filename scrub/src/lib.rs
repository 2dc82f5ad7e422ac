//! The scrub stage: store references and machine paths removed from a tree.
//!
//! Not built yet: tracked in issue #3. The crate exists so that the
//! workspace, the `pyfod` command and the `pyfod-scrub` binary have their final
//! shape; both commands say so and exit 1 rather than pretend.

use std::ffi::OsString;
use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
#[error(
    "the scrub stage is not implemented yet (issue #3); this pyfod can only hash trees: `pyfod hash PATH`"
)]
pub struct NotImplemented;

/// `pyfod scrub`: accepts any arguments, so that the answer is the same whatever
/// is passed.
#[derive(Debug, Clone, clap::Args)]
pub struct Command {
    #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

pub fn execute(_command: &Command) -> anyhow::Result<ExitCode> {
    Err(NotImplemented.into())
}
