//! The build-sdist stage: every sdist, git tree and local source tree of a fetch
//! manifest built into a wheel, reproducibly; downloaded wheels passed through.
//!
//! pyfod is the PEP 517 frontend: it unpacks the source ([`unpack`]), reads its
//! `[build-system]` ([`build_system`]), checks the build requirements against a
//! build environment realised from a build lock ([`requirements`]; pyfod never
//! resolves), composes the environment and compiler flags ([`environment`]), calls
//! the backend through its own hook runner ([`hooks`]), and re-packs the wheel
//! canonically ([`repack`]). Each build is cached in the store by the digests of
//! its source, build environment, settings and interpreter ([`package_build`]);
//! [`schedule`] orders the builds.

pub mod build_system;
mod cargo;
pub mod check;
pub mod command;
pub mod compiler_cache;
pub mod config;
pub mod environment;
pub mod failure;
pub mod hooks;
pub mod lock_build;
pub mod overlay;
pub mod package_build;
pub mod progress;
pub mod repack;
pub mod requirements;
pub mod schedule;
mod stage;
pub mod toolchain;
pub mod unpack;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use command::Command;
pub use config::BuildConfig;
use pyfod_digest::Sha256;
use pyfod_manifest::{InstallManifest, Manifest};
use pyfod_python::Interpreter;
use serde::Serialize;
pub use stage::{BuildSdist, SourcesInput, run};

/// Version of what this stage writes, and of how it builds; part of its cache keys.
pub const FORMAT_VERSION: u32 = 2;

/// The build-sdist stage's settings. Plain data: `pyfod build-sdist`'s flags,
/// `pyfod.toml`'s `[build]` and `pyfod build` resolve into it.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// `[build]`: environment, flags, config-settings, per package.
    pub config: BuildConfig,
    /// The caller's variables `pass-env` lets through, by value.
    pub passed_env: BTreeMap<String, String>,
    /// `[build] system-libraries` and the versions pkg-config gives them.
    pub system_libraries: Vec<(String, String)>,
    /// The compilers on the builds' `PATH` and their versions; rustup's variables.
    pub toolchain: toolchain::Toolchain,
    /// The interpreter builds run on; in the key by what changes a build.
    #[serde(serialize_with = "build_identity")]
    pub interpreter: Interpreter,
    /// Build every source twice and compare, whatever the store has: not in the key.
    #[serde(skip)]
    pub check: bool,
    /// How long one hook of one build may run before it is ended: not in the key.
    #[serde(skip)]
    pub timeout: std::time::Duration,
    /// How much an sdist may unpack to; refuses, never changes a wheel: not in the key.
    #[serde(skip)]
    pub limits: pyfod_python::Limits,
    /// Builds at once: not in the key.
    #[serde(skip)]
    pub jobs: usize,
    /// Builds reach no network (cargo is told, `CARGO_NET_OFFLINE`): a build
    /// that needs it fails, none makes another wheel: not in the key.
    #[serde(skip)]
    pub offline: bool,
    /// Report nothing on stderr but errors: not in the key.
    #[serde(skip)]
    pub quiet: bool,
    /// `[build] compiler-cache`, found: it changes no wheel, not in the key.
    #[serde(skip)]
    pub compiler_cache: Option<compiler_cache::CompilerCache>,
}

fn build_identity<S: serde::Serializer>(
    interpreter: &Interpreter,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    interpreter.build_identity().serialize(serializer)
}

impl Settings {
    /// The settings `config` gives for builds on `interpreter`, with the values of
    /// the variables it lets through and of the system libraries it names read now.
    pub fn resolve(config: BuildConfig, interpreter: Interpreter) -> Result<Settings, BuildError> {
        let passed_env = config.passed_env(std::env::vars());
        let system_libraries = system_library_versions(&config)?;
        // The builds' PATH, as `environment` composes it (less the build
        // environment's `bin/`, whose tools its digest names).
        let path = [config.env.get("PATH"), passed_env.get("PATH")]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(":");
        let toolchain = toolchain::Toolchain::probe(&path, |name| std::env::var(name).ok());
        let compiler_cache = config
            .compiler_cache
            .as_deref()
            .map(|name| compiler_cache::CompilerCache::find(name, &path))
            .transpose()?;
        let timeout = config.timeout()?;
        let limits = config.limits()?;
        Ok(Settings {
            config,
            passed_env,
            system_libraries,
            toolchain,
            interpreter,
            check: false,
            timeout,
            limits,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            offline: false,
            quiet: false,
            compiler_cache,
        })
    }
}

/// The venv builds run in, realised from a build lock by fetch and install.
#[derive(Debug, Clone)]
pub struct BuildEnv {
    /// The venv on disk.
    pub root: PathBuf,
    /// SHA-256 of its install manifest: its identity in cache keys.
    pub digest: Sha256,
    /// (name, version) of every distribution in it.
    pub packages: Vec<(String, String)>,
    /// Where the lock it was made from is, for error messages.
    pub lock: Option<PathBuf>,
}

/// The build environments of a run: one for every package, and one per package
/// whose tools conflict with the others' (`[build.packages.<name>] lock`).
#[derive(Debug, Clone, Default)]
pub struct BuildEnvs {
    pub default: Option<BuildEnv>,
    /// By normalised package name.
    pub packages: std::collections::BTreeMap<String, BuildEnv>,
}

impl BuildEnvs {
    /// The environment `package` builds in.
    pub fn for_package(&self, package: &str) -> Option<&BuildEnv> {
        self.packages
            .get(&pyfod_manifest::normalise_name(package))
            .or(self.default.as_ref())
    }

    pub fn all(&self) -> impl Iterator<Item = &BuildEnv> {
        self.default.iter().chain(self.packages.values())
    }

    pub fn any(&self) -> Option<&BuildEnv> {
        self.all().next()
    }
}

impl BuildEnv {
    /// The environment's interpreter.
    pub fn python(&self) -> PathBuf {
        self.root.join("bin/python")
    }

    /// The build environment an install manifest describes: its tree in the
    /// store, checked. It must have been installed for where the store keeps it
    /// (no `--prefix`), or its scripts would name another place.
    pub fn from_manifest(
        bytes: &[u8],
        store: &pyfod_store::Store,
        lock: Option<PathBuf>,
    ) -> Result<BuildEnv, BuildError> {
        let (_, manifest) = InstallManifest::decode(bytes).map_err(BuildError::BuildEnvManifest)?;
        let root = store.verified_tree(&manifest.tree)?;
        if Path::new(&manifest.prefix) != root {
            return Err(BuildError::BuildEnvElsewhere {
                prefix: manifest.prefix,
            });
        }
        Ok(BuildEnv {
            root,
            digest: Sha256::of(bytes),
            packages: manifest
                .packages
                .iter()
                .map(|p| (p.name.clone(), p.version.clone()))
                .collect(),
            lock,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] pyfod_store::StoreError),
    #[error(transparent)]
    Toml(#[from] pyfod_config::TomlError),
    #[error("the build environment's manifest is not usable")]
    BuildEnvManifest(#[source] pyfod_manifest::DecodeError),
    #[error(
        "the build environment was installed for {prefix}, not for where the store keeps it; install the build lock without --prefix"
    )]
    BuildEnvElsewhere { prefix: String },
    #[error("the fetch manifest is not usable")]
    FetchManifest(#[source] pyfod_manifest::DecodeError),
    #[error("the target in the fetch manifest is not usable: {0}")]
    Target(String),
    #[error(transparent)]
    Interpreter(#[from] pyfod_python::InterpreterError),
    #[error("{0}; if the build is slow rather than stuck, raise [build] timeout in pyfod.toml")]
    Process(#[from] pyfod_process::ProcessError),
    #[error("[build] timeout: {0}")]
    Timeout(String),
    #[error(
        "[build] compiler-cache = \"{name}\": {detail}; install ccache (Debian: `apt-get install ccache`) or name its path, or remove the setting"
    )]
    CompilerCache { name: String, detail: String },
    #[error("[build] max-unpacked-size: {0}")]
    Size(String),
    #[error("the sdist {sdist} cannot be unpacked: {detail}")]
    BadSdist { sdist: String, detail: String },
    #[error("{wheel} cannot be used: {detail}")]
    BadWheel { wheel: String, detail: String },
    #[error("{path}: {detail}")]
    BadBuildSystem { path: PathBuf, detail: String },
    #[error("{package}: the build requirement `{requirement}` is not valid PEP 508: {detail}")]
    BadRequirement {
        package: String,
        requirement: String,
        detail: String,
    },
    #[error("{package} needs {} to build, which the build environment {} not have; add {} to {lock} and run `pyfod lock-build` (or `uv lock`) again",
        requirements.join(", "),
        if requirements.len() == 1 { "does" } else { "do" },
        if requirements.len() == 1 { "it" } else { "them" })]
    Unmet {
        package: String,
        /// Each as `requirement (found: version)` or `requirement (missing)`.
        requirements: Vec<String>,
        /// The build lock, or what to create.
        lock: String,
    },
    #[error(
        "{package} requires {requirement} to build, but the lock pins {name} {version}; a build uses the locked version of a package the venv has (so that {package} compiles against what it will run with): constrain {name} in pyproject.toml to what `{requirement}` accepts and run `uv lock` again"
    )]
    LockConflict {
        package: String,
        requirement: String,
        name: String,
        version: String,
    },
    #[error(
        "{package}'s build backend `{backend}` cannot be imported ({detail}); add the package that provides it to {lock}"
    )]
    BackendUnavailable {
        package: String,
        backend: String,
        detail: String,
        lock: String,
    },
    #[error(
        "{package}'s pyproject.toml gives backend-path, but `{backend}` was imported from {origin}, outside it"
    )]
    BackendOutsidePath {
        package: String,
        backend: String,
        origin: String,
    },
    #[error("{0}")]
    Failed(Box<failure::BuildFailure>),
    #[error("{package}: the backend said it built {filename}, but {detail}")]
    NoWheel {
        package: String,
        filename: String,
        detail: String,
    },
    #[error("{package}: the built wheel cannot be re-packed: {detail}")]
    Repack { package: String, detail: String },
    #[error(
        "{package} {version} is not reproducible: two builds differ in {member}{}; find what in its build depends on the time or the build directory, and fix it or set it under [build.packages.{package}.env]",
        offset.map(|o| format!(" from byte {o}")).unwrap_or_default()
    )]
    NotReproducible {
        package: String,
        version: String,
        member: String,
        offset: Option<u64>,
    },
    #[error("[build] system-libraries names `{module}`, which pkg-config does not find: {missing}")]
    SystemLibrary {
        module: String,
        missing: failure::Missing,
    },
    #[error(
        "these packages need each other to build, so none can be built first: {}",
        packages.join(", ")
    )]
    Cycle { packages: Vec<String> },
}

impl BuildError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        BuildError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

pub use schedule::Report;

/// The versions of the `[build] system-libraries`, by `pkg-config --modversion`,
/// with `[build.env]`'s `PKG_CONFIG_PATH` in front; sorted by module.
pub fn system_library_versions(config: &BuildConfig) -> Result<Vec<(String, String)>, BuildError> {
    let mut out = Vec::new();
    let mut search = config
        .env
        .get("PKG_CONFIG_PATH")
        .cloned()
        .unwrap_or_default();
    if let Ok(inherited) = std::env::var("PKG_CONFIG_PATH") {
        search = [search, inherited].join(":");
    }
    for module in &config.system_libraries {
        let output = std::process::Command::new("pkg-config")
            .args(["--modversion", module])
            .env("PKG_CONFIG_PATH", &search)
            .output()
            .map_err(|e| BuildError::io("run", Path::new("pkg-config"), e))?;
        if !output.status.success() {
            return Err(BuildError::SystemLibrary {
                module: module.clone(),
                missing: failure::Missing::PkgConfig(module.clone()),
            });
        }
        let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        out.push((module.clone(), version));
    }
    out.sort();
    Ok(out)
}
