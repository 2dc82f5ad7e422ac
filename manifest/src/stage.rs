use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The stages, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Fetch,
    BuildSdist,
    Install,
    Scrub,
    Hash,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Fetch,
        Stage::BuildSdist,
        Stage::Install,
        Stage::Scrub,
        Stage::Hash,
    ];

    /// The name used on the command line, in manifest envelopes and in store paths.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Fetch => "fetch",
            Stage::BuildSdist => "build-sdist",
            Stage::Install => "install",
            Stage::Scrub => "scrub",
            Stage::Hash => "hash",
        }
    }

    /// The conventional file name of this stage's manifest.
    pub fn manifest_file_name(self) -> &'static str {
        match self {
            Stage::Fetch => "fetch.manifest",
            Stage::BuildSdist => "wheels.manifest",
            Stage::Install => "install.manifest",
            Stage::Scrub => "scrub.manifest",
            Stage::Hash => "hash.manifest",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Stage {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Stage::ALL.iter().map(|s| s.name()).collect();
                format!("unknown stage `{s}`; the stages are {}", names.join(", "))
            })
    }
}
