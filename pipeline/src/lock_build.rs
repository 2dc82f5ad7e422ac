//! `pyfod lock-build`: the build lock a project's sources need, found as uv
//! finds it. The static requirements (`[build-system] requires`) are locked
//! and realised; each backend is then asked what else it needs
//! (`get_requires_for_build_wheel`, with its config-settings: meson-python
//! asks for ninja, scikit-build-core for cmake); what it names is added and
//! locked again, until no backend asks for anything new.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyfod_build_sdist::lock_build::{self, BuildLocks};
use pyfod_build_sdist::{BuildConfig, BuildEnvs};
use pyfod_cli::GlobalArgs;
use pyfod_manifest::{FetchManifest, Manifest};
use pyfod_store::Store;

use crate::chain::{Steps, build_env};

/// Rounds of asking before giving up: each adds what a backend asked for, and
/// real backends ask once (their answer does not depend on what they get).
const ROUNDS: usize = 5;

/// Write a build lock: what the sdists need to build, locked by uv
#[derive(Debug, Clone, clap::Args)]
pub struct LockBuildCommand {
    /// The fetch manifest whose sources need building
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,

    /// The project's lock, for a uv.lock's `[manifest] build-constraints` (a pylock.toml has none)
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,

    /// The directory to write the build project and its uv.lock into
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// A lock for each package's build requirements, even when one lock could hold them all
    #[arg(long)]
    pub per_package: bool,

    /// The interpreter the backends are asked on [default: python3]
    #[arg(long, value_name = "PYTHON")]
    pub python: Option<String>,

    /// Ask the backends with the [build] settings (config-settings, environment) of this pyfod.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Arguments passed on to `uv lock` (an index, --exclude-newer, …)
    #[arg(last = true, value_name = "UV_ARGS")]
    pub uv_args: Vec<String>,
}

pub fn execute(command: &LockBuildCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let store = global.open_store()?;
    let bytes = fs::read(&command.input)
        .with_context(|| format!("cannot read {}", command.input.display()))?;
    let (_, fetch) = FetchManifest::decode(&bytes)
        .with_context(|| format!("{} is not a fetch manifest", command.input.display()))?;
    let mut requirements = lock_build::build_requirements(&fetch, &store)?;
    let constraints = match &command.lock {
        Some(lock) => lock_build::build_constraints(lock)?,
        None => Vec::new(),
    };
    let python = command.python.as_deref().unwrap_or("python3");
    let interpreter = pyfod_python::Interpreter::probe(python)
        .with_context(|| format!("cannot ask {python} what it is"))?;
    let config = match &command.config {
        Some(path) => pyfod_build_sdist::config::load(path)?,
        None => BuildConfig::default(),
    };
    let mut settings = pyfod_build_sdist::Settings::resolve(config, interpreter)?;
    settings.quiet = true;
    let lock = |requirements: &BTreeMap<String, Vec<String>>| {
        lock_build::lock(
            &command.out,
            requirements,
            &constraints,
            &fetch.target.python_version,
            &command.uv_args,
            command.per_package,
        )
    };
    let mut locks = lock(&requirements)?;
    let mut steps = Steps::new(global.quiet);
    for round in 1..=ROUNDS {
        let envs = realise(&locks, &settings.interpreter, &store, &mut steps)?;
        let asked = lock_build::asked_requirements(&fetch, &envs, &settings, &store)?;
        let mut added = Vec::new();
        for (package, wanted) in asked {
            let known = requirements.entry(package.clone()).or_default();
            for requirement in wanted {
                if !known.contains(&requirement) {
                    added.push(format!("{package} asks for {requirement}"));
                    known.push(requirement);
                }
            }
        }
        if added.is_empty() {
            break;
        }
        if round == ROUNDS {
            anyhow::bail!(
                "the backends still ask for more after {ROUNDS} rounds ({}); lock their build requirements by hand",
                added.join(", ")
            );
        }
        if !global.quiet {
            eprintln!(
                "{} (get_requires_for_build_wheel); locking again",
                added.join(", ")
            );
        }
        locks = lock(&requirements)?;
    }
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

/// The build locks fetched and installed into the store, as `pyfod build` does.
fn realise(
    locks: &BuildLocks,
    interpreter: &pyfod_python::Interpreter,
    store: &Store,
    steps: &mut Steps,
) -> anyhow::Result<BuildEnvs> {
    let fetch = pyfod_fetch::Settings::for_target(pyfod_fetch::Target::of(interpreter)?);
    let mut envs = BuildEnvs::default();
    match locks {
        BuildLocks::Shared(lock) => {
            envs.default = Some(build_env(store, steps, lock, "", &fetch, interpreter)?);
        }
        BuildLocks::PerPackage(locks) => {
            for (package, lock) in locks {
                let whose = format!(" for {package}");
                let env = build_env(store, steps, lock, &whose, &fetch, interpreter)?;
                envs.packages.insert(package.clone(), env);
            }
        }
    }
    Ok(envs)
}
