//! `pyfod lock-build`: a build lock for a project. pyfod reads what every source
//! in the fetch manifest declares it needs to build, and `uv lock` resolves that;
//! pyfod then realises the lock, as it does the project's own.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use pyfod_manifest::{Artifact, FetchManifest};
use pyfod_store::Store;

use crate::BuildError;
use crate::build_system::BuildSystem;

/// Every build requirement the sources of `fetch` declare (`[build-system]
/// requires`), with the packages that declare it; requirements naming a package of
/// the lock itself are left out, since builds use the locked version.
pub fn build_requirements(
    fetch: &FetchManifest,
    store: &Store,
) -> Result<BTreeMap<String, Vec<String>>, BuildError> {
    let locked: Vec<String> = fetch
        .packages
        .iter()
        .map(|p| pyfod_manifest::normalise_name(&p.name))
        .collect();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in &fetch.packages {
        let work = store.temp_entry()?;
        let source = match &package.artifact {
            Artifact::Wheel(_) => continue,
            Artifact::Sdist(file) => crate::unpack::unpack_sdist(
                &store.blob_path(&file.sha256),
                &file.filename,
                work.path(),
            )?,
            Artifact::Tree {
                tree, subdirectory, ..
            } => {
                let root = tree.store_path.under(store.root());
                match subdirectory {
                    Some(sub) => root.join(sub),
                    None => root,
                }
            }
        };
        for requirement in BuildSystem::read(&source)?.requires {
            let name = requirement_name(&requirement);
            if locked.contains(&name) {
                continue;
            }
            out.entry(requirement)
                .or_default()
                .push(package.name.clone());
        }
    }
    Ok(out)
}

/// The normalised name a PEP 508 requirement starts with.
fn requirement_name(requirement: &str) -> String {
    let end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(requirement.len());
    pyfod_manifest::normalise_name(&requirement[..end])
}

/// `[manifest] build-constraints` of a uv.lock, as PEP 508 strings.
pub fn build_constraints(lock: &Path) -> Result<Vec<String>, BuildError> {
    let value: toml::Value = pyfod_config::read(lock)?;
    let entries = value
        .get("manifest")
        .and_then(|m| m.get("build-constraints"))
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default();
    Ok(entries
        .iter()
        .filter_map(|entry| {
            let name = entry.get("name")?.as_str()?;
            let specifier = entry
                .get("specifier")
                .and_then(|s| s.as_str())
                .unwrap_or("");
            let marker = entry.get("marker").and_then(|s| s.as_str());
            Some(match marker {
                Some(marker) => format!("{name}{specifier} ; {marker}"),
                None => format!("{name}{specifier}"),
            })
        })
        .collect())
}

/// Writes the build project (`pyproject.toml`) into `dir` and runs `uv lock`
/// there with `uv_args`; returns the lock's path.
pub fn lock(
    dir: &Path,
    requirements: &BTreeMap<String, Vec<String>>,
    constraints: &[String],
    python_version: &str,
    uv_args: &[String],
) -> Result<std::path::PathBuf, BuildError> {
    fs::create_dir_all(dir).map_err(|e| BuildError::io("create", dir, e))?;
    let minor = python_version
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut text = String::from(
        "# Written by `pyfod lock-build`: the tools the project's sdists need to build.\n\
         # pyfod realises uv.lock beside this file as the build environment.\n\
         [project]\nname = \"pyfod-build-env\"\nversion = \"0\"\n",
    );
    text.push_str(&format!(
        "requires-python = \"=={minor}.*\"\ndependencies = [\n"
    ));
    for (requirement, packages) in requirements {
        text.push_str(&format!(
            "    {}, # {}\n",
            quote(requirement),
            packages.join(", ")
        ));
    }
    text.push_str("]\n\n[tool.uv]\npackage = false\n");
    if !constraints.is_empty() {
        text.push_str("constraint-dependencies = [\n");
        for constraint in constraints {
            text.push_str(&format!("    {},\n", quote(constraint)));
        }
        text.push_str("]\n");
    }
    let pyproject = dir.join("pyproject.toml");
    pyfod_store::write_atomic(&pyproject, text.as_bytes())
        .map_err(|e| BuildError::io("write", &pyproject, e))?;
    let status = Command::new("uv")
        .arg("lock")
        .args(uv_args)
        .current_dir(dir)
        .status()
        .map_err(|e| BuildError::io("run uv in", dir, e))?;
    if !status.success() {
        return Err(BuildError::io(
            "lock the build requirements in",
            dir,
            std::io::Error::other(format!(
                "`uv lock` failed ({status}); its output above says why"
            )),
        ));
    }
    Ok(dir.join("uv.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_requirements() {
        assert_eq!(requirement_name("Cython>=3"), "cython");
        assert_eq!(
            requirement_name("setuptools_scm[toml] ; python_version<'4'"),
            "setuptools-scm"
        );
        assert_eq!(requirement_name("wheel"), "wheel");
    }

    #[test]
    fn reads_build_constraints_of_a_lock() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("uv.lock");
        fs::write(
            &lock,
            "version = 1\nrevision = 3\n\n[manifest]\nbuild-constraints = [\
             { name = \"setuptools\", specifier = \"<81\" }, { name = \"cython\" }]\n",
        )
        .unwrap();
        assert_eq!(
            build_constraints(&lock).unwrap(),
            ["setuptools<81", "cython"]
        );
    }
}
