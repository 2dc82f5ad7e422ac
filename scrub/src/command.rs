//! `pyfod scrub` and `pyfod-scrub`: the command line over [`crate::run`].

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use pyfod_cli::{EXIT_HASH_MISMATCH, GlobalArgs};
use pyfod_manifest::{Manifest, ScrubManifest};

use crate::config::ScrubConfig;
use crate::{InstalledTree, Preset, Settings};

/// Remove Nix store references and machine paths from a venv tree
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "A reference left after scrubbing is a warning, or with --strict an error \
                        (exit 102). The manifest (--manifest) records every change, enough to \
                        put the originals back."
)]
pub struct Command {
    /// The tree to scrub
    #[arg(value_name = "DIR", required_unless_present = "input")]
    pub dir: Option<PathBuf>,

    /// Scrub the tree this install manifest names, in the store (needs --out)
    #[arg(long = "in", value_name = "FILE", conflicts_with = "dir")]
    pub input: Option<PathBuf>,

    /// Change DIR itself
    #[arg(long, conflicts_with = "out")]
    pub in_place: bool,

    /// Write the scrubbed tree to OUT (new or empty), leaving DIR as it was
    #[arg(long, value_name = "OUT")]
    pub out: Option<PathBuf>,

    /// Also write the scrub manifest to FILE
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Take rules from the [scrub] table of this pyfod.toml (flags override it)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub args: Args,
}

/// The scrub stage's flags: the rules.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Rules: `default` (every reference, everywhere), `seed` (the seed FOD's installPhase, exactly) or `none` (change nothing; the closing check reports every reference) [default: default]
    #[arg(long, value_name = "PRESET")]
    pub preset: Option<Preset>,

    /// The Nix store directory [default: /nix/store]
    #[arg(long, value_name = "DIR")]
    pub store_dir: Option<String>,

    /// Also strip this store path's hash part, wherever it appears (repeatable)
    #[arg(long = "ref", value_name = "PATH")]
    pub refs: Vec<String>,

    /// Also strip the store paths listed in FILE, one a line (`nix-store -qR` output, say)
    #[arg(long, value_name = "FILE")]
    pub refs_from: Vec<PathBuf>,

    /// Leave this store path's references alone (repeatable)
    #[arg(long, value_name = "PATH")]
    pub keep: Vec<String>,

    /// The interpreter prefix that becomes @python@ [default: pyvenv.cfg's `home`, less `/bin`]
    #[arg(long, value_name = "PATH")]
    pub python_prefix: Option<String>,

    /// Replace the interpreter prefix by @python@ in every file and symlink, not only pyvenv.cfg
    #[arg(long)]
    pub python_everywhere: bool,

    /// Keep bin/ (removed by default, as the seed does: launchers name the build's paths)
    #[arg(long)]
    pub keep_bin: bool,

    /// Keep *.pyc files (removed by default: they embed source paths)
    #[arg(long)]
    pub keep_pyc: bool,

    /// Treat a reference left after scrubbing as an error (exit 102), not a warning
    #[arg(long)]
    pub strict: bool,

    /// Threads [default: one per core]
    #[arg(long, value_name = "N", value_parser = pyfod_cli::parse_jobs)]
    pub jobs: Option<usize>,
}

impl Args {
    /// The flags as a `[scrub]` table, for [`crate::config::resolve`].
    pub fn as_config(&self) -> ScrubConfig {
        let set = |flag: bool| flag.then_some(true);
        ScrubConfig {
            preset: self.preset,
            store_dir: self.store_dir.clone(),
            refs: self.refs.clone(),
            refs_from: self.refs_from.clone(),
            keep: self.keep.clone(),
            python_prefix: self.python_prefix.clone(),
            python_everywhere: set(self.python_everywhere),
            keep_bin: set(self.keep_bin),
            keep_pyc: set(self.keep_pyc),
            strict: set(self.strict),
        }
    }
}

pub fn execute(command: &Command, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let file = match &command.config {
        Some(path) => crate::config::load(path)?,
        None => None,
    };
    let mut settings = crate::config::resolve(command.args.as_config(), file)?;
    settings.jobs = command.args.jobs.and_then(std::num::NonZeroUsize::new);
    let (manifest, bytes) = match (&command.dir, &command.input) {
        (Some(dir), _) => {
            let manifest = match (&command.out, command.in_place) {
                (Some(out), _) => {
                    refuse_out_inside(dir, out)?;
                    scrub_into(dir, out, &settings)?
                }
                (None, true) => crate::scrub(dir, &settings)
                    .with_context(|| format!("cannot scrub {}", dir.display()))?,
                (None, false) => bail!(
                    "say where the result goes: --in-place to change {} itself, or --out OUT for a scrubbed copy",
                    dir.display()
                ),
            };
            let bytes = manifest.encode(None);
            (manifest, bytes)
        }
        (None, Some(input)) => {
            if command.in_place {
                bail!("a tree in the store is never changed; give --out OUT for the scrubbed copy")
            }
            let store = global.open_store()?;
            let bytes =
                fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
            let installed = InstalledTree::from_manifest(bytes, &store)
                .with_context(|| format!("cannot scrub what {} names", input.display()))?;
            let output = crate::run(&installed, &settings, &store)?;
            if let Some(out) = &command.out {
                let tree = output.tree.as_ref().expect("a scrubbed tree");
                pyfod_store::replace_tree(tree, out).with_context(|| {
                    format!("cannot write the scrubbed tree to {}", out.display())
                })?;
            }
            (output.manifest, output.bytes)
        }
        (None, None) => bail!("give the DIR to scrub, or --in MANIFEST"),
    };
    if let Some(path) = &command.manifest {
        pyfod_store::write_atomic(path, &bytes)
            .with_context(|| format!("cannot write the scrub manifest to {}", path.display()))?;
    }
    if !global.quiet {
        eprint!("{}", summary(&manifest));
    }
    if settings.strict && !manifest.residuals.is_empty() {
        eprintln!(
            "error: {} reference(s) left after scrubbing (--strict)",
            manifest.residuals.len()
        );
        return Ok(ExitCode::from(EXIT_HASH_MISMATCH));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--out` inside the tree it copies would copy itself into itself.
fn refuse_out_inside(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let (Ok(dir), Ok(out)) = (std::path::absolute(dir), std::path::absolute(out)) else {
        return Ok(());
    };
    if out.starts_with(&dir) {
        bail!(
            "--out {} is inside the tree it would copy ({}); choose a directory outside it",
            out.display(),
            dir.display()
        );
    }
    Ok(())
}

/// Copies `source` beside `out`, scrubs the copy, and renames it to `out`: `out`
/// is never seen half-made.
fn scrub_into(source: &Path, out: &Path, settings: &Settings) -> anyhow::Result<ScrubManifest> {
    match fs::read_dir(out).map(|mut entries| entries.next().is_some()) {
        Ok(true) => bail!(
            "--out {} is not empty; remove it or choose a new directory",
            out.display()
        ),
        Ok(false) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot use --out {}", out.display())),
    }
    let work = crate::tree::temp_sibling(out);
    let result = (|| {
        pyfod_store::copy_tree(source, &work)
            .with_context(|| format!("cannot copy {} to {}", source.display(), work.display()))?;
        let manifest = crate::scrub(&work, settings)
            .with_context(|| format!("cannot scrub the copy of {}", source.display()))?;
        let _ = fs::remove_dir(out);
        fs::rename(&work, out)
            .with_context(|| format!("cannot move the scrubbed tree to {}", out.display()))?;
        Ok(manifest)
    })();
    if result.is_err() && work.exists() {
        let _ = crate::tree::remove(&work);
    }
    result
}

/// What was done, on a few lines, then each residual reference.
pub fn summary(manifest: &ScrubManifest) -> String {
    use std::collections::BTreeSet;
    let files: BTreeSet<_> = manifest.replacements.iter().map(|r| &r.path).collect();
    if manifest.preset == "none" {
        let mut out = format!(
            "scrub (none: nothing changed): {} store paths found, {} ELF files\n",
            manifest.targets.len(),
            manifest.elf.len(),
        );
        out.push_str(&residual_lines(manifest));
        return out;
    }
    let mut out = format!(
        "scrub ({} rules): {} store paths stripped, {} replacements in {} entries, {} paths removed, {} ELF files\n",
        manifest.preset,
        manifest.targets.len(),
        manifest.replacements.len(),
        files.len(),
        manifest.removed.len(),
        manifest.elf.len(),
    );
    if let Some(prefix) = &manifest.python_prefix {
        out.push_str(&format!("interpreter prefix: {prefix} -> @python@\n"));
    }
    for note in &manifest.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push_str(&residual_lines(manifest));
    out
}

/// One warning a reference left, with the file, the offset and the place.
fn residual_lines(manifest: &ScrubManifest) -> String {
    let mut out = String::new();
    for residual in &manifest.residuals {
        out.push_str(&format!(
            "warning: {} still refers to {} (at byte {}, in its {})\n",
            residual.path,
            residual.store_path,
            residual.offset,
            match residual.kind {
                pyfod_manifest::ReplacementKind::FileName => "name",
                pyfod_manifest::ReplacementKind::Symlink => "symlink target",
                _ => "contents",
            }
        ));
    }
    out
}
