//! uv.lock: parsed, its packages checked; an error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pyfod_fetch::lock::Lock::parse(std::path::Path::new("uv.lock"), data);
});
