//! `pyfod fetch` and `pyfod-fetch`: the command line, resolved into
//! [`Settings`], over [`crate::run`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use pyfod_cli::GlobalArgs;

use crate::{BinarySettings, FetchError, LockInput, Selection, Settings, Target};

/// Decide, and fetch, every artifact a uv.lock needs for a target
#[derive(Debug, Clone, clap::Args)]
pub struct Command {
    /// Print what the target needs, one line a package, and download nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Also write the fetch manifest to FILE
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    #[command(flatten)]
    pub args: Args,
}

/// The fetch stage's flags, shared by `pyfod fetch`, `pyfod-fetch` and
/// `pyfod lock-build`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// The lock to realise
    #[arg(long, value_name = "FILE", default_value = "uv.lock")]
    pub lock: PathBuf,

    /// The interpreter to fetch for: a path, or a name on PATH [default: python3]
    #[arg(long, value_name = "PYTHON", conflicts_with = "target")]
    pub python: Option<String>,

    /// Fetch for another machine: `python=3.Y[.Z],platform=manylinux_2_N_<arch>`, or a
    /// TOML file with `python = "…"` and `platform = "…"`
    #[arg(long, value_name = "SPEC|FILE")]
    pub target: Option<String>,

    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Use sdists, never wheels (adds to `[tool.uv] no-binary`)
    #[arg(long)]
    pub no_binary: bool,

    /// Use this package's sdist, not its wheels (repeatable)
    #[arg(long = "no-binary-package", value_name = "NAME")]
    pub no_binary_package: Vec<String>,

    /// Refuse sdists: a package with no fitting wheel is an error
    #[arg(long)]
    pub no_build: bool,

    /// Refuse this package's sdist (repeatable)
    #[arg(long = "no-build-package", value_name = "NAME")]
    pub no_build_package: Vec<String>,

    /// Use only what the store has; name what is missing
    #[arg(long)]
    pub offline: bool,

    /// Accept lock entries without a hash (recorded as such in the manifest)
    #[arg(long)]
    pub allow_unhashed: bool,

    /// Fetch URLs that start with FROM from TO instead: another server, or a local
    /// directory; the lock's hashes still apply (repeatable)
    #[arg(long = "mirror", value_name = "FROM=TO", value_parser = parse_mirror)]
    pub mirrors: Vec<(String, String)>,

    /// Downloads at once [default: 8]
    #[arg(long, value_name = "N", value_parser = pyfod_cli::parse_jobs)]
    pub jobs: Option<usize>,
}

/// What of the lock to install: `pyfod fetch`'s and `pyfod build`'s flags. For a
/// `pylock.toml`, extras and groups are the PEP's `extras` and `dependency_groups`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectionArgs {
    /// Include this extra of the project (repeatable)
    #[arg(long = "extra", value_name = "EXTRA")]
    pub extras: Vec<String>,

    /// Include every extra of the project
    #[arg(long)]
    pub all_extras: bool,

    /// Include this dependency group (repeatable); for a pylock.toml, instead of its default-groups
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,

    /// Only this dependency group, not the project's dependencies (repeatable)
    #[arg(long = "only-group", value_name = "GROUP")]
    pub only_groups: Vec<String>,

    /// Include the `dev` group (left out by default, as the seed's `--no-dev` does)
    #[arg(long)]
    pub dev: bool,

    /// Leave this package out (repeatable)
    #[arg(long = "no-install-package", value_name = "NAME")]
    pub no_install: Vec<String>,

    /// Fetch the project itself too
    #[arg(long)]
    pub install_project: bool,

    /// Fetch the workspace members too
    #[arg(long)]
    pub install_workspace: bool,
}

impl SelectionArgs {
    pub fn selection(&self) -> Selection {
        let mut groups = self.groups.clone();
        if self.dev {
            groups.push("dev".into());
        }
        Selection {
            extras: self.extras.clone(),
            all_extras: self.all_extras,
            groups,
            only_groups: self.only_groups.clone(),
            no_install: self.no_install.clone(),
            install_project: self.install_project,
            install_workspace: self.install_workspace,
        }
    }
}

fn parse_mirror(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((from, to)) if !from.is_empty() && !to.is_empty() => {
            Ok((from.to_owned(), to.to_owned()))
        }
        _ => Err(format!(
            "`{text}` is not FROM=TO (a URL prefix, then a URL or directory to use instead)"
        )),
    }
}

impl Args {
    /// The target: `--target`, else the interpreter `--python` names, asked once.
    pub fn target(&self) -> Result<Target, FetchError> {
        match (&self.target, &self.python) {
            (Some(spec), _) if Path::new(spec).is_file() => Target::from_file(Path::new(spec)),
            (Some(spec), _) => Target::explicit(spec),
            (None, python) => {
                let interpreter =
                    pyfod_python::Interpreter::probe(python.as_deref().unwrap_or("python3"))?;
                Target::of(&interpreter)
            }
        }
    }

    /// These flags as the stage's settings, for `target`.
    pub fn settings(&self, target: Target) -> Settings {
        Settings {
            target,
            selection: self.selection.selection(),
            binary: BinarySettings {
                no_binary: self.no_binary,
                no_binary_package: self.no_binary_package.clone(),
                no_build: self.no_build,
                no_build_package: self.no_build_package.clone(),
            },
            allow_unhashed: self.allow_unhashed,
            offline: self.offline,
            mirrors: self.mirrors.clone(),
            jobs: self.jobs.unwrap_or(8),
            outside_project: crate::OutsideProject::Warn,
        }
    }
}

pub fn execute(command: &Command, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let lock = &command.args.lock;
    let context = || format!("cannot realise {}", lock.display());
    let settings = command.args.settings(command.args.target()?);
    if command.dry_run {
        let input = LockInput::read(lock, &settings).with_context(context)?;
        let mut lines: Vec<String> = input
            .plans(&settings)?
            .iter()
            .map(crate::Plan::line)
            .collect();
        lines.sort();
        let mut text = lines.join("\n");
        text.push('\n');
        pyfod_cli::print_stdout(&text);
        return Ok(ExitCode::SUCCESS);
    }
    let store = global.open_store()?;
    let output = crate::run(lock, &settings, &store).with_context(context)?;
    if let Some(path) = &command.manifest {
        pyfod_store::write_atomic(path, &output.bytes)
            .with_context(|| format!("cannot write the fetch manifest to {}", path.display()))?;
    }
    if !global.quiet {
        let total: u64 = output
            .manifest
            .packages
            .iter()
            .map(|p| match &p.artifact {
                pyfod_manifest::Artifact::Wheel(f) | pyfod_manifest::Artifact::Sdist(f) => f.size,
                pyfod_manifest::Artifact::Tree { .. } => 0,
            })
            .sum();
        eprintln!(
            "fetched {} artifacts ({:.1} MiB) into {}",
            output.manifest.packages.len(),
            total as f64 / (1024.0 * 1024.0),
            store.root().display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
