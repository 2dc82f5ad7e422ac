//! `pyfod scrub` and `pyfod-scrub`: the command line over [`crate::run`].

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use pyfod_cli::{EXIT_HASH_MISMATCH, GlobalArgs};
use pyfod_manifest::{AnyManifest, Manifest, ScrubManifest};

use crate::Options;

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
    pub options: Options,
}

pub fn execute(command: &Command, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let options = match &command.config {
        Some(path) => match crate::config::load(path)? {
            Some(config) => {
                let base = path.parent().unwrap_or(Path::new("."));
                command.options.clone().with_config(config, base)
            }
            None => command.options.clone(),
        },
        None => command.options.clone(),
    };
    let (source, input) = match (&command.dir, &command.input) {
        (Some(dir), _) => (dir.clone(), None),
        (None, Some(input)) => {
            let (tree, digest) = tree_of_install_manifest(input, global)?;
            (tree, Some(digest))
        }
        (None, None) => bail!("give the DIR to scrub, or --in MANIFEST"),
    };
    let manifest = match (&command.out, command.in_place) {
        (Some(out), _) => scrub_into(&source, out, &options)?,
        (None, true) if input.is_some() => {
            bail!("a tree in the store is never changed; give --out OUT for the scrubbed copy")
        }
        (None, true) => crate::run(&source, &options)
            .with_context(|| format!("cannot scrub {}", source.display()))?,
        (None, false) => bail!(
            "say where the result goes: --in-place to change {} itself, or --out OUT for a scrubbed copy",
            source.display()
        ),
    };
    if let Some(path) = &command.manifest {
        pyfod_store::write_atomic(path, &manifest.encode(input))
            .with_context(|| format!("cannot write the scrub manifest to {}", path.display()))?;
    }
    if !global.quiet {
        eprint!("{}", summary(&manifest));
    }
    if options.strict && !manifest.residuals.is_empty() {
        eprintln!(
            "error: {} reference(s) left after scrubbing (--strict)",
            manifest.residuals.len()
        );
        return Ok(ExitCode::from(EXIT_HASH_MISMATCH));
    }
    Ok(ExitCode::SUCCESS)
}

/// Copies `source` beside `out`, scrubs the copy, and renames it to `out`: `out`
/// is never seen half-made.
fn scrub_into(source: &Path, out: &Path, options: &Options) -> anyhow::Result<ScrubManifest> {
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
        let manifest = crate::run(&work, options)
            .with_context(|| format!("cannot scrub the copy of {}", source.display()))?;
        fs::rename(&work, out)
            .with_context(|| format!("cannot move the scrubbed tree to {}", out.display()))?;
        Ok(manifest)
    })();
    if result.is_err() && work.exists() {
        let _ = crate::tree::remove(&work);
    }
    result
}

/// The tree of an install manifest, and the manifest's digest.
fn tree_of_install_manifest(
    path: &Path,
    global: &GlobalArgs,
) -> anyhow::Result<(PathBuf, pyfod_manifest::Sha256)> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (header, manifest) = AnyManifest::decode(&bytes)
        .with_context(|| format!("{} is not a usable manifest", path.display()))?;
    let AnyManifest::Install(install) = manifest else {
        bail!(
            "{} is the `{}` stage's manifest; scrub takes the install stage's",
            path.display(),
            header.stage
        );
    };
    let store = global.open_store()?;
    Ok((
        install.tree.store_path.under(store.root()),
        pyfod_manifest::Sha256::of(&bytes),
    ))
}

/// What was done, on a few lines, then each residual reference.
pub fn summary(manifest: &ScrubManifest) -> String {
    use std::collections::BTreeSet;
    let files: BTreeSet<_> = manifest.replacements.iter().map(|r| &r.path).collect();
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
