//! Scrub on a venv as it looks inside a Nix build, judged by Nix's rule (a hash
//! part anywhere in the NAR is a reference) and by the seed's own shell.

use std::fs;
use std::path::Path;
use std::process::Command;

use pyfod_manifest::{ReplacementKind, ScrubManifest};
use pyfod_nar::{HashSettings, hash_path};
use pyfod_scrub::{Preset, Settings, scrub as run};
use pyfod_tests::nixlike::NixLikeVenv;
use pyfod_tests::oracle::tool_available;

fn fixture(test: &str) -> Option<(tempfile::TempDir, NixLikeVenv)> {
    if !(tool_available("uv", test) && tool_available("cc", test)) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let venv = NixLikeVenv::build(dir.path()).unwrap();
    Some((dir, venv))
}

fn options(venv: &NixLikeVenv) -> Settings {
    Settings {
        store_dir: venv.store.to_string_lossy().into_owned(),
        ..Settings::default()
    }
}

/// Every hash part Nix's scanner would find in the tree's NAR.
fn references_in_nar(tree: &Path, hash_parts: &[String]) -> Vec<String> {
    let mut nar = Vec::new();
    hash_path(tree, &HashSettings::default(), Some(&mut nar)).unwrap();
    hash_parts
        .iter()
        .filter(|h| memchr::memmem::find(&nar, h.as_bytes()).is_some())
        .cloned()
        .collect()
}

fn nar_hash(tree: &Path) -> String {
    hash_path(tree, &HashSettings::default(), None)
        .unwrap()
        .nar_sha256
        .to_sri()
}

fn kinds(manifest: &ScrubManifest) -> Vec<ReplacementKind> {
    let mut kinds: Vec<_> = manifest.replacements.iter().map(|r| r.kind).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

#[test]
fn default_rules_leave_nothing_nix_would_find() {
    let Some((_dir, venv)) = fixture("default_rules_leave_nothing_nix_would_find") else {
        return;
    };
    let hash_parts = venv.hash_parts();
    assert_eq!(
        references_in_nar(&venv.venv, &hash_parts).len(),
        3,
        "the fixture must refer to all three"
    );

    let manifest = run(&venv.venv, &options(&venv)).unwrap();

    assert_eq!(
        references_in_nar(&venv.venv, &hash_parts),
        Vec::<String>::new()
    );
    assert!(manifest.residuals.is_empty(), "{:?}", manifest.residuals);
    assert_eq!(
        kinds(&manifest),
        [
            ReplacementKind::ElfDynamicString,
            ReplacementKind::Text,
            ReplacementKind::Symlink,
            ReplacementKind::FileName,
            ReplacementKind::PyvenvCfg,
        ]
    );
    assert_eq!(manifest.targets.len(), 3, "{:?}", manifest.targets);
    assert!(!venv.venv.join("bin").exists());
    assert!(manifest.removed.iter().any(|p| p.as_bytes() == b"bin"));
    assert!(
        manifest
            .removed
            .iter()
            .any(|p| p.as_bytes().ends_with(b".pyc"))
    );
    assert_eq!(
        fs::read_to_string(venv.venv.join("pyvenv.cfg"))
            .unwrap()
            .lines()
            .next(),
        Some("home = @python@/bin")
    );
    // A file renamed for its name, and a bare hash part replaced.
    let site = venv.extension.parent().unwrap();
    assert!(
        site.join("demo/cache-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.txt")
            .exists()
    );
    assert_eq!(
        fs::read_to_string(site.join("demo/ids.txt")).unwrap(),
        "openssl build eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\n"
    );

    // The ELF report, from before scrubbing.
    let report = &manifest.elf[0];
    assert_eq!(report.needed[0].as_bytes(), b"libxml2stub.so");
    let lib = venv.libxml2.join("lib");
    assert_eq!(
        report.store_entries[0].as_bytes(),
        lib.to_string_lossy().as_bytes()
    );

    // The extension still loads (with its library found the way autoPatchelf
    // would restore it), and readelf sees the scrubbed RUNPATH.
    let readelf = Command::new("readelf")
        .arg("-d")
        .arg(&venv.extension)
        .output()
        .unwrap();
    let dynamic = String::from_utf8_lossy(&readelf.stdout);
    assert!(
        dynamic.contains("RUNPATH")
            && dynamic.contains("/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-libxml2-2.10.4/lib"),
        "{dynamic}"
    );
    let load = Command::new("python3")
        .args([
            "-c",
            "import ctypes, sys; print(ctypes.CDLL(sys.argv[1]).demo_answer())",
        ])
        .arg(&venv.extension)
        .env("LD_LIBRARY_PATH", &lib)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&load.stdout).trim(),
        "42",
        "{load:?}"
    );
}

#[test]
fn replacements_record_enough_to_put_the_originals_back() {
    let Some((dir, venv)) = fixture("replacements_record_enough_to_put_the_originals_back") else {
        return;
    };
    let before = dir.path().join("before");
    pyfod_store::copy_tree(&venv.venv, &before).unwrap();
    let rules = Settings {
        keep_bin: true,
        keep_pyc: true,
        ..options(&venv)
    };
    let manifest = run(&venv.venv, &rules).unwrap();
    let contents = |r: &&pyfod_manifest::Replacement| {
        matches!(
            r.kind,
            ReplacementKind::Text | ReplacementKind::ElfDynamicString
        )
    };
    assert!(manifest.replacements.iter().filter(contents).count() >= 3);
    // Put every content replacement back by its offset and original bytes.
    for replacement in manifest.replacements.iter().filter(contents) {
        let path = replacement.path.under(&venv.venv);
        let mut bytes = fs::read(&path).unwrap();
        let at = replacement.offset as usize;
        assert_eq!(&bytes[at..at + 32], b"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
        bytes[at..at + 32].copy_from_slice(replacement.original.as_bytes());
        fs::write(&path, bytes).unwrap();
    }
    for replacement in manifest.replacements.iter().filter(contents) {
        assert_eq!(
            fs::read(replacement.path.under(&venv.venv)).unwrap(),
            fs::read(replacement.path.under(&before)).unwrap(),
            "{} is back byte for byte",
            replacement.path
        );
    }
}

#[test]
fn seed_preset_matches_the_seed_shell_byte_for_byte() {
    let Some((dir, venv)) = fixture("seed_preset_matches_the_seed_shell_byte_for_byte") else {
        return;
    };
    let by_shell = dir.path().join("by-shell");
    let by_pyfod = dir.path().join("by-pyfod");
    pyfod_store::copy_tree(&venv.venv, &by_shell).unwrap();
    pyfod_store::copy_tree(&venv.venv, &by_pyfod).unwrap();

    let status = Command::new(pyfod_tests::fixture("seed-install-phase.sh"))
        .arg(&by_shell)
        .arg(&venv.python)
        .arg(&venv.store)
        .status()
        .unwrap();
    assert!(status.success());
    let seed = Settings {
        preset: Preset::Seed,
        ..options(&venv)
    };
    let manifest = run(&by_pyfod, &seed).unwrap();

    assert_eq!(nar_hash(&by_pyfod), nar_hash(&by_shell));
    assert_eq!(manifest.preset, "seed");
    // What the seed misses, named: symlinks into the store, a hash part in a
    // file name, and the bare hash part of a path it never discovered.
    let missed: Vec<(String, ReplacementKind)> = manifest
        .residuals
        .iter()
        .map(|r| (r.path.to_string(), r.kind))
        .collect();
    let has = |suffix: &str, kind| {
        missed
            .iter()
            .any(|(p, k)| p.ends_with(suffix) && *k == kind)
    };
    assert!(has("demo/cert.pem", ReplacementKind::Symlink), "{missed:?}");
    assert!(
        has("demo/libxml2.so", ReplacementKind::Symlink),
        "{missed:?}"
    );
    assert!(has(".txt", ReplacementKind::FileName), "{missed:?}");
    assert!(has("demo/ids.txt", ReplacementKind::Text), "{missed:?}");
    assert!(!references_in_nar(&by_pyfod, &venv.hash_parts()).is_empty());
}

/// The seed's own situation: a venv that `uv sync --frozen --no-install-project
/// --no-dev` made, from a Python in the store, with launchers in `bin/`.
#[test]
fn seed_preset_matches_the_seed_shell_on_a_uv_sync_venv() {
    let Some((dir, nixlike)) = fixture("seed_preset_matches_the_seed_shell_on_a_uv_sync_venv")
    else {
        return;
    };
    let wheels = dir.path().join("wheels");
    let project = dir.path().join("app");
    fs::create_dir_all(&wheels).unwrap();
    fs::create_dir_all(&project).unwrap();
    let made = Command::new("python3")
        .arg(pyfod_tests::fixture("make-dist.py"))
        .args(["wheel", "hello", "1.0"])
        .arg(&wheels)
        .args(["--script", "hello=hello:main"])
        .status()
        .unwrap();
    assert!(made.success());
    fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\n\
         dependencies = [\"hello\"]\n\n[tool.uv]\npackage = false\n",
    )
    .unwrap();
    let venv = dir.path().join("uv-venv");
    let uv = |args: &[&str]| {
        let output = Command::new("uv")
            .args(args)
            .args(["--offline", "--no-index", "--quiet", "--find-links"])
            .arg(&wheels)
            .current_dir(&project)
            .env("UV_CACHE_DIR", dir.path().join("uv-cache"))
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("UV_NO_CONFIG", "1")
            .env("UV_PROJECT_ENVIRONMENT", &venv)
            .output()
            .unwrap();
        assert!(output.status.success(), "uv {args:?}: {output:?}");
    };
    uv(&["lock"]);
    let python = nixlike.python.join("bin/python3");
    uv(&[
        "sync",
        "--frozen",
        "--no-install-project",
        "--no-dev",
        "--python",
        python.to_str().unwrap(),
    ]);
    assert!(venv.join("bin/hello").exists(), "uv sync made no launcher");
    // An extension with a RUNPATH into the store, as sdist builds leave them.
    let site = nixlike.extension.parent().unwrap();
    let uv_site = venv.join(site.strip_prefix(&nixlike.venv).unwrap());
    fs::copy(
        &nixlike.extension,
        uv_site.join(nixlike.extension.file_name().unwrap()),
    )
    .unwrap();
    fs::copy(
        site.join("demo/__init__.py"),
        uv_site.join("hello/paths.py"),
    )
    .unwrap();

    let by_shell = dir.path().join("by-shell");
    let by_pyfod = dir.path().join("by-pyfod");
    pyfod_store::copy_tree(&venv, &by_shell).unwrap();
    pyfod_store::copy_tree(&venv, &by_pyfod).unwrap();
    let status = Command::new(pyfod_tests::fixture("seed-install-phase.sh"))
        .arg(&by_shell)
        .arg(&nixlike.python)
        .arg(&nixlike.store)
        .status()
        .unwrap();
    assert!(status.success());
    let seed = Settings {
        preset: Preset::Seed,
        ..options(&nixlike)
    };
    let manifest = run(&by_pyfod, &seed).unwrap();
    assert_eq!(nar_hash(&by_pyfod), nar_hash(&by_shell));
    assert_eq!(manifest.targets.len(), 2, "{:?}", manifest.targets);
    assert!(
        manifest
            .replacements
            .iter()
            .any(|r| r.kind == ReplacementKind::PyvenvCfg)
    );
    assert!(!by_pyfod.join("bin").exists());
}
