//! One package's build: its source unpacked, its requirements met, its hooks
//! called, its wheel re-packed, and the result cached under its own key.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use pep508_rs::pep440_rs::Version;
use pyfod_digest::Sha256;
use pyfod_manifest::{Artifact, FetchedPackage, StoredFile, WheelEntry, WheelOrigin};
use pyfod_python::BuildIdentity;
use pyfod_store::{EntryName, Needs, Origin, Produced, StageKey, Store};
use serde::{Deserialize, Serialize};

use crate::build_system::BuildSystem;
use crate::config::ConfigValue;
use crate::environment::{self, Place};
use crate::hooks::{self, Answer, Backend};
use crate::requirements::{Available, Wanted};
use crate::schedule::Report;
use crate::{BuildEnv, BuildError, FORMAT_VERSION, Settings};

pub(crate) enum Outcome {
    Done(Box<WheelEntry>, Report),
    /// Needs a package of the lock that is not built yet.
    Waiting,
}

pub(crate) struct Context<'a> {
    pub(crate) store: &'a Store,
    pub(crate) settings: &'a Settings,
    /// What runs the hooks: the build environment's python, or the base interpreter.
    pub(crate) python: PathBuf,
    pub(crate) build_env: Option<&'a BuildEnv>,
    pub(crate) available: &'a Available,
    /// The main lock's packages, by normalised name.
    pub(crate) locked: &'a BTreeMap<String, &'a FetchedPackage>,
    pub(crate) progress: &'a crate::progress::Progress,
    /// How much nicer than pyfod its backend runs (see [`crate::schedule`]).
    pub(crate) niceness: i32,
    /// Shares `--jobs` with the compilers of every build (never in a key).
    pub(crate) jobserver: Option<&'a pyfod_process::Jobserver>,
}

/// Everything known before a build that decides its wheel: the first half of
/// its key (the source is the other).
#[derive(Serialize)]
struct PackageKey<'a> {
    subdirectory: Option<&'a str>,
    /// The build's variables as the compiler sees them (the work area at `/build`).
    vars: BTreeMap<String, String>,
    config_settings: Option<&'a BTreeMap<String, ConfigValue>>,
    interpreter: BuildIdentity,
    build_env: Option<Sha256>,
    system_libraries: &'a [(String, String)],
    /// The compilers it may run, by what they say of their versions.
    toolchain: &'a [(String, String)],
    /// Packages of the lock its static requirements take, by wheel.
    overlay: Vec<(&'a str, Sha256)>,
}

/// Kept under the first key: which packages of the lock the backend asked for
/// when it was asked (`get_requires_for_build_wheel`), known only after a build.
/// Their wheels complete the key of the build itself.
#[derive(Debug, Serialize, Deserialize)]
struct Discovered {
    asked: Vec<String>,
}

/// Kept under the build's full key.
#[derive(Debug, Serialize, Deserialize)]
struct CachedBuild {
    wheel: StoredFile,
    log: Sha256,
}

/// A stored build, or why there is none to use.
enum Stored {
    /// In this store, or brought from the remote.
    Found(CachedBuild, Origin),
    /// A package the backend asks for is not built yet.
    Waiting,
    Missing,
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

/// One source to build, as the lock has it.
struct Source<'a> {
    package: &'a FetchedPackage,
    version: String,
    digest: Sha256,
    subdirectory: Option<String>,
    hash_from_lock: bool,
}

impl Context<'_> {
    pub(crate) fn build(
        &self,
        package: &FetchedPackage,
        wheels: &BTreeMap<String, WheelEntry>,
    ) -> Result<Outcome, BuildError> {
        let started = Instant::now();
        let source = Source::of(package);
        let prepared = self.prepare(package, &source.version)?;
        let system = BuildSystem::read(&prepared.source)?;
        let mut resolution = self.resolve(&package.name, &system.requires, wheels)?;
        if resolution.waiting {
            return Ok(Outcome::Waiting);
        }
        self.refuse_unmet(&package.name, std::mem::take(&mut resolution.unmet))?;
        let key = self.key(&source, &resolution);
        // One build of a key at a time, across processes.
        let _lock = self.store.lock(&format!("build-{key}"))?;
        if !self.settings.check {
            match self.stored(&key, wheels) {
                Stored::Found(cached, origin) => {
                    self.report(&package.name, &source.version, Some(origin), started);
                    return Ok(self.done(&source, &key, cached, true, started));
                }
                Stored::Waiting => return Ok(Outcome::Waiting),
                Stored::Missing => {}
            }
        }
        let spinner = self.progress.building(&package.name, &source.version);
        let Some(built) = self.build_once(
            package,
            &source.version,
            &system,
            &prepared,
            &resolution,
            wheels,
        )?
        else {
            return Ok(Outcome::Waiting);
        };
        if self.settings.check {
            self.check_again(&source, &system, &resolution, wheels, &built, started)?;
        }
        let cached = self.publish(&key, built, source.hash_from_lock)?;
        spinner.finish_and_clear();
        self.report(&package.name, &source.version, None, started);
        Ok(self.done(&source, &key, cached, false, started))
    }

    /// The build's first key: its source and everything known before it runs.
    fn key(&self, source: &Source<'_>, resolution: &Resolution) -> StageKey {
        let config = &self.settings.config;
        let key = PackageKey {
            subdirectory: source.subdirectory.as_deref(),
            vars: self.vars(
                &source.package.name,
                Path::new(environment::LOGICAL_WORK),
                true,
            ),
            config_settings: config
                .package(&source.package.name)
                .map(|p| &p.config_settings)
                .filter(|s| !s.is_empty()),
            interpreter: self.settings.interpreter.build_identity(),
            build_env: self.build_env.map(|e| e.digest),
            system_libraries: &self.settings.system_libraries,
            toolchain: &self.settings.toolchain.versions,
            overlay: resolution
                .overlay
                .iter()
                .map(|(name, entry)| (name.as_str(), entry.wheel.sha256))
                .collect(),
        };
        StageKey::new("build-wheel", FORMAT_VERSION, &source.digest, &key)
    }

    /// The key of the build itself: the first key and the wheels of what the
    /// backend asked for.
    fn full_key(key: &StageKey, asked: &[(String, Sha256)]) -> StageKey {
        StageKey::new("build-wheel-asked", FORMAT_VERSION, &key.0, asked)
    }

    /// A stored build of `key`, whose backend's requests are met by `wheels`:
    /// from this store, else from the remote behind it (another machine's).
    fn stored(&self, key: &StageKey, wheels: &BTreeMap<String, WheelEntry>) -> Stored {
        let Some(record) = self.store.obtain(&EntryName::Stage(*key)) else {
            return Stored::Missing;
        };
        let Ok(discovered) = serde_json::from_slice::<Discovered>(&record.manifest) else {
            return Stored::Missing;
        };
        let mut asked = Vec::new();
        for name in discovered.asked {
            match wheels.get(&name) {
                Some(entry) => asked.push((name, entry.wheel.sha256)),
                None => return Stored::Waiting,
            }
        }
        self.store
            .obtain(&EntryName::Stage(Self::full_key(key, &asked)))
            .and_then(|found| {
                let cached = serde_json::from_slice(&found.manifest).ok()?;
                Some(Stored::Found(cached, found.origin))
            })
            .unwrap_or(Stored::Missing)
    }

    /// Keeps a build: its wheel and log as blobs, under both its keys.
    fn publish(
        &self,
        key: &StageKey,
        built: Built,
        hash_from_lock: bool,
    ) -> Result<CachedBuild, BuildError> {
        let sha256 = self.store.add_blob_bytes(&built.bytes)?;
        let cached = CachedBuild {
            wheel: StoredFile {
                filename: built.filename,
                sha256,
                size: built.bytes.len() as u64,
                url: None,
                hash_from_lock,
            },
            log: built.log,
        };
        let log_size = self.store.intact_blob(&built.log).unwrap_or(0);
        let record = Produced::manifest(
            serde_json::to_vec(&cached).expect("serialisable"),
            Needs {
                blobs: vec![(sha256, cached.wheel.size), (built.log, log_size)],
                trees: Vec::new(),
            },
        );
        let full = EntryName::Stage(Self::full_key(key, &built.asked));
        // What the store has is what counts: a `--check` build of a wheel it
        // had already keeps the first build's log, and its manifest stays the same.
        let found = self.store.entry(&full, || Ok::<_, BuildError>(record))?;
        let cached = serde_json::from_slice(&found.manifest).map_err(|e| {
            BuildError::io(
                "read",
                Path::new(&full.relative()),
                std::io::Error::other(e),
            )
        })?;
        let discovered = Discovered {
            asked: built.asked.into_iter().map(|(name, _)| name).collect(),
        };
        let discovered = Produced::manifest(
            serde_json::to_vec(&discovered).expect("serialisable"),
            Needs::default(),
        );
        self.store
            .entry(&EntryName::Stage(*key), || Ok::<_, BuildError>(discovered))?;
        Ok(cached)
    }

    /// `--check`: the build again, in another directory a second later; any
    /// difference is an error naming the member and byte.
    fn check_again(
        &self,
        source: &Source<'_>,
        system: &BuildSystem,
        resolution: &Resolution,
        wheels: &BTreeMap<String, WheelEntry>,
        first: &Built,
        started: Instant,
    ) -> Result<(), BuildError> {
        let again_at = started + Duration::from_millis(1100);
        std::thread::sleep(again_at.saturating_duration_since(Instant::now()));
        let prepared = self.prepare(source.package, &source.version)?;
        let second = self.build_once(
            source.package,
            &source.version,
            system,
            &prepared,
            resolution,
            wheels,
        )?;
        if let Some(Built { bytes: other, .. }) = second
            && let Some(difference) = crate::check::first_difference(&first.bytes, &other)
        {
            return Err(BuildError::NotReproducible {
                package: source.package.name.clone(),
                version: source.version.clone(),
                member: difference.member,
                offset: difference.offset,
            });
        }
        Ok(())
    }

    fn done(
        &self,
        source: &Source<'_>,
        key: &StageKey,
        cached: CachedBuild,
        from_store: bool,
        started: Instant,
    ) -> Outcome {
        let package = source.package;
        Outcome::Done(
            Box::new(WheelEntry {
                name: package.name.clone(),
                version: package
                    .version
                    .clone()
                    .unwrap_or_else(|| wheel_version(&cached.wheel.filename)),
                source: package.source.clone(),
                origin: WheelOrigin::Built {
                    source: source.digest,
                    build_env: self.build_env.map(|e| e.digest),
                    settings: key.0,
                    log: Some(cached.log),
                },
                wheel: cached.wheel,
            }),
            Report {
                name: package.name.clone(),
                version: source.version.clone(),
                cached: from_store,
                seconds: started.elapsed().as_secs_f64(),
            },
        )
    }

    /// The source unpacked (or copied) into a new work area, at
    /// `<work>/<name>-<version>`, which the compiler will see as
    /// `/build/<name>-<version>`.
    fn prepare(&self, package: &FetchedPackage, version: &str) -> Result<Prepared, BuildError> {
        let stem = file_name_safe(&format!(
            "{}-{version}",
            pyfod_python::normalise_name(&package.name)
        ));
        // The compiler cache hashes the paths in the compilers' arguments: the
        // same work area each time, so that they are the same.
        let work = match self.compiler_cache() {
            Some(_) => self.store.named_temp_entry(&stem)?,
            None => self.store.temp_entry()?,
        };
        let root = work.path().to_path_buf();
        fs::create_dir(&root).map_err(|e| BuildError::io("create", &root, e))?;
        let tree = root.join(&stem);
        let source = match &package.artifact {
            Artifact::Sdist(file) => {
                let unpacked = root.join("unpacked");
                let top = crate::unpack::unpack_sdist(
                    &self.store.verified_blob(&file.sha256, file.size)?,
                    &file.filename,
                    &unpacked,
                    &self.settings.limits,
                )?;
                fs::rename(&top, &tree).map_err(|e| BuildError::io("move", &top, e))?;
                tree
            }
            Artifact::Tree {
                tree: stored,
                subdirectory,
                ..
            } => {
                let from = self.store.verified_tree(stored)?;
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
        let distutils = root.join(environment::DISTUTILS_CONFIG);
        fs::write(&distutils, self.distutils_config(&package.name))
            .map_err(|e| BuildError::io("write", &distutils, e))?;
        Ok(Prepared { work, source })
    }

    /// setuptools' extra config: its extension modules compiled `--jobs` at a
    /// time, unless `parallel-extensions = false`. Each module is compiled and
    /// linked as it would be alone, so the wheel is the same: the file is not in
    /// the key (its name is, through `DIST_EXTRA_CONFIG`).
    fn distutils_config(&self, package: &str) -> String {
        let config = &self.settings.config;
        match config.parallel_extensions_for(package) {
            true => format!("[build_ext]\nparallel = {}\n", self.settings.jobs.max(1)),
            false => "# parallel-extensions = false\n".to_owned(),
        }
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
        let own = pyfod_python::normalise_name(package);
        let mut from_lock = Vec::new();
        for wanted in self.available.applicable(package, requirements)? {
            if wanted.name == own {
                continue;
            }
            if let Some(locked) = self.locked.get(&wanted.name) {
                self.check_locked(package, &wanted, locked)?;
                match wheels.get(&wanted.name) {
                    Some(entry) => {
                        resolution
                            .overlay
                            .push((wanted.name.clone(), entry.clone()));
                        from_lock.push((wanted.name.clone(), wanted.extras.clone()));
                    }
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
        self.close_overlay(&own, from_lock, &mut resolution, wheels)?;
        Ok(resolution)
    }

    /// Makes the overlay a closure: each package of the lock on it brings the
    /// packages of the lock its own metadata requires for the target (with the
    /// extras it was asked with), transitively, as installing it would: cffi
    /// brings pycparser. A dependency the lock does not hold is left to the
    /// build environment. The ones added come after the requirements', by name.
    fn close_overlay(
        &self,
        own: &str,
        mut todo: Vec<(String, Vec<pep508_rs::ExtraName>)>,
        resolution: &mut Resolution,
        wheels: &BTreeMap<String, WheelEntry>,
    ) -> Result<(), BuildError> {
        // (package, extra) pairs expanded; `None` is the package itself.
        let mut seen = std::collections::BTreeSet::new();
        for (name, extras) in &todo {
            seen.insert((name.clone(), None));
            seen.extend(extras.iter().map(|e| (name.clone(), Some(e.clone()))));
        }
        let mut added = Vec::new();
        while let Some((name, extras)) = todo.pop() {
            let Some(entry) = wheels.get(&name) else {
                continue;
            };
            let wheel = self
                .store
                .verified_blob(&entry.wheel.sha256, entry.wheel.size)?;
            let requires = crate::overlay::requires_dist(&wheel, &entry.wheel.filename)?;
            let needed = self
                .available
                .applicable_with_extras(&entry.name, &requires, &extras)?;
            for wanted in needed {
                if wanted.name == own || !self.locked.contains_key(&wanted.name) {
                    continue;
                }
                let new_package = seen.insert((wanted.name.clone(), None));
                let new_extras: Vec<_> = wanted
                    .extras
                    .iter()
                    .filter(|e| seen.insert((wanted.name.clone(), Some((*e).clone()))))
                    .cloned()
                    .collect();
                if !new_package && new_extras.is_empty() {
                    continue;
                }
                match wheels.get(&wanted.name) {
                    Some(entry) => {
                        if new_package {
                            added.push((wanted.name.clone(), entry.clone()));
                        }
                        todo.push((wanted.name, new_extras));
                    }
                    None => resolution.waiting = true,
                }
            }
        }
        added.sort_by(|a, b| a.0.cmp(&b.0));
        resolution.overlay.extend(added);
        Ok(())
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

    /// The compiler cache, unless this is a `--check` build: a check compiles.
    fn compiler_cache(&self) -> Option<&crate::compiler_cache::CompilerCache> {
        self.settings
            .compiler_cache
            .as_ref()
            .filter(|_| !self.settings.check)
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
            &self.settings.config,
            package,
            &self.settings.interpreter.cflags,
            place,
            &self.settings.passed_env,
        );
        vars.insert(
            "PYTHONPATH".to_owned(),
            format!("{}/overlay", place.work.display()),
        );
        crate::cargo::add_vars(&mut vars, self.settings, self.store, place.work, logical);
        if let (false, Some(cache)) = (logical, self.compiler_cache()) {
            cache.add_vars(&mut vars, work, &self.store.compiler_cache_dir());
        }
        if let (false, Some(jobserver)) = (logical, self.jobserver) {
            // When the compilers run, never what they make: not in the key.
            vars.insert("CARGO_MAKEFLAGS".to_owned(), jobserver.makeflags());
            vars.insert(
                "PYFOD_JOBSERVER".to_owned(),
                jobserver.path().display().to_string(),
            );
        }
        vars
    }

    /// One build: the hooks called, the wheel re-packed. `None` when the backend
    /// asked for a package of the lock that is not built yet.
    fn build_once(
        &self,
        package: &FetchedPackage,
        version: &str,
        system: &BuildSystem,
        prepared: &Prepared,
        resolution: &Resolution,
        wheels: &BTreeMap<String, WheelEntry>,
    ) -> Result<Option<Built>, BuildError> {
        self.with_backend(package, version, system, prepared, resolution, |backend| {
            let Some(asked) =
                self.dynamic_requirements(backend, package, version, resolution, wheels)?
            else {
                return Ok(None);
            };
            let filename = match self.call(backend, package, version, "build_wheel")? {
                serde_json::Value::String(name) => name,
                other => {
                    return Err(BuildError::NoWheel {
                        package: package.name.clone(),
                        filename: other.to_string(),
                        detail: "build_wheel must return the wheel's file name".into(),
                    });
                }
            };
            if self.compiler_cache().is_some()
                && let Some(stats) = crate::compiler_cache::Stats::read(backend.work)
            {
                tracing::info!("{} {version}: {stats}", package.name);
            }
            let bytes = self.take_wheel(package, backend, &filename)?;
            let log_bytes =
                fs::read(backend.log).map_err(|e| BuildError::io("read", backend.log, e))?;
            let log = self.store.add_blob_bytes(&log_bytes)?;
            Ok(Some(Built {
                bytes,
                filename,
                log,
                asked,
            }))
        })
    }

    /// What the backend of `package` answers `get_requires_for_build_wheel`,
    /// with its static requirements met as a build would meet them (those of the
    /// lock that are not built yet left out): for `pyfod lock-build` to lock.
    pub(crate) fn ask(
        &self,
        package: &FetchedPackage,
        wheels: &BTreeMap<String, WheelEntry>,
    ) -> Result<Vec<String>, BuildError> {
        let source = Source::of(package);
        let prepared = self.prepare(package, &source.version)?;
        let system = BuildSystem::read(&prepared.source)?;
        let resolution = self.resolve(&package.name, &system.requires, wheels)?;
        self.with_backend(
            package,
            &source.version,
            &system,
            &prepared,
            &resolution,
            |backend| {
                let hook = "get_requires_for_build_wheel";
                Ok(strings(self.call(
                    backend,
                    package,
                    &source.version,
                    hook,
                )?))
            },
        )
    }

    /// Calls `work` with the backend of a prepared source: the packages of the
    /// lock it takes unpacked on its path, its variables, its log begun.
    fn with_backend<T>(
        &self,
        package: &FetchedPackage,
        version: &str,
        system: &BuildSystem,
        prepared: &Prepared,
        resolution: &Resolution,
        work: impl FnOnce(&Backend<'_>) -> Result<T, BuildError>,
    ) -> Result<T, BuildError> {
        let root = prepared.work.path();
        let overlay = root.join("overlay");
        for (_, entry) in &resolution.overlay {
            crate::overlay::unpack_wheel(
                &self
                    .store
                    .verified_blob(&entry.wheel.sha256, entry.wheel.size)?,
                &entry.wheel.filename,
                &overlay,
            )?;
        }
        let config_settings = self
            .settings
            .config
            .package(&package.name)
            .map(|p| &p.config_settings)
            .filter(|s| !s.is_empty())
            .map(|s| serde_json::to_value(s).expect("strings serialise"));
        let vars = self.vars(&package.name, root, false);
        crate::cargo::write_config(root, &vars)?;
        if let Some(cache) = self.compiler_cache() {
            cache.write_links(root)?;
        }
        let log = root.join("build.log");
        hooks::start_log(&log, &vars)?;
        let what = format!("{} {version}", package.name);
        work(&Backend {
            package: &what,
            timeout: Some(self.settings.timeout),
            niceness: self.niceness,
            python: &self.python,
            source: &prepared.source,
            work: root,
            vars: &vars,
            log: &log,
            backend: &system.backend,
            backend_path: system.backend_path.as_deref(),
            config_settings,
        })
    }

    /// What the backend asks for besides its static requirements
    /// (`get_requires_for_build_wheel`): met by the build environment, or by
    /// packages of the lock put on the overlay (returned with their wheels);
    /// `None` when one of those is not built yet.
    fn dynamic_requirements(
        &self,
        backend: &Backend<'_>,
        package: &FetchedPackage,
        version: &str,
        resolution: &Resolution,
        wheels: &BTreeMap<String, WheelEntry>,
    ) -> Result<Option<Vec<(String, Sha256)>>, BuildError> {
        let requires =
            strings(self.call(backend, package, version, "get_requires_for_build_wheel")?);
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
                &self
                    .store
                    .verified_blob(&entry.wheel.sha256, entry.wheel.size)?,
                &entry.wheel.filename,
                &backend.work.join("overlay"),
            )?;
            asked.push((name.clone(), entry.wheel.sha256));
        }
        Ok(Some(asked))
    }

    /// The wheel the backend says it built, checked (a plain wheel file name, of
    /// the locked version) and re-packed canonically.
    fn take_wheel(
        &self,
        package: &FetchedPackage,
        backend: &Backend<'_>,
        filename: &str,
    ) -> Result<Vec<u8>, BuildError> {
        let no_wheel = |detail: String| BuildError::NoWheel {
            package: package.name.clone(),
            filename: filename.to_owned(),
            detail,
        };
        let parsed: pyfod_python::WheelFilename = filename.parse().map_err(no_wheel)?;
        if let Some(locked) = &package.version {
            let same = match (
                Version::from_str(locked),
                Version::from_str(&parsed.version),
            ) {
                (Ok(a), Ok(b)) => a == b,
                _ => *locked == parsed.version,
            };
            if !same {
                return Err(no_wheel(format!(
                    "the lock pins {locked}: the source is not what the lock says; run `uv lock` again so that they agree"
                )));
            }
        }
        let path = backend.work.join("wheel").join(filename);
        let built = fs::read(&path)
            .map_err(|e| no_wheel(format!("{} cannot be read: {e}", path.display())))?;
        // What a backend writes of the build's paths into the dist-info
        // (maturin's SBOM), mapped as the compilers map them.
        let build_env = self.build_env.map(|e| e.root.as_path());
        let paths = crate::cargo::path_map(backend.work, backend.vars, build_env);
        let epoch = self.settings.config.source_date_epoch();
        crate::repack::repack(&built, epoch, &paths).map_err(|e| BuildError::Repack {
            package: package.name.clone(),
            detail: e.detail,
        })
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

    /// A failed build's log, kept in the store's `logs/`.
    fn keep_log(&self, name: &str, version: &str, text: &[u8]) -> PathBuf {
        let name = format!("{}-{version}", pyfod_python::normalise_name(name));
        self.store
            .keep_log(&name, text)
            .unwrap_or_else(|_| PathBuf::from("(the log could not be kept)"))
    }

    /// One line a package: built here (`from` none), cached, or from the remote.
    fn report(&self, name: &str, version: &str, from: Option<Origin>, started: Instant) {
        let took = started.elapsed().as_secs_f64();
        let what = match from {
            None => format!("built ({took:.1} s)"),
            Some(Origin::Remote) => format!("from the remote ({took:.1} s)"),
            Some(_) => "cached".to_owned(),
        };
        self.progress.line(&format!("  {name} {version}: {what}"));
    }
}

impl<'a> Source<'a> {
    fn of(package: &'a FetchedPackage) -> Source<'a> {
        let version = package.version.clone().unwrap_or_else(|| "0".to_owned());
        let (digest, subdirectory, hash_from_lock) = match &package.artifact {
            Artifact::Sdist(file) => (file.sha256, None, file.hash_from_lock),
            Artifact::Tree {
                tree, subdirectory, ..
            } => (tree.nar_sha256, subdirectory.clone(), true),
            Artifact::Wheel(_) => unreachable!("wheels are passed through"),
        };
        Source {
            package,
            version,
            digest,
            subdirectory,
            hash_from_lock,
        }
    }
}

/// `name-version` as one file name: a lock's version is not trusted to be one.
fn file_name_safe(stem: &str) -> String {
    stem.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '+' | '-' | '!' => c,
            _ => '_',
        })
        .collect()
}

/// The version field of a wheel's file name.
fn wheel_version(filename: &str) -> String {
    filename
        .parse::<pyfod_python::WheelFilename>()
        .map_or_else(|_| "0".to_owned(), |w| w.version)
}

/// The strings of a hook's list answer (anything else: none).
fn strings(value: serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}
