//! Rust builds: cargo's variables, and the paths of a build mapped onto fixed
//! ones in what rustc writes and in what a backend writes into the dist-info.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use pyfod_store::Store;

use crate::environment::{LOGICAL_BUILD_ENV, LOGICAL_CARGO_HOME, LOGICAL_WORK};
use crate::{BuildError, Settings};

/// Adds cargo's variables to a build's: `CARGO_HOME` the store's crate cache
/// (`/cargo` in the key) unless the build sets its own, rustup's as the caller
/// has them (not in the key: the toolchain's versions are), `CARGO_NET_OFFLINE`
/// with `--offline`, and the path map added to a `RUSTFLAGS` the build sets,
/// which makes cargo ignore the config file [`write_config`] writes.
pub(crate) fn add_vars(
    vars: &mut BTreeMap<String, String>,
    settings: &Settings,
    store: &Store,
    work: &Path,
    logical: bool,
) {
    if !logical {
        for (name, value) in &settings.toolchain.rustup {
            vars.entry(name.clone()).or_insert_with(|| value.clone());
        }
        if settings.offline {
            // Crates from the store's cache only.
            vars.insert("CARGO_NET_OFFLINE".to_owned(), "true".to_owned());
        }
    }
    let cargo_home = match logical {
        true => LOGICAL_CARGO_HOME.to_owned(),
        false => store.cargo_home().display().to_string(),
    };
    vars.entry("CARGO_HOME".to_owned()).or_insert(cargo_home);
    let flags = remap_flags(&path_map(work, vars, None));
    if let Some(rustflags) = vars.get_mut("RUSTFLAGS") {
        for flag in flags {
            rustflags.push(' ');
            rustflags.push_str(&flag);
        }
    }
}

/// `<work>/.cargo/config.toml`: cargo reads it for a source under `<work>`
/// and adds its flags to the package's own (`target.'cfg(all())'` rustflags
/// add up across files): the work area and `CARGO_HOME` mapped onto `/build`
/// and `/cargo` in what rustc writes.
pub(crate) fn write_config(work: &Path, vars: &BTreeMap<String, String>) -> Result<(), BuildError> {
    // A JSON array of strings is a TOML one.
    let flags = serde_json::to_string(&remap_flags(&path_map(work, vars, None)))
        .expect("strings serialise");
    let text = format!(
        "# Written by pyfod: paths of the build mapped onto fixed ones.\n\
         [target.'cfg(all())']\nrustflags = {flags}\n"
    );
    let dir = work.join(".cargo");
    fs::create_dir_all(&dir).map_err(|e| BuildError::io("create", &dir, e))?;
    let path = dir.join("config.toml");
    fs::write(&path, text).map_err(|e| BuildError::io("write", &path, e))
}

/// The build's own paths and the fixed ones they appear as: the work area,
/// the `CARGO_HOME` its variables give, and its build environment.
pub(crate) fn path_map(
    work: &Path,
    vars: &BTreeMap<String, String>,
    build_env: Option<&Path>,
) -> Vec<(String, String)> {
    let mut map = vec![(work.display().to_string(), LOGICAL_WORK.to_owned())];
    if let Some(cargo_home) = vars.get("CARGO_HOME").filter(|h| !h.is_empty()) {
        map.push((cargo_home.clone(), LOGICAL_CARGO_HOME.to_owned()));
    }
    if let Some(env) = build_env {
        map.push((env.display().to_string(), LOGICAL_BUILD_ENV.to_owned()));
    }
    map
}

/// rustc's `--remap-path-prefix` for each pair (the later wins where two match).
fn remap_flags(map: &[(String, String)]) -> Vec<String> {
    map.iter()
        .map(|(from, to)| format!("--remap-path-prefix={from}={to}"))
        .collect()
}
