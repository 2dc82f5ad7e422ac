use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::{Sha256, base16, nix32};

/// How a digest is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashFormat {
    /// `sha256-<padded base64>`, what Nix prints and `outputHash` takes.
    #[default]
    Sri,
    /// 52 characters of Nix's base-32, what `nix-hash --base32` prints.
    Nix32,
    /// 64 lowercase hex digits.
    Base16,
    /// 44 characters of padded standard base64, without the `sha256-` prefix.
    Base64,
}

impl HashFormat {
    pub const ALL: [HashFormat; 4] = [Self::Sri, Self::Nix32, Self::Base16, Self::Base64];

    pub fn name(self) -> &'static str {
        match self {
            Self::Sri => "sri",
            Self::Nix32 => "nix32",
            Self::Base16 => "base16",
            Self::Base64 => "base64",
        }
    }

    pub fn encode(self, digest: &Sha256) -> String {
        match self {
            Self::Sri => format!("sha256-{}", BASE64.encode(digest.0)),
            Self::Nix32 => nix32::encode(&digest.0),
            Self::Base16 => base16::encode(&digest.0),
            Self::Base64 => BASE64.encode(digest.0),
        }
    }

    /// Decodes text written in exactly this format.
    pub fn decode(self, text: &str) -> Result<Sha256, ParseHashError> {
        let mut out = [0u8; 32];
        let bad = |reason: String| ParseHashError::Malformed {
            text: text.to_owned(),
            format: self,
            reason,
        };
        match self {
            Self::Sri => {
                let body = text
                    .strip_prefix("sha256-")
                    .ok_or_else(|| bad("an SRI hash starts with `sha256-`".into()))?;
                return Self::Base64.decode(body).map_err(|e| match e {
                    ParseHashError::Malformed { reason, .. } => bad(reason),
                    other => other,
                });
            }
            Self::Nix32 => nix32::decode(text, &mut out).map_err(|e| bad(e.to_string()))?,
            Self::Base16 => base16::decode(text, &mut out).map_err(|at| {
                bad(format!(
                    "expected 64 hex digits; the text has {} characters and goes wrong at character {at}",
                    text.len()
                ))
            })?,
            Self::Base64 => {
                let bytes = BASE64
                    .decode(text)
                    .map_err(|e| bad(format!("not padded standard base64: {e}")))?;
                out = bytes.try_into().map_err(|bytes: Vec<u8>| {
                    bad(format!("decodes to {} bytes, not 32", bytes.len()))
                })?;
            }
        }
        Ok(Sha256(out))
    }

    /// Parses a SHA-256 the way Nix does: `sha256-<base64>` (SRI), or
    /// `sha256:<hex | nix32 | base64>` and the bare forms, told apart by length.
    pub fn parse_any(text: &str) -> Result<Sha256, ParseHashError> {
        let text = text.trim();
        if text.starts_with("sha256-") {
            return Self::Sri.decode(text);
        }
        let body = text.strip_prefix("sha256:").unwrap_or(text);
        if let Some((algo, _)) = body.split_once([':', '-'])
            && ["md5", "sha1", "sha512", "blake3"].contains(&algo)
        {
            return Err(ParseHashError::Algorithm {
                text: text.to_owned(),
                algorithm: algo.to_owned(),
            });
        }
        let format = match body.len() {
            64 => Self::Base16,
            52 => Self::Nix32,
            44 => Self::Base64,
            _ => {
                return Err(ParseHashError::Unrecognised {
                    text: text.to_owned(),
                });
            }
        };
        format.decode(body)
    }
}

impl fmt::Display for HashFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                format!("unknown hash format `{s}`; use one of sri, nix32, base16, base64")
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseHashError {
    #[error("`{text}` is not a valid {format} SHA-256: {reason}")]
    Malformed {
        text: String,
        format: HashFormat,
        reason: String,
    },
    #[error("`{text}` is a {algorithm} hash; pyfod computes SHA-256 (write `sha256-…`)")]
    Algorithm { text: String, algorithm: String },
    #[error(
        "`{text}` is not a SHA-256 hash; expected `sha256-<44 base64 chars>` or `sha256:` followed by 64 hex, 52 nix32 or 44 base64 characters"
    )]
    Unrecognised { text: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEED_SRI: &str = "sha256-DtpcYQyI07m7v84D/UC28Tj35R9wye6IX+1D0gMZPgY=";
    const SEED_NIX32: &str = "01iy341x4hzdby4fxjbh3zjzff7inr0gs0yfpyxvklw81ihmrnhf";
    const SEED_HEX: &str = "0eda5c610c88d3b9bbbfce03fd40b6f138f7e51f70c9ee885fed43d203193e06";

    #[test]
    fn seed_hash_in_every_form() {
        let digest = HashFormat::parse_any(SEED_SRI).unwrap();
        assert_eq!(digest.format(HashFormat::Nix32), SEED_NIX32);
        assert_eq!(digest.format(HashFormat::Base16), SEED_HEX);
        assert_eq!(digest.to_sri(), SEED_SRI);
        for text in [
            format!("sha256:{SEED_NIX32}"),
            format!("sha256:{SEED_HEX}"),
            format!("sha256:{}", &SEED_SRI[7..]),
            SEED_NIX32.to_owned(),
            SEED_HEX.to_uppercase(),
        ] {
            assert_eq!(HashFormat::parse_any(&text).unwrap(), digest, "{text}");
        }
    }

    #[test]
    fn empty_file_nar_in_nix32() {
        let digest =
            HashFormat::parse_any("sha256-d6xi4mKdjkX2JFicDIv5niSzpyI0m/Hnm8GGAIU04kY=").unwrap();
        assert_eq!(
            digest.format(HashFormat::Nix32),
            "0ip26j2h11n1kgkz36rl4akv694yz65hr72q4kv4b3lxcbi65b3p"
        );
    }

    #[test]
    fn rejects_bad_input_with_reasons() {
        let cases = [
            "sha256-DtpcYQyI07m7v84D/UC28Tj35R9wye6IX+1D0gMZPg=",
            "sha256-!!pcYQyI07m7v84D/UC28Tj35R9wye6IX+1D0gMZPgY=",
            "sha256:01iy341x4hzdby4fxjbh3zjzff7inr0gs0yfpyxvklw81ihmrnhe",
            "sha256:z1iy341x4hzdby4fxjbh3zjzff7inr0gs0yfpyxvklw81ihmrnhf",
            "sha256:0eda5c610c88d3b9bbbfce03fd40b6f138f7e51f70c9ee885fed43d203193e0g",
            "sha512-abc",
            "",
            "hello",
        ];
        for text in cases {
            let err = HashFormat::parse_any(text).unwrap_err();
            assert!(!err.to_string().is_empty());
        }
        assert!(matches!(
            HashFormat::parse_any("sha1:0123456789012345678901234567890123456789"),
            Err(ParseHashError::Algorithm { .. })
        ));
    }

    proptest! {
        #[test]
        fn every_format_round_trips(bytes in proptest::array::uniform32(any::<u8>())) {
            let digest = Sha256(bytes);
            for format in HashFormat::ALL {
                let text = digest.format(format);
                prop_assert_eq!(format.decode(&text).unwrap(), digest);
                prop_assert_eq!(HashFormat::parse_any(&text).unwrap(), digest);
            }
            prop_assert!(digest.format(HashFormat::Nix32).starts_with(['0', '1']));
        }

        #[test]
        fn nix32_never_accepts_garbage(text in "[0-9a-z]{52}") {
            let mut out = [0u8; 32];
            match nix32::decode(&text, &mut out) {
                Ok(()) => prop_assert_eq!(nix32::encode(&out), text),
                Err(_) => prop_assert!(
                    text.contains(['e', 'o', 'u', 't']) || !text.starts_with(['0', '1'])
                ),
            }
        }
    }
}
