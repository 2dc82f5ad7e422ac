//! `pyfod nix fod`: the fixed-output derivation for a project, its values taken
//! from the project itself — the lock and what it fetches, the interpreter,
//! pyfod.toml — and, with `--build`, its hash taken from Nix.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use pyfod_cli::GlobalArgs;
use pyfod_digest::{HashFormat, Sha256};
use pyfod_nix::{FodExpression, NixBuild, Verdict};

use crate::nix_project::expression;

#[derive(Debug, clap::Subcommand)]
pub enum NixCommand {
    /// Write the fixed-output derivation whose builder is `pyfod build`, for this project
    Fod(FodCommand),
}

#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Without --output the expression goes to standard output, written to live \
                        beside the lock. With --build, the last line of standard output is the hash."
)]
pub struct FodCommand {
    /// The lock the derivation realises
    #[arg(long, value_name = "FILE", default_value = "uv.lock")]
    pub lock: PathBuf,

    /// The interpreter whose version names nixpkgs' (`3.11` → `pkgs.python311`) [default: python3]
    #[arg(long, value_name = "PYTHON")]
    pub python: Option<String>,

    /// The nixpkgs attribute of the interpreter (`python311`), instead of the one
    /// --python's version names
    #[arg(long, value_name = "ATTR")]
    pub nix_python: Option<String>,

    /// Settings from this file, as `pyfod build --config` (inside the project)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// `pyfod build --preset` in the derivation: `default`, `seed`, or `none`
    #[arg(long, value_name = "PRESET")]
    pub preset: Option<pyfod_scrub::Preset>,

    /// `pyfod build --compat` in the derivation [default: for `preset = "seed"`,
    /// the uv installed here, as `pyfod build` would take it]
    #[arg(long, value_name = "uv=VERSION")]
    pub compat: Option<pyfod_install::Compat>,

    /// `pyfod build --check` in the derivation: every sdist built twice
    #[arg(long)]
    pub check: bool,

    /// A variable the builds see besides `NIX_*` and `PKG_CONFIG*` (repeatable)
    #[arg(long, value_name = "VAR")]
    pub pass_env: Vec<String>,

    /// A nixpkgs attribute the sdists link against: `libxml2`, `postgresql.lib` (repeatable)
    #[arg(long = "build-input", value_name = "ATTR")]
    pub build_inputs: Vec<String>,

    /// A nixpkgs attribute the sdist builds run: `pkg-config`, `postgresql.pg_config` (repeatable)
    #[arg(long = "native-build-input", value_name = "ATTR")]
    pub native_build_inputs: Vec<String>,

    /// The derivation's name [default: `<project>-python-deps`]
    #[arg(long)]
    pub name: Option<String>,

    /// The outputHash [default: pkgs.lib.fakeHash, or with --build, Nix's]
    #[arg(long, value_name = "HASH", value_parser = HashFormat::parse_any)]
    pub hash: Option<Sha256>,

    /// Where to write the expression
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Build it with nix-build: without --hash, once with the fake hash to take
    /// Nix's, which is then written and built again; with --hash, to check it
    /// (exit 102 on a mismatch)
    #[arg(long, requires = "output")]
    pub build: bool,

    /// Arguments for nix-build after `--`: `-- --arg pyfod '(import ./pyfod.nix {})'`
    #[arg(last = true, value_name = "NIX_BUILD_ARGS")]
    pub nix_build_args: Vec<OsString>,
}

pub fn execute(command: &NixCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match command {
        NixCommand::Fod(fod) => execute_fod(fod, global),
    }
}

fn execute_fod(command: &FodCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let mut expression = expression(command)?;
    let Some(output) = &command.output else {
        pyfod_cli::print_stdout(&expression.render());
        return Ok(ExitCode::SUCCESS);
    };
    let write = |expression: &FodExpression| {
        pyfod_store::write_atomic(output, expression.render().as_bytes())
            .with_context(|| format!("cannot write {}", output.display()))
    };
    write(&expression)?;
    if !command.build {
        return Ok(ExitCode::SUCCESS);
    }
    let nix = NixBuild {
        args: command.nix_build_args.clone(),
        ..NixBuild::default()
    };
    let hash = match expression.output_hash {
        Some(hash) => hash,
        None => {
            let got = hash_from_nix(&nix, output, global.quiet)?;
            expression.output_hash = Some(got);
            write(&expression)?;
            if !global.quiet {
                eprintln!(
                    "pyfod: Nix's hash {} written to {}",
                    got.to_sri(),
                    output.display()
                );
            }
            got
        }
    };
    confirm(&nix, output, &hash, global.quiet)
}

/// What to do about an output Nix does not take because it refers to the store.
const REFERENCES_ADVICE: &str = "pyfod's warnings in the log name each reference — drop `--preset none`, or add the paths to [scrub] refs";

/// The first build, with the fake hash: Nix's `got:`.
fn hash_from_nix(nix: &NixBuild, file: &Path, quiet: bool) -> anyhow::Result<Sha256> {
    if !quiet {
        eprintln!(
            "pyfod: building {} with the fake hash; Nix's hash mismatch error will say the real one",
            file.display()
        );
    }
    let built = nix.run(file, quiet)?;
    match built.verdict {
        Verdict::HashMismatch(mismatch) => Ok(mismatch.got),
        Verdict::Built { path } => bail!(
            "nix-build accepted the fake hash for {path}; a fixed-output derivation with it cannot be built, so {} is not the expression pyfod wrote",
            file.display()
        ),
        verdict => Err(failure(file, &verdict)),
    }
}

/// The build with `hash`: Nix accepts it, and what it delivered has it.
fn confirm(nix: &NixBuild, file: &Path, hash: &Sha256, quiet: bool) -> anyhow::Result<ExitCode> {
    let built = nix.run(file, quiet)?;
    let path = match built.verdict {
        Verdict::Built { path } => PathBuf::from(path),
        Verdict::HashMismatch(mismatch) => {
            eprintln!(
                "error: hash mismatch in fixed-output derivation '{}':\n  specified: {}\n     got:    {}",
                mismatch.derivation.as_deref().unwrap_or("?"),
                hash.to_sri(),
                mismatch.got.to_sri()
            );
            pyfod_cli::print_stdout(&format!("{}\n", mismatch.got.to_sri()));
            return Ok(ExitCode::from(pyfod_cli::EXIT_HASH_MISMATCH));
        }
        verdict => return Err(failure(file, &verdict)),
    };
    if std::fs::symlink_metadata(&path).is_err() {
        bail!(
            "nix-build printed {} but the path does not exist: the output refers to other store paths, and this Nix registered it elsewhere instead of refusing it (Nix before 2.12 does); {REFERENCES_ADVICE}",
            path.display()
        );
    }
    let delivered = pyfod_nar::hash_path(&path, &pyfod_nar::HashSettings::default(), None)
        .with_context(|| format!("cannot hash {}", path.display()))?
        .nar_sha256;
    if delivered != *hash {
        bail!(
            "Nix accepted {} for {}, whose NAR hash is {}: the store's copy is damaged; repair it (nix-store --repair-path) and build again",
            hash.to_sri(),
            path.display(),
            delivered.to_sri()
        );
    }
    if !quiet {
        eprintln!(
            "pyfod: Nix accepts {} for {}",
            hash.to_sri(),
            path.display()
        );
    }
    pyfod_cli::print_stdout(&format!("{}\n", hash.to_sri()));
    Ok(ExitCode::SUCCESS)
}

fn failure(file: &Path, verdict: &Verdict) -> anyhow::Error {
    match verdict {
        Verdict::RefersToStore { derivation } => anyhow::anyhow!(
            "Nix refused {derivation}: its output refers to other store paths; {REFERENCES_ADVICE}"
        ),
        _ => anyhow::anyhow!(
            "nix-build {} failed; its log above says why",
            file.display()
        ),
    }
}
