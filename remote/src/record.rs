//! A stage result on the remote: the claim "this entry is these bytes", signed.
//!
//! ```text
//! pyfod-entry 1
//! entry stages/<key>              or trees/<name>
//! manifest <sha256> <size>        the entry's manifest, under cas/
//! tree <nar sha256> <nar size>    its tree as a NAR, under cas/ (if it has one)
//! need-blob <sha256> <size>       each blob it needs, under cas/
//! need-tree <name>                each tree it needs, itself an entry
//! sig <key name>:<base64>         one or more; each signs every line above
//! ```
//!
//! The text is canonical: a record is accepted only if writing what was read
//! gives the same bytes, so one claim has one signed form. The first line
//! keeps a signature over it from being taken for any other format's.

use pyfod_digest::Sha256;
use pyfod_store::{EntryName, Needs};

use crate::keys::{PublicKey, SecretKey, Signature};

const MAGIC: &str = "pyfod-entry 1";
/// Larger than any real record (a fetch manifest's needs for thousands of
/// packages); a bound on what a hostile server can make us read.
pub const MAX_RECORD: usize = 4 << 20;

/// What a record claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub entry: String,
    pub manifest: (Sha256, u64),
    pub tree: Option<(Sha256, u64)>,
    pub needs: Needs,
}

/// A claim and its signatures, as read.
#[derive(Debug, Clone)]
pub struct Record {
    pub claim: Claim,
    pub body: Vec<u8>,
    pub signatures: Vec<Signature>,
}

/// Why a record is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untrusted {
    Malformed(String),
    Unsigned,
    /// Signed, but by no trusted key; the names of the keys that signed.
    UnknownKeys(Vec<String>),
    /// A trusted key's name, with a signature that does not verify.
    BadSignature(String),
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Untrusted::Malformed(why) => write!(f, "it is malformed ({why})"),
            Untrusted::Unsigned => write!(f, "it is not signed"),
            Untrusted::UnknownKeys(names) => write!(
                f,
                "it is signed by {}, which trusted-public-keys does not name",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Untrusted::BadSignature(name) => {
                write!(
                    f,
                    "its signature by `{name}` does not verify: it was altered, or forged"
                )
            }
        }
    }
}

impl Claim {
    /// The claim's lines, which signatures cover.
    pub fn body(&self) -> Vec<u8> {
        let mut out = format!("{MAGIC}\nentry {}\n", self.entry);
        out += &format!(
            "manifest {} {}\n",
            self.manifest.0.to_hex(),
            self.manifest.1
        );
        if let Some((nar, size)) = &self.tree {
            out += &format!("tree {} {size}\n", nar.to_hex());
        }
        for (blob, size) in &self.needs.blobs {
            out += &format!("need-blob {} {size}\n", blob.to_hex());
        }
        for tree in &self.needs.trees {
            out += &format!("need-tree {tree}\n");
        }
        out.into_bytes()
    }

    /// The signed record.
    pub fn sign(&self, key: &SecretKey) -> Vec<u8> {
        let mut out = self.body();
        let signature = key.sign(&out);
        out.extend_from_slice(format!("sig {signature}\n").as_bytes());
        out
    }
}

/// The remote path of an entry's record.
pub fn record_path(name: &EntryName) -> String {
    match name {
        EntryName::Stage(key) => format!("ac/{key}"),
        EntryName::Tree(tree) => format!("ac/trees/{tree}"),
    }
}

impl Record {
    /// Reads a record strictly; see the module's grammar.
    pub fn parse(bytes: &[u8]) -> Result<Record, Untrusted> {
        let bad = |why: &str| Untrusted::Malformed(why.to_owned());
        if bytes.len() > MAX_RECORD {
            return Err(bad("larger than any record"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
        if !text.ends_with('\n') {
            return Err(bad("no final newline"));
        }
        let mut lines = text[..text.len() - 1].split('\n');
        if lines.next() != Some(MAGIC) {
            return Err(bad("not a pyfod entry record of this version"));
        }
        let mut entry = None;
        let mut manifest = None;
        let mut tree = None;
        let mut needs = Needs::default();
        let mut signatures = Vec::new();
        let mut body_len = MAGIC.len() + 1;
        for line in lines {
            let (field, value) = line
                .split_once(' ')
                .ok_or_else(|| bad("a line without a value"))?;
            if field != "sig" && !signatures.is_empty() {
                return Err(bad("a claim after a signature"));
            }
            match field {
                "entry" => entry = Some(value.to_owned()),
                "manifest" => manifest = Some(digest_size(value).ok_or_else(|| bad("manifest"))?),
                "tree" => tree = Some(digest_size(value).ok_or_else(|| bad("tree"))?),
                "need-blob" => needs
                    .blobs
                    .push(digest_size(value).ok_or_else(|| bad("need-blob"))?),
                "need-tree" => needs.trees.push(value.to_owned()),
                "sig" => {
                    signatures.push(
                        Signature::parse(value).map_err(|e| Untrusted::Malformed(e.to_string()))?,
                    );
                    continue;
                }
                _ => return Err(bad("an unknown field")),
            }
            body_len += line.len() + 1;
        }
        let claim = Claim {
            entry: entry.ok_or_else(|| bad("no entry"))?,
            manifest: manifest.ok_or_else(|| bad("no manifest"))?,
            tree,
            needs,
        };
        let body = bytes[..body_len].to_vec();
        if claim.body() != body {
            return Err(bad("not in canonical form"));
        }
        if signatures.is_empty() {
            return Err(Untrusted::Unsigned);
        }
        Ok(Record {
            claim,
            body,
            signatures,
        })
    }

    /// The claim, if a trusted key signed it.
    pub fn trusted(&self, keys: &[PublicKey]) -> Result<&Claim, Untrusted> {
        let mut bad = None;
        for signature in &self.signatures {
            for key in keys.iter().filter(|k| k.name() == signature.key_name) {
                if key.verifies(&self.body, signature) {
                    return Ok(&self.claim);
                }
                bad = Some(key.name().to_owned());
            }
        }
        Err(match bad {
            Some(name) => Untrusted::BadSignature(name),
            None => {
                Untrusted::UnknownKeys(self.signatures.iter().map(|s| s.key_name.clone()).collect())
            }
        })
    }
}

fn digest_size(value: &str) -> Option<(Sha256, u64)> {
    let (hex, size) = value.split_once(' ')?;
    let digest = Sha256::from_hex(hex)?;
    // Canonical decimal: the body check refuses `007`.
    Some((digest, size.parse().ok()?))
}
