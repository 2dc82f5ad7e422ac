//! Records from a remote: whatever the bytes, reading them ends in a record or
//! a reason; a record read is in canonical form, and is trusted only by a
//! signature that verifies.
#![no_main]

use pyfod_remote::record::Record;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::parse(data) {
        assert_eq!(record.claim.body(), record.body);
        let stranger = pyfod_remote::PublicKey::parse("k:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").unwrap();
        assert!(record.trusted(&[stranger]).is_err());
    }
});
