use serde::{Deserialize, Serialize};

use crate::{Manifest, RelPath, Sha256, StoredTree};

/// Output of `install`: a venv tree in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallManifest {
    pub tree: StoredTree,
    /// Where the venv will live (`--prefix`): shebangs and `pyvenv.cfg` name it.
    pub prefix: String,
    /// `X.Y`, as in `lib/pythonX.Y/site-packages`.
    pub python_version: String,
    /// What `pyvenv.cfg` says `home` is (the base interpreter's `bin/`).
    pub python_home: String,
    /// Sorted by name.
    pub packages: Vec<InstalledPackage>,
}

impl Manifest for InstallManifest {
    const STAGE: crate::Stage = crate::Stage::Install;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledPackage {
    pub name: String,
    pub version: String,
    /// The wheel it came from.
    pub wheel: Sha256,
    /// `lib/pythonX.Y/site-packages/<name>-<version>.dist-info`.
    pub dist_info: RelPath,
    /// Launchers written into `bin/` for its entry points.
    pub scripts: Vec<String>,
}
