//! `[build] system-libraries`: versions from pkg-config, and a clear error for a
//! module it does not know.

use pyfod_build_sdist::{BuildConfig, BuildError, system_library_versions};
use pyfod_tests::oracle::tool_available;

fn config(modules: &[&str]) -> BuildConfig {
    BuildConfig {
        system_libraries: modules.iter().map(|m| (*m).to_owned()).collect(),
        ..Default::default()
    }
}

#[test]
fn versions_come_from_pkg_config() {
    if !tool_available("pkg-config", "versions_come_from_pkg_config") {
        return;
    }
    let versions = system_library_versions(&config(&["zlib"])).unwrap();
    assert_eq!(versions.len(), 1);
    let (module, version) = &versions[0];
    assert_eq!(module, "zlib");
    assert!(version.starts_with("1."), "{version}");
}

#[test]
fn an_unknown_module_is_named_with_where_to_get_it() {
    if !tool_available("pkg-config", "an_unknown_module_is_named") {
        return;
    }
    let error = system_library_versions(&config(&["xmlsec1-absent"])).unwrap_err();
    assert!(matches!(error, BuildError::SystemLibrary { .. }));
    let text = error.to_string();
    assert!(text.contains("`xmlsec1-absent`"), "{text}");
    assert!(text.contains("PKG_CONFIG_PATH"), "{text}");
}
