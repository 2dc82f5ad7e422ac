use serde::Serialize;

use crate::envelope::{self, DecodeError, Header};
use crate::{FetchManifest, HashManifest, InstallManifest, ScrubManifest, Stage, WheelsManifest};

/// A manifest of any stage, as read from its envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", untagged)]
pub enum AnyManifest {
    Fetch(FetchManifest),
    BuildSdist(WheelsManifest),
    Install(InstallManifest),
    Scrub(ScrubManifest),
    Hash(HashManifest),
}

impl AnyManifest {
    /// Reads whichever stage's manifest `bytes` holds.
    pub fn decode(bytes: &[u8]) -> Result<(Header, AnyManifest), DecodeError> {
        let (header, body) = envelope::decode_header(bytes)?;
        let stage = header.stage;
        let manifest = match stage {
            Stage::Fetch => AnyManifest::Fetch(envelope::decode_body(stage, body)?),
            Stage::BuildSdist => AnyManifest::BuildSdist(envelope::decode_body(stage, body)?),
            Stage::Install => AnyManifest::Install(envelope::decode_body(stage, body)?),
            Stage::Scrub => AnyManifest::Scrub(envelope::decode_body(stage, body)?),
            Stage::Hash => AnyManifest::Hash(envelope::decode_body(stage, body)?),
        };
        Ok((header, manifest))
    }

    /// The envelope and body as pretty JSON: what `pyfod manifest show` prints.
    pub fn to_json(header: &Header, manifest: &AnyManifest) -> String {
        #[derive(Serialize)]
        struct View<'a> {
            schema: u32,
            stage: Stage,
            input: Option<String>,
            manifest: &'a AnyManifest,
        }
        let view = View {
            schema: header.schema,
            stage: header.stage,
            input: header.input.map(|d| d.to_hex()),
            manifest,
        };
        serde_json::to_string_pretty(&view).expect("manifests always serialize to JSON")
    }
}
