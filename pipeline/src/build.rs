//! `pyfod build`: the settings resolved ([`crate::settings`]), the stages run
//! through the store ([`crate::chain`]), then what becomes of the result
//! ([`crate::delivery`]): `--expect`, the stale-hash guard, `--out`.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use pyfod_cli::GlobalArgs;
use pyfod_digest::{HashFormat, Sha256};

use crate::chain::{Chain, Span, Step, Steps};
use crate::settings::BuildSettings;

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

    #[command(flatten)]
    pub selection: pyfod_fetch::command::SelectionArgs,

    /// The interpreter to build for and run on [default: python3]
    #[arg(long, value_name = "PYTHON")]
    pub python: Option<String>,

    /// Where the result goes: a new or empty directory, or the venv an earlier
    /// build put there
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "to",
        conflicts_with = "to"
    )]
    pub out: Option<PathBuf>,

    /// Replace a non-empty --out that is not a venv
    #[arg(long)]
    pub force: bool,

    /// Where the venv will live [default: --out]
    #[arg(long, value_name = "PATH")]
    pub prefix: Option<PathBuf>,

    /// The hash the result must have
    #[arg(long, value_name = "HASH", value_parser = HashFormat::parse_any)]
    pub expect: Option<Sha256>,

    /// Scrub rules: `default`, `seed`, or `none` to change nothing and report every reference [default: pyfod.toml's, else default]
    #[arg(long, value_name = "PRESET")]
    pub preset: Option<pyfod_scrub::Preset>,

    /// A reference left after scrubbing is an error (exit 102), not a warning, as
    /// it is to Nix in a fixed-output derivation [default: `[scrub] strict`, else off]
    #[arg(long)]
    pub strict: bool,

    /// Let builds see this variable of pyfod's environment too, besides
    /// `[build] pass-env`'s; `NAME*` for every variable whose name starts with
    /// `NAME` (repeatable)
    #[arg(long, value_name = "VAR")]
    pub pass_env: Vec<String>,

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
    #[arg(long, short = 'j', value_name = "N", value_parser = pyfod_cli::parse_jobs)]
    pub jobs: Option<usize>,

    /// Build each sdist twice and fail (exit 104) if the wheels differ (see
    /// `pyfod build-sdist --check`)
    #[arg(long)]
    pub check: bool,

    /// Use only what the store has: nothing is downloaded, and cargo in the
    /// builds takes its crates from the store's cache (`CARGO_NET_OFFLINE`)
    #[arg(long)]
    pub offline: bool,

    /// Check every byte of what the store gives (blobs, trees) against its
    /// digest, not only sizes and modification times
    #[arg(long)]
    pub verify_store: bool,

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

pub fn execute(command: &BuildCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    refuse_before_work(command)?;
    let settings = BuildSettings::resolve(command)?;
    let store = global
        .open_store_with(&settings.cache)?
        .verifying_everything(command.verify_store);
    let mut chain = Chain {
        store: &store,
        settings: &settings,
        span: Span {
            from: command.from.unwrap_or(Step::Fetch),
            to: command.to,
            dir: command.manifests.as_deref(),
        },
        steps: Steps::new(global.quiet),
    };
    let result = match chain.run() {
        Ok(Some(result)) => result,
        Ok(None) => return Ok(ExitCode::SUCCESS),
        Err(error) if is_not_reproducible(&error) => {
            eprintln!("{}", pyfod_cli::render_error("pyfod", &error));
            return Ok(ExitCode::from(pyfod_cli::EXIT_CHECK_MISMATCH));
        }
        Err(error) => return Err(error),
    };
    let mut steps = chain.steps;
    steps.line("hash", "from the scrubbed tree");
    let delivered = crate::delivery::deliver(command, &store, &settings, &result);
    store.finish_remote();
    steps.remote_summary(&store);
    delivered
}

/// What can be refused before any work: a contradictory span, an `--out` that
/// would destroy something, a relative `--prefix`.
fn refuse_before_work(command: &BuildCommand) -> anyhow::Result<()> {
    if let (Some(from), Some(to)) = (command.from, command.to)
        && from > to
    {
        bail!("--from {from:?} comes after --to {to:?}: nothing would run");
    }
    if let Some(prefix) = &command.prefix
        && !prefix.is_absolute()
    {
        bail!(
            "--prefix {} is relative; the venv's scripts name it, so give the absolute path where it will live",
            prefix.display()
        );
    }
    if command.to.is_none_or(|to| to >= Step::Install)
        && command.prefix.is_none()
        && command.out.is_none()
    {
        bail!("--to without --out: give --prefix, where the venv will live");
    }
    if let Some(out) = &command.out {
        if out.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
            bail!(
                "--out {} is not a directory; give a new or empty directory",
                out.display()
            );
        }
        let non_empty = fs::read_dir(out).is_ok_and(|mut d| d.next().is_some());
        if non_empty && !command.force && !out.join("pyvenv.cfg").is_file() {
            bail!(
                "--out {} is not empty, and not a venv an earlier build left there; pass --force to replace it",
                out.display()
            );
        }
    }
    Ok(())
}

fn is_not_reproducible(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<pyfod_build_sdist::BuildError>(),
            Some(pyfod_build_sdist::BuildError::NotReproducible { .. })
        )
    })
}
