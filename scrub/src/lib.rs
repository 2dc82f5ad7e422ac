//! The scrub stage: a venv tree made free of Nix store references and build-machine
//! paths, with a record of every change.
//!
//! Default rules, in order:
//! 1. the interpreter prefix in `pyvenv.cfg` becomes `@python@`;
//! 2. `bin/` and every `*.pyc` are removed (each can be kept);
//! 3. one parallel pass reads every file, name and symlink target once, learning
//!    the targets (every `<store dir>/<hash part>` anywhere, plus `--ref`s) and
//!    where a hash part could be (runs of 32 base-32 characters);
//! 4. every occurrence of a target's hash part, with or without the prefix, in
//!    contents, symlink targets and names, becomes 32 `e`s;
//! 5. what is left is checked the way Nix checks, and reported.
//!
//! `--preset seed` instead does exactly what the seed FOD's installPhase does (see
//! [`seed`]), and the same final check shows what it misses.

pub mod command;
pub mod config;
mod elf;
mod python;
mod refs;
mod replace;
mod residual;
mod rewrite;
mod seed;
mod stage;
mod tree;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

pub use command::Command;
use pyfod_manifest::ScrubManifest;

/// Version of what this stage writes; part of its cache key.
pub const FORMAT_VERSION: u32 = 1;

/// What the interpreter prefix becomes.
pub(crate) const PLACEHOLDER: &[u8] = b"@python@";

/// Which rules to apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Every store reference, everywhere Nix would find it
    #[default]
    Default,
    /// Exactly what the seed FOD's installPhase does, byte for byte
    Seed,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Default => "default",
            Preset::Seed => "seed",
        }
    }
}

/// The scrub stage's options, shared by `pyfod scrub`, `pyfod-scrub` and `pyfod build`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Rules: `default` (every reference, everywhere) or `seed` (the seed FOD's installPhase, exactly) [default: default]
    #[arg(long, value_enum)]
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
    #[arg(long, value_name = "N")]
    pub jobs: Option<NonZeroUsize>,
}

impl Options {
    pub fn preset(&self) -> Preset {
        self.preset.unwrap_or_default()
    }

    /// The store directory, without a trailing slash.
    pub fn store_dir(&self) -> &str {
        self.store_dir
            .as_deref()
            .unwrap_or("/nix/store")
            .trim_end_matches('/')
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScrubError {
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not a directory; scrub works on a venv tree")]
    NotADirectory(PathBuf),
    #[error(
        "{flag} `{text}` is not a store path: expected {store_dir}/<32 base-32 characters>-<name>"
    )]
    NotAStorePath {
        flag: &'static str,
        text: String,
        store_dir: String,
    },
    #[error(
        "{path}:{line}: `{text}` is not a store path: expected {store_dir}/<32 base-32 characters>-<name>"
    )]
    RefsFile {
        path: PathBuf,
        line: usize,
        text: String,
        store_dir: String,
    },
    #[error(
        "--preset seed does exactly what the seed's installPhase does, so {flag} does not apply; drop it, or use the default preset"
    )]
    SeedFlag { flag: &'static str },
    #[error(
        "{0} has no pyvenv.cfg; the seed's installPhase runs `sed -i` on it and would fail here"
    )]
    SeedWithoutPyvenv(PathBuf),
    #[error("cannot start worker threads")]
    Threads(#[from] rayon::ThreadPoolBuildError),
}

impl ScrubError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        ScrubError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The stage's entry: scrubs the tree at `root` in place and describes what it did.
pub fn run(root: &Path, options: &Options) -> Result<ScrubManifest, ScrubError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.map_or(0, NonZeroUsize::get))
        .build()?;
    pool.install(|| stage::Scrub::new(root, options)?.run())
}
