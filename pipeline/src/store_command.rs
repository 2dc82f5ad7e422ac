//! `pyfod store verify` and `pyfod store gc`.

use std::process::ExitCode;
use std::time::Duration;

use pyfod_cli::GlobalArgs;
use pyfod_store::Store;

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Hash every blob and tree of the store again; remove what is damaged, so
    /// the next build makes it anew (exit 1 when something was)
    Verify,
    /// Remove what no recent build used; waits for running builds
    Gc {
        /// Remove entries not used for this long: `30d`, `12h`, `90m`
        #[arg(long, value_name = "AGE", value_parser = pyfod_config::parse_duration)]
        older_than: Option<Duration>,
        /// Then remove the least recently used until the store is this big: `10G`, `500M`
        #[arg(long, value_name = "SIZE", value_parser = pyfod_config::parse_size)]
        max_size: Option<u64>,
    },
}

pub fn execute(command: &StoreCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match command {
        StoreCommand::Verify => {
            let store = global.open_store()?;
            let report = store.verify()?;
            for problem in &report.problems {
                eprintln!("damaged: {} {} (removed)", problem.what, problem.damage);
            }
            if !global.quiet {
                eprintln!(
                    "checked {} blobs and {} entries of {}: {} damaged",
                    report.blobs,
                    report.entries,
                    store.root().display(),
                    report.problems.len()
                );
            }
            Ok(if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        StoreCommand::Gc {
            older_than,
            max_size,
        } => {
            let root = match &global.store {
                Some(root) => root.clone(),
                None => Store::default_root()?,
            };
            let options = pyfod_store::gc::GcOptions {
                older_than: *older_than,
                max_size: *max_size,
            };
            let report = pyfod_store::gc::gc(&root, &options)?;
            if !global.quiet {
                eprintln!(
                    "removed {} entries and {} blobs, {:.1} MiB; {:.1} MiB kept",
                    report.entries_removed,
                    report.blobs_removed,
                    report.bytes_freed as f64 / (1024.0 * 1024.0),
                    report.bytes_kept as f64 / (1024.0 * 1024.0),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
