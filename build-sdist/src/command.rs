//! `pyfod build-sdist` and `pyfod-build-sdist`.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyfod_cli::{EXIT_CHECK_MISMATCH, GlobalArgs};

use crate::{BuildConfig, BuildEnv, BuildEnvs, BuildError, Settings, SourcesInput};

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
    pub args: Args,
}

/// The build-sdist stage's flags, shared by `pyfod build-sdist`,
/// `pyfod-build-sdist` and `pyfod build`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Builds to run at once [default: the number of cores]
    #[arg(long, short = 'j', value_name = "N", value_parser = pyfod_cli::parse_jobs)]
    pub jobs: Option<usize>,

    /// Build each source twice, in different directories at different times, and
    /// fail (exit 104) naming the member and offset where the wheels differ
    #[arg(long)]
    pub check: bool,

    /// The interpreter builds run on [default: python3]
    #[arg(long, value_name = "PYTHON")]
    pub python: Option<String>,

    /// Take [build] settings (flags, environment, config-settings) from this pyfod.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn execute(command: &Command, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let store = global.open_store()?;
    let bytes = fs::read(&command.input)
        .with_context(|| format!("cannot read {}", command.input.display()))?;
    let config = match &command.args.config {
        Some(path) => crate::config::load(path)?,
        None => BuildConfig::default(),
    };
    let load = |path: &PathBuf, lock: Option<&std::path::Path>| -> anyhow::Result<BuildEnv> {
        let env = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        BuildEnv::from_manifest(&env, &store, lock.map(PathBuf::from))
            .with_context(|| format!("cannot use {}", path.display()))
    };
    let mut envs = BuildEnvs::default();
    if let Some(path) = &command.build_env {
        envs.default = Some(load(path, config.lock.as_deref())?);
    }
    for (name, path) in &command.build_env_for {
        envs.packages.insert(
            pyfod_python::normalise_name(name),
            load(path, config.lock_for(name))?,
        );
    }
    let python = command.args.python.as_deref().unwrap_or("python3");
    let mut settings = Settings::resolve(config, pyfod_python::Interpreter::probe(python)?)?;
    settings.check = command.args.check;
    settings.quiet = global.quiet;
    if let Some(jobs) = command.args.jobs {
        settings.jobs = jobs;
    }
    let input = SourcesInput::new(bytes, envs)
        .with_context(|| format!("{} is not a fetch manifest", command.input.display()))?;
    let output = match crate::run(&input, &settings, &store) {
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
        pyfod_store::write_atomic(path, &output.bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !global.quiet {
        let wheels = &output.manifest.wheels;
        let sources = wheels
            .iter()
            .filter(|w| matches!(w.origin, pyfod_manifest::WheelOrigin::Built { .. }))
            .count();
        let summary = match output.origin {
            // Every build was found: no line above says so.
            pyfod_store::Origin::Cached => format!("0 built, {sources} cached"),
            pyfod_store::Origin::Ran => format!("{sources} from source (see above)"),
            pyfod_store::Origin::Remote => format!("0 built, {sources} from the remote"),
        };
        eprintln!(
            "{} wheels: {summary}, {} downloaded",
            wheels.len(),
            wheels.len() - sources
        );
    }
    Ok(ExitCode::SUCCESS)
}
