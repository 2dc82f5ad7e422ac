//! The install stage in the store: a venv installed under its stage key, or found
//! there, with its manifest.

use std::fs;
use std::path::PathBuf;

use pyfod_digest::{Sha256, Sha256Hasher};
use pyfod_manifest::{InstallManifest, Manifest, StorePath, StoredTree};
use pyfod_store::{StageKey, Store};

use crate::unpacked::{LinkMode, UnpackedWheels};
use crate::{Interpreter, Layout, WheelInput};

/// A venv in the store.
#[derive(Debug, Clone)]
pub struct StoredVenv {
    /// The install manifest, encoded.
    pub manifest: Vec<u8>,
    pub tree: PathBuf,
    /// Found in the store rather than installed now.
    pub cached: bool,
}

/// The key a venv is kept under: the wheels manifest it came from (`input`, the
/// digest of its bytes), the interpreter and the layout.
pub fn stage_key(input: &Sha256, interpreter: &Interpreter, layout: &Layout) -> StageKey {
    let mut hasher = Sha256Hasher::new();
    let options = format!("{interpreter:?}{layout:?}");
    hasher.update(&(options.len() as u64).to_le_bytes());
    hasher.update(options.as_bytes());
    StageKey::new("install", crate::FORMAT_VERSION, input, &hasher.finish())
}

/// Installs `wheels` into the store, or finds them installed there. An empty
/// `layout.prefix` means the venv lives where the store keeps it.
pub fn install_in_store(
    wheels: &[WheelInput],
    input: &Sha256,
    layout: &Layout,
    interpreter: &Interpreter,
    link_mode: LinkMode,
    store: &Store,
) -> anyhow::Result<StoredVenv> {
    let key = stage_key(input, interpreter, layout);
    let _lock = store.lock(&format!("stage-{key}"))?;
    if let Some(entry) = store.stage(&key)
        && let Some(tree) = entry.tree
        && let Ok(manifest) = fs::read(&entry.manifest)
    {
        return Ok(StoredVenv {
            manifest,
            tree,
            cached: true,
        });
    }
    let store_path = StorePath(format!("stages/{key}/tree"));
    let mut layout = layout.clone();
    if layout.prefix.as_os_str().is_empty() {
        layout.prefix = store_path.under(store.root());
    }
    let work = store.temp_entry()?;
    fs::create_dir(work.path())?;
    let unpacked = UnpackedWheels::new(store.clone());
    let packages = crate::install_with(
        wheels,
        work.path(),
        &layout,
        interpreter,
        Some((&unpacked, link_mode)),
    )?;
    let hash = pyfod_nar::hash_path(work.path(), &pyfod_nar::HashSettings::default(), None)?;
    let manifest = InstallManifest {
        tree: StoredTree {
            store_path,
            nar_sha256: hash.nar_sha256,
        },
        prefix: layout.prefix.display().to_string(),
        python_version: format!("3.{}", interpreter.minor),
        python_home: interpreter.home().display().to_string(),
        packages,
    }
    .encode(Some(*input));
    let entry = store.publish_stage(&key, &manifest, Some(work))?;
    Ok(StoredVenv {
        manifest,
        tree: entry.tree.unwrap_or_default(),
        cached: false,
    })
}
