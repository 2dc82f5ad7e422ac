//! Everything `pyfod build` will do, resolved before anything runs: the command
//! line, then `pyfod.toml`, then the preset, into each stage's settings, with
//! the interpreter asked about itself once.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use pyfod_manifest::InputRecord;
use pyfod_python::Interpreter;

use crate::build::BuildCommand;
use crate::config::{self, Preset, ProjectConfig};

/// The settings of every stage of one build.
#[derive(Debug)]
pub struct BuildSettings {
    pub lock: PathBuf,
    /// Where the settings came from, if anywhere.
    pub config_path: Option<PathBuf>,
    pub interpreter: Interpreter,
    pub fetch: pyfod_fetch::Settings,
    /// `[build]`: its build locks are realised before build-sdist runs.
    pub build_config: pyfod_build_sdist::BuildConfig,
    pub build: pyfod_build_sdist::Settings,
    pub install: pyfod_install::Settings,
    pub scrub: pyfod_scrub::Settings,
    /// `[cache]`: the shared cache behind the store.
    pub cache: pyfod_remote::CacheConfig,
}

impl BuildSettings {
    pub fn resolve(command: &BuildCommand) -> anyhow::Result<BuildSettings> {
        let config_path = config::find(command.config.as_deref(), &command.lock);
        let project = match &config_path {
            Some(path) => config::read(path)?,
            None => ProjectConfig::default(),
        };
        let python = command.python.as_deref().unwrap_or("python3");
        let interpreter = Interpreter::probe(python)?;
        let mut fetch = pyfod_fetch::Settings::for_target(pyfod_fetch::Target::of(&interpreter)?);
        fetch.outside_project = project.fetch.outside_project.unwrap_or_default();
        fetch.selection = command.selection.selection();
        fetch.offline = command.offline;
        let mut build_config = project.build.clone();
        if !command.pass_env.is_empty() {
            let mut patterns = build_config.pass_env();
            patterns.extend(command.pass_env.iter().cloned());
            build_config.pass_env = Some(patterns);
        }
        let mut build =
            pyfod_build_sdist::Settings::resolve(build_config.clone(), interpreter.clone())?;
        build.check = command.check;
        build.offline = command.offline;
        if let Some(jobs) = command.jobs {
            build.jobs = jobs;
        }
        let install = install_settings(command, &project, config_path.as_deref(), &interpreter)?;
        let scrub = scrub_settings(command, &project)?;
        Ok(BuildSettings {
            lock: command.lock.clone(),
            config_path,
            interpreter,
            fetch,
            build_config,
            build,
            install,
            scrub,
            cache: project.cache.clone(),
        })
    }

    /// The settings for realising a build lock: its own defaults, for the same
    /// target, installed where the store keeps it.
    pub fn build_env_fetch(&self) -> pyfod_fetch::Settings {
        pyfod_fetch::Settings::for_target(self.fetch.target.clone())
    }

    /// What went into the result, for the stale-hash guard: the bytes of each
    /// file read, and each stage's settings by their key digest.
    pub fn inputs(&self, local_sources: &[pyfod_fetch::LocalSource]) -> Vec<InputRecord> {
        let file = |path: Option<&Path>| {
            let bytes = path.and_then(|p| fs::read(p).ok()).unwrap_or_default();
            pyfod_digest::Sha256::of(&bytes).to_hex()
        };
        let pyproject = self.lock.parent().map(|d| d.join("pyproject.toml"));
        let mut inputs: Vec<(String, String)> = vec![
            ("lock".into(), file(Some(&self.lock))),
            ("pyproject.toml".into(), file(pyproject.as_deref())),
            ("pyfod.toml".into(), file(self.config_path.as_deref())),
            (
                "interpreter".into(),
                format!(
                    "{} {}",
                    self.interpreter.executable.display(),
                    self.interpreter.version
                ),
            ),
            ("pyfod".into(), env!("CARGO_PKG_VERSION").into()),
            ("fetch settings".into(), key(&self.fetch)),
            ("build settings".into(), key(&self.build)),
            ("install settings".into(), key(&self.install)),
            ("scrub settings".into(), key(&self.scrub)),
        ];
        for source in local_sources {
            inputs.push((format!("source {}", source.package), source.digest.to_hex()));
        }
        for (module, version) in &self.build.system_libraries {
            inputs.push((format!("system library {module}"), version.clone()));
        }
        inputs
            .into_iter()
            .map(|(name, value)| InputRecord { name, value })
            .collect()
    }
}

/// Settings as their key digest.
fn key<T: serde::Serialize>(settings: &T) -> String {
    pyfod_store::key::digest(settings).to_hex()
}

/// uv's metadata: `--compat`, else `[install] compat`, else, for
/// `preset = "seed"`, that of the uv installed here; the project's name as the
/// prompt and its directory for `direct_url.json`, as uv writes them, with it.
fn install_settings(
    command: &BuildCommand,
    project: &ProjectConfig,
    config_path: Option<&Path>,
    interpreter: &Interpreter,
) -> anyhow::Result<pyfod_install::Settings> {
    let compat = match (&command.compat, &project.install.compat) {
        (Some(compat), _) => Some(compat.clone()),
        (None, Some(text)) => Some(text.parse().map_err(|e: String| {
            anyhow::anyhow!(
                "[install] compat in {}: {e}",
                config_path.unwrap_or(Path::new("pyfod.toml")).display()
            )
        })?),
        (None, None) if project.preset == Some(Preset::Seed) => Some(installed_uv()?),
        (None, None) => None,
    };
    // Only uv's local direct_url.json names the project's place: nothing else
    // may depend on it, the cache keys included.
    let project_dir = compat
        .is_some()
        .then(|| std::path::absolute(&command.lock).ok())
        .flatten()
        .and_then(|lock| lock.parent().map(Path::to_path_buf));
    let prompt = compat.as_ref().and_then(|_| project_name(&command.lock));
    let prefix = match (&command.prefix, &command.out) {
        (Some(prefix), _) => prefix.clone(),
        (None, Some(out)) => std::path::absolute(out)?,
        (None, None) => PathBuf::new(),
    };
    Ok(pyfod_install::Settings {
        layout: pyfod_install::Layout {
            prefix,
            prompt,
            compat,
            collisions: project.install.rules(),
            project_dir,
            limits: project.install.limits().map_err(anyhow::Error::msg)?,
        },
        interpreter: interpreter.clone(),
    })
}

/// The rules from the command line, then `[scrub]`, then the preset.
fn scrub_settings(
    command: &BuildCommand,
    project: &ProjectConfig,
) -> anyhow::Result<pyfod_scrub::Settings> {
    let cli = pyfod_scrub::config::ScrubConfig {
        preset: command.preset,
        store_dir: command.store_dir.clone(),
        strict: command.strict.then_some(true),
        ..Default::default()
    };
    let mut settings = pyfod_scrub::config::resolve(cli, project.scrub.clone())?;
    let preset_given =
        command.preset.is_some() || project.scrub.as_ref().is_some_and(|s| s.preset.is_some());
    if !preset_given && project.preset == Some(Preset::Seed) {
        settings.preset = pyfod_scrub::Preset::Seed;
    }
    Ok(settings)
}

/// `uv=<the version of the uv on PATH>`, for `preset = "seed"` without a compat.
pub(crate) fn installed_uv() -> anyhow::Result<pyfod_install::Compat> {
    let output = std::process::Command::new("uv").arg("--version").output();
    let version = output
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.split_whitespace().nth(1).map(str::to_owned)
        })
        .context(
            "preset = \"seed\" writes uv's install metadata, but no uv is on PATH to take its version from; set [install] compat = \"uv=VERSION\" (the uv the seed FOD uses) or pass --compat",
        )?;
    Ok(pyfod_install::Compat::Uv(version))
}

/// `[project] name` of the pyproject.toml beside the lock.
pub(crate) fn project_name(lock: &Path) -> Option<String> {
    let text = fs::read_to_string(lock.parent()?.join("pyproject.toml")).ok()?;
    let table: toml::Table = text.parse().ok()?;
    Some(table.get("project")?.get("name")?.as_str()?.to_owned())
}
