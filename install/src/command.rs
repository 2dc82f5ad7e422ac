//! `pyfod install` and `pyfod-install`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use pyfod_cli::GlobalArgs;
use pyfod_manifest::AnyManifest;

use crate::{Interpreter, Options, WheelInput};

/// Make a venv from the wheels a fetch (or build-sdist) manifest names
#[derive(Debug, Clone, clap::Args)]
pub struct Command {
    /// The fetch or wheels manifest that names the wheels
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,

    /// Where to write the venv (new or empty)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    #[command(flatten)]
    pub options: Options,
}

pub fn execute(command: &Command, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let store = global.open_store()?;
    let wheels = wheels_of(&command.input, store.root())?;
    let interpreter = Interpreter::probe(command.options.python.as_deref().unwrap_or("python3"))?;
    let out = &command.out;
    if fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(crate::InstallError::NotEmpty(out.clone()).into());
    }
    let prefix = match &command.options.prefix {
        Some(prefix) => prefix.clone(),
        None => std::path::absolute(out)
            .with_context(|| format!("cannot make {} absolute", out.display()))?,
    };
    // Built beside `out` and renamed into place: `out` is never half-made.
    let work = pyfod_store::sibling_temp(out, "install");
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let collisions = match &command.options.config {
        Some(path) => crate::collisions::load(path)?.rules(),
        None => Default::default(),
    };
    let layout = crate::Layout {
        prefix,
        prompt: command.options.prompt.clone(),
        compat: command.options.compat.clone(),
        collisions,
    };
    let result = crate::install(&wheels, &work, &layout, &interpreter)
        .map_err(anyhow::Error::from)
        .and_then(|packages| {
            let _ = fs::remove_dir(out);
            fs::rename(&work, out)
                .with_context(|| format!("cannot move the venv to {}", out.display()))?;
            Ok(packages)
        });
    if result.is_err() {
        let _ = fs::remove_dir_all(&work);
    }
    let packages = result.with_context(|| format!("cannot install into {}", out.display()))?;
    if !global.quiet {
        eprintln!(
            "installed {} packages into {}",
            packages.len(),
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The wheels a fetch or wheels manifest names, as files in the store.
pub fn wheels_of(path: &Path, store: &Path) -> anyhow::Result<Vec<WheelInput>> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (header, manifest) = AnyManifest::decode(&bytes)
        .with_context(|| format!("{} is not a usable manifest", path.display()))?;
    let blob = |sha: &pyfod_manifest::Sha256| store.join("blobs/sha256").join(sha.to_hex());
    match manifest {
        AnyManifest::Fetch(fetch) => Ok(crate::wheels_of_fetch(&fetch, store)
            .with_context(|| format!("cannot install what {} names", path.display()))?),
        AnyManifest::BuildSdist(wheels) => Ok(wheels
            .wheels
            .iter()
            .map(|w| WheelInput {
                name: w.name.clone(),
                version: w.version.clone(),
                filename: w.wheel.filename.clone(),
                file: blob(&w.wheel.sha256),
                sha256: w.wheel.sha256,
            })
            .collect()),
        _ => bail!(
            "{} is the `{}` stage's manifest; install takes a fetch or build-sdist manifest",
            path.display(),
            header.stage
        ),
    }
}
