//! The contracts between pyfod's stages.
//!
//! Stages never call each other: each one reads the manifest the previous stage
//! wrote and writes its own. This crate holds those manifests as typed structs, the
//! binary envelope they are stored in ([`envelope`]), and a JSON view of any of them
//! ([`AnyManifest`]) for `pyfod manifest show`.
//!
//! A manifest names artifacts by content digest and by path inside the store. It
//! never holds a timestamp or a path of the build machine outside the store, so the
//! same inputs give the same manifest bytes on every machine.

pub mod envelope;
mod fetch;
mod hash;
mod install;
mod package;
mod path;
mod scrub;
mod show;
mod stage;
mod wheels;

pub use envelope::{DecodeError, Header, SCHEMA_VERSION};
pub use fetch::{Artifact, ArtifactChoice, FetchManifest, FetchedPackage, Selection, Target};
pub use hash::{HashManifest, InputRecord, NarEntry, NarNode};
pub use install::{InstallManifest, InstalledPackage};
pub use package::{GitReference, Source, StoredFile, StoredTree, normalise_name};
pub use path::{ByteString, RelPath, StorePath};
pub use pyfod_digest::Sha256;
pub use scrub::{ElfReport, Replacement, ReplacementKind, Residual, ScrubManifest};
pub use show::AnyManifest;
pub use stage::Stage;
pub use wheels::{WheelEntry, WheelOrigin, WheelsManifest};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A stage's output manifest.
pub trait Manifest: Serialize + DeserializeOwned {
    /// The stage that writes this manifest; checked when it is read back.
    const STAGE: Stage;

    /// The manifest in its envelope. `input` is the digest of the manifest (or other
    /// input) this one was made from, so a chain of manifests can be followed back.
    fn encode(&self, input: Option<Sha256>) -> Vec<u8> {
        envelope::encode(Self::STAGE, input, self)
    }

    /// Reads a manifest of this stage, refusing any other stage's.
    fn decode(bytes: &[u8]) -> Result<(Header, Self), DecodeError> {
        envelope::decode(Self::STAGE, bytes)
    }
}
