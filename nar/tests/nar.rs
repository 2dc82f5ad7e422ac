//! NAR bytes and hashes of real trees on disk: the vectors from REFERENCE.md, the
//! cases a NAR must get right, and the errors that name their path.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::{Duration, SystemTime};

use pyfod_manifest::{NarNode, RelPath};
use pyfod_nar::{HashError, HashSettings, hash_path};
use pyfod_tests::{TRICKY_NAMES, oracle};

fn sri(path: &Path) -> String {
    hash(path).0
}

fn hash(path: &Path) -> (String, u64) {
    let hash = hash_path(path, &HashSettings::default(), None).unwrap();
    (hash.nar_sha256.to_sri(), hash.nar_size)
}

fn write(path: &Path, data: &[u8], mode: u32) {
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn reference_vectors() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    write(&t.join("empty"), b"", 0o644);
    assert_eq!(
        hash(&t.join("empty")),
        (
            "sha256-d6xi4mKdjkX2JFicDIv5niSzpyI0m/Hnm8GGAIU04kY=".into(),
            112
        )
    );

    write(&t.join("script"), b"#!/bin/sh\necho hi\n", 0o755);
    assert_eq!(
        hash(&t.join("script")),
        (
            "sha256-XgrM8Czt7eXkEZ/6FeeeeaX7H7m8Q8PUNPMyJ6FEd6A=".into(),
            168
        )
    );

    symlink(
        "/nix/store/00000000000000000000000000000000-x/y",
        t.join("link"),
    )
    .unwrap();
    assert_eq!(
        hash(&t.join("link")),
        (
            "sha256-m/4GWrFryWJWi3AQ99ap7JBxUGk2gVoOoUoIGW+IjmY=".into(),
            160
        )
    );

    fs::create_dir(t.join("emptydir")).unwrap();
    assert_eq!(
        hash(&t.join("emptydir")),
        (
            "sha256-pQpattmS9VmO3ZIQUFn66az8GSmB4IvYhTTCFn6SUmo=".into(),
            96
        )
    );

    let dir = t.join("dir");
    fs::create_dir(&dir).unwrap();
    write(&dir.join("f"), b"data", 0o600);
    write(&dir.join("x"), b"run", 0o700);
    let expected = (
        "sha256-73KnUCGUddk7yNsl12F4kwXasq3T07hLXTvk5BupEZo=".to_owned(),
        512,
    );
    assert_eq!(hash(&dir), expected);

    // Only the owner's execute bit counts; other mode bits and times do not.
    fs::set_permissions(dir.join("f"), fs::Permissions::from_mode(0o677)).unwrap();
    fs::set_permissions(dir.join("x"), fs::Permissions::from_mode(0o744)).unwrap();
    let long_ago = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400);
    for name in ["f", "x"] {
        fs::File::options()
            .write(true)
            .open(dir.join(name))
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
    }
    assert_eq!(hash(&dir), expected);
}

#[test]
fn entries_sort_by_unsigned_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let order: &[&[u8]] = &[
        b"0", b"A", b"B", b"a", b"a-b", b"a.b", b"aa", b"z", b"~", b"\x7f", b"\x80", b"\xff",
    ];
    // Create them in reverse, so directory order cannot help.
    for name in order.iter().rev() {
        fs::write(tmp.path().join(std::ffi::OsStr::from_bytes(name)), name).unwrap();
    }
    let settings = HashSettings {
        record_entries: true,
        ..HashSettings::default()
    };
    let hash = hash_path(tmp.path(), &settings, None).unwrap();
    let names: Vec<&[u8]> = hash.entries[1..]
        .iter()
        .map(|e| e.path.as_bytes())
        .collect();
    assert_eq!(names, order);
    if let Some(nix) = oracle::nix_hash(tmp.path()) {
        assert_eq!(hash.nar_sha256.format(pyfod_digest::HashFormat::Nix32), nix);
    }
}

#[test]
fn nar_bytes_equal_nix_store_dump_for_tricky_names_and_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    for (i, name) in TRICKY_NAMES.iter().enumerate() {
        let path = root.join(std::ffi::OsStr::from_bytes(name));
        match i % 4 {
            0 => write(&path, &vec![b'x'; i * 13], 0o644),
            1 => write(&path, name, 0o755),
            2 => symlink(std::ffi::OsStr::from_bytes(name), &path).unwrap(),
            _ => {
                fs::create_dir(&path).unwrap();
                write(&path.join("inner"), b"", 0o600);
                symlink("../../dangling", path.join("up")).unwrap();
            }
        }
    }
    symlink("/absolute/target", root.join("abs")).unwrap();
    symlink("relative/target", root.join("rel")).unwrap();
    fs::create_dir_all(root.join("deep/er/and/deeper")).unwrap();

    let nar_path = tmp.path().join("out.nar");
    let mut nar = fs::File::create(&nar_path).unwrap();
    let hash = hash_path(&root, &HashSettings::default(), Some(&mut nar)).unwrap();
    drop(nar);
    let ours = fs::read(&nar_path).unwrap();
    assert_eq!(ours.len() as u64, hash.nar_size);
    assert_eq!(pyfod_digest::Sha256::of(&ours), hash.nar_sha256);
    match oracle::nix_store_dump(&root) {
        Some(theirs) => assert!(ours == theirs, "NAR bytes differ from nix-store --dump"),
        None => oracle::announce_skip("nar_bytes_equal_nix_store_dump", "nix-store"),
    }
}

#[test]
fn symlink_at_the_root_is_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("real")).unwrap();
    symlink("real", tmp.path().join("link")).unwrap();
    assert_ne!(sri(&tmp.path().join("link")), sri(&tmp.path().join("real")));
    let settings = HashSettings {
        record_entries: true,
        ..HashSettings::default()
    };
    let hash = hash_path(&tmp.path().join("link"), &settings, None).unwrap();
    assert_eq!(hash.entries.len(), 1);
    assert_eq!(hash.entries[0].path, RelPath::root());
    assert!(
        matches!(&hash.entries[0].node, NarNode::Symlink { target } if target.as_bytes() == b"real")
    );
}

#[test]
fn same_hash_whatever_the_reader_count_and_read_ahead() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    pyfod_tests::random_tree(&root, 7).unwrap();
    let base = sri(&root);
    for readers in [1, 2, 3, 8] {
        for read_ahead in [1, 4096, 1 << 20, 64 << 20] {
            let settings = HashSettings {
                readers,
                read_ahead,
                record_entries: readers % 2 == 0,
                skip_names: Vec::new(),
                skip_special: false,
            };
            let hash = hash_path(&root, &settings, None).unwrap();
            assert_eq!(
                hash.nar_sha256.to_sri(),
                base,
                "readers {readers}, read-ahead {read_ahead}"
            );
        }
    }
}

#[test]
fn entries_carry_sizes_digests_and_modes() {
    let tmp = tempfile::tempdir().unwrap();
    write(&tmp.path().join("bin"), b"#!/bin/sh\n", 0o755);
    write(&tmp.path().join("data"), &vec![7u8; 600_000], 0o644);
    let settings = HashSettings {
        record_entries: true,
        ..HashSettings::default()
    };
    let hash = hash_path(tmp.path(), &settings, None).unwrap();
    assert_eq!(hash.entries.len(), 3);
    assert_eq!(hash.entries[0].node, NarNode::Directory);
    assert_eq!(
        hash.entries[1].node,
        NarNode::Regular {
            executable: true,
            size: 10,
            sha256: pyfod_digest::Sha256::of(b"#!/bin/sh\n"),
        }
    );
    assert_eq!(
        hash.entries[2].node,
        NarNode::Regular {
            executable: false,
            size: 600_000,
            sha256: pyfod_digest::Sha256::of(&vec![7u8; 600_000]),
        }
    );
}

#[test]
fn special_files_are_errors_that_name_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("a-file"), b"x").unwrap();
    let fifo = root.join("sub/pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let error = hash_path(&root, &HashSettings::default(), None).unwrap_err();
    assert!(
        matches!(&error, HashError::Unsupported { path, .. } if *path == fifo),
        "{error}"
    );
    assert!(error.to_string().contains("FIFO"), "{error}");
    fs::remove_file(&fifo).unwrap();

    let socket_path = root.join("sub/socket");
    let _socket = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    let error = hash_path(&root, &HashSettings::default(), None).unwrap_err();
    assert!(error.to_string().contains("socket"), "{error}");
    assert!(error.to_string().contains("sub/socket"), "{error}");
}

#[test]
fn missing_root_names_the_path() {
    let error = hash_path(Path::new("/no/such/tree"), &HashSettings::default(), None).unwrap_err();
    assert!(error.to_string().contains("/no/such/tree"), "{error}");
}

#[test]
fn skipped_names_hash_as_if_they_were_not_there() {
    let dir = tempfile::tempdir().unwrap();
    let (with, without) = (dir.path().join("with"), dir.path().join("without"));
    for root in [&with, &without] {
        std::fs::create_dir_all(root.join("pkg/sub")).unwrap();
        std::fs::write(root.join("pkg/sub/mod.py"), b"x = 1\n").unwrap();
    }
    for extra in [".git/HEAD", "pkg/__pycache__/mod.pyc", "pkg/sub/.git"] {
        let path = with.join(extra);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"noise").unwrap();
    }
    let settings = HashSettings {
        skip_names: vec![b".git".to_vec(), b"__pycache__".to_vec()],
        ..HashSettings::default()
    };
    assert_eq!(
        hash_path(&with, &settings, None).unwrap().nar_sha256,
        hash_path(&without, &HashSettings::default(), None)
            .unwrap()
            .nar_sha256
    );
    assert_ne!(sri(&with), sri(&without));
}
