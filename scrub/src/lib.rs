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
mod record;
mod refs;
mod replace;
mod residual;
mod rewrite;
mod seed;
mod stage;
mod store_stage;
mod tree;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

pub use command::Command;
use pyfod_manifest::ScrubManifest;
pub use store_stage::{InstalledTree, Scrub, run};

/// Version of what this stage writes; part of its cache key.
pub const FORMAT_VERSION: u32 = 1;

/// What the interpreter prefix becomes.
pub(crate) const PLACEHOLDER: &[u8] = b"@python@";

/// Which rules to apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Every store reference, everywhere Nix would find it
    #[default]
    Default,
    /// Exactly what the seed FOD's installPhase does, byte for byte
    Seed,
    /// Nothing changed: only the closing check, which reports every reference
    /// Nix would find
    None,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Default => "default",
            Preset::Seed => "seed",
            Preset::None => "none",
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "default" => Ok(Preset::Default),
            "seed" => Ok(Preset::Seed),
            "none" => Ok(Preset::None),
            _ => Err(format!(
                "`{text}` is not a preset: `default` (every reference, everywhere), `seed` (the seed FOD's installPhase, exactly) or `none` (change nothing, report every reference)"
            )),
        }
    }
}

/// The scrub stage's settings: the rules, resolved. Plain data: `pyfod scrub`'s
/// flags, `pyfod.toml`'s `[scrub]` and `pyfod build` resolve into it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Settings {
    pub preset: Preset,
    /// The Nix store directory, without a trailing slash.
    pub store_dir: String,
    /// Store paths whose hash parts are stripped wherever they appear.
    pub refs: Vec<String>,
    /// The same, from files (`nix-store -qR` output): in the key by their lines.
    pub refs_from: Vec<RefsList>,
    /// Store paths whose references are left alone.
    pub keep: Vec<String>,
    /// The interpreter prefix that becomes `@python@` (else `pyvenv.cfg`'s `home`).
    pub python_prefix: Option<String>,
    /// The placeholder in every file and symlink, not only `pyvenv.cfg`.
    pub python_everywhere: bool,
    pub keep_bin: bool,
    pub keep_pyc: bool,
    /// A reference left after scrubbing is an error. It changes no byte of the
    /// result, only whether it is accepted: not in the key.
    #[serde(skip)]
    pub strict: bool,
    /// Threads: not in the key.
    #[serde(skip)]
    pub jobs: Option<NonZeroUsize>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            preset: Preset::Default,
            store_dir: "/nix/store".into(),
            refs: Vec::new(),
            refs_from: Vec::new(),
            keep: Vec::new(),
            python_prefix: None,
            python_everywhere: false,
            keep_bin: false,
            keep_pyc: false,
            strict: false,
            jobs: None,
        }
    }
}

/// A file of store paths, one a line, as read when the settings were resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefsList {
    /// Named in errors; the lines are what count.
    #[serde(skip)]
    pub path: PathBuf,
    pub lines: Vec<String>,
}

impl RefsList {
    pub fn read(path: &Path) -> Result<RefsList, ScrubError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScrubError::io("read", path, e))?;
        Ok(RefsList {
            path: path.to_path_buf(),
            lines: text.lines().map(str::to_owned).collect(),
        })
    }
}

impl Settings {
    /// The store directory, without a trailing slash.
    pub fn store_dir(&self) -> &str {
        self.store_dir.trim_end_matches('/')
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
    #[error("{flag} does not apply to --preset {}: {}; drop it, or use the default preset", preset.name(), match preset {
        Preset::None => "it changes nothing",
        _ => "it does exactly what the seed's installPhase does",
    })]
    PresetFlag { preset: Preset, flag: &'static str },
    #[error(
        "{0} has no pyvenv.cfg; the seed's installPhase runs `sed -i` on it and would fail here"
    )]
    SeedWithoutPyvenv(PathBuf),
    #[error(transparent)]
    Store(#[from] pyfod_store::StoreError),
    #[error("the install manifest cannot be scrubbed")]
    Manifest(#[source] pyfod_manifest::DecodeError),
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

/// Scrubs the tree at `root` in place and describes what it did: the work of
/// the stage, on any tree.
pub fn scrub(root: &Path, settings: &Settings) -> Result<ScrubManifest, ScrubError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.jobs.map_or(0, NonZeroUsize::get))
        .build()?;
    pool.install(|| stage::Scrub::new(root, settings)?.run())
}
