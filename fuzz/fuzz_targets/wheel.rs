//! A wheel: planned (every check of its zip, METADATA, WHEEL, RECORD) and, when
//! that passes, unpacked; nothing may be written outside the directory given.
#![no_main]

use std::fs;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let filename = "fuzz-1.0-py3-none-any.whl";
    let file = dir.path().join(filename);
    fs::write(&file, data).unwrap();
    let limits = pyfod_python::Limits {
        max_unpacked: 64 << 20,
        max_ratio: 250,
    };
    let Ok(plan) = pyfod_install::wheel::plan(
        &file,
        filename,
        ("fuzz", "1.0"),
        "lib/python3.11/site-packages",
        "python3.11",
        &limits,
    ) else {
        return;
    };
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let _ = plan.unpack_members(&out);
    // Nothing beside the wheel and `out/`.
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
});
