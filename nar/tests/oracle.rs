//! The Nix oracle: hundreds of seeded random trees, each hashed by pyfod and by
//! `nix-hash --type sha256`. Any difference is a bug in pyfod.

use pyfod_digest::HashFormat;
use pyfod_nar::{HashSettings, hash_path};
use pyfod_tests::{oracle, random_tree};

const TREES: u64 = 300;

#[test]
fn random_trees_hash_as_nix_hash_does() {
    if !oracle::tool_available("nix-hash", "random_trees_hash_as_nix_hash_does") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut kinds = [0usize; 3];
    for seed in 0..TREES {
        let root = tmp.path().join(format!("tree-{seed}"));
        random_tree(&root, seed).unwrap();
        let meta = root.symlink_metadata().unwrap();
        kinds[if meta.is_dir() {
            0
        } else if meta.is_file() {
            1
        } else {
            2
        }] += 1;
        let settings = HashSettings {
            readers: 1 + (seed as usize % 4),
            read_ahead: if seed % 3 == 0 { 4096 } else { 32 << 20 },
            record_entries: seed % 2 == 0,
            skip_names: Vec::new(),
            skip_special: false,
        };
        let ours = hash_path(&root, &settings, None).unwrap();
        let theirs = oracle::nix_hash(&root).unwrap();
        assert_eq!(
            ours.nar_sha256.format(HashFormat::Nix32),
            theirs,
            "seed {seed}: pyfod and nix-hash disagree on {}",
            root.display()
        );
    }
    // The generator must really cover all three kinds of root.
    assert!(kinds.iter().all(|&n| n > 0), "root kinds: {kinds:?}");
}
