//! The same checks as `.ci/run`, minus the system packages it installs.

use crate::run_step;

pub fn run() -> anyhow::Result<()> {
    run_step("cargo", &["fmt", "--all", "--", "--check"])?;
    run_step(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run_step("cargo", &["test", "--workspace"])?;
    Ok(())
}
