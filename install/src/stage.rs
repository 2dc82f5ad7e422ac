//! The install stage: a venv made from the wheels a manifest names, kept in the
//! store under its key.

use std::fs;
use std::path::Path;

use pyfod_digest::Sha256;
use pyfod_manifest::{AnyManifest, InstallManifest, StoredTree};
use pyfod_store::{Needs, Produced, Store, Work};
use serde::Serialize;

use crate::unpacked::{LinkMode, UnpackedWheels};
use crate::{InstallError, Interpreter, Layout, WheelInput};

/// The install stage's settings. Plain data: `pyfod install`'s flags,
/// `pyfod.toml`'s `[install]` and `pyfod build` resolve into it.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub layout: Layout,
    /// The base interpreter; in the key by what the venv names of it.
    #[serde(serialize_with = "venv_identity")]
    pub interpreter: Interpreter,
}

fn venv_identity<S: serde::Serializer>(
    interpreter: &Interpreter,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    interpreter.venv_identity().serialize(serializer)
}

/// The wheels to install: a fetch manifest of wheels, or a wheels manifest.
#[derive(Debug, Clone)]
pub struct WheelsInput {
    /// The manifest's bytes: their digest is the input's.
    pub bytes: Vec<u8>,
    pub wheels: Vec<WheelInput>,
}

impl WheelsInput {
    /// The wheels a fetch or build-sdist manifest names, each checked in the store.
    pub fn from_manifest(bytes: Vec<u8>, store: &Store) -> Result<WheelsInput, InstallError> {
        let (header, manifest) = AnyManifest::decode(&bytes).map_err(InstallError::Manifest)?;
        let wheels = match manifest {
            AnyManifest::Fetch(fetch) => crate::wheels_of_fetch(&fetch, store)?,
            AnyManifest::BuildSdist(wheels) => crate::wheels_of_wheels(&wheels, store)?,
            _ => return Err(InstallError::ManifestOfStage(header.stage)),
        };
        Ok(WheelsInput { bytes, wheels })
    }
}

/// The install stage, for [`pyfod_store::Store::run_stage`].
#[derive(Debug)]
pub struct Install;

impl pyfod_store::Stage for Install {
    const STAGE: pyfod_manifest::Stage = pyfod_manifest::Stage::Install;
    const FORMAT_VERSION: u32 = 2;
    type Input = WheelsInput;
    type Settings = Settings;
    type Output = InstallManifest;
    type Error = InstallError;

    /// A venv made where the store keeps it (a build environment) names the
    /// store's path in its scripts and `pyvenv.cfg`.
    fn located_in_store(settings: &Settings) -> bool {
        settings.layout.prefix.as_os_str().is_empty()
    }

    /// The wheels by content: what the manifest says of them beyond that (how
    /// a wheel was built, the log of its build) changes nothing installed.
    fn input_digest(input: &WheelsInput) -> Sha256 {
        let wheels: Vec<_> = input
            .wheels
            .iter()
            .map(|w| {
                (
                    &w.name,
                    &w.version,
                    &w.filename,
                    w.sha256,
                    &w.source,
                    w.built,
                )
            })
            .collect();
        pyfod_store::key::digest(&wheels)
    }

    fn run(
        input: &WheelsInput,
        settings: &Settings,
        work: &Work<'_>,
    ) -> Result<Produced, InstallError> {
        let store = work.store;
        let store_path = work.tree_path();
        let mut layout = settings.layout.clone();
        if layout.prefix.as_os_str().is_empty() {
            layout.prefix = store.root().join(&store_path.0);
        }
        let tree = store.temp_entry()?;
        let packages = install_tree(&input.wheels, tree.path(), &layout, settings, store)?;
        let index = store.index_tree(&tree)?;
        let manifest = InstallManifest {
            tree: StoredTree {
                store_path,
                nar_sha256: index.nar_sha256(),
            },
            prefix: layout.prefix.display().to_string(),
            python_version: format!("3.{}", settings.interpreter.minor),
            python_home: settings.interpreter.home().display().to_string(),
            packages,
        };
        Ok(Produced {
            manifest: work.encode(&manifest),
            tree: Some((tree, index)),
            needs: Needs::default(),
        })
    }
}

/// Installs into `root` (which must not exist) from the store's unpacked wheels,
/// each file checked as it is copied: a damaged wheel is unpacked again, and the
/// install made afresh.
fn install_tree(
    wheels: &[WheelInput],
    root: &Path,
    layout: &Layout,
    settings: &Settings,
    store: &Store,
) -> Result<Vec<pyfod_manifest::InstalledPackage>, InstallError> {
    let unpacked = UnpackedWheels::new(store.clone());
    unpacked.retrying(|| {
        if root.exists() {
            fs::remove_dir_all(root).map_err(|source| InstallError::Io {
                action: "remove",
                path: root.to_path_buf(),
                source,
            })?;
        }
        fs::create_dir(root).map_err(|source| InstallError::Io {
            action: "create",
            path: root.to_path_buf(),
            source,
        })?;
        crate::install_with(
            wheels,
            root,
            layout,
            &settings.interpreter,
            // Linked to the unpacked wheels' files, both trees in the store:
            // nothing writes a file of either in place (scrub writes beside and
            // renames over), and each tree's index vouches for the bytes. What
            // leaves the store (`--out`) is a copy.
            Some((&unpacked, LinkMode::Hardlink)),
        )
    })
}

/// The stage's entry for a library user: a venv of `input`'s wheels in the store.
pub fn run(
    input: &WheelsInput,
    settings: &Settings,
    store: &Store,
) -> Result<pyfod_store::StageOutput<InstallManifest>, InstallError> {
    store.run_stage::<Install>(input, settings)
}
