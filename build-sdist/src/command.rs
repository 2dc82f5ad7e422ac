//! `pyfod build-sdist`, `pyfod-build-sdist` and `pyfod lock-build`.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyfod_cli::{EXIT_CHECK_MISMATCH, GlobalArgs};
use pyfod_digest::Sha256;
use pyfod_manifest::{FetchManifest, Manifest};

use crate::{BuildConfig, BuildEnv, BuildEnvs, BuildError, Options};

/// `NAME=FILE`
fn package_file(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => {
            Ok((name.to_owned(), PathBuf::from(file)))
        }
        _ => Err(format!("`{text}` is not NAME=FILE")),
    }
}

/// Build every sdist and source tree of a fetch manifest into a wheel
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Downloaded wheels are passed through. Exit 104 when --check finds two \
                        builds that differ."
)]
pub struct Command {
    /// The fetch manifest
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,

    /// The install manifest of the venv builds run in (a build lock realised by
    /// `pyfod fetch` and `pyfod install`)
    #[arg(long, value_name = "FILE")]
    pub build_env: Option<PathBuf>,

    /// The build environment of one package, whose tools conflict with the others'
    #[arg(long, value_name = "NAME=FILE", value_parser = package_file)]
    pub build_env_for: Vec<(String, PathBuf)>,

    /// Write the wheels manifest here
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    #[command(flatten)]
    pub options: Options,
}

pub fn execute(command: &Command, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let store = global.open_store()?;
    let bytes = fs::read(&command.input)
        .with_context(|| format!("cannot read {}", command.input.display()))?;
    let (_, fetch) = FetchManifest::decode(&bytes)
        .with_context(|| format!("{} is not a fetch manifest", command.input.display()))?;
    let config = match &command.options.config {
        Some(path) => crate::config::load(path)?,
        None => BuildConfig::default(),
    };
    let load = |path: &PathBuf, lock: Option<&std::path::Path>| -> anyhow::Result<BuildEnv> {
        let env = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        BuildEnv::from_manifest(&env, store.root(), lock.map(PathBuf::from))
            .with_context(|| format!("cannot use {}", path.display()))
    };
    let mut envs = BuildEnvs::default();
    if let Some(path) = &command.build_env {
        envs.default = Some(load(path, config.lock.as_deref())?);
    }
    for (name, path) in &command.build_env_for {
        envs.packages.insert(
            pyfod_manifest::normalise_name(name),
            load(path, config.lock_for(name))?,
        );
    }
    let mut options = command.options.clone();
    options.quiet |= global.quiet;
    let (manifest, reports) = match crate::run(&fetch, &envs, &options, &config, &store) {
        Err(error @ BuildError::NotReproducible { .. }) => {
            eprintln!(
                "{}",
                pyfod_cli::render_error("pyfod build-sdist", &anyhow::Error::from(error))
            );
            return Ok(ExitCode::from(EXIT_CHECK_MISMATCH));
        }
        other => other.context("cannot build the sources")?,
    };
    if let Some(path) = &command.manifest {
        pyfod_store::write_atomic(path, &manifest.encode(Some(Sha256::of(&bytes))))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !options.quiet {
        let built = reports.iter().filter(|r| !r.cached).count();
        eprintln!(
            "{} wheels: {built} built, {} cached, {} downloaded",
            manifest.wheels.len(),
            reports.len() - built,
            manifest.wheels.len() - reports.len(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Write a build lock: the build requirements of every sdist, locked by uv
#[derive(Debug, Clone, clap::Args)]
pub struct LockBuildCommand {
    /// The fetch manifest whose sources need building
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,

    /// The project's uv.lock, for its `[manifest] build-constraints`
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,

    /// The directory to write the build project and its uv.lock into
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// A lock for each package's build requirements, even when one lock could hold them all
    #[arg(long)]
    pub per_package: bool,

    /// Arguments passed on to `uv lock` (an index, --exclude-newer, …)
    #[arg(last = true, value_name = "UV_ARGS")]
    pub uv_args: Vec<String>,
}

pub fn execute_lock_build(
    command: &LockBuildCommand,
    global: &GlobalArgs,
) -> anyhow::Result<ExitCode> {
    let store = global.open_store()?;
    let bytes = fs::read(&command.input)
        .with_context(|| format!("cannot read {}", command.input.display()))?;
    let (_, fetch) = FetchManifest::decode(&bytes)
        .with_context(|| format!("{} is not a fetch manifest", command.input.display()))?;
    let requirements = crate::lock_build::build_requirements(&fetch, &store)?;
    let constraints = match &command.lock {
        Some(lock) => crate::lock_build::build_constraints(lock)?,
        None => Vec::new(),
    };
    let locks = crate::lock_build::lock(
        &command.out,
        &requirements,
        &constraints,
        &fetch.target.python_version,
        &command.uv_args,
        command.per_package,
    )?;
    if !global.quiet {
        let base = std::env::current_dir().unwrap_or_default();
        eprintln!(
            "locked the build requirements of {} packages; put this in pyfod.toml (paths relative to it):\n\n{}",
            requirements.len(),
            locks.config_snippet(&base)
        );
    }
    Ok(ExitCode::SUCCESS)
}
