//! Nothing in the store is used unchecked: damage is found, reported, evicted and
//! made again; manifests cannot point out of the store; gc and verify keep what
//! is needed and drop what is not.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use pyfod_digest::Sha256;
use pyfod_manifest::{StorePath, StoredTree};
use pyfod_store::gc::GcOptions;
use pyfod_store::{EntryName, Needs, Origin, Produced, StageKey, Store, StoreError};

fn name(n: u8) -> EntryName {
    EntryName::Stage(StageKey::new("scrub", 1, &Sha256::of(&[n]), &()))
}

/// A stage entry with a small tree and one blob it needs.
fn make(store: &Store, blob: &[u8]) -> Produced {
    let digest = store.add_blob_bytes(blob).unwrap();
    let tree = store.temp_entry().unwrap();
    fs::create_dir_all(tree.path().join("lib")).unwrap();
    fs::write(tree.path().join("lib/mod.py"), b"x = 1\n").unwrap();
    fs::write(tree.path().join("pyvenv.cfg"), b"home = /usr/bin\n").unwrap();
    let index = store.index_tree(&tree).unwrap();
    Produced {
        manifest: b"m".to_vec(),
        tree: Some((tree, index)),
        needs: Needs {
            blobs: vec![(digest, blob.len() as u64)],
            trees: vec![],
        },
    }
}

fn get(store: &Store, n: u8) -> pyfod_store::Found {
    store
        .entry(&name(n), || Ok::<_, StoreError>(make(store, b"wheel")))
        .unwrap()
}

fn writable(path: &Path) {
    let mode = fs::metadata(path).unwrap().permissions().mode();
    fs::set_permissions(path, fs::Permissions::from_mode(mode | 0o200)).unwrap();
}

#[test]
fn a_changed_tree_is_found_evicted_and_made_again() {
    type Damage = fn(&Path);
    let cases: [(&str, Damage); 3] = [
        ("changed", |t| {
            fs::write(t.join("lib/mod.py"), b"x = 2\n").unwrap();
        }),
        ("deleted", |t| {
            fs::remove_file(t.join("pyvenv.cfg")).unwrap();
        }),
        ("added", |t| {
            fs::write(t.join("lib/evil.pth"), b"import os\n").unwrap();
        }),
    ];
    for (what, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = get(&store, 1);
        assert_eq!(first.origin, Origin::Ran);
        assert_eq!(get(&store, 1).origin, Origin::Cached, "{what}");
        damage(first.tree.as_ref().unwrap());
        let again = get(&store, 1);
        assert_eq!(again.origin, Origin::Ran, "{what}: the damage went unseen");
        assert_eq!(
            fs::read(again.tree.unwrap().join("lib/mod.py")).unwrap(),
            b"x = 1\n",
            "{what}"
        );
    }
}

#[test]
fn a_damaged_blob_an_entry_needs_makes_the_entry_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    get(&store, 2);
    let blob = store.blob_path(&Sha256::of(b"wheel"));
    writable(&blob);
    fs::write(&blob, b"whEel").unwrap();
    // Same size: only the moved mtime gives it away, then the bytes.
    assert!(!store.has_blob(&Sha256::of(b"wheel"), 5));
    assert_eq!(get(&store, 2).origin, Origin::Ran);
    assert_eq!(fs::read(&blob).unwrap(), b"wheel");
    let error = store
        .verified_blob(&Sha256::of(b"other"), 5)
        .unwrap_err()
        .to_string();
    assert!(error.contains("is missing"), "{error}");
}

#[test]
fn a_manifest_cannot_lead_out_of_the_store_or_to_another_tree() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let found = get(&store, 3);
    let hash = found.index.as_ref().unwrap().nar_sha256();
    let good = StoredTree {
        store_path: name(3).tree_path(),
        nar_sha256: hash,
    };
    assert_eq!(store.verified_tree(&good).unwrap(), found.tree.unwrap());
    for path in [
        "../../etc",
        "/etc",
        "stages/../../etc/tree",
        "trees/../tree",
        "blobs/sha256/x",
        "stages/not-a-key/tree",
        "trees/x/tree/../../..",
    ] {
        let bad = StoredTree {
            store_path: StorePath(path.into()),
            nar_sha256: hash,
        };
        let error = store.verified_tree(&bad).unwrap_err().to_string();
        assert!(
            error.contains("not the tree of a store entry"),
            "{path}: {error}"
        );
    }
    let other_hash = StoredTree {
        nar_sha256: Sha256::of(b"not it"),
        ..good
    };
    let error = store.verified_tree(&other_hash).unwrap_err().to_string();
    assert!(
        error.contains("the manifest says its NAR hash is"),
        "{error}"
    );
}

#[test]
fn verify_finds_what_the_quick_check_cannot_and_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let found = get(&store, 4);
    let file = found.tree.unwrap().join("lib/mod.py");
    writable(&file);
    fs::write(&file, b"x = 9\n").unwrap();
    pyfod_store::index::seal(&file).unwrap();
    assert_eq!(get(&store, 4).origin, Origin::Cached, "same size and mtime");
    let report = store.verify().unwrap();
    assert_eq!(report.blobs, 1);
    assert_eq!(report.entries, 1);
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert!(report.problems[0].what.ends_with("/tree/lib/mod.py"));
    assert_eq!(get(&store, 4).origin, Origin::Ran);
    let full = Store::open(dir.path()).unwrap().verifying_everything(true);
    assert!(store.verify().unwrap().problems.is_empty());
    assert_eq!(
        full.entry(&name(4), || Ok::<_, StoreError>(make(&full, b"wheel")))
            .unwrap()
            .origin,
        Origin::Cached
    );
}

#[test]
fn gc_removes_old_entries_and_the_blobs_only_they_needed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .entry(&name(5), || Ok::<_, StoreError>(make(&store, b"old")))
            .unwrap();
        store
            .entry(&name(6), || Ok::<_, StoreError>(make(&store, b"new")))
            .unwrap();
        store.add_blob_bytes(b"orphan").unwrap();
        // Entry 5 was last used long ago.
        let old = std::time::SystemTime::now() - Duration::from_secs(40 * 86_400);
        fs::File::open(dir.path().join(name(5).relative()))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let report = pyfod_store::gc::gc(
        dir.path(),
        &GcOptions {
            older_than: Some(Duration::from_secs(30 * 86_400)),
            max_size: None,
        },
    )
    .unwrap();
    assert_eq!(report.entries_removed, 1);
    assert_eq!(report.blobs_removed, 2, "old's blob and the orphan");
    let store = Store::open(dir.path()).unwrap();
    assert!(store.lookup_entry(&name(5)).is_none());
    assert!(store.lookup_entry(&name(6)).is_some());
    assert!(store.has_blob(&Sha256::of(b"new"), 3));
    assert!(!store.has_blob(&Sha256::of(b"old"), 3));
    // --max-size 0 empties it.
    drop(store);
    pyfod_store::gc::gc(
        dir.path(),
        &GcOptions {
            older_than: None,
            max_size: Some(0),
        },
    )
    .unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(store.lookup_entry(&name(6)).is_none());
    assert_eq!(
        fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn gc_waits_for_a_running_build() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    get(&store, 7);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let handle = scope.spawn(|| {
            pyfod_store::gc::gc(
                dir.path(),
                &GcOptions {
                    older_than: None,
                    max_size: Some(0),
                },
            )
            .unwrap();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !done.load(std::sync::atomic::Ordering::SeqCst),
            "gc ran under a build"
        );
        assert!(store.lookup_entry(&name(7)).is_some());
        drop(store);
        handle.join().unwrap();
    });
    assert!(done.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn a_store_of_the_older_layout_keeps_its_blobs_and_drops_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["blobs/sha256", "stages/abc", "trees/wheel-x"] {
        fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let blob = dir
        .path()
        .join("blobs/sha256")
        .join(Sha256::of(b"b").to_hex());
    fs::write(&blob, b"b").unwrap();
    fs::write(dir.path().join("VERSION"), "1\n").unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("VERSION")).unwrap(),
        "2\n"
    );
    assert_eq!(fs::read_dir(dir.path().join("stages")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(dir.path().join("trees")).unwrap().count(), 0);
    // Not sealed yet: checked by its bytes, then sealed.
    assert!(store.has_blob(&Sha256::of(b"b"), 1));
    assert!(pyfod_store::index::is_sealed(&blob.metadata().unwrap()));
}
