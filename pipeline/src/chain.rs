//! The stages of `pyfod build`, each run through the store's cache: a stage whose
//! key (stage, format version, input digest, options digest) is in the store is
//! not run. A key is filled under its lock, so two builds of one project wait for
//! each other instead of doing the work twice.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use pyfod_digest::Sha256;
use pyfod_manifest::{
    Artifact, FetchManifest, Manifest, ScrubManifest, StorePath, StoredTree, WheelsManifest,
};
use pyfod_store::{StageEntry, StageKey, Store};

/// What the stages share: the store, the interpreter, and the lines they print.
#[derive(Debug)]
pub struct Chain<'a> {
    pub store: &'a Store,
    pub python: String,
    pub target: pyfod_fetch::target::Target,
    pub interpreter: pyfod_install::Interpreter,
    pub steps: Steps,
}

impl Chain<'_> {
    /// fetch: keyed by the lock, the pyproject.toml beside it, and the interpreter.
    pub fn fetch(&mut self, label: &str, lock: &Path) -> anyhow::Result<(Vec<u8>, FetchManifest)> {
        let options = pyfod_fetch::Options {
            lock: lock.to_path_buf(),
            python: Some(self.python.clone()),
            ..Default::default()
        };
        let lock_bytes =
            fs::read(lock).with_context(|| format!("cannot read {}", lock.display()))?;
        let pyproject = lock
            .parent()
            .map(|d| d.join("pyproject.toml"))
            .and_then(|p| fs::read(p).ok())
            .unwrap_or_default();
        let key = StageKey::new(
            "fetch",
            pyfod_fetch::FORMAT_VERSION,
            &digest(&[&lock_bytes, &pyproject]),
            &digest(&[
                format!("{:?}", self.target.interpreter).as_bytes(),
                self.target.python_full_version.as_bytes(),
            ]),
        );
        let store = self.store;
        let target = self.target.clone();
        let bytes = cached(
            store,
            &key,
            &mut self.steps,
            label,
            |entry| {
                // Cached, if every artifact it names is still in the store.
                let bytes = fs::read(&entry.manifest).ok()?;
                let (_, manifest) = FetchManifest::decode(&bytes).ok()?;
                manifest
                    .packages
                    .iter()
                    .all(|p| match &p.artifact {
                        Artifact::Wheel(f) | Artifact::Sdist(f) => store.has_blob(&f.sha256),
                        Artifact::Tree { tree, .. } => tree.store_path.under(store.root()).exists(),
                    })
                    .then_some(bytes)
            },
            || {
                let manifest = pyfod_fetch::run_for(&options, target, store)
                    .with_context(|| format!("cannot fetch what {} needs", lock.display()))?;
                Ok((manifest.encode(Some(manifest.lock)), None))
            },
        )?;
        let (_, manifest) = FetchManifest::decode(&bytes)?;
        Ok((bytes, manifest))
    }

    /// The build environments: `[build] lock`, and the lock of each source package
    /// that has its own, fetched and installed into the store, where they live.
    pub fn build_envs(
        &mut self,
        config: &pyfod_build_sdist::BuildConfig,
        fetched: &FetchManifest,
    ) -> anyhow::Result<pyfod_build_sdist::BuildEnvs> {
        let mut envs = pyfod_build_sdist::BuildEnvs::default();
        if let Some(lock) = &config.lock {
            envs.default = Some(self.build_env(lock, "")?);
        }
        for package in &fetched.packages {
            if matches!(package.artifact, Artifact::Wheel(_)) {
                continue;
            }
            if let Some(lock) = config.package(&package.name).and_then(|p| p.lock.as_ref()) {
                let name = pyfod_manifest::normalise_name(&package.name);
                let env = self.build_env(lock, &format!(" for {name}"))?;
                envs.packages.insert(name, env);
            }
        }
        Ok(envs)
    }

    /// One build lock fetched and installed into the store.
    fn build_env(
        &mut self,
        lock: &Path,
        whose: &str,
    ) -> anyhow::Result<pyfod_build_sdist::BuildEnv> {
        let (bytes, fetched) = self.fetch(&format!("fetch (build lock{whose})"), lock)?;
        let wheels = pyfod_install::wheels_of_fetch(&fetched, self.store.root())
            .with_context(|| format!("the build lock {} must be all wheels", lock.display()))?;
        let layout = pyfod_install::Layout {
            prefix: PathBuf::new(),
            prompt: None,
            compat: None,
            collisions: Default::default(),
            project_dir: None,
        };
        let venv = self.install(
            &format!("install (build env{whose})"),
            &wheels,
            &Sha256::of(&bytes),
            &layout,
        )?;
        Ok(pyfod_build_sdist::BuildEnv::from_manifest(
            &venv,
            self.store.root(),
            Some(lock.to_path_buf()),
        )?)
    }

    /// build-sdist: keyed by the fetch manifest, the build environment, the
    /// `[build]` settings and the variables they let through.
    pub fn build_sdist(
        &mut self,
        fetch_bytes: &[u8],
        fetched: &FetchManifest,
        envs: &pyfod_build_sdist::BuildEnvs,
        config: &pyfod_build_sdist::BuildConfig,
        system_libraries: &[(String, String)],
        options: &pyfod_build_sdist::Options,
    ) -> anyhow::Result<(Vec<u8>, WheelsManifest)> {
        let passed: Vec<String> = config
            .passed_env(std::env::vars())
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let key = StageKey::new(
            "build-sdist",
            pyfod_build_sdist::FORMAT_VERSION,
            &Sha256::of(fetch_bytes),
            &digest(&[
                envs.all()
                    .map(|e| e.digest.to_hex())
                    .collect::<Vec<_>>()
                    .join(",")
                    .as_bytes(),
                format!("{config:?}").as_bytes(),
                passed.join("\n").as_bytes(),
                format!("{system_libraries:?}").as_bytes(),
                // A --check run builds again, whatever the store has.
                format!("check={}", options.check).as_bytes(),
                self.python.as_bytes(),
            ]),
        );
        let store = self.store;
        let quiet = self.steps.quiet;
        let bytes = cached(
            store,
            &key,
            &mut self.steps,
            "build-sdist",
            |entry| {
                let bytes = fs::read(&entry.manifest).ok()?;
                let (_, manifest) = WheelsManifest::decode(&bytes).ok()?;
                manifest
                    .wheels
                    .iter()
                    .all(|w| store.has_blob(&w.wheel.sha256))
                    .then_some(bytes)
            },
            || {
                let mut options = options.clone();
                options.quiet |= quiet;
                if options.python.is_none() {
                    options.python = Some(self.python.clone());
                }
                let (manifest, _) = pyfod_build_sdist::run(fetched, envs, &options, config, store)
                    .context("cannot build the lock's sources into wheels")?;
                Ok((manifest.encode(Some(Sha256::of(fetch_bytes))), None))
            },
        )?;
        let (_, manifest) = WheelsManifest::decode(&bytes)?;
        Ok((bytes, manifest))
    }

    /// install: keyed by the wheels, the interpreter and the layout.
    pub fn install(
        &mut self,
        label: &str,
        wheels: &[pyfod_install::WheelInput],
        input: &Sha256,
        layout: &pyfod_install::Layout,
    ) -> anyhow::Result<Vec<u8>> {
        self.steps.start();
        let venv = pyfod_install::stage::install_in_store(
            wheels,
            input,
            layout,
            &self.interpreter,
            pyfod_install::unpacked::LinkMode::Copy,
            self.store,
        )?;
        if venv.cached {
            self.steps.line(label, "cached");
        } else {
            self.steps.done(label);
        }
        Ok(venv.manifest)
    }

    /// scrub: keyed by the install manifest and the rules.
    pub fn scrub(
        &mut self,
        install_bytes: &[u8],
        installed: &pyfod_manifest::InstallManifest,
        options: &pyfod_scrub::Options,
    ) -> anyhow::Result<(Vec<u8>, ScrubManifest)> {
        let key = StageKey::new(
            "scrub",
            pyfod_scrub::FORMAT_VERSION,
            &Sha256::of(install_bytes),
            &digest(&[format!("{options:?}").as_bytes()]),
        );
        let store = self.store;
        let bytes = cached(
            store,
            &key,
            &mut self.steps,
            "scrub",
            |entry| {
                entry.tree.as_ref()?;
                fs::read(&entry.manifest).ok()
            },
            || {
                let work = store.temp_entry()?;
                pyfod_store::copy_tree(&installed.tree.store_path.under(store.root()), work.path())
                    .context("cannot copy the installed tree")?;
                let mut manifest = pyfod_scrub::run(work.path(), options)?;
                manifest.tree = Some(stage_tree(&key, work.path())?);
                Ok((manifest.encode(Some(Sha256::of(install_bytes))), Some(work)))
            },
        )?;
        let (_, manifest) = ScrubManifest::decode(&bytes)?;
        Ok((bytes, manifest))
    }
}

/// A stage's output from the store, or made by `make` and published there, under
/// the key's lock. `usable` says whether a stored entry can be used (its manifest
/// bytes), `make` returns the manifest bytes and the tree it built, if any.
fn cached(
    store: &Store,
    key: &StageKey,
    steps: &mut Steps,
    stage: &str,
    usable: impl Fn(&StageEntry) -> Option<Vec<u8>>,
    make: impl FnOnce() -> anyhow::Result<(Vec<u8>, Option<pyfod_store::TempEntry>)>,
) -> anyhow::Result<Vec<u8>> {
    steps.start();
    let _lock = store.lock(&format!("stage-{key}"))?;
    if let Some(bytes) = store.stage(key).as_ref().and_then(&usable) {
        steps.line(stage, "cached");
        return Ok(bytes);
    }
    let (bytes, tree) = make()?;
    store.publish_stage(key, &bytes, tree)?;
    steps.done(stage);
    Ok(bytes)
}

/// Where a stage's tree will be once published, with its NAR hash.
fn stage_tree(key: &StageKey, tree: &Path) -> anyhow::Result<StoredTree> {
    let hash = pyfod_nar::hash_path(tree, &pyfod_nar::HashSettings::default(), None)
        .context("cannot hash a stage's tree")?;
    Ok(StoredTree {
        store_path: StorePath(format!("stages/{key}/tree")),
        nar_sha256: hash.nar_sha256,
    })
}

/// SHA-256 of length-prefixed parts.
pub fn digest(parts: &[&[u8]]) -> Sha256 {
    let mut hasher = pyfod_digest::Sha256Hasher::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finish()
}

/// One line per stage on stderr: what ran and how long it took.
#[derive(Debug)]
pub struct Steps {
    pub quiet: bool,
    last: Instant,
}

impl Steps {
    pub fn new(quiet: bool) -> Self {
        Steps {
            quiet,
            last: Instant::now(),
        }
    }

    fn start(&mut self) {
        self.last = Instant::now();
    }

    fn done(&mut self, stage: &str) {
        let took = format!("ran ({:.2} s)", self.last.elapsed().as_secs_f64());
        self.line(stage, &took);
    }

    pub fn line(&mut self, stage: &str, what: &str) {
        if !self.quiet {
            eprintln!("{stage}: {what}");
        }
        self.last = Instant::now();
    }
}
