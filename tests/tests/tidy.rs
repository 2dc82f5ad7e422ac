//! The architecture's rules, checked on every build: stages meet only through
//! manifests (no stage crate depends on another), and only the store knows its
//! layout (no other crate's code spells a path inside it).

use std::fs;
use std::path::{Path, PathBuf};

const STAGES: [&str; 5] = [
    "pyfod-fetch",
    "pyfod-build-sdist",
    "pyfod-install",
    "pyfod-scrub",
    "pyfod-hash",
];

/// The store's areas, as string literals would name them (`git` only as a
/// directory: the word names the tool too).
const LAYOUT: [&str; 6] = ["blobs", "stages", "trees", "locks", "builds", "logs"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Each member's directory and its `Cargo.toml`.
fn members() -> Vec<(PathBuf, toml::Table)> {
    let root: toml::Table = fs::read_to_string(workspace().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    root["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let dir = workspace().join(m.as_str().unwrap());
            let manifest = fs::read_to_string(dir.join("Cargo.toml"))
                .unwrap()
                .parse()
                .unwrap();
            (dir, manifest)
        })
        .collect()
}

#[test]
fn no_stage_depends_on_another() {
    let mut checked = 0;
    for (dir, manifest) in members() {
        let name = manifest["package"]["name"].as_str().unwrap();
        if !STAGES.contains(&name) {
            continue;
        }
        checked += 1;
        let dependencies = manifest
            .get("dependencies")
            .and_then(|d| d.as_table())
            .cloned()
            .unwrap_or_default();
        for other in STAGES.iter().filter(|s| **s != name) {
            assert!(
                !dependencies.contains_key(*other),
                "{name} ({}) depends on {other}: stages meet only through manifests; move what they share into a crate below both",
                dir.display()
            );
        }
    }
    assert_eq!(
        checked,
        STAGES.len(),
        "a stage crate was renamed: update STAGES"
    );
}

#[test]
fn only_the_store_spells_its_layout() {
    let mut offences = Vec::new();
    for (dir, manifest) in members() {
        let name = manifest["package"]["name"].as_str().unwrap();
        if name == "pyfod-store" {
            continue;
        }
        for file in rust_files(&dir.join("src")) {
            let text = fs::read_to_string(&file).unwrap();
            for (number, line) in text.lines().enumerate() {
                let named = LAYOUT.iter().any(|area| {
                    line.contains(&format!("\"{area}/")) || line.contains(&format!("\"{area}\""))
                });
                if named || line.contains("\"git/") {
                    offences.push(format!(
                        "{}:{}: {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "only pyfod-store knows where things are in the store; ask it (Store::blob_path, EntryName, verified_tree, …):\n{}",
        offences.join("\n")
    );
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}
