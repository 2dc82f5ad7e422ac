//! The environment a build runs in: nothing from the caller's unless
//! `[build] pass-env` lists it; fixed locale, time zone, hash seed and
//! `SOURCE_DATE_EPOCH`; and compiler flags composed by pyfod, so that every
//! backend gets the interpreter's flags, pyfod's, then the project's, in that order.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::BuildConfig;

/// Where the build's temporary area appears in everything the compiler writes.
pub const LOGICAL_WORK: &str = "/build";
/// Where the build environment appears in everything the compiler writes.
pub const LOGICAL_BUILD_ENV: &str = "/build-env";
/// Where `CARGO_HOME` (the crates cargo downloads) appears in what rustc writes.
pub const LOGICAL_CARGO_HOME: &str = "/cargo";

/// The distutils config file in a build's work area, named by `DIST_EXTRA_CONFIG`.
pub const DISTUTILS_CONFIG: &str = "pyfod-distutils.cfg";

/// Flags that add up: pyfod's first, then `[build.env]`'s, then the package's.
const FLAGS: [&str; 4] = ["CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS"];
/// Search paths: the package's directories first, then `[build.env]`'s, then
/// the inherited value when `pass-env` lets it through.
const SEARCH_PATHS: [&str; 8] = [
    "PATH",
    "PKG_CONFIG_PATH",
    "LD_LIBRARY_PATH",
    "LIBRARY_PATH",
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "CMAKE_PREFIX_PATH",
];

/// The directories a build uses, real or logical.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// The build's temporary area: source tree, home, wheel output.
    pub work: &'a Path,
    /// The build environment's venv, if there is one.
    pub build_env: Option<&'a Path>,
}

impl Place<'static> {
    /// The place as the compiled files will name it: what the cache key holds.
    pub fn logical(has_env: bool) -> Place<'static> {
        Place {
            work: Path::new(LOGICAL_WORK),
            build_env: has_env.then_some(Path::new(LOGICAL_BUILD_ENV)),
        }
    }
}

/// The variables of one package's build, sorted by name.
pub fn compose(
    config: &BuildConfig,
    package: &str,
    interpreter_cflags: &str,
    place: Place<'_>,
    passed: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let work = place.work.display().to_string();
    let fixed = [
        ("HOME", format!("{work}/home")),
        ("TMPDIR", format!("{work}/tmp")),
        ("LC_ALL", "C".to_owned()),
        ("TZ", "UTC".to_owned()),
        ("PYTHONHASHSEED", "0".to_owned()),
        ("PYTHONDONTWRITEBYTECODE", "1".to_owned()),
        ("PYTHONNOUSERSITE", "1".to_owned()),
        // A backend that shells out to pip must not reach an index: builds are offline.
        ("PIP_NO_INDEX", "1".to_owned()),
        ("PIP_DISABLE_PIP_VERSION_CHECK", "1".to_owned()),
        ("SOURCE_DATE_EPOCH", config.source_date_epoch().to_string()),
        // setuptools' distutils reads one more config file from here: pyfod's
        // `[build_ext] parallel` ([`DISTUTILS_CONFIG`]).
        ("DIST_EXTRA_CONFIG", format!("{work}/{DISTUTILS_CONFIG}")),
    ];
    for (name, value) in fixed {
        vars.insert(name.to_owned(), value);
    }
    for (name, value) in passed {
        vars.insert(name.clone(), value.clone());
    }

    let package_config = config.package(package);
    let package_env = package_config.map(|p| &p.env);
    let layers = [Some(&config.env), package_env];
    let debug = config.debug_for(package);
    compose_flags(&mut vars, &layers, interpreter_cflags, place, debug);
    compose_search_paths(&mut vars, &layers, place);
    for layer in layers.iter().flatten() {
        for (name, value) in layer.iter() {
            if !FLAGS.contains(&name.as_str()) && !SEARCH_PATHS.contains(&name.as_str()) {
                vars.insert(name.clone(), value.clone());
            }
        }
    }
    vars
}

/// The configured variables: `[build.env]`, then the package's.
type Layers<'a> = [Option<&'a BTreeMap<String, String>>; 2];

/// Each of [`FLAGS`]: the interpreter's (`CFLAGS` only), pyfod's (the build path
/// mapped to a fixed one, debug info off), the caller's where `pass-env` lets
/// them through, then the configured ones.
fn compose_flags(
    vars: &mut BTreeMap<String, String>,
    layers: &Layers<'_>,
    interpreter_cflags: &str,
    place: Place<'_>,
    debug: bool,
) {
    let work = place.work.display().to_string();
    let mut own = vec![format!("-ffile-prefix-map={work}={LOGICAL_WORK}")];
    if let Some(env) = place.build_env {
        own.push(format!(
            "-ffile-prefix-map={}={LOGICAL_BUILD_ENV}",
            env.display()
        ));
    }
    if !debug {
        own.push("-g0".to_owned());
    }
    for name in FLAGS {
        let mut parts: Vec<String> = Vec::new();
        // setuptools lets CFLAGS replace the interpreter's flags (-O3 included):
        // put them back first.
        if name == "CFLAGS" && !interpreter_cflags.trim().is_empty() {
            parts.push(interpreter_cflags.trim().to_owned());
        }
        if matches!(name, "CFLAGS" | "CXXFLAGS") {
            parts.extend(own.iter().cloned());
        }
        // Passed through by `pass-env`: the caller's flags, before the configured ones.
        parts.extend(vars.get(name).cloned());
        parts.extend(
            layers
                .iter()
                .flatten()
                .filter_map(|env| env.get(name).cloned()),
        );
        if parts.is_empty() {
            vars.remove(name);
        } else {
            vars.insert(name.to_owned(), parts.join(" "));
        }
    }
}

/// Each of [`SEARCH_PATHS`]: the build environment's `bin/` (`PATH` only), the
/// package's directories, `[build.env]`'s, then the inherited value.
fn compose_search_paths(
    vars: &mut BTreeMap<String, String>,
    layers: &Layers<'_>,
    place: Place<'_>,
) {
    for name in SEARCH_PATHS {
        let mut parts: Vec<String> = Vec::new();
        if name == "PATH"
            && let Some(env) = place.build_env
        {
            parts.push(format!("{}/bin", env.display()));
        }
        parts.extend(
            layers
                .iter()
                .rev()
                .flatten()
                .filter_map(|env| env.get(name).cloned()),
        );
        if let Some(inherited) = vars.get(name) {
            parts.push(inherited.clone());
        }
        if !parts.is_empty() {
            vars.insert(name.to_owned(), parts.join(":"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> BuildConfig {
        toml::from_str(text).unwrap()
    }

    fn caller(config: &BuildConfig) -> BTreeMap<String, String> {
        config.passed_env(
            [
                ("PATH", "/usr/bin:/bin"),
                ("CFLAGS", "-Ocaller"),
                ("SECRET", "x"),
                (
                    "NIX_CFLAGS_COMPILE",
                    "-isystem /nix/store/x-libxml2-dev/include",
                ),
                ("NIX_LDFLAGS", "-L/nix/store/x-libxml2/lib"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
    }

    #[test]
    fn flags_are_interpreter_then_pyfod_then_global_then_package() {
        let config = config(
            "[env]\nCFLAGS = \"-DGLOBAL\"\nLDFLAGS = \"-L/opt/lib\"\n\
             [packages.gssapi.env]\nCFLAGS = \"-include gssapi/gssapi_ext.h\"\n",
        );
        let place = Place {
            work: Path::new("/store/tmp/abc"),
            build_env: Some(Path::new("/store/stages/k/tree")),
        };
        let vars = compose(&config, "gssapi", "-g -O3", place, &caller(&config));
        assert_eq!(
            vars["CFLAGS"],
            "-g -O3 -ffile-prefix-map=/store/tmp/abc=/build \
             -ffile-prefix-map=/store/stages/k/tree=/build-env -g0 -DGLOBAL \
             -include gssapi/gssapi_ext.h"
        );
        assert_eq!(vars["LDFLAGS"], "-L/opt/lib");
        assert!(!vars.contains_key("CPPFLAGS"));
        assert_eq!(vars["PATH"], "/store/stages/k/tree/bin:/usr/bin:/bin");
        assert_eq!(vars["HOME"], "/store/tmp/abc/home");
        assert_eq!(vars["SOURCE_DATE_EPOCH"], "315532800");
    }

    #[test]
    fn nothing_leaks_unless_passed_and_debug_keeps_g() {
        let config = config(
            "pass-env = [\"PATH\", \"CFLAGS\"]\n[packages.lxml]\ndebug = true\n\
             env = { PKG_CONFIG_PATH = \"/opt/pc\", XMLSEC = \"1\" }\n",
        );
        let vars = compose(&config, "lxml", "", Place::logical(false), &caller(&config));
        assert!(!vars.contains_key("SECRET"));
        assert!(!vars["CFLAGS"].contains("-g0"), "{}", vars["CFLAGS"]);
        assert!(vars["CFLAGS"].starts_with("-ffile-prefix-map=/build=/build"));
        assert!(vars["CFLAGS"].ends_with(" -Ocaller"), "{}", vars["CFLAGS"]);
        assert_eq!(vars["PKG_CONFIG_PATH"], "/opt/pc");
        assert_eq!(vars["XMLSEC"], "1");
        assert_eq!(vars["PATH"], "/usr/bin:/bin");
        assert!(!vars.contains_key("NIX_LDFLAGS"));
    }

    #[test]
    fn a_pattern_passes_a_family_of_variables() {
        // What a Nix build needs: the cc-wrapper reads its NIX_* variables.
        let config = config("pass-env = [\"PATH\", \"NIX_*\"]\n");
        let vars = compose(&config, "lxml", "", Place::logical(false), &caller(&config));
        assert_eq!(vars["NIX_LDFLAGS"], "-L/nix/store/x-libxml2/lib");
        assert!(vars.contains_key("NIX_CFLAGS_COMPILE"));
        assert!(!vars.contains_key("SECRET"));
    }
}
