//! `pyfod build`: fetch → (build lock: fetch, install) → build-sdist → install →
//! scrub → hash in one process, each stage through the store's cache ([`chain`]);
//! then `--expect`, the stale-hash guard, and `--out`.
//!
//! The input of fetch is the lock (and the pyproject.toml beside it); of every
//! later stage, the previous stage's manifest.
//!
//! [`chain`]: crate::chain

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use pyfod_cli::{EXIT_HASH_MISMATCH, GlobalArgs};
use pyfod_digest::{HashFormat, Sha256};
use pyfod_manifest::{
    Artifact, FetchManifest, InputRecord, InstallManifest, Manifest, WheelsManifest,
};

use crate::chain::{Chain, Steps, digest};
use crate::history::{self, History};

/// Run every stage, from uv.lock to the scrubbed venv and its NAR hash
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "The last line of standard output is the hash alone. A mismatch with \
                        --expect prints Nix's report and exits 102, and --out is left untouched."
)]
pub struct BuildCommand {
    /// The lock to realise
    #[arg(long, value_name = "FILE", default_value = "uv.lock")]
    pub lock: PathBuf,

    /// The interpreter to build for and run on [default: python3]
    #[arg(long, value_name = "PYTHON")]
    pub python: Option<String>,

    /// Where the result goes: a new or empty directory
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "to",
        conflicts_with = "to"
    )]
    pub out: Option<PathBuf>,

    /// Replace a non-empty --out
    #[arg(long)]
    pub force: bool,

    /// Where the venv will live [default: --out]
    #[arg(long, value_name = "PATH")]
    pub prefix: Option<PathBuf>,

    /// The hash the result must have
    #[arg(long, value_name = "HASH", value_parser = HashFormat::parse_any)]
    pub expect: Option<Sha256>,

    /// Scrub rules: `default` or `seed` [default: pyfod.toml's, else default]
    #[arg(long, value_enum)]
    pub preset: Option<pyfod_scrub::Preset>,

    /// The Nix store directory references are looked for under
    #[arg(long, value_name = "DIR")]
    pub store_dir: Option<String>,

    /// Write what this uv version writes outside bin/ (see `pyfod install --compat`)
    #[arg(long, value_name = "uv=VERSION")]
    pub compat: Option<pyfod_install::Compat>,

    /// Take settings from this pyfod.toml, or a pyproject.toml's [tool.pyfod]
    /// [default: pyfod.toml beside the lock, else [tool.pyfod] of the pyproject.toml there]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Builds of sdists to run at once [default: the number of cores]
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,

    /// Build each sdist twice and fail (exit 104) if the wheels differ (see
    /// `pyfod build-sdist --check`)
    #[arg(long)]
    pub check: bool,

    /// Also write every stage's manifest into DIR (fetch.manifest, wheels.manifest,
    /// install.manifest, scrub.manifest), for `pyfod manifest show` and `pyfod diff`
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,

    /// Start at this stage, taking its input from the --manifests DIR an earlier
    /// `--to` run (or any run) wrote
    #[arg(long, value_enum, value_name = "STAGE", requires = "manifests")]
    pub from: Option<Step>,

    /// Stop after this stage; its manifest (and the earlier ones) go to --manifests DIR
    #[arg(long, value_enum, value_name = "STAGE", requires = "manifests")]
    pub to: Option<Step>,
}

/// A stage `--from` and `--to` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Step {
    Fetch,
    BuildSdist,
    Install,
    Scrub,
}

impl Step {
    /// The manifest this stage writes into `--manifests`.
    fn manifest(self) -> &'static str {
        match self {
            Step::Fetch => "fetch.manifest",
            Step::BuildSdist => "wheels.manifest",
            Step::Install => "install.manifest",
            Step::Scrub => "scrub.manifest",
        }
    }
}

/// Which stages run: `--from` to `--to`, with the manifests between them kept in
/// `--manifests`.
struct Span<'a> {
    from: Step,
    to: Option<Step>,
    dir: Option<&'a Path>,
}

impl Span<'_> {
    fn runs(&self, step: Step) -> bool {
        step >= self.from && self.to.is_none_or(|to| step <= to)
    }

    /// The manifest `step` wrote in an earlier run, read back from `--manifests`.
    fn read<T: Manifest>(&self, step: Step) -> anyhow::Result<(Vec<u8>, T)> {
        let dir = self.dir.context("--from needs --manifests")?;
        let path = dir.join(step.manifest());
        let bytes = fs::read(&path).with_context(|| {
            format!(
                "cannot read {}; run the stages before --from (e.g. with --to) with the same --manifests",
                path.display()
            )
        })?;
        let (_, manifest) = T::decode(&bytes)
            .with_context(|| format!("{} is not a usable manifest", path.display()))?;
        Ok((bytes, manifest))
    }

    /// Keeps `step`'s manifest in `--manifests`.
    fn keep(&self, step: Step, bytes: &[u8]) -> anyhow::Result<()> {
        if let Some(dir) = self.dir {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let path = dir.join(step.manifest());
            pyfod_store::write_atomic(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }

    /// Whether the run ends after `step`.
    fn ends_at(&self, step: Step) -> bool {
        self.to == Some(step)
    }
}

pub fn execute(command: &BuildCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let store = global.open_store()?;
    let span = Span {
        from: command.from.unwrap_or(Step::Fetch),
        to: command.to,
        dir: command.manifests.as_deref(),
    };
    if let (Some(from), Some(to)) = (command.from, command.to)
        && from > to
    {
        bail!("--from {from:?} comes after --to {to:?}: nothing would run");
    }
    if let Some(out) = &command.out
        && fs::read_dir(out).is_ok_and(|mut d| d.next().is_some())
        && !command.force
    {
        bail!(
            "--out {} is not empty; pass --force to replace it",
            out.display()
        );
    }
    let prefix = match (&command.prefix, &command.out) {
        (Some(prefix), _) => prefix.clone(),
        (None, Some(out)) => std::path::absolute(out)?,
        (None, None) if span.runs(Step::Install) => {
            bail!("--to without --out: give --prefix, where the venv will live")
        }
        (None, None) => PathBuf::new(),
    };
    let python = command.python.clone().unwrap_or_else(|| "python3".into());
    // Settings: --config, else pyfod.toml beside the lock, else the pyproject.toml
    // beside it if it has a [tool.pyfod] table.
    let config_path = command.config.clone().or_else(|| {
        let dir = command.lock.parent()?;
        let beside = dir.join("pyfod.toml");
        let pyproject = dir.join("pyproject.toml");
        if beside.is_file() {
            Some(beside)
        } else {
            pyfod_config::has_pyfod_table(&pyproject).then_some(pyproject)
        }
    });
    let preset = match &config_path {
        Some(path) => crate::config::top_level(path)?,
        None => None,
    };
    let target = pyfod_fetch::Options {
        lock: command.lock.clone(),
        python: Some(python.clone()),
        ..Default::default()
    }
    .target()?;
    let interpreter = pyfod_install::Interpreter::probe(&python)?;
    let mut chain = Chain {
        store: &store,
        python: python.clone(),
        target,
        interpreter: interpreter.clone(),
        steps: Steps::new(global.quiet),
    };
    let lock_bytes = fs::read(&command.lock)
        .with_context(|| format!("cannot read {}", command.lock.display()))?;
    let pyproject = command
        .lock
        .parent()
        .map(|d| d.join("pyproject.toml"))
        .and_then(|p| fs::read(p).ok())
        .unwrap_or_default();
    // fetch: needed when it or build-sdist runs.
    let fetched: Option<(Vec<u8>, FetchManifest)> = if span.runs(Step::Fetch) {
        let fetched = chain.fetch("fetch", &command.lock)?;
        span.keep(Step::Fetch, &fetched.0)?;
        Some(fetched)
    } else if span.runs(Step::BuildSdist) {
        Some(span.read(Step::Fetch)?)
    } else {
        None
    };
    if span.ends_at(Step::Fetch) {
        return Ok(ExitCode::SUCCESS);
    }

    // build-sdist, with the build environment its build lock makes.
    let build_config = match &config_path {
        Some(path) => pyfod_build_sdist::config::load(path)?,
        None => Default::default(),
    };
    let system_libraries = pyfod_build_sdist::system_library_versions(&build_config)?;
    let built: Option<(Vec<u8>, WheelsManifest)> = if span.runs(Step::BuildSdist) {
        let (fetch_bytes, fetched) = fetched.as_ref().expect("fetched when build-sdist runs");
        let has_sources = fetched
            .packages
            .iter()
            .any(|p| !matches!(p.artifact, Artifact::Wheel(_)));
        let build_envs = if has_sources {
            chain.build_envs(&build_config, fetched)?
        } else {
            Default::default()
        };
        let build_options = pyfod_build_sdist::Options {
            jobs: command.jobs,
            check: command.check,
            ..Default::default()
        };
        let built = chain.build_sdist(
            fetch_bytes,
            fetched,
            &build_envs,
            &build_config,
            &system_libraries,
            &build_options,
        );
        let (wheels_bytes, wheels) = match built {
            Err(error)
                if error.chain().any(|cause| {
                    matches!(
                        cause.downcast_ref::<pyfod_build_sdist::BuildError>(),
                        Some(pyfod_build_sdist::BuildError::NotReproducible { .. })
                    )
                }) =>
            {
                eprintln!("{}", pyfod_cli::render_error("pyfod", &error));
                return Ok(ExitCode::from(pyfod_cli::EXIT_CHECK_MISMATCH));
            }
            other => other?,
        };
        span.keep(Step::BuildSdist, &wheels_bytes)?;
        Some((wheels_bytes, wheels))
    } else if span.runs(Step::Install) {
        Some(span.read(Step::BuildSdist)?)
    } else {
        None
    };
    if span.ends_at(Step::BuildSdist) {
        return Ok(ExitCode::SUCCESS);
    }

    // install: the venv, at the prefix it will live at.
    let install_config = match &config_path {
        Some(path) => pyfod_install::collisions::load(path)?,
        None => Default::default(),
    };
    let collisions = install_config.rules();
    // uv's metadata: --compat, else [install] compat, else, for preset = "seed",
    // that of the uv installed here.
    let compat = match (&command.compat, &install_config.compat) {
        (Some(compat), _) => Some(compat.clone()),
        (None, Some(text)) => Some(text.parse().map_err(|e: String| {
            anyhow::anyhow!(
                "[install] compat in {}: {e}",
                config_path
                    .as_deref()
                    .unwrap_or(Path::new("pyfod.toml"))
                    .display()
            )
        })?),
        (None, None) if preset == Some(crate::config::Preset::Seed) => Some(installed_uv()?),
        (None, None) => None,
    };
    // Only uv's local direct_url.json names the project's place: nothing else may
    // depend on it, the cache keys included.
    let project_dir = compat
        .is_some()
        .then(|| std::path::absolute(&command.lock).ok())
        .flatten()
        .and_then(|lock| lock.parent().map(Path::to_path_buf));
    // uv names the venv after the project (pyvenv.cfg's `prompt`): with --compat, so
    // does pyfod.
    let prompt = compat.as_ref().and_then(|_| project_name(&pyproject));
    let layout = pyfod_install::Layout {
        prefix,
        prompt,
        compat,
        collisions,
        project_dir,
    };
    let installed: (Vec<u8>, InstallManifest) = if span.runs(Step::Install) {
        let (wheels_bytes, wheels) = built.as_ref().expect("wheels when install runs");
        let install_bytes = chain.install(
            "install",
            &pyfod_install::wheels_of_wheels(wheels, store.root()),
            &Sha256::of(wheels_bytes),
            &layout,
        )?;
        span.keep(Step::Install, &install_bytes)?;
        let (_, installed) = InstallManifest::decode(&install_bytes)?;
        (install_bytes, installed)
    } else {
        span.read(Step::Install)?
    };
    if span.ends_at(Step::Install) {
        return Ok(ExitCode::SUCCESS);
    }
    let (install_bytes, installed) = installed;

    // scrub: the rules from the command line, then [scrub], then the preset.
    let mut scrub = pyfod_scrub::Options {
        preset: command.preset,
        store_dir: command.store_dir.clone(),
        ..Default::default()
    };
    if let Some(path) = &config_path
        && let Some(config) = pyfod_scrub::config::load(path)?
    {
        scrub = scrub.with_config(config, path.parent().unwrap_or(Path::new(".")));
    }
    if scrub.preset.is_none() {
        scrub.preset = Some(match preset {
            Some(crate::config::Preset::Seed) => pyfod_scrub::Preset::Seed,
            _ => pyfod_scrub::Preset::Default,
        });
    }
    let (scrub_bytes, scrubbed) = chain.scrub(&install_bytes, &installed, &scrub)?;
    span.keep(Step::Scrub, &scrub_bytes)?;
    if span.ends_at(Step::Scrub) {
        return Ok(ExitCode::SUCCESS);
    }
    let mut step = chain.steps;
    let out = command
        .out
        .as_ref()
        .context("--out is required unless --to stops before the result")?;
    // hash: taken when the scrubbed tree was published.
    let tree = scrubbed
        .tree
        .as_ref()
        .context("the scrub manifest names no tree")?;
    let result = tree.store_path.under(store.root());
    let nar_sha256 = tree.nar_sha256;
    step.line("hash", "from the scrubbed tree");
    for residual in &scrubbed.residuals {
        eprintln!(
            "warning: {} still refers to {}",
            residual.path, residual.store_path
        );
    }
    // What went into this result, for the stale-hash guard.
    let config_bytes = config_path
        .as_deref()
        .and_then(|p| fs::read(p).ok())
        .unwrap_or_default();
    let mut inputs: Vec<InputRecord> = [
        ("lock", Sha256::of(&lock_bytes).to_hex()),
        ("pyproject.toml", Sha256::of(&pyproject).to_hex()),
        ("pyfod.toml", Sha256::of(&config_bytes).to_hex()),
        (
            "interpreter",
            format!(
                "{} {}",
                interpreter.executable.display(),
                interpreter.version
            ),
        ),
        ("pyfod", env!("CARGO_PKG_VERSION").to_owned()),
        (
            "options",
            digest(&[format!("{layout:?}{scrub:?}").as_bytes()]).to_hex(),
        ),
    ]
    .into_iter()
    .map(|(name, value)| InputRecord {
        name: name.to_owned(),
        value,
    })
    .collect();
    // The system libraries the builds linked against, as pkg-config saw them.
    for (module, version) in &system_libraries {
        inputs.push(InputRecord {
            name: format!("system library {module}"),
            value: version.clone(),
        });
    }
    let history = History::new(store.root());
    let project = digest(&[std::path::absolute(&command.lock)?
        .as_os_str()
        .as_encoded_bytes()]);
    if let Some(expected) = command.expect {
        if let Some(before) = history.inputs_of(&expected) {
            let changed = history::changed(&before, &inputs);
            if !changed.is_empty() {
                eprintln!(
                    "warning: {} was last produced from other inputs ({} changed since); a Nix FOD that still declares it would be served from the Nix store unchanged: update its outputHash if the result should change",
                    expected.to_sri(),
                    changed.join(", ")
                );
            }
        }
        if expected != nar_sha256 {
            eprint!(
                "{}",
                pyfod_hash::command::mismatch_report(out, &expected, &nar_sha256)
            );
            if let Some(matched) = history.last_match(&project) {
                let now = pyfod_hash::run(&result, &pyfod_hash::Options::default())?;
                eprintln!(
                    "files that differ from the last build of this project that matched ({}):",
                    matched.nar_sha256.to_sri()
                );
                eprint!(
                    "{}",
                    pyfod_hash::diff::render(&pyfod_hash::diff::diff(&matched, &now))
                );
            }
            pyfod_cli::print_stdout(&format!("{}\n", nar_sha256.to_sri()));
            return Ok(ExitCode::from(EXIT_HASH_MISMATCH));
        }
        let mut matched = pyfod_hash::run(&result, &pyfod_hash::Options::default())?;
        matched.inputs = inputs.clone();
        history
            .record_match(&project, &matched)
            .context("cannot record the matching build")?;
    }
    history
        .record_inputs(&nar_sha256, &inputs)
        .context("cannot record the build's inputs")?;
    // Copied beside --out and renamed into place: --out is never half-written.
    let staging = pyfod_store::sibling_temp(out, "build");
    if let Err(e) = pyfod_store::copy_tree(&result, &staging) {
        let _ = fs::remove_dir_all(&staging);
        return Err(e).with_context(|| format!("cannot write the result beside {}", out.display()));
    }
    if out.exists() {
        fs::remove_dir_all(out).with_context(|| format!("cannot replace {}", out.display()))?;
    }
    fs::rename(&staging, out)
        .with_context(|| format!("cannot move the result to {}", out.display()))?;
    pyfod_cli::print_stdout(&format!("{}\n", nar_sha256.to_sri()));
    Ok(ExitCode::SUCCESS)
}

/// `uv=<the version of the uv on PATH>`, for `preset = "seed"` without a compat.
fn installed_uv() -> anyhow::Result<pyfod_install::Compat> {
    let output = std::process::Command::new("uv").arg("--version").output();
    let version = output
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.split_whitespace().nth(1).map(str::to_owned)
        })
        .context(
            "preset = \"seed\" writes uv's install metadata, but no uv is on PATH to take its version from; set [install] compat = \"uv=VERSION\" (the uv the seed FOD uses) or pass --compat",
        )?;
    Ok(pyfod_install::Compat::Uv(version))
}

/// `[project] name` of a pyproject.toml's bytes.
fn project_name(pyproject: &[u8]) -> Option<String> {
    let table: toml::Table = std::str::from_utf8(pyproject).ok()?.parse().ok()?;
    Some(table.get("project")?.get("name")?.as_str()?.to_owned())
}
