//! `pyfod fetch` and `pyfod-fetch`.

use std::process::ExitCode;

use anyhow::Context;
use pyfod_cli::GlobalArgs;

use crate::Options;

/// Decide, and fetch, every artifact a uv.lock needs for a target
#[derive(Debug, Clone, clap::Args)]
pub struct Command {
    /// Print what the target needs, one line a package, and download nothing
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub options: Options,
}

pub fn execute(command: &Command, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let plan = crate::plan(&command.options)
        .with_context(|| format!("cannot realise {}", command.options.lock.display()))?;
    let plans = plan.plans()?;
    if command.dry_run {
        let mut lines: Vec<String> = plans.iter().map(crate::Plan::line).collect();
        lines.sort();
        let mut text = lines.join("\n");
        text.push('\n');
        pyfod_cli::print_stdout(&text);
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::bail!(
        "downloading is not implemented yet (issue #4); `pyfod fetch --dry-run` prints what the target needs"
    )
}
