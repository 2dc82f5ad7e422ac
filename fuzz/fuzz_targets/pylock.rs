//! pylock.toml: parsed, its packages checked and converted, its markers
//! evaluated for a fixed target; an error, never a panic.
#![no_main]

use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("pylock.toml");
    let Ok(lock) = pyfod_fetch::pylock::PyLock::parse(path, text) else {
        return;
    };
    let _ = lock.to_lock(path);
    let target = pyfod_fetch::Target::explicit("python=3.11,platform=manylinux_2_17_x86_64").unwrap();
    let selection = pyfod_fetch::Selection {
        all_extras: true,
        ..Default::default()
    };
    let _ = lock.select(path, &target, &selection);
});
