//! The small texts of a wheel: entry_points.txt (launchers), its file name.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for entry in pyfod_install::launcher::scripts(text).into_iter().flatten() {
            // A name that passed is a plain file name.
            assert!(!entry.name.contains('/') && entry.name != ".." && !entry.name.is_empty());
            let _ = pyfod_install::launcher::launcher("#!/v/bin/python", &entry);
        }
        let _ = pyfod_install::launcher::rewrite_script("#!/v/bin/python", data);
        if let Ok(name) = text.parse::<pyfod_python::WheelFilename>() {
            assert!(!name.to_string().contains('/'));
        }
    }
});
