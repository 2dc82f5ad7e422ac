//! NARs from a remote: whatever the bytes, unpacking writes only inside its
//! destination, and what it accepts serialises back to the same bytes.
#![no_main]

use pyfod_nar::{HashSettings, hash_path, unpack};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let inside = dir.path().join("d");
    std::fs::create_dir(&inside).unwrap();
    let out = inside.join("out");
    let accepted = unpack(data, &out, 1 << 20).is_ok();
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("d")], "something was written outside");
    let names: Vec<_> = std::fs::read_dir(&inside).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(names.len() <= 1, "more than the destination was made");
    if accepted {
        let mut again = Vec::new();
        hash_path(&out, &HashSettings::default(), Some(&mut again)).unwrap();
        assert!(again == data, "an accepted NAR did not serialise back to its bytes");
    }
});
