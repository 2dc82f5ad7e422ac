//! The store's promises: whole entries or none, under concurrency and kill -9.
//!
//! Cross-process cases re-run this test binary as the other process: a test named
//! `child_*` does its work only when `PYFOD_STORE_CHILD` is set, and is a no-op in
//! a normal run.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pyfod_digest::Sha256;
use pyfod_store::{EntryName, Found, Needs, Origin, Produced, StageKey, Store, StoreError};

const CHILD_ENV: &str = "PYFOD_STORE_CHILD";

fn key(n: u8) -> EntryName {
    EntryName::Stage(StageKey::new("install", 1, &Sha256::of(&[n]), "options"))
}

/// A tree of many files, so a publish takes a while.
fn big_tree(store: &Store, files: usize) -> Produced {
    let tree = store.temp_entry().unwrap();
    fs::create_dir(tree.path()).unwrap();
    for i in 0..files {
        fs::write(
            tree.path().join(format!("file-{i}")),
            format!("content {i}"),
        )
        .unwrap();
    }
    let index = store.index_tree(&tree).unwrap();
    Produced {
        manifest: b"manifest bytes".to_vec(),
        tree: Some((tree, index)),
        needs: Needs::default(),
    }
}

/// The stage output `key` of a tree of `files` files, made if the store lacks it.
fn publish_big(store: &Store, key: &EntryName, files: usize) -> Found {
    store
        .entry(key, || Ok::<_, StoreError>(big_tree(store, files)))
        .unwrap()
}

fn assert_whole(entry: &Found, files: usize) {
    assert_eq!(entry.manifest, b"manifest bytes");
    let tree = entry.tree.as_ref().unwrap();
    assert_eq!(fs::read_dir(tree).unwrap().count(), files);
    for i in 0..files {
        assert_eq!(
            fs::read_to_string(tree.join(format!("file-{i}"))).unwrap(),
            format!("content {i}")
        );
    }
}

fn spawn_child(test: &str, store: &Path, extra: &[(&str, &str)]) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, store)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        command.env(k, v);
    }
    command.spawn().unwrap()
}

fn tmp_is_empty(store: &Path) -> bool {
    fs::read_dir(store.join("tmp")).unwrap().count() == 0
}

#[test]
fn child_publish() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&root)).unwrap();
    // Start together: wait for the parent's go-file.
    let go = Path::new(&root).join("go");
    while !go.exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let entry = publish_big(&store, &key(1), 2000);
    assert_whole(&entry, 2000);
}

#[test]
fn two_processes_publishing_one_key_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap();
    let children: Vec<Child> = (0..2)
        .map(|_| spawn_child("child_publish", dir.path(), &[]))
        .collect();
    fs::write(dir.path().join("go"), b"").unwrap();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a publishing process failed");
    }
    let store = Store::open(dir.path()).unwrap();
    assert_whole(&store.lookup_entry(&key(1)).unwrap(), 2000);
    assert!(tmp_is_empty(dir.path()), "the losing copy was left in tmp/");
}

#[test]
fn threads_publishing_one_key_all_get_the_same_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let entries: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| publish_big(&store, &key(2), 50)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // One made it; the others waited for it and found it.
    assert_eq!(
        entries.iter().filter(|e| e.origin == Origin::Ran).count(),
        1
    );
    for entry in &entries {
        assert_eq!(entry.tree, entries[0].tree);
        assert_whole(entry, 50);
    }
    assert!(tmp_is_empty(dir.path()));
}

/// Writes part of a stage tree and a part of a blob, says so, then waits to be
/// killed.
#[test]
fn child_killed_mid_write() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&root)).unwrap();
    let tree = store.temp_entry().unwrap();
    fs::create_dir(tree.path()).unwrap();
    for i in 0..100 {
        fs::write(tree.path().join(format!("file-{i}")), b"partial").unwrap();
    }
    // A blob whose reader trickles forever.
    struct Trickle;
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            std::thread::sleep(Duration::from_millis(5));
            let n = buf.len().min(1024);
            buf[..n].fill(b'x');
            Ok(n)
        }
    }
    let slow = Trickle;
    std::thread::spawn(move || {
        let _ = store.add_blob(slow, None);
    });
    println!("ready");
    std::thread::sleep(Duration::from_secs(60));
    drop(tree);
}

#[test]
fn a_killed_writer_leaves_nothing_that_looks_finished() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap();
    let mut child = spawn_child("child_killed_mid_write", dir.path(), &[]);
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.contains("ready") && Instant::now() < deadline {
        let mut buf = [0u8; 64];
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        seen.contains("ready"),
        "the child did not start writing: {seen:?}"
    );
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();
    assert!(
        !tmp_is_empty(dir.path()),
        "the child should have left work behind"
    );

    // Nothing under blobs/ or stages/, and the next open clears tmp/.
    let store = Store::open(dir.path()).unwrap();
    assert!(tmp_is_empty(dir.path()), "dead work was not swept");
    assert_eq!(
        fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(fs::read_dir(dir.path().join("stages")).unwrap().count(), 0);
    assert!(store.lookup_entry(&key(1)).is_none());
    // And the store works as before.
    assert_whole(&publish_big(&store, &key(1), 10), 10);
}

#[test]
fn a_live_writers_work_is_not_swept() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let work = store.temp_entry().unwrap();
    fs::create_dir(work.path()).unwrap();
    fs::write(work.path().join("half"), b"x").unwrap();
    Store::open(dir.path()).unwrap();
    assert!(work.path().join("half").exists());
    drop(work);
    assert!(tmp_is_empty(dir.path()));
}

#[test]
fn named_work_areas_keep_their_path_and_are_never_shared() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // What a killed writer left: its unlocked lock file and half its work.
    let tmp = dir.path().join("tmp");
    fs::write(tmp.join("lxml-6.0.0-0.lock"), b"").unwrap();
    fs::create_dir(tmp.join("lxml-6.0.0-0")).unwrap();
    fs::write(tmp.join("lxml-6.0.0-0/stale.o"), b"x").unwrap();

    let first = store.named_temp_entry("lxml-6.0.0").unwrap();
    assert_eq!(first.path(), tmp.join("lxml-6.0.0-0"));
    assert!(!first.path().exists(), "the dead writer's work is removed");
    let second = store.named_temp_entry("lxml-6.0.0").unwrap();
    assert_eq!(second.path(), tmp.join("lxml-6.0.0-1"));
    drop(first);
    let again = store.named_temp_entry("lxml-6.0.0").unwrap();
    assert_eq!(again.path(), tmp.join("lxml-6.0.0-0"));
    drop((second, again));
    assert!(tmp_is_empty(dir.path()));
    // A name from a lock is one file name, never a path out of tmp/.
    assert!(store.named_temp_entry("../escape").is_err());
    assert!(tmp_is_empty(dir.path()));
}

#[test]
fn blobs_are_verified_before_they_enter() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let digest = store.add_blob(&b"wheel bytes"[..], None).unwrap();
    assert_eq!(digest, Sha256::of(b"wheel bytes"));
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), b"wheel bytes");
    assert!(store.has_blob(&digest, 11));
    assert!(!store.has_blob(&digest, 12));
    // Again: same digest, nothing else appears.
    store.add_blob(&b"wheel bytes"[..], Some(&digest)).unwrap();

    let wrong = Sha256::of(b"something else");
    let err = store.add_blob(&b"tampered"[..], Some(&wrong)).unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { expected, .. } if expected == wrong));
    assert!(err.to_string().contains(&wrong.to_hex()));
    assert!(!store.has_blob(&Sha256::of(b"tampered"), 8));
    assert_eq!(
        fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .count(),
        1
    );
    assert!(tmp_is_empty(dir.path()));
}

#[test]
fn a_store_of_another_layout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("VERSION"), "99\n").unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("layout \"99\""), "{err}");
}

#[test]
fn named_locks_serialise_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let order = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let guard = store.lock("key").unwrap();
        let handle = scope.spawn(|| {
            let _second = store.lock("key").unwrap();
            order.lock().unwrap().push("second");
        });
        std::thread::sleep(Duration::from_millis(50));
        order.lock().unwrap().push("first");
        drop(guard);
        handle.join().unwrap();
    });
    assert_eq!(*order.lock().unwrap(), ["first", "second"]);
}

/// A stage whose settings say whether its output names the store's path.
struct Located;

impl pyfod_store::Stage for Located {
    const STAGE: pyfod_manifest::Stage = pyfod_manifest::Stage::Install;
    const FORMAT_VERSION: u32 = 1;
    type Input = ();
    type Settings = bool;
    type Output = pyfod_manifest::HashManifest;
    type Error = StoreError;

    fn input_digest(_: &()) -> Sha256 {
        Sha256::of(b"the same input")
    }

    fn located_in_store(located: &bool) -> bool {
        *located
    }

    fn run(_: &(), _: &bool, work: &pyfod_store::Work<'_>) -> Result<Produced, StoreError> {
        let manifest = pyfod_manifest::HashManifest {
            nar_sha256: Sha256::of(b"tree"),
            nar_size: 0,
            entries: Vec::new(),
            inputs: Vec::new(),
        };
        Ok(Produced::manifest(work.encode(&manifest), Needs::default()))
    }
}

#[test]
fn an_output_made_for_where_the_store_is_is_keyed_by_that_place() {
    let tmp = tempfile::tempdir().unwrap();
    let here = Store::open(&tmp.path().join("here")).unwrap();
    let there = Store::open(&tmp.path().join("there")).unwrap();
    let key = |store: &Store, located: bool| store.run_stage::<Located>(&(), &located).unwrap().key;
    assert_eq!(key(&here, false), key(&there, false));
    assert_ne!(key(&here, true), key(&there, true));
    assert_eq!(key(&here, true), key(&here, true));
}
