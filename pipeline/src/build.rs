//! `pyfod build`: fetch → install → scrub → hash in one process, for locks whose
//! every package has a wheel. Not cached yet: every run does every stage
//! (issue #7 adds the stage cache, and build-sdist, issue #6, the sdists).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use pyfod_cli::{EXIT_HASH_MISMATCH, GlobalArgs};
use pyfod_digest::{HashFormat, Sha256};

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
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Replace a non-empty --out
    #[arg(long)]
    pub force: bool,

    /// Where the venv will live [default: --out]
    #[arg(long, value_name = "PATH")]
    pub prefix: Option<PathBuf>,

    /// The hash the result must have
    #[arg(long, value_name = "HASH", value_parser = HashFormat::parse_any)]
    pub expect: Option<Sha256>,

    /// Scrub rules: `default` or `seed`
    #[arg(long, value_enum, default_value_t)]
    pub preset: pyfod_scrub::Preset,

    /// The Nix store directory references are looked for under
    #[arg(long, value_name = "DIR")]
    pub store_dir: Option<String>,

    /// Write what this uv version writes outside bin/ (see `pyfod install --compat`)
    #[arg(long, value_name = "uv=VERSION")]
    pub compat: Option<String>,

    /// Take [scrub] and [install] settings from this pyfod.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn execute(command: &BuildCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let store = global.open_store()?;
    let out = &command.out;
    if fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) && !command.force {
        bail!(
            "--out {} is not empty; pass --force to replace it",
            out.display()
        );
    }
    let prefix = match &command.prefix {
        Some(prefix) => prefix.clone(),
        None => std::path::absolute(out)?,
    };
    let python = command.python.clone().unwrap_or_else(|| "python3".into());
    let mut step = Steps::new(global.quiet);

    let fetch_options = pyfod_fetch::Options {
        lock: command.lock.clone(),
        python: Some(python.clone()),
        ..Default::default()
    };
    let fetched = pyfod_fetch::run(&fetch_options, &store)
        .with_context(|| format!("cannot fetch what {} needs", command.lock.display()))?;
    step.done("fetch");

    let wheels = pyfod_install::wheels_of_fetch(&fetched, store.root())?;
    let interpreter = pyfod_install::Interpreter::probe(&python)?;
    let compat = command
        .compat
        .as_deref()
        .map(|c| match c.split_once('=') {
            Some(("uv", version)) => Ok(pyfod_install::Compat::Uv(version.to_owned())),
            _ => Err(anyhow::anyhow!("--compat `{c}` is not uv=VERSION")),
        })
        .transpose()?;
    let collisions = match &command.config {
        Some(path) => pyfod_install::collisions::load(path)?.rules(),
        None => Default::default(),
    };
    let layout = pyfod_install::Layout {
        prefix,
        prompt: None,
        compat,
        collisions,
    };
    let work = store.temp_entry()?;
    fs::create_dir(work.path())
        .with_context(|| format!("cannot create {}", work.path().display()))?;
    pyfod_install::install(&wheels, work.path(), &layout, &interpreter)?;
    step.done("install");

    let mut scrub = pyfod_scrub::Options {
        preset: Some(command.preset),
        store_dir: command.store_dir.clone(),
        ..Default::default()
    };
    if let Some(path) = &command.config
        && let Some(config) = pyfod_scrub::config::load(path)?
    {
        scrub = scrub.with_config(config, path.parent().unwrap_or(Path::new(".")));
    }
    let scrubbed = pyfod_scrub::run(work.path(), &scrub)?;
    step.done("scrub");

    let hash = pyfod_nar::hash_path(work.path(), &pyfod_nar::HashSettings::default(), None)
        .context("cannot hash the result")?;
    step.done("hash");
    for residual in &scrubbed.residuals {
        eprintln!(
            "warning: {} still refers to {}",
            residual.path, residual.store_path
        );
    }

    if let Some(expected) = command.expect
        && expected != hash.nar_sha256
    {
        eprint!(
            "{}",
            pyfod_hash::command::mismatch_report(out, &expected, &hash.nar_sha256)
        );
        pyfod_cli::print_stdout(&format!("{}\n", hash.nar_sha256.to_sri()));
        return Ok(ExitCode::from(EXIT_HASH_MISMATCH));
    }
    if out.exists() {
        fs::remove_dir_all(out).with_context(|| format!("cannot replace {}", out.display()))?;
    }
    pyfod_store::copy_tree(work.path(), out)
        .with_context(|| format!("cannot write the result to {}", out.display()))?;
    pyfod_cli::print_stdout(&format!("{}\n", hash.nar_sha256.to_sri()));
    Ok(ExitCode::SUCCESS)
}

/// One line per stage on stderr: what ran and how long it took.
struct Steps {
    quiet: bool,
    last: Instant,
}

impl Steps {
    fn new(quiet: bool) -> Self {
        Steps {
            quiet,
            last: Instant::now(),
        }
    }

    fn done(&mut self, stage: &str) {
        if !self.quiet {
            eprintln!("{stage}: ran ({:.2} s)", self.last.elapsed().as_secs_f64());
        }
        self.last = Instant::now();
    }
}
