//! One package's build: its source unpacked, its requirements met, its hooks
//! called, its wheel re-packed, and the result cached under its own key.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use pep508_rs::pep440_rs::Version;
use pyfod_digest::{Sha256, Sha256Hasher};
use pyfod_manifest::{Artifact, FetchedPackage, StoredFile, WheelEntry, WheelOrigin};
use pyfod_store::{StageKey, Store};
use serde::{Deserialize, Serialize};

use crate::build_system::BuildSystem;
use crate::environment::{self, Place};
use crate::hooks::{self, Answer, Backend};
use crate::requirements::{Available, Wanted};
use crate::waves::Report;
use crate::{BuildConfig, BuildEnv, BuildError, BuildInterpreter, FORMAT_VERSION};

pub(crate) enum Outcome {
    Done(Box<WheelEntry>, Report),
    /// Needs a package of the lock that is not built yet.
    Waiting,
}

pub(crate) struct Context<'a> {
    pub(crate) store: &'a Store,
    pub(crate) config: &'a BuildConfig,
    pub(crate) interpreter: &'a BuildInterpreter,
    /// What runs the hooks: the build environment's python, or the base interpreter.
    pub(crate) python: PathBuf,
    pub(crate) build_env: Option<&'a BuildEnv>,
    pub(crate) available: &'a Available,
    /// The main lock's packages, by normalised name.
    pub(crate) locked: &'a BTreeMap<String, &'a FetchedPackage>,
    /// `[build] system-libraries` and their versions.
    pub(crate) system_libraries: &'a [(String, String)],
    /// The caller's variables `pass-env` lets through.
    pub(crate) passed: &'a BTreeMap<String, String>,
    pub(crate) check: bool,
    pub(crate) progress: &'a crate::progress::Progress,
}

/// What the store keeps of one build.
#[derive(Debug, Serialize, Deserialize)]
struct CachedBuild {
    wheel: StoredFile,
    log: Sha256,
    /// Packages of the lock the backend asked for when it was asked (not known
    /// before the build), with the wheel each was.
    asked: Vec<(String, Sha256)>,
}

/// One unpacked source, ready to build.
struct Prepared {
    work: pyfod_store::TempEntry,
    source: PathBuf,
}

/// A wheel built and re-packed, not yet in the store.
struct Built {
    bytes: Vec<u8>,
    filename: String,
    log: Sha256,
    /// Packages of the lock the backend asked for, with their wheels.
    asked: Vec<(String, Sha256)>,
}

/// How a build's requirements are met.
#[derive(Default)]
struct Resolution {
    /// Packages of the main lock, used at their locked version.
    overlay: Vec<(String, WheelEntry)>,
    waiting: bool,
    unmet: Vec<String>,
}

impl Context<'_> {
    pub(crate) fn build(
        &self,
        package: &FetchedPackage,
        wheels: &BTreeMap<String, WheelEntry>,
    ) -> Result<Outcome, BuildError> {
        let started = Instant::now();
        let version = package.version.clone().unwrap_or_else(|| "0".to_owned());
        let (source_digest, subdirectory, hash_from_lock) = match &package.artifact {
            Artifact::Sdist(file) => (file.sha256, None, file.hash_from_lock),
            Artifact::Tree {
                tree, subdirectory, ..
            } => (tree.nar_sha256, subdirectory.clone(), true),
            Artifact::Wheel(_) => unreachable!("wheels are passed through"),
        };
        let prepared = self.prepare(package, &version)?;
        let system = BuildSystem::read(&prepared.source)?;
        let mut resolution = self.resolve(&package.name, &system.requires, wheels)?;
        if resolution.waiting {
            return Ok(Outcome::Waiting);
        }
        self.refuse_unmet(&package.name, std::mem::take(&mut resolution.unmet))?;

        let settings = self
            .config
            .package(&package.name)
            .map(|p| &p.config_settings);
        let config_settings = settings
            .filter(|s| !s.is_empty())
            .map(|s| serde_json::to_value(s).expect("strings serialise"));
        let logical = self.vars(&package.name, Path::new(environment::LOGICAL_WORK), true);
        let mut hasher = Sha256Hasher::new();
        let mut field = |bytes: &[u8]| {
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        field(serde_json::to_string(&logical).expect("strings").as_bytes());
        field(
            serde_json::to_string(&config_settings)
                .expect("json")
                .as_bytes(),
        );
        field(self.interpreter.base.as_os_str().as_encoded_bytes());
        field(self.interpreter.version.as_bytes());
        field(self.interpreter.cflags.as_bytes());
        field(
            self.build_env
                .map(|e| e.digest.to_hex())
                .unwrap_or_default()
                .as_bytes(),
        );
        field(subdirectory.as_deref().unwrap_or("").as_bytes());
        for (module, version) in self.system_libraries {
            field(module.as_bytes());
            field(version.as_bytes());
        }
        for (name, entry) in &resolution.overlay {
            field(name.as_bytes());
            field(entry.wheel.sha256.as_bytes());
        }
        let settings_digest = hasher.finish();
        let key = StageKey::new(
            "build-wheel",
            FORMAT_VERSION,
            &source_digest,
            &settings_digest,
        );
        let _lock = self.store.lock(&format!("build-{key}"))?;
        let origin = |log| WheelOrigin::Built {
            source: source_digest,
            build_env: self.build_env.map(|e| e.digest),
            settings: settings_digest,
            log: Some(log),
        };
        let entry = |wheel: StoredFile, log| WheelEntry {
            name: package.name.clone(),
            version: package
                .version
                .clone()
                .unwrap_or_else(|| wheel_version(&wheel.filename)),
            source: package.source.clone(),
            wheel,
            origin: origin(log),
        };

        if !self.check
            && let Some(cached) = self.cached(&key, wheels)
        {
            self.report(&package.name, &version, true, started);
            return Ok(Outcome::Done(
                Box::new(entry(cached.wheel, cached.log)),
                Report {
                    name: package.name.clone(),
                    version,
                    cached: true,
                    seconds: started.elapsed().as_secs_f64(),
                },
            ));
        }

        let spinner = self.progress.building(&package.name, &version);
        let first = self.build_once(
            package,
            &version,
            &system,
            &prepared,
            &resolution,
            config_settings.clone(),
            wheels,
        )?;
        let Some(Built {
            bytes,
            filename,
            log,
            asked,
        }) = first
        else {
            return Ok(Outcome::Waiting);
        };
        if self.check {
            // Another directory, another second: what depends on either shows.
            let again_at = started + Duration::from_millis(1100);
            std::thread::sleep(again_at.saturating_duration_since(Instant::now()));
            let prepared = self.prepare(package, &version)?;
            let second = self.build_once(
                package,
                &version,
                &system,
                &prepared,
                &resolution,
                config_settings,
                wheels,
            )?;
            if let Some(Built { bytes: other, .. }) = second
                && let Some(difference) = crate::check::first_difference(&bytes, &other)
            {
                return Err(BuildError::NotReproducible {
                    package: package.name.clone(),
                    version,
                    member: difference.member,
                    offset: difference.offset,
                });
            }
        }
        let sha256 = self.store.add_blob_bytes(&bytes)?;
        let wheel = StoredFile {
            filename,
            sha256,
            size: bytes.len() as u64,
            url: None,
            hash_from_lock,
        };
        let record = CachedBuild {
            wheel: wheel.clone(),
            log,
            asked,
        };
        self.store.publish_stage(
            &key,
            &serde_json::to_vec(&record).expect("serialisable"),
            None,
        )?;
        spinner.finish_and_clear();
        self.report(&package.name, &version, false, started);
        Ok(Outcome::Done(
            Box::new(entry(wheel, log)),
            Report {
                name: package.name.clone(),
                version,
                cached: false,
                seconds: started.elapsed().as_secs_f64(),
            },
        ))
    }

    /// The source unpacked (or copied) into a new work area, at
    /// `<work>/<name>-<version>`, which the compiler will see as
    /// `/build/<name>-<version>`.
    fn prepare(&self, package: &FetchedPackage, version: &str) -> Result<Prepared, BuildError> {
        let work = self.store.temp_entry()?;
        let root = work.path().to_path_buf();
        fs::create_dir(&root).map_err(|e| BuildError::io("create", &root, e))?;
        let tree = root.join(format!(
            "{}-{version}",
            pyfod_manifest::normalise_name(&package.name)
        ));
        let source = match &package.artifact {
            Artifact::Sdist(file) => {
                let unpacked = root.join("unpacked");
                let top = crate::unpack::unpack_sdist(
                    &self.store.blob_path(&file.sha256),
                    &file.filename,
                    &unpacked,
                )?;
                fs::rename(&top, &tree).map_err(|e| BuildError::io("move", &top, e))?;
                tree
            }
            Artifact::Tree {
                tree: stored,
                subdirectory,
                ..
            } => {
                let from = stored.store_path.under(self.store.root());
                pyfod_store::copy_tree(&from, &tree)
                    .map_err(|e| BuildError::io("copy", &from, e))?;
                match subdirectory {
                    Some(sub) => tree.join(sub),
                    None => tree,
                }
            }
            Artifact::Wheel(_) => unreachable!("wheels are passed through"),
        };
        for dir in ["home", "tmp", "wheel", "overlay"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(|e| BuildError::io("create", &path, e))?;
        }
        Ok(Prepared { work, source })
    }

    /// Where each requirement is met: by a package of the lock (at its locked
    /// version, built first if it is itself a source), else by the build environment.
    fn resolve(
        &self,
        package: &str,
        requirements: &[String],
        wheels: &BTreeMap<String, WheelEntry>,
    ) -> Result<Resolution, BuildError> {
        let mut resolution = Resolution::default();
        let own = pyfod_manifest::normalise_name(package);
        for wanted in self.available.applicable(package, requirements)? {
            if wanted.name == own {
                continue;
            }
            if let Some(locked) = self.locked.get(&wanted.name) {
                self.check_locked(package, &wanted, locked)?;
                match wheels.get(&wanted.name) {
                    Some(entry) => resolution
                        .overlay
                        .push((wanted.name.clone(), entry.clone())),
                    None => resolution.waiting = true,
                }
                continue;
            }
            if let Err(unmet) = self.available.meets(&wanted) {
                resolution.unmet.push(match unmet.found {
                    Some(found) => format!("{} (it has {found})", unmet.requirement),
                    None => unmet.requirement,
                });
            }
        }
        Ok(resolution)
    }

    fn check_locked(
        &self,
        package: &str,
        wanted: &Wanted,
        locked: &FetchedPackage,
    ) -> Result<(), BuildError> {
        match &locked.version {
            Some(version) if !wanted.accepts_text(version) => Err(BuildError::LockConflict {
                package: package.to_owned(),
                requirement: wanted.text.clone(),
                name: locked.name.clone(),
                version: version.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn refuse_unmet(&self, package: &str, unmet: Vec<String>) -> Result<(), BuildError> {
        if unmet.is_empty() {
            return Ok(());
        }
        Err(BuildError::Unmet {
            package: package.to_owned(),
            requirements: unmet,
            lock: self.lock_name(),
        })
    }

    fn lock_name(&self) -> String {
        match self.build_env.and_then(|e| e.lock.as_ref()) {
            Some(lock) => lock.display().to_string(),
            None if self.build_env.is_some() => "the build lock".to_owned(),
            None => "a build lock (`[build] lock` in pyfod.toml; `pyfod lock-build` writes one)"
                .to_owned(),
        }
    }

    /// The build's variables, for the real work area or for the cache key.
    fn vars(&self, package: &str, work: &Path, logical: bool) -> BTreeMap<String, String> {
        let place = if logical {
            Place::logical(self.build_env.is_some())
        } else {
            Place {
                work,
                build_env: self.build_env.map(|e| e.root.as_path()),
            }
        };
        let mut vars = environment::compose(
            self.config,
            package,
            &self.interpreter.cflags,
            place,
            self.passed,
        );
        vars.insert(
            "PYTHONPATH".to_owned(),
            format!("{}/overlay", place.work.display()),
        );
        vars
    }

    /// A stored build of `key`, if its wheel is still there and the lock packages
    /// its backend asked for are the same wheels as now.
    fn cached(&self, key: &StageKey, wheels: &BTreeMap<String, WheelEntry>) -> Option<CachedBuild> {
        let entry = self.store.stage(key)?;
        let cached: CachedBuild = serde_json::from_slice(&fs::read(entry.manifest).ok()?).ok()?;
        let same = cached
            .asked
            .iter()
            .all(|(name, sha)| wheels.get(name).is_some_and(|w| w.wheel.sha256 == *sha));
        (same && self.store.has_blob(&cached.wheel.sha256)).then_some(cached)
    }

    /// One build: the hooks called, the wheel re-packed. `None` when the backend
    /// asked for a package of the lock that is not built yet.
    #[allow(clippy::too_many_arguments)]
    fn build_once(
        &self,
        package: &FetchedPackage,
        version: &str,
        system: &BuildSystem,
        prepared: &Prepared,
        resolution: &Resolution,
        config_settings: Option<serde_json::Value>,
        wheels: &BTreeMap<String, WheelEntry>,
    ) -> Result<Option<Built>, BuildError> {
        let work = prepared.work.path();
        let overlay = work.join("overlay");
        for (_, entry) in &resolution.overlay {
            crate::overlay::unpack_wheel(
                &self.store.blob_path(&entry.wheel.sha256),
                &entry.wheel.filename,
                &overlay,
            )?;
        }
        let vars = self.vars(&package.name, work, false);
        let log = work.join("build.log");
        hooks::start_log(&log, &vars)?;
        let backend = Backend {
            python: &self.python,
            source: &prepared.source,
            work,
            vars: &vars,
            log: &log,
            backend: &system.backend,
            backend_path: system.backend_path.as_deref(),
            config_settings,
        };
        let requires =
            match self.call(&backend, package, version, "get_requires_for_build_wheel")? {
                serde_json::Value::Array(items) => items
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            };
        let dynamic = self.resolve(&package.name, &requires, wheels)?;
        if dynamic.waiting {
            return Ok(None);
        }
        self.refuse_unmet(&package.name, dynamic.unmet)?;
        let mut asked = Vec::new();
        for (name, entry) in &dynamic.overlay {
            if resolution.overlay.iter().any(|(n, _)| n == name) {
                continue;
            }
            crate::overlay::unpack_wheel(
                &self.store.blob_path(&entry.wheel.sha256),
                &entry.wheel.filename,
                &overlay,
            )?;
            asked.push((name.clone(), entry.wheel.sha256));
        }
        let filename = match self.call(&backend, package, version, "build_wheel")? {
            serde_json::Value::String(name) => name,
            other => {
                return Err(BuildError::NoWheel {
                    package: package.name.clone(),
                    filename: other.to_string(),
                    detail: "build_wheel must return the wheel's file name".into(),
                });
            }
        };
        if let Some(locked) = &package.version {
            let built = wheel_version(&filename);
            let same = match (Version::from_str(locked), Version::from_str(&built)) {
                (Ok(a), Ok(b)) => a == b,
                _ => locked == &built,
            };
            if !same {
                return Err(BuildError::NoWheel {
                    package: package.name.clone(),
                    filename,
                    detail: format!(
                        "the lock pins {locked}: the source is not what the lock says; run `uv lock` again so that they agree"
                    ),
                });
            }
        }
        let path = work.join("wheel").join(&filename);
        let built = fs::read(&path).map_err(|e| BuildError::NoWheel {
            package: package.name.clone(),
            filename: filename.clone(),
            detail: format!("{} cannot be read: {e}", path.display()),
        })?;
        let bytes =
            crate::repack::repack(&built, self.config.source_date_epoch()).map_err(|e| {
                BuildError::Repack {
                    package: package.name.clone(),
                    detail: e.detail,
                }
            })?;
        let log_bytes = fs::read(&log).map_err(|e| BuildError::io("read", &log, e))?;
        let log = self.store.add_blob_bytes(&log_bytes)?;
        Ok(Some(Built {
            bytes,
            filename,
            log,
            asked,
        }))
    }

    /// Calls a hook; a failure keeps the log in the store and says what it shows.
    fn call(
        &self,
        backend: &Backend<'_>,
        package: &FetchedPackage,
        version: &str,
        hook: &'static str,
    ) -> Result<serde_json::Value, BuildError> {
        match backend.call(hook)? {
            Ok(Answer::Ok(value)) => Ok(value),
            Ok(Answer::Unavailable(detail)) => Err(BuildError::BackendUnavailable {
                package: package.name.clone(),
                backend: backend.backend.to_owned(),
                detail,
                lock: self.lock_name(),
            }),
            Ok(Answer::OutsidePath(origin)) => Err(BuildError::BackendOutsidePath {
                package: package.name.clone(),
                backend: backend.backend.to_owned(),
                origin,
            }),
            Err(failed) => {
                let text = fs::read_to_string(&failed.log).unwrap_or_default();
                let kept = self.keep_log(&package.name, version, text.as_bytes());
                Err(BuildError::Failed(Box::new(crate::failure::BuildFailure {
                    package: package.name.clone(),
                    version: version.to_owned(),
                    hook: failed.hook,
                    tail: crate::failure::tail(&text, crate::failure::TAIL_LINES),
                    missing: crate::failure::missing(&text),
                    log: kept,
                })))
            }
        }
    }

    /// A failed build's log, kept at `<store>/logs/<name>-<version>.log`.
    fn keep_log(&self, name: &str, version: &str, text: &[u8]) -> PathBuf {
        let dir = self.store.root().join("logs");
        let path = dir.join(format!(
            "{}-{version}.log",
            pyfod_manifest::normalise_name(name)
        ));
        let _ = fs::create_dir_all(&dir);
        match pyfod_store::write_atomic(&path, text) {
            Ok(()) => path,
            Err(_) => PathBuf::from("(the log could not be kept)"),
        }
    }

    fn report(&self, name: &str, version: &str, cached: bool, started: Instant) {
        if cached {
            self.progress.line(&format!("  {name} {version}: cached"));
        } else {
            let took = started.elapsed().as_secs_f64();
            self.progress
                .line(&format!("  {name} {version}: built ({took:.1} s)"));
        }
    }
}

/// The version field of a wheel's file name.
fn wheel_version(filename: &str) -> String {
    filename.split('-').nth(1).unwrap_or("0").to_owned()
}
