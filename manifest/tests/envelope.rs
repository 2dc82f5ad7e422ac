//! Every manifest type survives the envelope, and every way a file can be wrong
//! gets an error that says which.

use pyfod_manifest::envelope::MAGIC;
use pyfod_manifest::*;

fn digest(n: u8) -> Sha256 {
    Sha256::of(&[n])
}

fn target() -> Target {
    Target {
        python_version: "3.11.7".into(),
        implementation: "cpython".into(),
        tags: vec![
            "cp311-cp311-manylinux_2_36_x86_64".into(),
            "py3-none-any".into(),
        ],
        markers: vec![
            ("python_version".into(), "3.11".into()),
            ("sys_platform".into(), "linux".into()),
        ],
        interpreter: Some(digest(9)),
    }
}

fn stored_file(name: &str) -> StoredFile {
    StoredFile {
        filename: name.into(),
        sha256: digest(1),
        size: 1234,
        url: Some("http://127.0.0.1:8080/files/x".into()),
        hash_from_lock: true,
    }
}

fn tree() -> StoredTree {
    StoredTree {
        store_path: StorePath("stages/abc/tree".into()),
        nar_sha256: digest(2),
    }
}

fn fetch() -> FetchManifest {
    FetchManifest {
        lock: digest(3),
        settings: digest(4),
        target: target(),
        selection: Selection {
            extras: vec!["crypto".into()],
            groups: vec!["docs".into()],
            no_install: vec![],
            install_project: false,
            install_workspace: false,
        },
        packages: vec![
            FetchedPackage {
                name: "lxml".into(),
                version: Some("6.0.0".into()),
                source: Source::Registry {
                    index: "http://127.0.0.1:8080/simple".into(),
                },
                artifact: Artifact::Sdist(stored_file("lxml-6.0.0.tar.gz")),
                choice: ArtifactChoice::NoBinary,
            },
            FetchedPackage {
                name: "opencontainers".into(),
                version: None,
                source: Source::Git {
                    repository: "file:///srv/git/oc".into(),
                    reference: GitReference::Tag("v1".into()),
                    commit: "0123456789012345678901234567890123456789".into(),
                    subdirectory: Some("python".into()),
                },
                artifact: Artifact::Tree {
                    tree: tree(),
                    commit: Some("0123456789012345678901234567890123456789".into()),
                    subdirectory: Some("python".into()),
                },
                choice: ArtifactChoice::SourceTree,
            },
            FetchedPackage {
                name: "six".into(),
                version: Some("1.16.0".into()),
                source: Source::Path {
                    path: "wheels/six.whl".into(),
                },
                artifact: Artifact::Wheel(stored_file("six-1.16.0-py2.py3-none-any.whl")),
                choice: ArtifactChoice::BestWheel {
                    tag: "py3-none-any".into(),
                    rank: 40,
                },
            },
        ],
    }
}

fn wheels() -> WheelsManifest {
    WheelsManifest {
        target: target(),
        wheels: vec![
            WheelEntry {
                name: "lxml".into(),
                version: "6.0.0".into(),
                source: Source::Directory {
                    path: "../lxml".into(),
                },
                wheel: stored_file("lxml-6.0.0-cp311-cp311-linux_x86_64.whl"),
                origin: WheelOrigin::Built {
                    source: digest(5),
                    build_env: Some(digest(6)),
                    settings: digest(7),
                    log: None,
                },
            },
            WheelEntry {
                name: "six".into(),
                version: "1.16.0".into(),
                source: Source::Url {
                    url: "http://127.0.0.1/six.whl".into(),
                    subdirectory: None,
                },
                wheel: stored_file("six-1.16.0-py2.py3-none-any.whl"),
                origin: WheelOrigin::Downloaded,
            },
        ],
    }
}

fn install() -> InstallManifest {
    InstallManifest {
        tree: tree(),
        prefix: "/nix/store/00000000000000000000000000000000-deps".into(),
        python_version: "3.11".into(),
        python_home: "/usr/bin".into(),
        packages: vec![InstalledPackage {
            name: "six".into(),
            version: "1.16.0".into(),
            wheel: digest(8),
            dist_info: RelPath::from("lib/python3.11/site-packages/six-1.16.0.dist-info"),
            scripts: vec!["six-tool".into()],
        }],
    }
}

fn scrub() -> ScrubManifest {
    ScrubManifest {
        tree: Some(tree()),
        preset: "default".into(),
        store_dir: "/nix/store".into(),
        python_prefix: Some("/nix/store/00000000000000000000000000000000-python3-3.11.7".into()),
        targets: vec!["/nix/store/00000000000000000000000000000000-libxml2".into()],
        kept: vec![],
        replacements: vec![Replacement {
            path: RelPath(ByteString(b"lib/\xff odd.so".to_vec())),
            offset: 4096,
            original: ByteString::from("00000000000000000000000000000000"),
            store_path: "/nix/store/00000000000000000000000000000000-libxml2".into(),
            kind: ReplacementKind::ElfDynamicString,
        }],
        removed: vec![RelPath::from("bin")],
        elf: vec![ElfReport {
            path: RelPath::from("lib/odd.so"),
            rpath: vec![],
            runpath: vec![ByteString::from("/nix/store/0000-libxml2/lib")],
            needed: vec![ByteString::from("libxml2.so.2")],
            store_entries: vec![ByteString::from("/nix/store/0000-libxml2/lib")],
        }],
        residuals: vec![Residual {
            path: RelPath::from("x"),
            offset: 1,
            store_path: "/nix/store/00000000000000000000000000000000-libxml2".into(),
            kind: ReplacementKind::Symlink,
        }],
        notes: vec!["no pyvenv.cfg".into()],
    }
}

fn hash() -> HashManifest {
    HashManifest {
        nar_sha256: digest(10),
        nar_size: 512,
        entries: vec![
            NarEntry {
                path: RelPath::root(),
                node: NarNode::Directory,
            },
            NarEntry {
                path: RelPath(ByteString(b"new\nline \xff".to_vec())),
                node: NarNode::Regular {
                    executable: true,
                    size: 3,
                    sha256: digest(11),
                },
            },
            NarEntry {
                path: RelPath::from("link"),
                node: NarNode::Symlink {
                    target: ByteString::from("../x"),
                },
            },
        ],
        inputs: vec![InputRecord {
            name: "lock".into(),
            value: digest(12).to_hex(),
        }],
    }
}

fn round_trip<M: Manifest + PartialEq + std::fmt::Debug>(manifest: &M) {
    let input = Some(digest(42));
    let bytes = manifest.encode(input);
    assert_eq!(&bytes[..8], MAGIC);
    let (header, back) = M::decode(&bytes).unwrap();
    assert_eq!(&back, manifest);
    assert_eq!(header.stage, M::STAGE);
    assert_eq!(header.input, input);
    assert_eq!(header.schema, SCHEMA_VERSION);
    // The same value always encodes to the same bytes.
    assert_eq!(manifest.encode(input), bytes);
    // And any manifest can be shown as JSON.
    let (header, any) = AnyManifest::decode(&bytes).unwrap();
    let json = AnyManifest::to_json(&header, &any);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["stage"], M::STAGE.name());
}

#[test]
fn every_manifest_type_round_trips() {
    round_trip(&fetch());
    round_trip(&wheels());
    round_trip(&install());
    round_trip(&scrub());
    round_trip(&hash());
}

#[test]
fn json_view_escapes_bytes_that_are_not_text() {
    let bytes = hash().encode(None);
    let (header, any) = AnyManifest::decode(&bytes).unwrap();
    let json = AnyManifest::to_json(&header, &any);
    assert!(json.contains(r#""new\nline \\xff""#), "{json}");
    assert!(json.contains(&digest(11).to_hex()), "{json}");
    assert!(json.contains(r#""input": null"#), "{json}");
}

#[test]
fn wrong_magic_says_it_is_not_a_manifest() {
    let err = HashManifest::decode(b"hello, world, this is text").unwrap_err();
    assert!(matches!(err, DecodeError::NotAManifest { .. }));
    assert!(err.to_string().contains("not a pyfod manifest"));
    let err = HashManifest::decode(br#"{"schema": 1}"#).unwrap_err();
    assert!(err.to_string().contains("pyfod manifest show"), "{err}");
}

#[test]
fn wrong_stage_names_both() {
    let bytes = install().encode(None);
    let err = HashManifest::decode(&bytes).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::WrongStage {
            expected: Stage::Hash,
            found: Stage::Install
        }
    ));
    assert_eq!(
        err.to_string(),
        "this is the `install` stage's manifest, but the `hash` stage's was expected"
    );
}

#[test]
fn newer_schema_is_refused_with_both_versions() {
    let mut bytes = hash().encode(None);
    bytes[8..12].copy_from_slice(&(SCHEMA_VERSION + 1).to_le_bytes());
    let err = HashManifest::decode(&bytes).unwrap_err();
    assert!(
        matches!(err, DecodeError::NewerSchema { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION)
    );
    assert!(err.to_string().contains("newer pyfod"), "{err}");
}

#[test]
fn truncation_anywhere_is_reported_as_truncation() {
    let bytes = scrub().encode(Some(digest(1)));
    for cut in (8..bytes.len()).step_by(7) {
        let err = ScrubManifest::decode(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(err, DecodeError::Truncated { actual, .. } if actual == cut as u64),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn a_flipped_byte_is_corruption() {
    let mut bytes = fetch().encode(None);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let err = FetchManifest::decode(&bytes).unwrap_err();
    assert!(matches!(err, DecodeError::Corrupted), "{err}");
}

#[test]
fn extra_bytes_are_refused() {
    let mut bytes = hash().encode(None);
    bytes.extend_from_slice(b"junk");
    assert!(matches!(
        HashManifest::decode(&bytes).unwrap_err(),
        DecodeError::Trailing { trailing: 4 }
    ));
}
