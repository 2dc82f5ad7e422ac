//! `pyfod hash` and `pyfod-hash`: the command line over [`crate::run`].

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use pyfod_cli::{EXIT_HASH_MISMATCH, GlobalArgs};
use pyfod_digest::{HashFormat, Sha256};
use pyfod_manifest::{AnyManifest, HashManifest, Manifest};
use pyfod_store::AtomicFile;

use crate::{TreeHash, diff, hash_path};

/// Print the NAR SHA-256 of a file, symlink or directory, as Nix computes it
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "The last line of standard output is the hash alone. A mismatch with --expect \
                  prints Nix's `specified:`/`got:` report and exits 102."
)]
pub struct Command {
    /// File, symlink or directory to hash (symlinks are never followed)
    #[arg(value_name = "PATH", required_unless_present = "input")]
    pub path: Option<PathBuf>,

    /// Hash the tree that this install or scrub manifest names, instead of PATH
    #[arg(long = "in", value_name = "FILE", conflicts_with = "path")]
    pub input: Option<PathBuf>,

    /// How to print the hash: sri, nix32, base16 or base64
    #[arg(long, value_name = "FORMAT", default_value = "sri")]
    pub format: HashFormat,

    /// The hash it must have: `sha256-<base64>` or `sha256:<hex|nix32|base64>`
    #[arg(long, value_name = "HASH", value_parser = HashFormat::parse_any)]
    pub expect: Option<Sha256>,

    /// On a mismatch, list the entries that differ from this known-good hash manifest
    #[arg(long, value_name = "FILE", requires = "expect")]
    pub known_good: Option<PathBuf>,

    /// Also write the NAR itself to FILE
    #[arg(long, value_name = "FILE")]
    pub nar: Option<PathBuf>,

    /// Also write a hash manifest (every entry with its size and digest) to FILE
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Threads that read files ahead of the hasher [default: 3 per core, 4 to 16]
    #[arg(long, value_name = "N", value_parser = pyfod_cli::parse_jobs)]
    pub jobs: Option<usize>,
}

pub fn execute(command: &Command, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let (root, input) = match (&command.path, &command.input) {
        (Some(path), _) => (path.clone(), None),
        (None, Some(input)) => {
            let (root, digest) = tree_of_manifest(input, global)?;
            (root, Some(digest))
        }
        (None, None) => bail!("give a PATH to hash, or --in MANIFEST"),
    };
    if let Some(nar) = &command.nar {
        let (tree, nar) = (std::path::absolute(&root)?, std::path::absolute(nar)?);
        if nar.starts_with(&tree) {
            bail!(
                "--nar {} is inside the tree it would hash ({}): the NAR would hash itself; write it elsewhere",
                nar.display(),
                tree.display()
            );
        }
    }
    // Read the known-good manifest first: a bad path should fail before the work.
    let known_good = command
        .known_good
        .as_deref()
        .map(read_hash_manifest)
        .transpose()?;
    let record = command.manifest.is_some() || known_good.is_some();
    let hash = hash_with_nar(&root, command, record)?;
    let manifest = HashManifest {
        nar_sha256: hash.nar_sha256,
        nar_size: hash.nar_size,
        entries: hash.entries,
        inputs: Vec::new(),
    };
    if let Some(path) = &command.manifest {
        pyfod_store::write_atomic(path, &manifest.encode(input))
            .with_context(|| format!("cannot write the hash manifest to {}", path.display()))?;
    }
    let mut code = ExitCode::SUCCESS;
    if let Some(expected) = command.expect
        && expected != manifest.nar_sha256
    {
        eprint!(
            "{}",
            mismatch_report(&root, &expected, &manifest.nar_sha256)
        );
        if let Some(known_good) = &known_good {
            eprintln!(
                "entries that differ from the known-good manifest {}:",
                command
                    .known_good
                    .as_deref()
                    .unwrap_or(Path::new(""))
                    .display()
            );
            eprint!("{}", diff::render(&diff::diff(known_good, &manifest)));
        }
        code = ExitCode::from(EXIT_HASH_MISMATCH);
    }
    pyfod_cli::print_stdout(&format!("{}\n", manifest.nar_sha256.format(command.format)));
    Ok(code)
}

fn hash_with_nar(root: &Path, command: &Command, record: bool) -> anyhow::Result<TreeHash> {
    let settings = crate::settings(command.jobs.and_then(std::num::NonZeroUsize::new), record);
    let hash_error = || format!("cannot hash {}", root.display());
    match &command.nar {
        None => hash_path(root, &settings, None).with_context(hash_error),
        Some(nar_path) => {
            let mut out = AtomicFile::create(nar_path)
                .with_context(|| format!("cannot create {}", nar_path.display()))?;
            let hash = hash_path(root, &settings, Some(&mut out)).with_context(hash_error)?;
            out.commit()
                .with_context(|| format!("cannot write the NAR to {}", nar_path.display()))?;
            Ok(hash)
        }
    }
}

/// Nix's report, which nixpkgs' update scripts parse (`got:\s+(\S+)`).
pub fn mismatch_report(root: &Path, expected: &Sha256, actual: &Sha256) -> String {
    format!(
        "error: hash mismatch in NAR of '{}':\n  specified: {}\n     got:    {}\n",
        root.display(),
        expected.to_sri(),
        actual.to_sri()
    )
}

/// Reads a hash manifest, saying which file it was when it is not one.
pub fn read_hash_manifest(path: &Path) -> anyhow::Result<HashManifest> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (_, manifest) = HashManifest::decode(&bytes)
        .with_context(|| format!("{} is not a usable hash manifest", path.display()))?;
    Ok(manifest)
}

/// The store tree an install or scrub manifest names, and the manifest's digest.
fn tree_of_manifest(path: &Path, global: &GlobalArgs) -> anyhow::Result<(PathBuf, Sha256)> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (header, manifest) = AnyManifest::decode(&bytes)
        .with_context(|| format!("{} is not a usable manifest", path.display()))?;
    let tree = match manifest {
        AnyManifest::Install(m) => m.tree,
        AnyManifest::Scrub(m) => m.tree.ok_or_else(|| anyhow::anyhow!("{} describes a scrub done outside the store (--in-place or --out); hash that directory instead", path.display()))?,
        _ => bail!(
            "{} is a `{}` manifest; `pyfod hash --in` takes the manifest of a stage that makes a tree (install or scrub)",
            path.display(),
            header.stage
        ),
    };
    let store = global.open_store()?;
    let root = store.verified_tree(&tree).with_context(|| {
        format!(
            "{} names a tree the store at {} cannot give; pass the --store it was made in",
            path.display(),
            store.root().display()
        )
    })?;
    Ok((root, Sha256::of(&bytes)))
}
