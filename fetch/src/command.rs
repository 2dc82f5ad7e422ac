//! `pyfod fetch` and `pyfod-fetch`.

use std::process::ExitCode;

use anyhow::Context;
use pyfod_cli::GlobalArgs;

use pyfod_manifest::Manifest;

use crate::Options;

/// Decide, and fetch, every artifact a uv.lock needs for a target
#[derive(Debug, Clone, clap::Args)]
pub struct Command {
    /// Print what the target needs, one line a package, and download nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Also write the fetch manifest to FILE
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub options: Options,
}

pub fn execute(command: &Command, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let context = || format!("cannot realise {}", command.options.lock.display());
    if !command.dry_run {
        let store = global.open_store()?;
        let manifest = crate::run(&command.options, &store).with_context(context)?;
        let bytes = manifest.encode(Some(manifest.lock));
        if let Some(path) = &command.manifest {
            pyfod_store::write_atomic(path, &bytes).with_context(|| {
                format!("cannot write the fetch manifest to {}", path.display())
            })?;
        }
        if !global.quiet {
            let total: u64 = manifest
                .packages
                .iter()
                .map(|p| match &p.artifact {
                    pyfod_manifest::Artifact::Wheel(f) | pyfod_manifest::Artifact::Sdist(f) => {
                        f.size
                    }
                    pyfod_manifest::Artifact::Tree { .. } => 0,
                })
                .sum();
            eprintln!(
                "fetched {} artifacts ({:.1} MiB) into {}",
                manifest.packages.len(),
                total as f64 / (1024.0 * 1024.0),
                store.root().display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let plan = crate::plan(&command.options).with_context(context)?;
    let plans = plan.plans()?;
    {
        let mut lines: Vec<String> = plans.iter().map(crate::Plan::line).collect();
        lines.sort();
        let mut text = lines.join("\n");
        text.push('\n');
        pyfod_cli::print_stdout(&text);
    }
    Ok(ExitCode::SUCCESS)
}
