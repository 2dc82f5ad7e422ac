//! `pyfod install` and `pyfod-install`: the command line, resolved into
//! [`Settings`], over the stage.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyfod_cli::GlobalArgs;

use crate::unpacked::LinkMode;
use crate::{Compat, Interpreter, Layout, Settings, WheelsInput};

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
    pub args: Args,
}

/// The install stage's flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// The base interpreter the venv runs on: a path, or a name on PATH [default: python3]
    #[arg(long, value_name = "PYTHON")]
    pub python: Option<String>,

    /// Where the venv will live: shebangs, activation and pyvenv.cfg name it [default: the output directory]
    #[arg(long, value_name = "PATH")]
    pub prefix: Option<PathBuf>,

    /// The prompt `bin/activate` shows, and pyvenv.cfg's `prompt` [default: none]
    #[arg(long, value_name = "NAME")]
    pub prompt: Option<String>,

    /// Take [install] settings (collisions) from this pyfod.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Write what this uv version writes outside bin/: `uv = VERSION` in pyvenv.cfg,
    /// `.lock`, INSTALLER `uv`, REQUESTED, so an FOD that drops bin/ keeps its hash
    #[arg(long, value_name = "uv=VERSION")]
    pub compat: Option<Compat>,

    /// The lock's directory: with --compat, local sources get uv's direct_url.json,
    /// which names their absolute path [default: none written]
    #[arg(long, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,

    /// How files come from the store's unpacked wheels into --out: `copy` (an FOD
    /// output must own its files), `hardlink`, or `reflink` (btrfs, XFS)
    #[arg(long, value_name = "MODE", default_value = "copy")]
    pub link_mode: LinkMode,
}

pub fn execute(command: &Command, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let store = global.open_store()?;
    let bytes = fs::read(&command.input)
        .with_context(|| format!("cannot read {}", command.input.display()))?;
    let input = WheelsInput::from_manifest(bytes, &store)
        .with_context(|| format!("cannot install what {} names", command.input.display()))?;
    let args = &command.args;
    let interpreter = Interpreter::probe(args.python.as_deref().unwrap_or("python3"))?;
    if let Some(out) = &command.out
        && fs::read_dir(out).is_ok_and(|mut d| d.next().is_some())
    {
        return Err(crate::InstallError::NotEmpty(out.clone()).into());
    }
    // With neither --prefix nor --out, the venv lives where the store keeps it.
    let prefix = match (&args.prefix, &command.out) {
        (Some(prefix), _) => prefix.clone(),
        (None, Some(out)) => std::path::absolute(out)
            .with_context(|| format!("cannot make {} absolute", out.display()))?,
        (None, None) => PathBuf::new(),
    };
    let config = match &args.config {
        Some(path) => crate::collisions::load(path)?,
        None => Default::default(),
    };
    let settings = Settings {
        layout: Layout {
            prefix,
            prompt: args.prompt.clone(),
            compat: args.compat.clone(),
            collisions: config.rules(),
            project_dir: args.project_dir.clone(),
            limits: config.limits().map_err(anyhow::Error::msg)?,
        },
        interpreter,
    };
    // Only --out: installed straight there (files from the store's unpacked wheels).
    if let (Some(out), None) = (&command.out, &command.manifest) {
        let packages = install_into(out, &input, &settings, args.link_mode, &store)?;
        if !global.quiet {
            eprintln!("installed {packages} packages into {}", out.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    // A manifest names a tree in the store: the venv is kept there, under its key.
    let venv = crate::stage::run(&input, &settings, &store)
        .with_context(|| format!("cannot install what {} names", command.input.display()))?;
    let tree = venv.tree.as_ref().expect("a venv has a tree");
    if let Some(out) = &command.out {
        pyfod_store::replace_tree(tree, out)
            .with_context(|| format!("cannot write the venv to {}", out.display()))?;
    }
    if let Some(path) = &command.manifest {
        pyfod_store::write_atomic(path, &venv.bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !global.quiet {
        eprintln!(
            "{} {} packages into {}",
            match venv.origin {
                pyfod_store::Origin::Cached => "found",
                pyfod_store::Origin::Ran => "installed",
                pyfod_store::Origin::Remote => "from the remote",
            },
            venv.manifest.packages.len(),
            command.out.as_ref().unwrap_or(tree).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Installs beside `out` and renames into place, so `out` is never half-made.
fn install_into(
    out: &std::path::Path,
    input: &WheelsInput,
    settings: &Settings,
    link_mode: LinkMode,
    store: &pyfod_store::Store,
) -> anyhow::Result<usize> {
    let work = pyfod_store::sibling_temp(out, "install");
    let unpacked = crate::unpacked::UnpackedWheels::new(store.clone());
    let result = unpacked
        .retrying(|| {
            let _ = fs::remove_dir_all(&work);
            fs::create_dir_all(&work).map_err(|source| crate::InstallError::Io {
                action: "create",
                path: work.clone(),
                source,
            })?;
            crate::install_with(
                &input.wheels,
                &work,
                &settings.layout,
                &settings.interpreter,
                Some((&unpacked, link_mode)),
            )
        })
        .map_err(anyhow::Error::from)
        .and_then(|packages| {
            let _ = fs::remove_dir(out);
            fs::rename(&work, out)
                .with_context(|| format!("cannot move the venv to {}", out.display()))?;
            Ok(packages.len())
        });
    if result.is_err() {
        let _ = fs::remove_dir_all(&work);
    }
    result.with_context(|| format!("cannot install into {}", out.display()))
}
