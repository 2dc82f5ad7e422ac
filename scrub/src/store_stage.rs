//! The scrub stage in the store: the installed venv linked into a new tree, scrubbed, kept
//! under its key.

use std::path::PathBuf;

use pyfod_digest::Sha256;
use pyfod_manifest::{InstallManifest, Manifest, ScrubManifest, StoredTree};
use pyfod_store::{Needs, Produced, Store, Work};

use crate::{ScrubError, Settings};

/// The scrub stage's input: an install manifest and the venv it names, checked
/// in the store.
#[derive(Debug, Clone)]
pub struct InstalledTree {
    pub bytes: Vec<u8>,
    pub manifest: InstallManifest,
    pub tree: PathBuf,
}

impl InstalledTree {
    /// The venv an install manifest names: inside the store, and what its NAR
    /// hash says.
    pub fn from_manifest(bytes: Vec<u8>, store: &Store) -> Result<InstalledTree, ScrubError> {
        let (_, manifest) = InstallManifest::decode(&bytes).map_err(ScrubError::Manifest)?;
        let tree = store.verified_tree(&manifest.tree)?;
        Ok(InstalledTree {
            bytes,
            manifest,
            tree,
        })
    }
}

/// The scrub stage, for [`pyfod_store::Store::run_stage`].
#[derive(Debug)]
pub struct Scrub;

impl pyfod_store::Stage for Scrub {
    const STAGE: pyfod_manifest::Stage = pyfod_manifest::Stage::Scrub;
    const FORMAT_VERSION: u32 = 3;
    type Input = InstalledTree;
    type Settings = Settings;
    type Output = ScrubManifest;
    type Error = ScrubError;

    /// The venv by content: scrub reads nothing else.
    fn input_digest(input: &InstalledTree) -> Sha256 {
        input.manifest.tree.nar_sha256
    }

    fn run(
        input: &InstalledTree,
        settings: &Settings,
        work: &Work<'_>,
    ) -> Result<Produced, ScrubError> {
        let store = work.store;
        let tree = store.temp_entry()?;
        // Linked: scrub edits a file only by writing beside it and renaming
        // over it (`rewrite`), so the install entry's files stay as indexed.
        pyfod_store::link_tree(&input.tree, tree.path())
            .map_err(|e| ScrubError::io("link", &input.tree, e))?;
        let mut manifest = crate::scrub(tree.path(), settings)?;
        let index = store.index_tree(&tree)?;
        manifest.tree = Some(StoredTree {
            store_path: work.tree_path(),
            nar_sha256: index.nar_sha256(),
        });
        Ok(Produced {
            manifest: work.encode(&manifest),
            tree: Some((tree, index)),
            needs: Needs::default(),
        })
    }
}

/// The stage's entry for a library user: the venv of `input`, scrubbed, in the store.
pub fn run(
    input: &InstalledTree,
    settings: &Settings,
    store: &Store,
) -> Result<pyfod_store::StageOutput<ScrubManifest>, ScrubError> {
    store.run_stage::<Scrub>(input, settings)
}
