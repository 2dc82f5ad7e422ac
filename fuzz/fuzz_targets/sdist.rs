//! An sdist, as .tar.gz, .tar and .zip: unpacked into a directory, and nothing
//! may land outside it.
#![no_main]

use std::fs;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = pyfod_python::Limits {
        max_unpacked: 64 << 20,
        max_ratio: 250,
    };
    for filename in ["fuzz-1.0.tar.gz", "fuzz-1.0.tar", "fuzz-1.0.zip"] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(filename);
        fs::write(&file, data).unwrap();
        let out = dir.path().join("out");
        let _ = pyfod_build_sdist::unpack::unpack_sdist(&file, filename, &out, &limits);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(names.len() <= 2, "{names:?}");
    }
});
