//! `pyfod build`: fetch → install → scrub → hash in one process, for locks whose
//! every package has a wheel (build-sdist, issue #6, will add the sdists).
//!
//! Each stage's output is kept in the store under
//! `key = sha256(stage, format version, digest of its input, digest of its options)`;
//! a stage whose key is there is not run. The input of fetch is the lock (and the
//! pyproject.toml beside it); of every later stage, the previous stage's manifest.
//! A key is computed and filled under its lock, so two builds of one project wait
//! for each other instead of doing the work twice.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use pyfod_cli::{EXIT_HASH_MISMATCH, GlobalArgs};
use pyfod_digest::{HashFormat, Sha256};
use pyfod_manifest::{
    Artifact, FetchManifest, InputRecord, InstallManifest, Manifest, ScrubManifest, StorePath,
    StoredTree,
};

use crate::history::{self, History};
use pyfod_store::{StageEntry, StageKey};

/// Run every stage, from uv.lock to the scrubbed venv and its NAR hash
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "The last line of standard output is the hash alone. A mismatch with \
                        --expect prints Nix's report and exits 102, and --out is left untouched."
)]
pub struct BuildCommand {
    /// The lock to realise
    #[arg(long, value_name = "FILE", default_value = "uv.lock")]
    pub lock: PathBuf,

    /// The interpreter to build for and run on [default: python3]
    #[arg(long, value_name = "PYTHON")]
    pub python: Option<String>,

    /// Where the result goes: a new or empty directory
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Replace a non-empty --out
    #[arg(long)]
    pub force: bool,

    /// Where the venv will live [default: --out]
    #[arg(long, value_name = "PATH")]
    pub prefix: Option<PathBuf>,

    /// The hash the result must have
    #[arg(long, value_name = "HASH", value_parser = HashFormat::parse_any)]
    pub expect: Option<Sha256>,

    /// Scrub rules: `default` or `seed`
    #[arg(long, value_enum, default_value_t)]
    pub preset: pyfod_scrub::Preset,

    /// The Nix store directory references are looked for under
    #[arg(long, value_name = "DIR")]
    pub store_dir: Option<String>,

    /// Write what this uv version writes outside bin/ (see `pyfod install --compat`)
    #[arg(long, value_name = "uv=VERSION")]
    pub compat: Option<pyfod_install::Compat>,

    /// Take [scrub] and [install] settings from this pyfod.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Also write every stage's manifest into DIR (fetch.manifest, install.manifest,
    /// scrub.manifest), for `pyfod manifest show` and `pyfod diff`
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,
}

pub fn execute(command: &BuildCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let store = global.open_store()?;
    let out = &command.out;
    if fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) && !command.force {
        bail!(
            "--out {} is not empty; pass --force to replace it",
            out.display()
        );
    }
    let prefix = match &command.prefix {
        Some(prefix) => prefix.clone(),
        None => std::path::absolute(out)?,
    };
    let python = command.python.clone().unwrap_or_else(|| "python3".into());
    let mut step = Steps::new(global.quiet);

    // fetch: keyed by the lock, the pyproject.toml beside it, and the interpreter.
    let fetch_options = pyfod_fetch::Options {
        lock: command.lock.clone(),
        python: Some(python.clone()),
        ..Default::default()
    };
    let lock_bytes = fs::read(&command.lock)
        .with_context(|| format!("cannot read {}", command.lock.display()))?;
    let pyproject = command
        .lock
        .parent()
        .map(|d| d.join("pyproject.toml"))
        .and_then(|p| fs::read(p).ok())
        .unwrap_or_default();
    let target = fetch_options.target()?;
    let key = StageKey::new(
        "fetch",
        pyfod_fetch::FORMAT_VERSION,
        &digest(&[&lock_bytes, &pyproject]),
        &digest(&[
            format!("{:?}", target.interpreter).as_bytes(),
            target.python_full_version.as_bytes(),
        ]),
    );
    let fetch_bytes = cached(
        &store,
        &key,
        &mut step,
        "fetch",
        |entry| {
            // Cached, if every blob it names is still in the store.
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
            let manifest = pyfod_fetch::run_for(&fetch_options, target.clone(), &store)
                .with_context(|| format!("cannot fetch what {} needs", command.lock.display()))?;
            Ok((manifest.encode(Some(manifest.lock)), None))
        },
    )?;
    let (_, fetched) = FetchManifest::decode(&fetch_bytes)?;

    // install: keyed by the fetch manifest, the interpreter and the layout.
    let interpreter = pyfod_install::Interpreter::probe(&python)?;
    let collisions = match &command.config {
        Some(path) => pyfod_install::collisions::load(path)?.rules(),
        None => Default::default(),
    };
    let layout = pyfod_install::Layout {
        prefix,
        prompt: None,
        compat: command.compat.clone(),
        collisions,
    };
    let key = StageKey::new(
        "install",
        pyfod_install::FORMAT_VERSION,
        &Sha256::of(&fetch_bytes),
        &digest(&[format!("{interpreter:?}{layout:?}").as_bytes()]),
    );
    let install_bytes = cached(
        &store,
        &key,
        &mut step,
        "install",
        |entry| {
            entry.tree.as_ref()?;
            fs::read(&entry.manifest).ok()
        },
        || {
            let wheels = pyfod_install::wheels_of_fetch(&fetched, store.root())?;
            let work = store.temp_entry()?;
            fs::create_dir(work.path())
                .with_context(|| format!("cannot create {}", work.path().display()))?;
            let packages = pyfod_install::install(&wheels, work.path(), &layout, &interpreter)?;
            let manifest = InstallManifest {
                tree: stage_tree(&key, work.path())?,
                prefix: layout.prefix.display().to_string(),
                python_version: format!("3.{}", interpreter.minor),
                python_home: interpreter.home().display().to_string(),
                packages,
            };
            Ok((manifest.encode(Some(Sha256::of(&fetch_bytes))), Some(work)))
        },
    )?;
    let (_, installed) = InstallManifest::decode(&install_bytes)?;

    // scrub: keyed by the install manifest and the rules.
    let mut scrub = pyfod_scrub::Options {
        preset: Some(command.preset),
        store_dir: command.store_dir.clone(),
        ..Default::default()
    };
    if let Some(path) = &command.config
        && let Some(config) = pyfod_scrub::config::load(path)?
    {
        scrub = scrub.with_config(config, path.parent().unwrap_or(Path::new(".")));
    }
    let key = StageKey::new(
        "scrub",
        pyfod_scrub::FORMAT_VERSION,
        &Sha256::of(&install_bytes),
        &digest(&[format!("{scrub:?}").as_bytes()]),
    );
    let scrub_bytes = cached(
        &store,
        &key,
        &mut step,
        "scrub",
        |entry| {
            entry.tree.as_ref()?;
            fs::read(&entry.manifest).ok()
        },
        || {
            let work = store.temp_entry()?;
            pyfod_store::copy_tree(&installed.tree.store_path.under(store.root()), work.path())
                .context("cannot copy the installed tree")?;
            let mut manifest = pyfod_scrub::run(work.path(), &scrub)?;
            manifest.tree = Some(stage_tree(&key, work.path())?);
            Ok((
                manifest.encode(Some(Sha256::of(&install_bytes))),
                Some(work),
            ))
        },
    )?;
    let (_, scrubbed) = ScrubManifest::decode(&scrub_bytes)?;
    if let Some(dir) = &command.manifests {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (name, bytes) in [
            ("fetch.manifest", &fetch_bytes),
            ("install.manifest", &install_bytes),
            ("scrub.manifest", &scrub_bytes),
        ] {
            let path = dir.join(name);
            pyfod_store::write_atomic(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    // hash: taken when the scrubbed tree was published.
    let tree = scrubbed
        .tree
        .as_ref()
        .context("the scrub manifest names no tree")?;
    let result = tree.store_path.under(store.root());
    let nar_sha256 = tree.nar_sha256;
    step.line("hash", "from the scrubbed tree");
    for residual in &scrubbed.residuals {
        eprintln!(
            "warning: {} still refers to {}",
            residual.path, residual.store_path
        );
    }
    // What went into this result, for the stale-hash guard.
    let config_bytes = command
        .config
        .as_deref()
        .and_then(|p| fs::read(p).ok())
        .unwrap_or_default();
    let inputs: Vec<InputRecord> = [
        ("lock", Sha256::of(&lock_bytes).to_hex()),
        ("pyproject.toml", Sha256::of(&pyproject).to_hex()),
        ("pyfod.toml", Sha256::of(&config_bytes).to_hex()),
        (
            "interpreter",
            format!(
                "{} {}",
                interpreter.executable.display(),
                interpreter.version
            ),
        ),
        ("pyfod", env!("CARGO_PKG_VERSION").to_owned()),
        (
            "options",
            digest(&[format!("{layout:?}{scrub:?}").as_bytes()]).to_hex(),
        ),
    ]
    .into_iter()
    .map(|(name, value)| InputRecord {
        name: name.to_owned(),
        value,
    })
    .collect();
    let history = History::new(store.root());
    let project = digest(&[std::path::absolute(&command.lock)?
        .as_os_str()
        .as_encoded_bytes()]);
    if let Some(expected) = command.expect {
        if let Some(before) = history.inputs_of(&expected) {
            let changed = history::changed(&before, &inputs);
            if !changed.is_empty() {
                eprintln!(
                    "warning: {} was last produced from other inputs ({} changed since); a Nix FOD that still declares it would be served from the Nix store unchanged: update its outputHash if the result should change",
                    expected.to_sri(),
                    changed.join(", ")
                );
            }
        }
        if expected != nar_sha256 {
            eprint!(
                "{}",
                pyfod_hash::command::mismatch_report(out, &expected, &nar_sha256)
            );
            if let Some(matched) = history.last_match(&project) {
                let now = pyfod_hash::run(&result, &pyfod_hash::Options::default())?;
                eprintln!(
                    "files that differ from the last build of this project that matched ({}):",
                    matched.nar_sha256.to_sri()
                );
                eprint!(
                    "{}",
                    pyfod_hash::diff::render(&pyfod_hash::diff::diff(&matched, &now))
                );
            }
            pyfod_cli::print_stdout(&format!("{}\n", nar_sha256.to_sri()));
            return Ok(ExitCode::from(EXIT_HASH_MISMATCH));
        }
        let mut matched = pyfod_hash::run(&result, &pyfod_hash::Options::default())?;
        matched.inputs = inputs.clone();
        history
            .record_match(&project, &matched)
            .context("cannot record the matching build")?;
    }
    history
        .record_inputs(&nar_sha256, &inputs)
        .context("cannot record the build's inputs")?;
    // Copied beside --out and renamed into place: --out is never half-written.
    let staging = pyfod_store::sibling_temp(out, "build");
    if let Err(e) = pyfod_store::copy_tree(&result, &staging) {
        let _ = fs::remove_dir_all(&staging);
        return Err(e).with_context(|| format!("cannot write the result beside {}", out.display()));
    }
    if out.exists() {
        fs::remove_dir_all(out).with_context(|| format!("cannot replace {}", out.display()))?;
    }
    fs::rename(&staging, out)
        .with_context(|| format!("cannot move the result to {}", out.display()))?;
    pyfod_cli::print_stdout(&format!("{}\n", nar_sha256.to_sri()));
    Ok(ExitCode::SUCCESS)
}

/// A stage's output from the store, or made by `make` and published there, under
/// the key's lock. `usable` says whether a stored entry can be used (its manifest
/// bytes), `make` returns the manifest bytes and the tree it built, if any.
fn cached(
    store: &pyfod_store::Store,
    key: &StageKey,
    step: &mut Steps,
    stage: &str,
    usable: impl Fn(&StageEntry) -> Option<Vec<u8>>,
    make: impl FnOnce() -> anyhow::Result<(Vec<u8>, Option<pyfod_store::TempEntry>)>,
) -> anyhow::Result<Vec<u8>> {
    let _lock = store.lock(&format!("stage-{key}"))?;
    if let Some(bytes) = store.stage(key).as_ref().and_then(&usable) {
        step.line(stage, "cached");
        return Ok(bytes);
    }
    let (bytes, tree) = make()?;
    store.publish_stage(key, &bytes, tree)?;
    step.done(stage);
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
fn digest(parts: &[&[u8]]) -> Sha256 {
    let mut hasher = pyfod_digest::Sha256Hasher::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finish()
}

/// One line per stage on stderr: what ran and how long it took.
struct Steps {
    quiet: bool,
    last: Instant,
}

impl Steps {
    fn new(quiet: bool) -> Self {
        Steps {
            quiet,
            last: Instant::now(),
        }
    }

    fn done(&mut self, stage: &str) {
        let took = format!("ran ({:.2} s)", self.last.elapsed().as_secs_f64());
        self.line(stage, &took);
    }

    fn line(&mut self, stage: &str, what: &str) {
        if !self.quiet {
            eprintln!("{stage}: {what}");
        }
        self.last = Instant::now();
    }
}
