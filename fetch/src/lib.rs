//! The fetch stage: everything a `uv.lock` needs for a target, decided as
//! `uv sync --frozen --no-install-project --no-install-workspace --no-dev`
//! decides it; or a `pylock.toml` (PEP 751, [`pylock`]), as its PEP says an
//! installer decides it.
//!
//! [`LockInput::read`] reads the lock and the `pyproject.toml` beside it, walks
//! the graph from the roots for the target ([`select`]), picks each package's
//! artifact ([`choose`]), and reads the local sources among them; [`Fetch`], the
//! stage, puts every artifact in the store, verified against the lock's hash.

mod choose;
pub mod command;
mod download;
mod error;
mod input;
pub mod lock;
pub mod project;
pub mod pylock;
mod pylock_marker;
pub mod select;
pub mod tags;
pub mod target;
mod tree;

use std::path::{Path, PathBuf};

pub use choose::{Plan, Planned};
pub use command::Command;
pub use error::FetchError;
pub use input::{LocalSource, LockInput, NOT_SOURCE};
pub use project::BinarySettings;
use pyfod_manifest::{Artifact, FetchManifest, FetchedPackage, Source, StoredFile};
use pyfod_store::{EntryName, Needs, Produced, Store, Work};
pub use select::Selection;
use serde::Serialize;
pub use target::Target;

/// The fetch stage's settings: what to fetch, for which target. Plain data:
/// `pyfod fetch`'s flags and `pyfod build`'s resolve into it.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// The marker environment and tags the artifacts are chosen for.
    pub target: Target,
    pub selection: Selection,
    /// The command line's `--no-binary…`/`--no-build…`, added to `[tool.uv]`'s.
    pub binary: BinarySettings,
    /// Accept lock entries without a hash (recorded as such in the manifest).
    pub allow_unhashed: bool,
    /// Use only what the store has. The lock's hashes decide what is fetched, so
    /// this changes nothing fetched: not in the key.
    #[serde(skip)]
    pub offline: bool,
    /// URL prefixes served from elsewhere; the lock's hashes still rule: not in the key.
    #[serde(skip)]
    pub mirrors: Vec<(String, String)>,
    /// Downloads at once: not in the key.
    #[serde(skip)]
    pub jobs: usize,
    /// What a local source outside the project's directory gets: a warning (uv
    /// allows them) or a refusal. Either way what is fetched is the same: not in
    /// the key.
    #[serde(skip)]
    pub outside_project: OutsideProject,
}

/// `[fetch] outside-project`: what a `path` or `directory` source outside the
/// lock's directory gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutsideProject {
    #[default]
    Warn,
    Refuse,
}

/// `[fetch]` in `pyfod.toml`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FetchConfig {
    pub outside_project: Option<OutsideProject>,
}

impl Settings {
    /// Settings for `target` with every default: what `uv sync --frozen
    /// --no-install-project --no-install-workspace --no-dev` fetches.
    pub fn for_target(target: Target) -> Settings {
        Settings {
            target,
            selection: Selection::default(),
            binary: BinarySettings::default(),
            allow_unhashed: false,
            offline: false,
            mirrors: Vec::new(),
            jobs: 8,
            outside_project: OutsideProject::Warn,
        }
    }
}

/// The fetch stage, for [`pyfod_store::Store::run_stage`].
#[derive(Debug)]
pub struct Fetch;

impl pyfod_store::Stage for Fetch {
    const STAGE: pyfod_manifest::Stage = pyfod_manifest::Stage::Fetch;
    const FORMAT_VERSION: u32 = 2;
    type Input = LockInput;
    type Settings = Settings;
    type Output = FetchManifest;
    type Error = FetchError;

    fn input_digest(input: &LockInput) -> pyfod_digest::Sha256 {
        input.digest()
    }

    fn run(
        input: &LockInput,
        settings: &Settings,
        work: &Work<'_>,
    ) -> Result<Produced, FetchError> {
        let manifest = fetch(input, settings, work.store)?;
        let mut needs = Needs::default();
        for package in &manifest.packages {
            match &package.artifact {
                Artifact::Wheel(file) | Artifact::Sdist(file) => {
                    needs.blobs.push((file.sha256, file.size));
                }
                Artifact::Tree { tree, .. } => match EntryName::of_tree(&tree.store_path) {
                    Some(EntryName::Tree(name)) => needs.trees.push(name),
                    _ => unreachable!("fetch keeps its trees under trees/"),
                },
            }
        }
        // The envelope names the lock it came from, a file anyone can hash.
        let bytes = pyfod_manifest::Manifest::encode(&manifest, Some(manifest.lock));
        Ok(Produced::manifest(bytes, needs))
    }
}

/// The stage's entry for a library user: the lock at `lock`, fetched into
/// `store` for `settings`, through the store's cache.
pub fn run(
    lock: &Path,
    settings: &Settings,
    store: &Store,
) -> Result<pyfod_store::StageOutput<FetchManifest>, FetchError> {
    let input = LockInput::read(lock, settings)?;
    store.run_stage::<Fetch>(&input, settings)
}

/// Puts every artifact `input` needs into the store, verified against the lock.
fn fetch(
    input: &LockInput,
    settings: &Settings,
    store: &Store,
) -> Result<FetchManifest, FetchError> {
    let plans = input.plans(settings)?;
    let dir = input.dir();
    let mut jobs = Vec::new();
    for item in plans
        .iter()
        .filter(|p| !matches!(p.artifact, Planned::Tree))
    {
        jobs.push(job(item, dir, settings)?);
    }
    let download = download::Settings {
        offline: settings.offline,
        jobs: settings.jobs.max(1),
    };
    let mut fetched = download::fetch_all(jobs.clone(), store, &download)?
        .into_iter()
        .zip(jobs);
    let mut packages = Vec::new();
    for item in &plans {
        let artifact = match &item.artifact {
            Planned::Tree => tree_of(item, input, settings, store)?,
            planned => {
                let (fetched, job) = fetched.next().expect("one download per file artifact");
                let file = StoredFile {
                    filename: job.filename.clone(),
                    sha256: fetched.sha256,
                    size: fetched.size,
                    url: job.origin.clone(),
                    hash_from_lock: job.expected.is_some(),
                };
                match planned {
                    Planned::Wheel(_) => Artifact::Wheel(file),
                    _ => Artifact::Sdist(file),
                }
            }
        };
        packages.push(FetchedPackage {
            name: item.package.name.clone(),
            version: item.package.version.clone(),
            source: item.source.clone(),
            artifact,
            choice: item.choice.clone(),
        });
    }
    let selection = &settings.selection;
    Ok(FetchManifest {
        lock: input.lock_digest,
        settings: pyfod_store::key::digest(&input.binary),
        target: settings.target.to_manifest(),
        selection: pyfod_manifest::Selection {
            extras: selection.extras.clone(),
            groups: selection.groups.clone(),
            no_install: selection.no_install.clone(),
            install_project: selection.install_project,
            install_workspace: selection.install_workspace,
        },
        packages,
    })
}

/// A git checkout or a local tree, in the store.
fn tree_of(
    item: &Plan<'_>,
    input: &LockInput,
    settings: &Settings,
    store: &Store,
) -> Result<Artifact, FetchError> {
    match &item.source {
        Source::Git {
            repository,
            commit,
            subdirectory,
            ..
        } => {
            let raw = item.package.source.git.as_deref().unwrap_or(repository);
            let url = raw.split(['?', '#']).next().unwrap_or(raw);
            Ok(Artifact::Tree {
                tree: tree::git(
                    store,
                    &item.package.name,
                    url,
                    commit,
                    subdirectory.as_deref(),
                    settings.offline,
                )?,
                commit: Some(commit.clone()),
                subdirectory: subdirectory.clone(),
            })
        }
        Source::Directory { path } | Source::Editable { path } => {
            let expected = input
                .local_digest(&item.package.name)
                .expect("the input read every local tree");
            Ok(Artifact::Tree {
                tree: tree::local(store, &item.package.name, input.dir(), path, &expected)?,
                commit: None,
                subdirectory: None,
            })
        }
        other => Err(FetchError::Unsupported(format!(
            "{}: a {} source as a tree",
            item.package.name,
            other.kind()
        ))),
    }
}

/// The local file an artifact is, if it is one: a `path` source, or an entry with
/// a path in the lock.
pub(crate) fn local_file(
    artifact: &lock::Artifact,
    source: &Source,
    lock_dir: &Path,
) -> Option<PathBuf> {
    match (&artifact.url, &artifact.path, source) {
        (Some(_), _, _) => None,
        (None, Some(path), Source::Registry { index }) => Some(lock_dir.join(index).join(path)),
        (None, Some(path), _) => Some(lock_dir.join(path)),
        (None, None, Source::Path { path }) => Some(lock_dir.join(path)),
        _ => None,
    }
}

/// Where one planned artifact comes from, and the hash it must have.
fn job(item: &Plan<'_>, lock_dir: &Path, settings: &Settings) -> Result<download::Job, FetchError> {
    let package = &item.package.name;
    let artifact = match &item.artifact {
        Planned::Wheel(a) | Planned::Sdist(a) => *a,
        Planned::Tree => unreachable!("trees are not downloaded"),
    };
    // A path or URL source's artifact is named by the source when the lock's entry
    // carries only a hash.
    let from_source = match &item.source {
        Source::Path { path } => path.rsplit('/').next(),
        Source::Url { url, .. } => url
            .split(['#', '?'])
            .next()
            .and_then(|u| u.rsplit('/').next()),
        _ => None,
    };
    let filename = artifact
        .file_name()
        .or(from_source)
        .unwrap_or(package)
        .to_owned();
    let location = match (
        &artifact.url,
        local_file(artifact, &item.source, lock_dir),
        &item.source,
    ) {
        (Some(url), _, _) => mirrored(url, &settings.mirrors),
        (None, Some(path), _) => download::Location::Local(path),
        (None, None, Source::Url { url, .. }) => mirrored(url, &settings.mirrors),
        _ => {
            return Err(FetchError::BadArtifact {
                package: package.clone(),
                detail: format!("{filename} has neither a URL nor a path in the lock"),
            });
        }
    };
    let expected = match &artifact.hash {
        Some(hash) => Some(pyfod_digest::HashFormat::parse_any(hash).map_err(|e| {
            FetchError::BadArtifact {
                package: package.clone(),
                detail: format!("the hash of {filename}: {e}"),
            }
        })?),
        None if settings.allow_unhashed => None,
        None => {
            return Err(FetchError::Unhashed {
                package: package.clone(),
                filename,
            });
        }
    };
    Ok(download::Job {
        package: package.clone(),
        filename,
        location,
        origin: artifact.url.as_deref().map(choose::without_credentials),
        expected,
        size: artifact.size,
    })
}

/// Where to fetch `url` from, after `--mirror` rules: the first matching prefix wins.
fn mirrored(url: &str, mirrors: &[(String, String)]) -> download::Location {
    for (from, to) in mirrors {
        if let Some(rest) = url.strip_prefix(from.as_str()) {
            let target = format!("{to}{rest}");
            return if target.contains("://") {
                download::Location::Url(target)
            } else {
                download::Location::Local(PathBuf::from(target))
            };
        }
    }
    download::Location::Url(url.to_owned())
}
