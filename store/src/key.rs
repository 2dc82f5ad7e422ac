use std::fmt;

use pyfod_digest::{Sha256, Sha256Hasher};

/// The identity of a stage run: the same key means the same output.
///
/// `sha256(stage name, stage format version, input digest, options digest)`, each
/// field length-prefixed so no two different tuples can collide by concatenation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StageKey(pub Sha256);

impl StageKey {
    pub fn new(stage: &str, format_version: u32, input: &Sha256, options: &Sha256) -> Self {
        let mut hasher = Sha256Hasher::new();
        for field in [
            stage.as_bytes(),
            &format_version.to_le_bytes(),
            input.as_bytes(),
            options.as_bytes(),
        ] {
            hasher.update(&(field.len() as u64).to_le_bytes());
            hasher.update(field);
        }
        StageKey(hasher.finish())
    }
}

impl fmt::Display for StageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_changes_the_key() {
        let a = Sha256::of(b"a");
        let b = Sha256::of(b"b");
        let base = StageKey::new("fetch", 1, &a, &b);
        assert_eq!(base, StageKey::new("fetch", 1, &a, &b));
        assert_ne!(base, StageKey::new("install", 1, &a, &b));
        assert_ne!(base, StageKey::new("fetch", 2, &a, &b));
        assert_ne!(base, StageKey::new("fetch", 1, &b, &b));
        assert_ne!(base, StageKey::new("fetch", 1, &a, &a));
    }
}
