//! The envelope every manifest is stored in.
//!
//! ```text
//! magic        8 bytes  "PYFOD-MF"
//! schema       u32 LE   SCHEMA_VERSION of the writer
//! stage        u8 length, then the stage name (ASCII)
//! input        u8 0 (none) or 1, then 32 bytes: digest of what this was made from
//! body length  u64 LE
//! body         postcard encoding of the stage's manifest struct
//! checksum     32 bytes: SHA-256 of everything before it
//! ```
//! The fixed header lets a reader say exactly what is wrong (not a manifest, another
//! stage's, a newer pyfod's, cut short, corrupted) before it decodes the body.

use pyfod_digest::Sha256;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Stage;

pub const MAGIC: &[u8; 8] = b"PYFOD-MF";

/// The manifest schema this pyfod writes and the newest it reads. Bump it whenever a
/// manifest type changes shape; postcard is not self-describing, so an old reader
/// would otherwise misread a new body.
pub const SCHEMA_VERSION: u32 = 2;

/// What the envelope says about its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub schema: u32,
    pub stage: Stage,
    pub input: Option<Sha256>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "not a pyfod manifest (it does not start with {magic:?}){hint}",
        magic = "PYFOD-MF"
    )]
    NotAManifest { hint: &'static str },
    #[error(
        "written by a newer pyfod (manifest schema {found}; this pyfod reads up to {supported}); run the same pyfod that wrote it, or re-run the stage"
    )]
    NewerSchema { found: u32, supported: u32 },
    #[error(
        "manifest schema {found} is no longer read (this pyfod reads {supported}); re-run the stage"
    )]
    OlderSchema { found: u32, supported: u32 },
    #[error("this is the `{found}` stage's manifest, but the `{expected}` stage's was expected")]
    WrongStage { expected: Stage, found: Stage },
    #[error("unknown stage name {0:?} in the manifest header")]
    UnknownStage(String),
    #[error(
        "truncated: the manifest needs {needed} bytes but the file has {actual}; it was cut short while being written or copied; re-run the stage"
    )]
    Truncated { needed: u64, actual: u64 },
    #[error("corrupted: its checksum does not match its contents; re-run the stage")]
    Corrupted,
    #[error("{trailing} unexpected bytes after the end of the manifest")]
    Trailing { trailing: u64 },
    #[error("the `{stage}` manifest body does not decode: {source}; re-run the stage")]
    Body {
        stage: Stage,
        #[source]
        source: postcard::Error,
    },
}

pub(crate) fn encode<T: Serialize>(stage: Stage, input: Option<Sha256>, body: &T) -> Vec<u8> {
    let body = postcard::to_stdvec(body).expect("manifest types always serialize");
    let name = stage.name().as_bytes();
    let mut out = Vec::with_capacity(body.len() + 96);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    match input {
        Some(digest) => {
            out.push(1);
            out.extend_from_slice(digest.as_bytes());
        }
        None => out.push(0),
    }
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    let checksum = Sha256::of(&out);
    out.extend_from_slice(checksum.as_bytes());
    out
}

/// Reads the header alone, checking magic and schema but not the body.
pub fn decode_header(bytes: &[u8]) -> Result<(Header, &[u8]), DecodeError> {
    let mut reader = Reader { bytes, at: 0 };
    let magic = reader.take(8)?;
    if magic != MAGIC {
        let hint = if bytes.trim_ascii_start().starts_with(b"{") {
            "; it looks like JSON: manifests are binary, and `pyfod manifest show` prints them as JSON"
        } else {
            ""
        };
        return Err(DecodeError::NotAManifest { hint });
    }
    let schema = u32::from_le_bytes(reader.take(4)?.try_into().unwrap());
    if schema > SCHEMA_VERSION {
        return Err(DecodeError::NewerSchema {
            found: schema,
            supported: SCHEMA_VERSION,
        });
    }
    if schema < SCHEMA_VERSION {
        return Err(DecodeError::OlderSchema {
            found: schema,
            supported: SCHEMA_VERSION,
        });
    }
    let name_len = reader.take(1)?[0] as usize;
    let name = String::from_utf8_lossy(reader.take(name_len)?).into_owned();
    let stage: Stage = name.parse().map_err(|_| DecodeError::UnknownStage(name))?;
    let input = match reader.take(1)?[0] {
        0 => None,
        _ => Some(Sha256(reader.take(32)?.try_into().unwrap())),
    };
    let body_len = u64::from_le_bytes(reader.take(8)?.try_into().unwrap());
    let needed = (reader.at as u64)
        .saturating_add(body_len)
        .saturating_add(32);
    if (bytes.len() as u64) < needed {
        return Err(DecodeError::Truncated {
            needed,
            actual: bytes.len() as u64,
        });
    }
    if (bytes.len() as u64) > needed {
        return Err(DecodeError::Trailing {
            trailing: bytes.len() as u64 - needed,
        });
    }
    let body_end = reader.at + body_len as usize;
    if Sha256::of(&bytes[..body_end]).as_bytes() != &bytes[body_end..] {
        return Err(DecodeError::Corrupted);
    }
    let header = Header {
        schema,
        stage,
        input,
    };
    Ok((header, &bytes[reader.at..body_end]))
}

pub(crate) fn decode<T: DeserializeOwned>(
    expected: Stage,
    bytes: &[u8],
) -> Result<(Header, T), DecodeError> {
    let (header, body) = decode_header(bytes)?;
    if header.stage != expected {
        return Err(DecodeError::WrongStage {
            expected,
            found: header.stage,
        });
    }
    let body = decode_body(header.stage, body)?;
    Ok((header, body))
}

pub(crate) fn decode_body<T: DeserializeOwned>(
    stage: Stage,
    body: &[u8],
) -> Result<T, DecodeError> {
    let (value, rest) =
        postcard::take_from_bytes(body).map_err(|source| DecodeError::Body { stage, source })?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing {
            trailing: rest.len() as u64,
        });
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at + n;
        let slice = self.bytes.get(self.at..end).ok_or(DecodeError::Truncated {
            needed: end as u64,
            actual: self.bytes.len() as u64,
        })?;
        self.at = end;
        Ok(slice)
    }
}
