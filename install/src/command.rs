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
#[command(
    after_help = "With --manifest, or without --out, the venv is kept in the store under a key \
                        of its wheels, interpreter and layout, and a second run finds it there; \
                        with --out alone it is installed straight into --out. Either way wheels are \
                        unpacked into the store once and their files copied (or linked) from there."
)]
pub struct Command {
    /// The fetch or wheels manifest that names the wheels
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,

    /// Also copy the venv here (a new or empty directory)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Write the install manifest here
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    #[command(flatten)]
    pub options: Options,
}

pub fn execute(command: &Command, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let store = global.open_store()?;
    let input = fs::read(&command.input)
        .with_context(|| format!("cannot read {}", command.input.display()))?;
    let wheels = wheels_of(&command.input, store.root())?;
    let interpreter = Interpreter::probe(command.options.python.as_deref().unwrap_or("python3"))?;
    if let Some(out) = &command.out
        && fs::read_dir(out).is_ok_and(|mut d| d.next().is_some())
    {
        return Err(crate::InstallError::NotEmpty(out.clone()).into());
    }
    // With neither --prefix nor --out, the venv lives where the store keeps it.
    let prefix = match (&command.options.prefix, &command.out) {
        (Some(prefix), _) => prefix.clone(),
        (None, Some(out)) => std::path::absolute(out)
            .with_context(|| format!("cannot make {} absolute", out.display()))?,
        (None, None) => PathBuf::new(),
    };
    let collisions = match &command.options.config {
        Some(path) => crate::collisions::load(path)?.rules(),
        None => Default::default(),
    };
    let layout = crate::Layout {
        prefix,
        prompt: command.options.prompt.clone(),
        compat: command.options.compat.clone(),
        collisions,
        project_dir: command.options.project_dir.clone(),
    };
    // Only --out: installed straight there (files from the store's unpacked wheels),
    // beside it first and renamed into place, so `out` is never half-made.
    if let (Some(out), None) = (&command.out, &command.manifest) {
        let work = pyfod_store::sibling_temp(out, "install");
        fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
        let unpacked = crate::unpacked::UnpackedWheels::new(store.clone());
        let result = crate::install_with(
            &wheels,
            &work,
            &layout,
            &interpreter,
            Some((&unpacked, command.options.link_mode)),
        )
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
        return Ok(ExitCode::SUCCESS);
    }
    // A manifest names a tree in the store: the venv is kept there, under its key.
    let venv = crate::stage::install_in_store(
        &wheels,
        &pyfod_digest::Sha256::of(&input),
        &layout,
        &interpreter,
        command.options.link_mode,
        &store,
    )
    .with_context(|| format!("cannot install what {} names", command.input.display()))?;
    if let Some(out) = &command.out {
        // Copied beside `out` and renamed into place: `out` is never half-made.
        let work = pyfod_store::sibling_temp(out, "install");
        let copied = pyfod_store::copy_tree(&venv.tree, &work).and_then(|()| {
            let _ = fs::remove_dir(out);
            fs::rename(&work, out)
        });
        if let Err(error) = copied {
            let _ = fs::remove_dir_all(&work);
            return Err(error)
                .with_context(|| format!("cannot write the venv to {}", out.display()));
        }
    }
    if let Some(path) = &command.manifest {
        pyfod_store::write_atomic(path, &venv.manifest)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !global.quiet {
        let (_, manifest) =
            <pyfod_manifest::InstallManifest as pyfod_manifest::Manifest>::decode(&venv.manifest)?;
        eprintln!(
            "{} {} packages into {}",
            if venv.cached { "found" } else { "installed" },
            manifest.packages.len(),
            command.out.as_ref().unwrap_or(&venv.tree).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The wheels a fetch or wheels manifest names, as files in the store.
pub fn wheels_of(path: &Path, store: &Path) -> anyhow::Result<Vec<WheelInput>> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (header, manifest) = AnyManifest::decode(&bytes)
        .with_context(|| format!("{} is not a usable manifest", path.display()))?;
    match manifest {
        AnyManifest::Fetch(fetch) => Ok(crate::wheels_of_fetch(&fetch, store)
            .with_context(|| format!("cannot install what {} names", path.display()))?),
        AnyManifest::BuildSdist(wheels) => Ok(crate::wheels_of_wheels(&wheels, store)),
        _ => bail!(
            "{} is the `{}` stage's manifest; install takes a fetch or build-sdist manifest",
            path.display(),
            header.stage
        ),
    }
}
