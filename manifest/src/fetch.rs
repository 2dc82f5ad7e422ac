use serde::{Deserialize, Serialize};

use crate::{Manifest, Sha256, Source, Stage, StoredFile, StoredTree};

/// Output of `fetch`: every artifact the target needs, in the store and verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchManifest {
    /// SHA-256 of the `uv.lock` bytes.
    pub lock: Sha256,
    /// SHA-256 of the `[tool.uv]` settings that changed the choice of artifacts.
    pub settings: Sha256,
    pub target: Target,
    pub selection: Selection,
    /// Sorted by name, then version.
    pub packages: Vec<FetchedPackage>,
}

impl Manifest for FetchManifest {
    const STAGE: Stage = Stage::Fetch;
}

/// The interpreter and platform the artifacts were chosen for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Full version, `3.11.7`.
    pub python_version: String,
    /// `cpython`, `pypy`, …
    pub implementation: String,
    /// PEP 425 tags the target accepts, best first.
    pub tags: Vec<String>,
    /// The PEP 508 marker environment, as name/value pairs sorted by name.
    pub markers: Vec<(String, String)>,
    /// Identity of the probed interpreter (digest of its version, path and build),
    /// or `None` for an explicit `--target`.
    pub interpreter: Option<Sha256>,
}

/// What was asked for, beyond the defaults of
/// `uv sync --frozen --no-install-project --no-install-workspace --no-dev`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    pub extras: Vec<String>,
    pub groups: Vec<String>,
    pub no_install: Vec<String>,
    pub install_project: bool,
    pub install_workspace: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchedPackage {
    pub name: String,
    /// Absent only for a local tree whose version is dynamic.
    pub version: Option<String>,
    pub source: Source,
    pub artifact: Artifact,
    pub choice: ArtifactChoice,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Artifact {
    Wheel(StoredFile),
    Sdist(StoredFile),
    /// A git checkout at the locked commit, or a local source tree.
    Tree {
        tree: StoredTree,
        commit: Option<String>,
        subdirectory: Option<String>,
    },
}

/// Why this artifact and not another: what `pyfod fetch --dry-run` explains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactChoice {
    /// The compatible wheel whose best tag ranks highest (0 is the target's best).
    BestWheel { tag: String, rank: u32 },
    /// `no-binary` or `no-binary-package` asked for the sdist.
    NoBinary,
    /// No wheel matches any of the target's tags.
    NoCompatibleWheel,
    /// The source is a tree (git, directory): there is nothing else to choose.
    SourceTree,
}
