//! Cache keys: one stable, documented encoding of everything that can change a
//! stage's output.
//!
//! A key is the SHA-256 of the *key encoding* of
//! `("pyfod-key/1", kind, format version, input digest, settings)`, where the
//! settings are any `serde::Serialize` value. The encoding is pyfod's own, so it
//! changes only when this file does:
//!
//! | value | bytes |
//! |---|---|
//! | bool | `b` then 0 or 1 |
//! | unsigned integer | `u` then u64 LE (`U` and u128 LE for u128) |
//! | signed integer | `i` then i64 LE (`I` and i128 LE for i128) |
//! | float | `f` then the f64's bits, LE |
//! | string, char | `s`, u64 LE length, UTF-8 bytes |
//! | bytes | `y`, u64 LE length, bytes |
//! | none / some | `n` / `o` then the value |
//! | unit, unit struct | `0` |
//! | newtype struct | the inner value, as if unwrapped |
//! | enum variant | `v`, the variant *name* as a string, then its data (nothing, a value, a tuple or a struct) |
//! | sequence, tuple | `l` or `t`, the items, `e` |
//! | map | `m`, the entries (key then value) sorted by their encoded bytes, `e` |
//! | struct | `r`, the fields sorted by name, each its name as a string then its value, `e` |
//!
//! Every value starts with a tag byte and is self-delimiting, so no two different
//! values share an encoding. Struct fields and map entries are sorted, so the
//! declaration order of a settings struct and the iteration order of a map never
//! change a key; a renamed field or variant does (a miss, never a stale hit).
//! Fields marked `#[serde(skip)]` are not in the key: use it only for settings
//! that cannot change the output (thread counts, progress output), and say so.

use std::fmt;

use pyfod_digest::Sha256;
use serde::Serialize;
use serde::ser;

/// The identity of a stage run (or of a smaller piece of cached work): the same
/// key means the same output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StageKey(pub Sha256);

impl StageKey {
    /// The key of `kind` (a stage name, or a piece of work like `build-wheel`) at
    /// `format_version`, made from `input` (the digest of what it reads) and
    /// `settings` (everything else that can change its output).
    pub fn new<S: Serialize + ?Sized>(
        kind: &str,
        format_version: u32,
        input: &Sha256,
        settings: &S,
    ) -> StageKey {
        StageKey(digest(&(
            "pyfod-key/1",
            kind,
            format_version,
            input.as_bytes(),
            settings,
        )))
    }

    /// Parses the hex form [`Display`](fmt::Display) writes.
    pub fn from_hex(hex: &str) -> Option<StageKey> {
        Sha256::from_hex(hex).map(StageKey)
    }
}

impl fmt::Display for StageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.to_hex())
    }
}

/// The SHA-256 of a value's key encoding.
pub fn digest<S: Serialize + ?Sized>(value: &S) -> Sha256 {
    Sha256::of(&encode(value))
}

/// A value's key encoding (see the module documentation).
pub fn encode<S: Serialize + ?Sized>(value: &S) -> Vec<u8> {
    let mut out = Vec::new();
    value
        .serialize(Encoder { out: &mut out })
        .expect("the key encoding never fails");
    out
}

/// For `#[serde(serialize_with = "pyfod_store::key::path_bytes")]`: a path as
/// its bytes, which any path has (serde's own impl refuses paths that are not
/// UTF-8).
pub fn path_bytes<S: serde::Serializer>(
    path: &std::path::Path,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    use std::os::unix::ffi::OsStrExt;
    serializer.serialize_bytes(path.as_os_str().as_bytes())
}

/// A path in a key, as its bytes (see [`path_bytes`]).
#[derive(Debug, Clone, Copy)]
pub struct PathKey<'a>(pub &'a std::path::Path);

impl serde::Serialize for PathKey<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        path_bytes(self.0, serializer)
    }
}

/// [`path_bytes`] for an optional path.
pub fn option_path_bytes<S: serde::Serializer>(
    path: &Option<std::path::PathBuf>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    match path {
        Some(path) => serializer.serialize_some(&PathBytes(path)),
        None => serializer.serialize_none(),
    }
}

struct PathBytes<'a>(&'a std::path::Path);

impl Serialize for PathBytes<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        path_bytes(self.0, serializer)
    }
}

#[derive(Debug)]
struct EncodeError(String);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EncodeError {}

impl ser::Error for EncodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        EncodeError(msg.to_string())
    }
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl Encoder<'_> {
    fn string(&mut self, text: &[u8]) {
        self.out.push(b's');
        self.out
            .extend_from_slice(&(text.len() as u64).to_le_bytes());
        self.out.extend_from_slice(text);
    }

    fn variant(&mut self, name: &str) {
        self.out.push(b'v');
        self.string(name.as_bytes());
    }
}

type Result<T = ()> = std::result::Result<T, EncodeError>;

impl<'a> ser::Serializer for Encoder<'a> {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = Items<'a>;
    type SerializeTuple = Items<'a>;
    type SerializeTupleStruct = Items<'a>;
    type SerializeTupleVariant = Items<'a>;
    type SerializeMap = Entries<'a>;
    type SerializeStruct = Fields<'a>;
    type SerializeStructVariant = Fields<'a>;

    fn serialize_bool(self, v: bool) -> Result {
        self.out.extend_from_slice(&[b'b', u8::from(v)]);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result {
        self.out.push(b'i');
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result {
        self.out.push(b'I');
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result {
        self.out.push(b'u');
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result {
        self.out.push(b'U');
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result {
        self.out.push(b'f');
        self.out.extend_from_slice(&v.to_bits().to_le_bytes());
        Ok(())
    }
    fn serialize_char(mut self, v: char) -> Result {
        self.string(v.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }
    fn serialize_str(mut self, v: &str) -> Result {
        self.string(v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result {
        self.out.push(b'y');
        self.out.extend_from_slice(&(v.len() as u64).to_le_bytes());
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> Result {
        self.out.push(b'n');
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result {
        self.out.push(b'o');
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.out.push(b'0');
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.serialize_unit()
    }
    fn serialize_unit_variant(mut self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.variant(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        mut self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        self.variant(variant);
        value.serialize(self)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Items<'a>> {
        self.out.push(b'l');
        Ok(Items { out: self.out })
    }
    fn serialize_tuple(self, _len: usize) -> Result<Items<'a>> {
        self.out.push(b't');
        Ok(Items { out: self.out })
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Items<'a>> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        mut self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Items<'a>> {
        self.variant(variant);
        self.out.push(b't');
        Ok(Items { out: self.out })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Entries<'a>> {
        self.out.push(b'm');
        Ok(Entries {
            out: self.out,
            entries: Vec::new(),
            key: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Fields<'a>> {
        self.out.push(b'r');
        Ok(Fields {
            out: self.out,
            fields: Vec::new(),
        })
    }
    fn serialize_struct_variant(
        mut self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Fields<'a>> {
        self.variant(variant);
        self.out.push(b'r');
        Ok(Fields {
            out: self.out,
            fields: Vec::new(),
        })
    }
}

/// The items of a sequence or tuple, written in order, then `e`.
struct Items<'a> {
    out: &'a mut Vec<u8>,
}

impl Items<'_> {
    fn item<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        value.serialize(Encoder { out: self.out })
    }
    fn end(self) -> Result {
        self.out.push(b'e');
        Ok(())
    }
}

impl ser::SerializeSeq for Items<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.item(value)
    }
    fn end(self) -> Result {
        Items::end(self)
    }
}

impl ser::SerializeTuple for Items<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.item(value)
    }
    fn end(self) -> Result {
        Items::end(self)
    }
}

impl ser::SerializeTupleStruct for Items<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.item(value)
    }
    fn end(self) -> Result {
        Items::end(self)
    }
}

impl ser::SerializeTupleVariant for Items<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.item(value)
    }
    fn end(self) -> Result {
        Items::end(self)
    }
}

/// A map's entries, each encoded apart and written sorted, then `e`.
struct Entries<'a> {
    out: &'a mut Vec<u8>,
    entries: Vec<Vec<u8>>,
    key: Option<Vec<u8>>,
}

impl ser::SerializeMap for Entries<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result {
        self.key = Some(encode(key));
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        let mut entry = self
            .key
            .take()
            .ok_or_else(|| <EncodeError as ser::Error>::custom("a map value without a key"))?;
        value.serialize(Encoder { out: &mut entry })?;
        self.entries.push(entry);
        Ok(())
    }
    fn end(mut self) -> Result {
        self.entries.sort();
        for entry in &self.entries {
            self.out.extend_from_slice(entry);
        }
        self.out.push(b'e');
        Ok(())
    }
}

/// A struct's fields, each encoded apart and written sorted by name, then `e`.
struct Fields<'a> {
    out: &'a mut Vec<u8>,
    fields: Vec<(&'static str, Vec<u8>)>,
}

impl Fields<'_> {
    fn field<T: ?Sized + Serialize>(&mut self, name: &'static str, value: &T) -> Result {
        self.fields.push((name, encode(value)));
        Ok(())
    }
    fn end(mut self) -> Result {
        self.fields.sort_by(|a, b| a.0.cmp(b.0));
        for (name, value) in &self.fields {
            Encoder { out: self.out }.string(name.as_bytes());
            self.out.extend_from_slice(value);
        }
        self.out.push(b'e');
        Ok(())
    }
}

impl ser::SerializeStruct for Fields<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, name: &'static str, value: &T) -> Result {
        self.field(name, value)
    }
    fn end(self) -> Result {
        Fields::end(self)
    }
}

impl ser::SerializeStructVariant for Fields<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, name: &'static str, value: &T) -> Result {
        self.field(name, value)
    }
    fn end(self) -> Result {
        Fields::end(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::Serialize;

    use super::*;

    #[test]
    fn every_field_changes_the_key() {
        let a = Sha256::of(b"a");
        let b = Sha256::of(b"b");
        let base = StageKey::new("fetch", 1, &a, &"x");
        assert_eq!(base, StageKey::new("fetch", 1, &a, &"x"));
        assert_ne!(base, StageKey::new("install", 1, &a, &"x"));
        assert_ne!(base, StageKey::new("fetch", 2, &a, &"x"));
        assert_ne!(base, StageKey::new("fetch", 1, &b, &"x"));
        assert_ne!(base, StageKey::new("fetch", 1, &a, &"y"));
        assert_eq!(StageKey::from_hex(&base.to_string()), Some(base));
        assert_eq!(StageKey::from_hex("abc"), None);
    }

    #[derive(Serialize)]
    struct Ab {
        a: Vec<String>,
        b: Option<u32>,
    }

    #[derive(Serialize)]
    struct Ba {
        b: Option<u32>,
        a: Vec<String>,
    }

    #[test]
    fn field_order_and_map_order_do_not_matter() {
        let one = Ab {
            a: vec!["x".into()],
            b: Some(1),
        };
        let two = Ba {
            b: Some(1),
            a: vec!["x".into()],
        };
        assert_eq!(encode(&one), encode(&two));
        let mut hash = HashMap::new();
        let mut tree = BTreeMap::new();
        for i in 0..50 {
            hash.insert(format!("k{i}"), i);
            tree.insert(format!("k{i}"), i);
        }
        assert_eq!(encode(&hash), encode(&tree));
    }

    #[test]
    fn no_two_values_share_an_encoding() {
        // Boundaries between items cannot be moved.
        assert_ne!(encode(&["ab", "c"]), encode(&["a", "bc"]));
        assert_ne!(
            encode(&vec![vec![1u8], vec![]]),
            encode(&vec![vec![], vec![1u8]])
        );
        // None, an empty string and an empty list differ.
        assert_ne!(encode(&None::<String>), encode(&Some(String::new())));
        assert_ne!(
            encode(&Vec::<String>::new()),
            encode(&Some(Vec::<String>::new()))
        );
        // A renamed field changes the key.
        #[derive(Serialize)]
        struct Ac {
            a: Vec<String>,
            c: Option<u32>,
        }
        let ab = Ab { a: vec![], b: None };
        let ac = Ac { a: vec![], c: None };
        assert_ne!(encode(&ab), encode(&ac));
        // Integers of different widths with one value agree; signs do not.
        assert_eq!(encode(&1u8), encode(&1u64));
        assert_ne!(encode(&1u64), encode(&1i64));
    }

    #[test]
    fn enums_are_encoded_by_variant_name() {
        #[derive(Serialize)]
        enum First {
            A,
            B(u8),
        }
        #[derive(Serialize)]
        enum Second {
            B(u8),
            A,
        }
        assert_eq!(encode(&First::A), encode(&Second::A));
        assert_eq!(encode(&First::B(3)), encode(&Second::B(3)));
        assert_ne!(encode(&First::A), encode(&First::B(0)));
    }

    #[test]
    fn the_encoding_is_pinned() {
        // A change here changes every cache key: bump "pyfod-key/1" with it.
        assert_eq!(
            encode(&Ab {
                a: vec!["x".into()],
                b: Some(1)
            }),
            b"rs\x01\0\0\0\0\0\0\0als\x01\0\0\0\0\0\0\0xes\x01\0\0\0\0\0\0\0bou\x01\0\0\0\0\0\0\0e"
        );
    }
}
