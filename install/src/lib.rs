//! The install stage: a venv made from wheels, as uv makes it, the same bytes for
//! the same wheels and prefix whatever the scheduling.
//!
//! [`install`] writes the venv's skeleton ([`venv`]), plans every wheel (its
//! dist-info, WHEEL, RECORD, and where each member goes, [`wheel`]), refuses two
//! wheels writing one path, then unpacks the wheels in parallel, checking each file
//! against its RECORD, writes launchers for entry points ([`launcher`]),
//! `INSTALLER`, and a new RECORD.

pub mod archive;
pub mod collisions;
pub mod command;
pub mod direct_url;
pub mod launcher;
mod place;
pub mod stage;
pub mod unpacked;
pub mod venv;
pub mod wheel;
pub mod writer;

use std::path::{Path, PathBuf};

pub use command::Command;
use pyfod_manifest::{InstalledPackage, RelPath};
pub use pyfod_python::Interpreter;
use rayon::prelude::*;
use serde::Serialize;
pub use stage::{Install, Settings, WheelsInput};

/// Whose output to reproduce, beyond pyfod's own deterministic defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Compat {
    Uv(String),
}

impl std::str::FromStr for Compat {
    type Err = String;

    /// `uv=VERSION`
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('=') {
            Some(("uv", version)) if !version.is_empty() => Ok(Compat::Uv(version.to_owned())),
            _ => Err(format!(
                "`{text}` is not uv=VERSION (the uv whose venvs to match, e.g. uv=0.13.9)"
            )),
        }
    }
}

/// Where the venv will live and how it introduces itself.
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    /// Empty: where the store keeps it.
    #[serde(serialize_with = "pyfod_store::key::path_bytes")]
    pub prefix: PathBuf,
    pub prompt: Option<String>,
    pub compat: Option<Compat>,
    /// `[install.collisions]`: who wins a path several wheels install.
    pub collisions: std::collections::BTreeMap<String, collisions::Rule>,
    /// The lock's directory, absolute: with `compat`, local sources get uv's
    /// `direct_url.json`, which names it.
    #[serde(serialize_with = "pyfod_store::key::option_path_bytes")]
    pub project_dir: Option<PathBuf>,
    /// How much a wheel may unpack to. A limit only refuses, it never changes
    /// what is installed: not in the key.
    #[serde(skip)]
    pub limits: archive::Limits,
}

impl Layout {
    /// A venv at `prefix` with pyfod's defaults: no prompt, no compat, no rules.
    pub fn at(prefix: PathBuf) -> Layout {
        Layout {
            prefix,
            prompt: None,
            compat: None,
            collisions: Default::default(),
            project_dir: None,
            limits: archive::Limits::default(),
        }
    }
}

/// One wheel to install.
#[derive(Debug, Clone)]
pub struct WheelInput {
    pub name: String,
    pub version: String,
    pub filename: String,
    /// The wheel file (a blob in the store).
    pub file: PathBuf,
    pub sha256: pyfod_digest::Sha256,
    /// Where the lock says the package comes from: `direct_url.json` tells it.
    pub source: Option<pyfod_manifest::Source>,
    /// Built from source (uv marks such a dist-info with `uv_build.json`).
    pub built: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Interpreter(#[from] pyfod_python::InterpreterError),
    #[error(transparent)]
    Store(#[from] pyfod_store::StoreError),
    #[error("{wheel} is not a wheel pyfod can install: {detail}")]
    BadWheel { wheel: String, detail: String },
    #[error(
        "{wheel}: {path} does not have the hash its RECORD gives; the wheel is corrupt or was altered after it was built; get it again, or report it to its maintainers"
    )]
    RecordMismatch { wheel: String, path: String },
    #[error(
        "{wheel}: {path} is not in its RECORD, so nothing vouches for it; the wheel is corrupt or was altered after it was built; refusing it"
    )]
    NotInRecord { wheel: String, path: String },
    #[error("{wheel}: the member `{path}` would land outside the venv ({why}); refusing the wheel")]
    UnsafePath {
        wheel: String,
        path: String,
        why: &'static str,
    },
    #[error("{wheel}: {member} cannot be installed; refusing the wheel")]
    Unwritable {
        wheel: String,
        member: String,
        #[source]
        source: writer::WriteError,
    },
    #[error(
        "{package}: the entry point `{name}` is not one pyfod can write a launcher for ({why}); refusing it"
    )]
    BadEntryPoint {
        package: String,
        name: String,
        why: String,
    },
    #[error(
        "{first} and {second} both install {path}; say which wins under [install.collisions] in pyfod.toml, or drop one of them"
    )]
    Collision {
        path: String,
        first: String,
        second: String,
    },
    #[error("{package}: the script `{name}` would overwrite the venv's own; refusing it")]
    ReservedScript { package: String, name: String },
    #[error(
        "[install.collisions] says `{rule}` wins {path}, but it is installed by {} only; name one of them, or \"drop\"",
        owners.join(" and ")
    )]
    BadRule {
        path: String,
        rule: String,
        owners: Vec<String>,
    },
    #[error(
        "{package} is an sdist or a source tree, not a wheel; build it first with `pyfod build-sdist` and install from the wheels manifest it writes (`pyfod build` does both)"
    )]
    NotAWheel { package: String },
    #[error("the store's unpacked wheel {entry}: {path} {what}")]
    Damaged {
        /// The tree entry's name.
        entry: String,
        path: String,
        what: String,
    },
    #[error("the manifest cannot be installed")]
    Manifest(#[source] pyfod_manifest::DecodeError),
    #[error("it is the `{0}` stage's manifest; install takes a fetch or build-sdist manifest")]
    ManifestOfStage(pyfod_manifest::Stage),
    #[error("{0} is not empty; install into a new or empty directory")]
    NotEmpty(PathBuf),
}

/// The wheels of a fetch manifest, as files in the store, each checked.
pub fn wheels_of_fetch(
    fetch: &pyfod_manifest::FetchManifest,
    store: &pyfod_store::Store,
) -> Result<Vec<WheelInput>, InstallError> {
    fetch
        .packages
        .iter()
        .map(|p| match &p.artifact {
            pyfod_manifest::Artifact::Wheel(file) => Ok(WheelInput {
                name: p.name.clone(),
                version: p.version.clone().unwrap_or_default(),
                filename: file.filename.clone(),
                file: store.verified_blob(&file.sha256, file.size)?,
                sha256: file.sha256,
                source: Some(p.source.clone()),
                built: false,
            }),
            _ => Err(InstallError::NotAWheel {
                package: p.name.clone(),
            }),
        })
        .collect()
}

/// The wheels of a build-sdist (wheels) manifest, as files in the store, each
/// checked.
pub fn wheels_of_wheels(
    wheels: &pyfod_manifest::WheelsManifest,
    store: &pyfod_store::Store,
) -> Result<Vec<WheelInput>, InstallError> {
    wheels
        .wheels
        .iter()
        .map(|w| {
            Ok(WheelInput {
                name: w.name.clone(),
                version: w.version.clone(),
                filename: w.wheel.filename.clone(),
                file: store.verified_blob(&w.wheel.sha256, w.wheel.size)?,
                sha256: w.wheel.sha256,
                source: Some(w.source.clone()),
                built: matches!(w.origin, pyfod_manifest::WheelOrigin::Built { .. }),
            })
        })
        .collect()
}

/// Installs `wheels` into a new venv at `root` that will live at `prefix`,
/// unpacking each wheel straight from its zip.
pub fn install(
    wheels: &[WheelInput],
    root: &Path,
    layout: &Layout,
    interpreter: &Interpreter,
) -> Result<Vec<InstalledPackage>, InstallError> {
    install_with(wheels, root, layout, interpreter, None)
}

/// Like [`install`]; with `unpacked`, each wheel is unpacked into the store once
/// and its files are copied or linked from there.
pub fn install_with(
    wheels: &[WheelInput],
    root: &Path,
    layout: &Layout,
    interpreter: &Interpreter,
    unpacked: Option<(&unpacked::UnpackedWheels, unpacked::LinkMode)>,
) -> Result<Vec<InstalledPackage>, InstallError> {
    let prefix = layout.prefix.as_path();
    venv::create(root, layout, interpreter)?;
    let site = venv::site_packages(interpreter);
    let python = interpreter.versioned_name();
    let mut plans: Vec<wheel::WheelPlan> = wheels
        .par_iter()
        .map(|w| {
            let lock = (w.name.as_str(), w.version.as_str());
            wheel::plan(&w.file, &w.filename, lock, &site, &python, &layout.limits)
        })
        .collect::<Result<_, _>>()?;
    // Every path has one owner.
    collisions::resolve(wheels, &mut plans, &layout.collisions, &site)?;

    let installing = Installing {
        root,
        layout,
        site: &site,
        shebang: launcher::shebang(prefix),
        unpacked,
    };
    wheels
        .par_iter()
        .zip(&plans)
        .map(|(input, plan)| installing.one(input, plan))
        .collect()
}

fn unwritable(plan: &wheel::WheelPlan, path: &str, source: writer::WriteError) -> InstallError {
    InstallError::Unwritable {
        wheel: plan.filename.clone(),
        member: path.to_owned(),
        source,
    }
}

/// What every wheel of one install shares.
struct Installing<'a> {
    root: &'a Path,
    layout: &'a Layout,
    site: &'a str,
    shebang: String,
    unpacked: Option<(&'a unpacked::UnpackedWheels, unpacked::LinkMode)>,
}

impl Installing<'_> {
    /// One wheel: its files, its launchers, the metadata an installer adds, and
    /// the RECORD of all of them.
    fn one(
        &self,
        input: &WheelInput,
        plan: &wheel::WheelPlan,
    ) -> Result<InstalledPackage, InstallError> {
        let mut writer = writer::VenvWriter::new(self.root);
        let mut written = match self.unpacked {
            Some((cache, mode)) => {
                let (tree, files) = cache.get(plan, &input.sha256)?;
                plan.install_from(&tree, &files, &mut writer, &self.shebang, mode)?
            }
            None => plan.unpack(&mut writer, &self.shebang)?,
        };
        let mut scripts = self.launchers(plan, &mut writer, &mut written)?;
        self.metadata(input, plan, &mut writer, &mut written)?;
        let dist_info = format!("{}/{}", self.site, plan.dist_info);
        let record = wheel::record(self.site, &plan.dist_info, &written);
        let own = format!("{dist_info}/RECORD");
        writer
            .write(&own, record.as_bytes(), false)
            .map_err(|source| unwritable(plan, &own, source))?;
        scripts.sort();
        Ok(InstalledPackage {
            name: input.name.clone(),
            version: input.version.clone(),
            wheel: input.sha256,
            dist_info: RelPath::from(dist_info.as_str()),
            scripts,
        })
    }

    /// A launcher in `bin/` for each entry point; their names.
    fn launchers(
        &self,
        plan: &wheel::WheelPlan,
        writer: &mut writer::VenvWriter<'_>,
        written: &mut Vec<wheel::Written>,
    ) -> Result<Vec<String>, InstallError> {
        let mut scripts = Vec::new();
        for entry in &plan.scripts {
            let path = format!("bin/{}", entry.name);
            let text = launcher::launcher(&self.shebang, entry);
            writer
                .write(&path, text.as_bytes(), true)
                .map_err(|source| unwritable(plan, &path, source))?;
            written.push(wheel::Written {
                path,
                sha256: pyfod_digest::Sha256::of(text.as_bytes()),
                size: text.len() as u64,
            });
            scripts.push(entry.name.clone());
        }
        Ok(scripts)
    }

    /// What the installer adds to the dist-info: `INSTALLER` (`pyfod`, or uv's
    /// files with `--compat`), `direct_url.json` where uv writes one.
    fn metadata(
        &self,
        input: &WheelInput,
        plan: &wheel::WheelPlan,
        writer: &mut writer::VenvWriter<'_>,
        written: &mut Vec<wheel::Written>,
    ) -> Result<(), InstallError> {
        let compat = self.layout.compat.is_some();
        let mut extra: Vec<(&str, &[u8])> =
            vec![("INSTALLER", if compat { b"uv" } else { b"pyfod" })];
        if compat {
            extra.push(("REQUESTED", b""));
        }
        let project = self
            .layout
            .compat
            .as_ref()
            .and(self.layout.project_dir.as_deref());
        let direct_url = input
            .source
            .as_ref()
            .and_then(|source| direct_url::direct_url(source, project));
        if let Some(text) = &direct_url {
            extra.push(("direct_url.json", text.as_bytes()));
        }
        // uv's record of a build from source: empty for builds without extra
        // build settings, which pyfod's are, as uv sees them.
        if compat && input.built {
            extra.push(("uv_build.json", b"{}"));
        }
        for (name, contents) in extra {
            let path = format!("{}/{}/{name}", self.site, plan.dist_info);
            writer
                .write(&path, contents, false)
                .map_err(|source| unwritable(plan, &path, source))?;
            written.push(wheel::Written {
                path,
                sha256: pyfod_digest::Sha256::of(contents),
                size: contents.len() as u64,
            });
        }
        Ok(())
    }
}
