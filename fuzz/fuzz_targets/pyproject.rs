//! pyproject.toml as fetch reads it (the project's name, [tool.uv]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pyfod_fetch::project::parse(std::path::Path::new("pyproject.toml"), text);
    }
});
