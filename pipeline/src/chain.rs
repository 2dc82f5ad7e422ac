//! The stages of `pyfod build`, in order, each through the store's one cached
//! path ([`pyfod_store::Store::run_stage`]): fetch → (build locks: fetch,
//! install) → build-sdist → install → scrub. `--from` and `--to` cut the chain,
//! the manifests between kept in `--manifests`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use pyfod_manifest::{Artifact, FetchManifest, ScrubManifest};
use pyfod_store::{Origin, Stage, StageOutput, Store, Transferred, TreeIndex};

use crate::settings::BuildSettings;

/// A stage `--from` and `--to` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Step {
    Fetch,
    BuildSdist,
    Install,
    Scrub,
}

impl Step {
    /// The manifest this stage writes into `--manifests`.
    fn manifest(self) -> &'static str {
        match self {
            Step::Fetch => "fetch.manifest",
            Step::BuildSdist => "wheels.manifest",
            Step::Install => "install.manifest",
            Step::Scrub => "scrub.manifest",
        }
    }
}

/// Which stages run: `--from` to `--to`, with the manifests between them kept in
/// `--manifests`.
#[derive(Debug)]
pub struct Span<'a> {
    pub from: Step,
    pub to: Option<Step>,
    pub dir: Option<&'a Path>,
}

impl Span<'_> {
    fn runs(&self, step: Step) -> bool {
        step >= self.from && self.to.is_none_or(|to| step <= to)
    }

    fn ends_at(&self, step: Step) -> bool {
        self.to == Some(step)
    }

    /// The manifest `step` wrote in an earlier run, read back from `--manifests`.
    fn read(&self, step: Step) -> anyhow::Result<Vec<u8>> {
        let dir = self.dir.context("--from needs --manifests")?;
        let path = dir.join(step.manifest());
        fs::read(&path).with_context(|| {
            format!(
                "cannot read {}; run the stages before --from (e.g. with --to) with the same --manifests",
                path.display()
            )
        })
    }

    /// Keeps `step`'s manifest in `--manifests`.
    fn keep(&self, step: Step, bytes: &[u8]) -> anyhow::Result<()> {
        if let Some(dir) = self.dir {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let path = dir.join(step.manifest());
            pyfod_store::write_atomic(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

/// What the chain made: the scrubbed tree in the store, checked.
#[derive(Debug)]
pub struct Result {
    pub tree: PathBuf,
    pub index: TreeIndex,
    pub manifest: ScrubManifest,
    /// The local sources fetch read, for the record of inputs.
    pub local: Vec<pyfod_fetch::LocalSource>,
}

/// One build's run through the stages.
#[derive(Debug)]
pub struct Chain<'a> {
    pub store: &'a Store,
    pub settings: &'a BuildSettings,
    pub span: Span<'a>,
    pub steps: Steps,
}

impl Chain<'_> {
    /// Runs the stages the span covers; `None` when `--to` stops before the end.
    pub fn run(&mut self) -> anyhow::Result<Option<Result>> {
        let mut local = Vec::new();
        let fetched = if self.span.runs(Step::Fetch) {
            let (bytes, sources) = self.fetch()?;
            local = sources;
            self.span.keep(Step::Fetch, &bytes)?;
            bytes
        } else if self.span.runs(Step::BuildSdist) {
            self.span.read(Step::Fetch)?
        } else {
            Vec::new()
        };
        if self.span.ends_at(Step::Fetch) {
            return Ok(None);
        }
        let wheels = if self.span.runs(Step::BuildSdist) {
            let bytes = self.build_sdist(fetched)?;
            self.span.keep(Step::BuildSdist, &bytes)?;
            bytes
        } else if self.span.runs(Step::Install) {
            self.span.read(Step::BuildSdist)?
        } else {
            Vec::new()
        };
        if self.span.ends_at(Step::BuildSdist) {
            return Ok(None);
        }
        let installed = if self.span.runs(Step::Install) {
            let input = pyfod_install::WheelsInput::from_manifest(wheels, self.store)
                .context("cannot install the wheels the build-sdist manifest names")?;
            let output =
                self.stage::<pyfod_install::Install>("install", &input, &self.settings.install)?;
            self.span.keep(Step::Install, &output.bytes)?;
            output.bytes
        } else {
            self.span.read(Step::Install)?
        };
        if self.span.ends_at(Step::Install) {
            return Ok(None);
        }
        let input = pyfod_scrub::InstalledTree::from_manifest(installed, self.store)
            .context("cannot scrub the venv the install manifest names")?;
        let scrubbed = self.stage::<pyfod_scrub::Scrub>("scrub", &input, &self.settings.scrub)?;
        self.span.keep(Step::Scrub, &scrubbed.bytes)?;
        if self.span.ends_at(Step::Scrub) {
            return Ok(None);
        }
        Ok(Some(Result {
            tree: scrubbed.tree.context("the scrub stage made no tree")?,
            index: scrubbed
                .index
                .context("the scrub stage's tree has no index")?,
            manifest: scrubbed.manifest,
            local,
        }))
    }

    /// One stage through the store, with its line on stderr.
    fn stage<S: Stage>(
        &mut self,
        label: &str,
        input: &S::Input,
        settings: &S::Settings,
    ) -> anyhow::Result<StageOutput<S::Output>>
    where
        S::Error: std::error::Error + Send + Sync + 'static,
    {
        stage_in::<S>(self.store, &mut self.steps, label, input, settings)
    }

    /// Fetches the project's lock; returns the manifest's bytes and the local
    /// sources read.
    fn fetch(&mut self) -> anyhow::Result<(Vec<u8>, Vec<pyfod_fetch::LocalSource>)> {
        let (lock, settings) = (&self.settings.lock, &self.settings.fetch);
        let input = pyfod_fetch::LockInput::read(lock, settings)
            .with_context(|| format!("cannot read what {} needs", lock.display()))?;
        let output =
            stage_in::<pyfod_fetch::Fetch>(self.store, &mut self.steps, "fetch", &input, settings)
                .with_context(|| format!("cannot fetch what {} needs", lock.display()))?;
        Ok((output.bytes, input.local))
    }

    /// build-sdist, with the build environments its build locks make.
    fn build_sdist(&mut self, fetched: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let (_, manifest) = <FetchManifest as pyfod_manifest::Manifest>::decode(&fetched)
            .context("the fetch manifest is not usable")?;
        let envs = self.build_envs(&manifest)?;
        let input = pyfod_build_sdist::SourcesInput::new(fetched, envs)?;
        let settings = self.settings.build.clone();
        let output =
            self.stage::<pyfod_build_sdist::BuildSdist>("build-sdist", &input, &settings)?;
        Ok(output.bytes)
    }

    /// The build environments: `[build] lock`, and the lock of each source
    /// package that has its own, fetched and installed into the store.
    fn build_envs(
        &mut self,
        fetched: &FetchManifest,
    ) -> anyhow::Result<pyfod_build_sdist::BuildEnvs> {
        let mut envs = pyfod_build_sdist::BuildEnvs::default();
        let sources: Vec<&str> = fetched
            .packages
            .iter()
            .filter(|p| !matches!(p.artifact, Artifact::Wheel(_)))
            .map(|p| p.name.as_str())
            .collect();
        if sources.is_empty() {
            return Ok(envs);
        }
        let config = self.settings.build_config.clone();
        if let Some(lock) = &config.lock {
            envs.default = Some(self.build_env(lock, "")?);
        }
        for name in sources {
            if let Some(lock) = config.package(name).and_then(|p| p.lock.as_ref()) {
                let name = pyfod_python::normalise_name(name);
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
        let fetch = if lock == self.settings.lock {
            self.settings.fetch.clone()
        } else {
            self.settings.build_env_fetch()
        };
        let python = &self.settings.interpreter;
        build_env(self.store, &mut self.steps, lock, whose, &fetch, python)
    }
}

/// A stage through the store's one cached path, its line on `steps`.
fn stage_in<S: Stage>(
    store: &Store,
    steps: &mut Steps,
    label: &str,
    input: &S::Input,
    settings: &S::Settings,
) -> anyhow::Result<StageOutput<S::Output>>
where
    S::Error: std::error::Error + Send + Sync + 'static,
{
    steps.start(store);
    let output = store
        .run_stage::<S>(input, settings)
        .map_err(anyhow::Error::new)?;
    steps.done(label, output.origin, store);
    Ok(output)
}

/// A build lock fetched (`fetch`) and installed into the store for `python`
/// (no prefix: the venv lives where the store keeps it), as a build
/// environment: for `pyfod build`, and for `pyfod lock-build` between its rounds.
pub fn build_env(
    store: &Store,
    steps: &mut Steps,
    lock: &Path,
    whose: &str,
    fetch: &pyfod_fetch::Settings,
    python: &pyfod_python::Interpreter,
) -> anyhow::Result<pyfod_build_sdist::BuildEnv> {
    let install = pyfod_install::Settings {
        layout: pyfod_install::Layout::at(PathBuf::new()),
        interpreter: python.clone(),
    };
    let input = pyfod_fetch::LockInput::read(lock, fetch)
        .with_context(|| format!("cannot read what {} needs", lock.display()))?;
    let fetched = stage_in::<pyfod_fetch::Fetch>(
        store,
        steps,
        &format!("fetch (build lock{whose})"),
        &input,
        fetch,
    )
    .with_context(|| format!("cannot fetch what {} needs", lock.display()))?;
    let wheels = pyfod_install::WheelsInput::from_manifest(fetched.bytes, store)
        .with_context(|| format!("the build lock {} must be all wheels", lock.display()))?;
    let venv = stage_in::<pyfod_install::Install>(
        store,
        steps,
        &format!("install (build env{whose})"),
        &wheels,
        &install,
    )?;
    Ok(pyfod_build_sdist::BuildEnv::from_manifest(
        &venv.bytes,
        store,
        Some(lock.to_path_buf()),
    )?)
}

/// One line per stage on stderr: where its result came from (`cached`,
/// `remote`, `ran`), how long it took, and the bytes the remote moved for it.
#[derive(Debug)]
pub struct Steps {
    pub quiet: bool,
    last: Instant,
    moved: Transferred,
}

impl Steps {
    pub fn new(quiet: bool) -> Self {
        Steps {
            quiet,
            last: Instant::now(),
            moved: Transferred::default(),
        }
    }

    fn start(&mut self, store: &Store) {
        self.last = Instant::now();
        self.moved = transferred(store);
    }

    fn done(&mut self, stage: &str, origin: Origin, store: &Store) {
        let took = self.last.elapsed().as_secs_f64();
        let now = transferred(store);
        let down = now.down.saturating_sub(self.moved.down);
        let from_remote = if down > 0 {
            format!(", {} from the remote", human_bytes(down))
        } else {
            String::new()
        };
        match origin {
            Origin::Cached => self.line(stage, "cached"),
            Origin::Remote => self.line(stage, &format!("remote ({took:.2} s{from_remote})")),
            Origin::Ran => self.line(stage, &format!("ran ({took:.2} s{from_remote})")),
        }
    }

    /// The remote's totals, once its uploads are done.
    pub fn remote_summary(&mut self, store: &Store) {
        if store.remote().is_some() {
            let total = transferred(store);
            let line = format!(
                "{} down, {} up",
                human_bytes(total.down),
                human_bytes(total.up)
            );
            self.line("remote", &line);
        }
    }

    pub fn line(&mut self, stage: &str, what: &str) {
        if !self.quiet {
            eprintln!("{stage}: {what}");
        }
        self.last = Instant::now();
    }
}

fn transferred(store: &Store) -> Transferred {
    store
        .remote()
        .map(|remote| remote.transferred())
        .unwrap_or_default()
}

/// `1.5 MB`: decimal units, as transfer tools print them.
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.2} GB", bytes as f64 / 1e9),
    }
}
