use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use pyfod_cli::GlobalArgs;
use pyfod_hash::diff;
use pyfod_manifest::HashManifest;

/// `pyfod diff A B`
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Each side is a hash manifest (from `pyfod hash --manifest`) or a tree, which is \
                  hashed first. Entries are compared in NAR order: added, removed, and changed \
                  entries with their sizes and digests."
)]
pub struct Command {
    /// The old side: a hash manifest or a tree
    pub old: PathBuf,
    /// The new side: a hash manifest or a tree
    pub new: PathBuf,
    /// Exit 1 when the two differ, like `git diff --exit-code`
    #[arg(long)]
    pub exit_code: bool,
    /// Threads that read files ahead of the hasher [default: 3 per core, 4 to 16]
    #[arg(long, value_name = "N", value_parser = pyfod_cli::parse_jobs)]
    pub jobs: Option<usize>,
}

pub fn execute(command: &Command, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let jobs = command.jobs.and_then(std::num::NonZeroUsize::new);
    let old = load(&command.old, jobs)?;
    let new = load(&command.new, jobs)?;
    let changes = diff::diff(&old, &new);
    let mut out = format!(
        "--- {}  {}\n+++ {}  {}\n",
        command.old.display(),
        old.nar_sha256.to_sri(),
        command.new.display(),
        new.nar_sha256.to_sri()
    );
    out.push_str(&diff::render(&changes));
    pyfod_cli::print_stdout(&out);
    Ok(if command.exit_code && !changes.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A hash manifest from a manifest file, or by hashing a tree.
fn load(path: &Path, jobs: Option<std::num::NonZeroUsize>) -> anyhow::Result<HashManifest> {
    if is_manifest(path) {
        return pyfod_hash::command::read_hash_manifest(path);
    }
    pyfod_hash::run(path, jobs).with_context(|| format!("cannot hash {}", path.display()))
}

fn is_manifest(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    path.symlink_metadata().is_ok_and(|m| m.is_file())
        && fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
        && &magic == pyfod_manifest::envelope::MAGIC
}
