//! Signing keys in Nix's format, so one key pair can sign a binary cache and a
//! pyfod remote alike: a secret key is `name:base64(seed ‖ public key)`, 64
//! bytes; a public key `name:base64(key)`, 32 bytes; a signature
//! `name:base64(signature)`, 64 bytes, Ed25519 throughout.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};

use crate::RemoteError;

/// A key that signs what this machine uploads. Its bytes are never printed.
pub struct SecretKey {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}:…)", self.name)
    }
}

/// A key whose signatures are trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key: VerifyingKey,
}

/// A signature as written in a record: the signer's key name and the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub key_name: String,
    bytes: [u8; 64],
}

fn split<'a>(text: &'a str, what: &str) -> Result<(&'a str, Vec<u8>), RemoteError> {
    let bad = |why: &str| RemoteError::Key(format!("{what}: {why}; expected `name:base64`"));
    let (name, data) = text.trim().split_once(':').ok_or_else(|| bad("no `:`"))?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic() && c != ':') {
        return Err(bad("the name is empty or holds spaces or `:`"));
    }
    let bytes = STANDARD
        .decode(data)
        .map_err(|_| bad("the key is not base64"))?;
    Ok((name, bytes))
}

impl SecretKey {
    /// Reads `name:base64` as `nix-store --generate-binary-cache-key` writes it.
    pub fn parse(text: &str) -> Result<SecretKey, RemoteError> {
        let (name, bytes) = split(text, "a secret key")?;
        let pair: [u8; 64] = bytes.try_into().map_err(|_| {
            RemoteError::Key("a secret key must hold 64 bytes (seed and public key)".into())
        })?;
        let key = SigningKey::from_keypair_bytes(&pair).map_err(|_| {
            RemoteError::Key("the secret key's two halves do not belong together".into())
        })?;
        Ok(SecretKey {
            name: name.to_owned(),
            key,
        })
    }

    /// A new key named `name`, from the operating system's random source.
    pub fn generate(name: &str) -> Result<SecretKey, RemoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| RemoteError::Key(format!("no randomness: {e}")))?;
        let key = SecretKey::parse(&format!(
            "{name}:{}",
            STANDARD.encode(SigningKey::from_bytes(&seed).to_keypair_bytes())
        ))?;
        Ok(key)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The secret key in Nix's format: for the key file, never for a log.
    pub fn to_nix_string(&self) -> String {
        format!(
            "{}:{}",
            self.name,
            STANDARD.encode(self.key.to_keypair_bytes())
        )
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature {
            key_name: self.name.clone(),
            bytes: self.key.sign(message).to_bytes(),
        }
    }
}

impl PublicKey {
    pub fn parse(text: &str) -> Result<PublicKey, RemoteError> {
        let (name, bytes) = split(text, "a public key")?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| RemoteError::Key(format!("the public key `{name}` must hold 32 bytes")))?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| RemoteError::Key(format!("`{name}` is not an Ed25519 public key")))?;
        Ok(PublicKey {
            name: name.to_owned(),
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `signature` is this key's over `message`.
    pub fn verifies(&self, message: &[u8], signature: &Signature) -> bool {
        signature.key_name == self.name
            && self
                .key
                .verify(
                    message,
                    &ed25519_dalek::Signature::from_bytes(&signature.bytes),
                )
                .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, STANDARD.encode(self.key.to_bytes()))
    }
}

impl Signature {
    pub fn parse(text: &str) -> Result<Signature, RemoteError> {
        let (name, bytes) = split(text, "a signature")?;
        let bytes: [u8; 64] = bytes
            .try_into()
            .map_err(|_| RemoteError::Key("a signature must hold 64 bytes".into()))?;
        Ok(Signature {
            key_name: name.to_owned(),
            bytes,
        })
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.key_name, STANDARD.encode(self.bytes))
    }
}
