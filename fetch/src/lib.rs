//! The fetch stage: everything a `uv.lock` needs for a target, decided as
//! `uv sync --frozen --no-install-project --no-install-workspace --no-dev`
//! decides it.
//!
//! [`plan`] reads the lock and the `pyproject.toml` beside it, walks the graph
//! from the roots for the target ([`select`]), and picks each package's artifact
//! ([`choose`]): the best wheel for the target's tags, or the sdist.

mod choose;
pub mod command;
mod download;
pub mod lock;
mod project;
pub mod select;
pub mod tags;
pub mod target;
mod tree;

use std::path::{Path, PathBuf};

pub use choose::{Plan, Planned};
pub use command::Command;
pub use project::BinarySettings;
pub use select::Selection;
pub use target::Target;

/// Version of what this stage writes; part of its cache key.
pub const FORMAT_VERSION: u32 = 1;

/// The fetch stage's options, shared by `pyfod fetch`, `pyfod-fetch` and `pyfod build`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
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

    /// Include this extra of the project (repeatable)
    #[arg(long = "extra", value_name = "EXTRA")]
    pub extras: Vec<String>,

    /// Include every extra of the project
    #[arg(long)]
    pub all_extras: bool,

    /// Include this dependency group (repeatable)
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
    #[arg(long, value_name = "N")]
    pub jobs: Option<std::num::NonZeroUsize>,
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

impl Options {
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

    pub fn target(&self) -> Result<Target, FetchError> {
        match (&self.target, &self.python) {
            (Some(spec), _) if Path::new(spec).is_file() => Target::from_file(Path::new(spec)),
            (Some(spec), _) => Target::explicit(spec),
            (None, python) => Target::probe(python.as_deref().unwrap_or("python3")),
        }
    }

    fn binary_settings(&self) -> BinarySettings {
        BinarySettings {
            no_binary: self.no_binary,
            no_binary_package: self.no_binary_package.clone(),
            no_build: self.no_build,
            no_build_package: self.no_build_package.clone(),
        }
    }
}

/// What a lock needs for a target, before anything is downloaded.
#[derive(Debug)]
pub struct FetchPlan {
    pub lock_path: PathBuf,
    pub lock_bytes: Vec<u8>,
    pub lock: lock::Lock,
    pub target: Target,
    pub settings: BinarySettings,
    /// Indices into `lock.packages`, each with its artifact, sorted by name.
    pub chosen: Vec<usize>,
}

impl FetchPlan {
    pub fn plans(&self) -> Result<Vec<Plan<'_>>, FetchError> {
        self.chosen
            .iter()
            .map(|&i| choose::choose(&self.lock.packages[i], &self.target, &self.settings))
            .collect()
    }
}

/// The stage's entry: decides what the lock needs and puts every artifact in the
/// store, verified against the lock's hash.
pub fn run(
    options: &Options,
    store: &pyfod_store::Store,
) -> Result<pyfod_manifest::FetchManifest, FetchError> {
    run_for(options, options.target()?, store)
}

/// [`run`] for a target already probed (or given), so a caller that needed the
/// target first does not ask the interpreter twice.
pub fn run_for(
    options: &Options,
    target: Target,
    store: &pyfod_store::Store,
) -> Result<pyfod_manifest::FetchManifest, FetchError> {
    let plan = plan_for(options, target)?;
    let plans = plan.plans()?;
    let dir = lock_dir(&plan.lock_path);
    let mut jobs = Vec::new();
    for item in plans
        .iter()
        .filter(|p| !matches!(p.artifact, Planned::Tree))
    {
        jobs.push(job(item, dir, options)?);
    }
    let settings = download::Settings {
        offline: options.offline,
        jobs: options.jobs.map_or(8, std::num::NonZeroUsize::get),
    };
    let mut fetched = download::fetch_all(jobs.clone(), store, &settings)?
        .into_iter()
        .zip(jobs);
    let mut packages = Vec::new();
    for item in &plans {
        let artifact = match (&item.artifact, &item.source) {
            (
                Planned::Tree,
                pyfod_manifest::Source::Git {
                    repository,
                    commit,
                    subdirectory,
                    ..
                },
            ) => {
                let raw = item.package.source.git.as_deref().unwrap_or(repository);
                let url = raw.split(['?', '#']).next().unwrap_or(raw);
                pyfod_manifest::Artifact::Tree {
                    tree: tree::git(
                        store,
                        &item.package.name,
                        url,
                        commit,
                        subdirectory.as_deref(),
                        options.offline,
                    )?,
                    commit: Some(commit.clone()),
                    subdirectory: subdirectory.clone(),
                }
            }
            (
                Planned::Tree,
                pyfod_manifest::Source::Directory { path }
                | pyfod_manifest::Source::Editable { path },
            ) => pyfod_manifest::Artifact::Tree {
                tree: tree::local(store, dir, path)?,
                commit: None,
                subdirectory: None,
            },
            (Planned::Tree, other) => {
                return Err(FetchError::Unsupported(format!(
                    "{}: a {} source as a tree",
                    item.package.name,
                    other.kind()
                )));
            }
            (planned, _) => {
                let (fetched, job) = fetched.next().expect("one download per file artifact");
                let file = pyfod_manifest::StoredFile {
                    filename: job.filename.clone(),
                    sha256: fetched.sha256,
                    size: fetched.size,
                    url: job.origin.clone(),
                    hash_from_lock: job.expected.is_some(),
                };
                match planned {
                    Planned::Wheel(_) => pyfod_manifest::Artifact::Wheel(file),
                    _ => pyfod_manifest::Artifact::Sdist(file),
                }
            }
        };
        packages.push(pyfod_manifest::FetchedPackage {
            name: item.package.name.clone(),
            version: item.package.version.clone(),
            source: item.source.clone(),
            artifact,
            choice: item.choice.clone(),
        });
    }
    let selection = options.selection();
    Ok(pyfod_manifest::FetchManifest {
        lock: pyfod_digest::Sha256::of(&plan.lock_bytes),
        settings: pyfod_digest::Sha256::of(format!("{:?}", plan.settings).as_bytes()),
        target: plan.target.to_manifest(),
        selection: pyfod_manifest::Selection {
            extras: selection.extras,
            groups: selection.groups,
            no_install: selection.no_install,
            install_project: selection.install_project,
            install_workspace: selection.install_workspace,
        },
        packages,
    })
}

/// Where one planned artifact comes from, and the hash it must have.
fn job(item: &Plan<'_>, lock_dir: &Path, options: &Options) -> Result<download::Job, FetchError> {
    let package = &item.package.name;
    let artifact = match &item.artifact {
        Planned::Wheel(a) | Planned::Sdist(a) => *a,
        Planned::Tree => unreachable!("trees are not downloaded"),
    };
    // A path or URL source's artifact is named by the source when the lock's entry
    // carries only a hash.
    let from_source = match &item.source {
        pyfod_manifest::Source::Path { path } => path.rsplit('/').next(),
        pyfod_manifest::Source::Url { url, .. } => url
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
    let location = match (&artifact.url, &artifact.path, &item.source) {
        (Some(url), _, _) => mirrored(url, &options.mirrors),
        (None, Some(path), pyfod_manifest::Source::Registry { index }) => {
            download::Location::Local(lock_dir.join(index).join(path))
        }
        (None, Some(path), _) => download::Location::Local(lock_dir.join(path)),
        (None, None, pyfod_manifest::Source::Path { path }) => {
            download::Location::Local(lock_dir.join(path))
        }
        (None, None, pyfod_manifest::Source::Url { url, .. }) => mirrored(url, &options.mirrors),
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
        None if options.allow_unhashed => None,
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

/// Reads the lock, probes or reads the target, and decides what to fetch.
pub fn plan(options: &Options) -> Result<FetchPlan, FetchError> {
    plan_for(options, options.target()?)
}

/// [`plan`] for a given target.
pub fn plan_for(options: &Options, target: Target) -> Result<FetchPlan, FetchError> {
    let lock_path = options.lock.clone();
    let lock_bytes = std::fs::read(&lock_path).map_err(|source| FetchError::Read {
        path: lock_path.clone(),
        source,
    })?;
    let lock = lock::Lock::read(&lock_path)?;
    let dir = lock_dir(&lock_path);
    let pyproject = project::read(dir)?;
    let settings = pyproject.tool.uv.clone().merged(&options.binary_settings());
    let project = pyproject.project.as_ref().map(|p| p.name.as_str());
    let chosen = select::select(&lock, project, &target, &options.selection())?;
    let plan = FetchPlan {
        lock_path,
        lock_bytes,
        lock,
        target,
        settings,
        chosen,
    };
    plan.plans()?;
    Ok(plan)
}

fn lock_dir(lock: &Path) -> &Path {
    match lock.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Toml(#[from] pyfod_config::TomlError),
    #[error(
        "{path}: lock version {version} is not supported; pyfod reads version 1 (uv 0.4 and later)"
    )]
    LockVersion { path: PathBuf, version: u32 },
    #[error(
        "{path}: package `{package}` has a source of no kind pyfod knows ({found}); expected one of registry, git, url, path, directory, editable, virtual"
    )]
    SourceKind {
        path: PathBuf,
        package: String,
        found: String,
    },
    #[error(
        "cannot ask the interpreter {python} about itself: {detail}; pass --python with a working CPython, or --target"
    )]
    Probe { python: String, detail: String },
    #[error("--target `{spec}`: {detail}")]
    TargetSpec { spec: String, detail: String },
    #[error(
        "the lock wants Python {requires}, but the target is Python {python}; pass another --python or --target"
    )]
    PythonMismatch { python: String, requires: String },
    #[error(
        "the lock supports only these environments: {markers:?}; the target ({target}) is none of them"
    )]
    UnsupportedTarget {
        markers: Vec<String>,
        target: String,
    },
    #[error("`{package}`: cannot read the marker `{marker}`: {detail}")]
    Marker {
        package: String,
        marker: String,
        detail: String,
    },
    #[error(
        "{from} depends on `{name}`, which the lock does not have; the lock is broken: run `uv lock` again"
    )]
    MissingPackage { from: String, name: String },
    #[error(
        "{from} depends on `{name}`, and several packages of that name fit; the lock is broken: run `uv lock` again"
    )]
    AmbiguousPackage { from: String, name: String },
    #[error("`{package}`: {detail}")]
    BadArtifact { package: String, detail: String },
    #[error(
        "no wheel of {package} {version} fits the target, and the lock has no sdist; wheels: {wheels:?}; the target's best tags: {best_tags:?}"
    )]
    NoArtifact {
        package: String,
        version: String,
        wheels: Vec<String>,
        best_tags: Vec<String>,
    },
    #[error(
        "{package} would have to be built from its sdist, but no-build forbids it: none of its wheels matches any of the target's {tags} tags (best: {best_tags:?})"
    )]
    NoBuild {
        package: String,
        best_tags: Vec<String>,
        tags: usize,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "the lock gives no hash for {filename} ({package}), so its bytes cannot be checked; lock against an index that publishes hashes, or pass --allow-unhashed"
    )]
    Unhashed { package: String, filename: String },
    #[error("cannot download {package} from {url}: {detail}")]
    Download {
        package: String,
        url: String,
        detail: String,
    },
    #[error(
        "{package}: {url} does not have the hash the lock records; nothing was stored\n  expected: {expected}\n  actual:   {actual}\nthe index changed the file, or something between you and it did; check the index, then run `uv lock` again if the change is genuine",
        expected = expected.to_sri(),
        actual = actual.to_sri()
    )]
    HashMismatch {
        package: String,
        url: String,
        expected: pyfod_digest::Sha256,
        actual: pyfod_digest::Sha256,
    },
    #[error("--offline, and the store lacks {}: {}", missing.len(), missing.join(", "))]
    Offline { missing: Vec<String> },
    #[error(transparent)]
    Store(#[from] pyfod_store::StoreError),
    #[error("{package}: cannot check out {repository} at {commit}: {detail}")]
    Git {
        package: String,
        repository: String,
        commit: String,
        detail: String,
    },
    #[error("cannot hash a source tree: {0}")]
    Tree(String),
}
