use std::fs;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use pyfod_manifest::AnyManifest;

/// `pyfod manifest show FILE`: the envelope and body of any manifest, as JSON.
pub fn execute(file: &Path) -> anyhow::Result<ExitCode> {
    let bytes = fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let (header, manifest) = AnyManifest::decode(&bytes)
        .with_context(|| format!("{} is not a usable manifest", file.display()))?;
    pyfod_cli::print_stdout(&(AnyManifest::to_json(&header, &manifest) + "\n"));
    Ok(ExitCode::SUCCESS)
}
