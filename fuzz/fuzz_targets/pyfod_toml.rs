//! pyfod.toml: each stage's table, as each stage reads it.
#![no_main]

use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("pyfod.toml");
    #[derive(serde::Deserialize)]
    struct Tables {
        build: Option<pyfod_build_sdist::BuildConfig>,
        install: Option<pyfod_install::collisions::InstallConfig>,
        scrub: Option<pyfod_scrub::config::ScrubConfig>,
        fetch: Option<pyfod_fetch::FetchConfig>,
    }
    if let Ok(tables) = pyfod_config::parse::<Tables>(path, text) {
        if let Some(build) = tables.build {
            let _ = build.timeout();
            let _ = build.limits();
            let _ = build.relative_to(Path::new("/p"));
        }
        if let Some(install) = tables.install {
            let _ = install.limits();
            let _ = install.rules();
        }
        let _ = tables.scrub.map(|s| s.relative_to(Path::new("/p")));
        let _ = tables.fetch;
    }
});
