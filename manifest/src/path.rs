//! Byte strings that stand for file names, paths and symlink targets.
//!
//! File names on Linux are bytes, not text, and the NAR of a tree holds them
//! verbatim, so manifests keep them as bytes. The JSON view writes them as text,
//! escaping what is not UTF-8 as `\xNN` (and a backslash as `\\`), which reads back
//! to the same bytes.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Raw bytes that are usually, but not always, UTF-8 text.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteString(pub Vec<u8>);

impl ByteString {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as text, with `\xNN` for bytes that are not UTF-8.
    pub fn escaped(&self) -> String {
        escape(&self.0)
    }

    pub fn from_escaped(text: &str) -> Result<Self, String> {
        unescape(text).map(ByteString)
    }
}

impl From<&[u8]> for ByteString {
    fn from(bytes: &[u8]) -> Self {
        ByteString(bytes.to_vec())
    }
}

impl From<&str> for ByteString {
    fn from(text: &str) -> Self {
        ByteString(text.as_bytes().to_vec())
    }
}

impl fmt::Display for ByteString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.escaped())
    }
}

impl fmt::Debug for ByteString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.escaped())
    }
}

impl Serialize for ByteString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.escaped())
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for ByteString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            ByteString::from_escaped(&text).map_err(serde::de::Error::custom)
        } else {
            let bytes: serde_bytes_compat::Bytes = Deserialize::deserialize(deserializer)?;
            Ok(ByteString(bytes.0))
        }
    }
}

/// A path relative to the root of a tree, `/`-separated, without a leading `/`;
/// the root itself is the empty path.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RelPath(pub ByteString);

impl RelPath {
    pub fn root() -> Self {
        RelPath::default()
    }

    pub fn is_root(&self) -> bool {
        self.0.0.is_empty()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0.0
    }

    /// This path with one more component.
    pub fn join(&self, name: &[u8]) -> RelPath {
        let mut bytes = Vec::with_capacity(self.0.0.len() + 1 + name.len());
        bytes.extend_from_slice(&self.0.0);
        if !bytes.is_empty() {
            bytes.push(b'/');
        }
        bytes.extend_from_slice(name);
        RelPath(ByteString(bytes))
    }

    pub fn as_path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.0.0))
    }

    /// `base` joined with this path.
    pub fn under(&self, base: &Path) -> PathBuf {
        if self.is_root() {
            base.to_path_buf()
        } else {
            base.join(self.as_path())
        }
    }

    /// Path components, for sorting paths in NAR order (a directory's entries by
    /// name bytes, a directory before what it holds).
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0
            .0
            .split(|&b| b == b'/')
            .filter(|component| !component.is_empty())
    }
}

impl From<&str> for RelPath {
    fn from(text: &str) -> Self {
        RelPath(ByteString::from(text))
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            f.write_str(".")
        } else {
            self.0.fmt(f)
        }
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", self.0.escaped())
    }
}

/// A path inside a pyfod store, relative to the store's root (`trees/…/tree`),
/// so a manifest stays valid when the store moves. Only the store turns it into
/// a path on disk, after checking it stays inside and names what it says.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StorePath(pub String);

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b != b'\\' {
            out.push(b);
            rest = tail;
            continue;
        }
        match tail {
            [b'\\', tail @ ..] => {
                out.push(b'\\');
                rest = tail;
            }
            [b'x', hi, lo, tail @ ..] => {
                let hex = std::str::from_utf8(&[*hi, *lo])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad `\\x` escape in {text:?}"))?;
                out.push(hex);
                rest = tail;
            }
            _ => return Err(format!("a lone backslash in {text:?}; write `\\\\`")),
        }
    }
    Ok(out)
}

/// postcard writes `serialize_bytes` as a length and the bytes; this reads it back
/// without pulling in `serde_bytes`.
mod serde_bytes_compat {
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};
    use std::fmt;

    pub(super) struct Bytes(pub Vec<u8>);

    impl<'de> serde::Deserialize<'de> for Bytes {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_byte_buf(BytesVisitor)
        }
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Bytes;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bytes")
        }

        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Bytes, E> {
            Ok(Bytes(v.to_vec()))
        }

        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
            Ok(Bytes(v))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
            let mut out = Vec::new();
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(Bytes(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips() {
        for bytes in [
            &b"plain"[..],
            b"with space\nand newline",
            b"back\\slash",
            b"\xff\x80 not utf-8 \xc3",
            "caf\u{e9}".as_bytes(),
            b"\\x41 looks like an escape",
        ] {
            let text = escape(bytes);
            assert_eq!(unescape(&text).unwrap(), bytes, "{text}");
        }
        assert_eq!(escape(b"a\xffb"), "a\\xffb");
    }

    #[test]
    fn join_and_components() {
        let path = RelPath::root().join(b"lib").join(b"python3.11");
        assert_eq!(path.as_bytes(), b"lib/python3.11");
        assert_eq!(path.components().count(), 2);
        assert_eq!(RelPath::root().to_string(), ".");
    }
}
