//! A NAR read back into a tree: what `hash_path` and `nix-store --dump` write
//! comes back whole, and every malformed or hostile NAR is refused, writing
//! nothing outside its destination.

use std::path::Path;

use pyfod_nar::{HashSettings, NarWriter, UnpackError, hash_path, unpack};
use pyfod_tests::{oracle, random_tree};

fn nar_of(path: &Path) -> Vec<u8> {
    let mut nar = Vec::new();
    hash_path(path, &HashSettings::default(), Some(&mut nar)).unwrap();
    nar
}

#[test]
fn random_trees_come_back_with_the_same_nar() {
    for seed in 0..40 {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        random_tree(&src, seed).unwrap();
        let nar = nar_of(&src);
        let out = tmp.path().join("out");
        let unpacked = unpack(nar.as_slice(), &out, u64::MAX).unwrap();
        assert!(unpacked.files > 0);
        assert!(nar_of(&out) == nar, "seed {seed}: the NAR changed");
    }
}

#[test]
fn what_nix_store_dump_writes_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    random_tree(&src, 7).unwrap();
    let Some(nar) = oracle::nix_store_dump(&src) else {
        oracle::announce_skip("what_nix_store_dump_writes_comes_back", "nix-store");
        return;
    };
    let out = tmp.path().join("out");
    unpack(nar.as_slice(), &out, u64::MAX).unwrap();
    assert!(nar_of(&out) == nar);
}

/// A NAR of one directory holding `entries` (name, contents), written token by
/// token so that names a tree on disk cannot have can be tried.
fn directory_nar(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut nar = NarWriter::new(Vec::new()).unwrap();
    nar.start_directory().unwrap();
    for (name, data) in entries {
        nar.start_entry(name).unwrap();
        nar.start_regular(false, data.len() as u64).unwrap();
        nar.contents(data).unwrap();
        nar.end_regular().unwrap();
        nar.end_entry().unwrap();
    }
    nar.end_directory().unwrap();
    nar.finish().unwrap()
}

fn refused(nar: &[u8], limit: u64) -> UnpackError {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("d").join("out");
    std::fs::create_dir(tmp.path().join("d")).unwrap();
    let error = unpack(nar, &out, limit).expect_err("a hostile NAR was accepted");
    // Nothing escaped: the only things in the temporary directory are ours.
    let outside: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("d")], "{error}");
    error
}

#[test]
fn hostile_names_order_and_framing_are_refused() {
    for name in [&b".."[..], b".", b"", b"a/b", b"../x", b"x\0"] {
        let error = refused(&directory_nar(&[(name, b"boom")]), u64::MAX);
        assert!(
            error.to_string().contains("not a plain file name"),
            "{error}"
        );
    }
    let twice = directory_nar(&[(b"a", b"1"), (b"a", b"2")]);
    assert!(
        refused(&twice, u64::MAX)
            .to_string()
            .contains("out of order or twice")
    );
    let unsorted = directory_nar(&[(b"b", b"1"), (b"a", b"2")]);
    assert!(
        refused(&unsorted, u64::MAX)
            .to_string()
            .contains("out of order")
    );

    let good = directory_nar(&[(b"a", b"hello")]);
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[0; 8]);
    assert!(
        refused(&trailing, u64::MAX)
            .to_string()
            .contains("follow the end")
    );
    let truncated = &good[..good.len() - 8];
    assert!(
        refused(truncated, u64::MAX)
            .to_string()
            .contains("ends early")
    );
    assert!(matches!(
        refused(&good, 4),
        UnpackError::TooLarge { limit: 4 }
    ));

    // "hello" is padded by three zero bytes; make one of them not zero.
    let at = good.windows(5).position(|w| w == b"hello").unwrap() + 5;
    let mut padded = good.clone();
    padded[at] = 1;
    assert!(refused(&padded, u64::MAX).to_string().contains("padding"));

    // A length no token can have is refused before anything is allocated.
    let mut huge = good.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(refused(&huge, u64::MAX).to_string().contains("token"));
}

#[test]
fn deep_nesting_is_refused() {
    let mut nar = NarWriter::new(Vec::new()).unwrap();
    for _ in 0..300 {
        nar.start_directory().unwrap();
        nar.start_entry(b"d").unwrap();
    }
    nar.symlink(b"x").unwrap();
    for _ in 0..300 {
        nar.end_entry().unwrap();
        nar.end_directory().unwrap();
    }
    let nar = nar.finish().unwrap();
    assert!(refused(&nar, u64::MAX).to_string().contains("deeper"));
}
