//! The build-sdist stage: sdists and source trees built into wheels, reproducibly.
//!
//! Not built yet: tracked in issue #6. The crate exists so that the
//! workspace, the `pyfod` command and the `pyfod-build-sdist` binary have their final
//! shape; both commands say so and exit 1 rather than pretend.

use std::ffi::OsString;
use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
#[error(
    "the build-sdist stage is not implemented yet (issue #6); locks whose every package has a wheel need no build: `pyfod build` realises them"
)]
pub struct NotImplemented;

/// `pyfod build-sdist`: accepts any arguments, so that the answer is the same whatever
/// is passed.
#[derive(Debug, Clone, clap::Args)]
pub struct Command {
    #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

pub fn execute(_command: &Command) -> anyhow::Result<ExitCode> {
    Err(NotImplemented.into())
}
