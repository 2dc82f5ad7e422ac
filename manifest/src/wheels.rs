use serde::{Deserialize, Serialize};

use crate::{Manifest, Sha256, Source, Stage, StoredFile, Target};

/// Output of `build-sdist`: every package as a wheel in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WheelsManifest {
    pub target: Target,
    /// Sorted by name, then version.
    pub wheels: Vec<WheelEntry>,
}

impl Manifest for WheelsManifest {
    const STAGE: Stage = Stage::BuildSdist;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WheelEntry {
    pub name: String,
    pub version: String,
    pub source: Source,
    pub wheel: StoredFile,
    pub origin: WheelOrigin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WheelOrigin {
    /// The wheel the fetch stage downloaded, passed through untouched.
    Downloaded,
    /// Built by pyfod from an sdist or source tree.
    Built {
        /// Digest of the sdist, or NAR hash of the source tree.
        source: Sha256,
        /// Digest of the build environment's install manifest.
        build_env: Option<Sha256>,
        /// Digest of the flags and environment the build ran with.
        settings: Sha256,
        /// The build log, a blob in the store.
        log: Option<Sha256>,
    },
}
