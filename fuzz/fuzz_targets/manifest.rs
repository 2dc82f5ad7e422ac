//! Manifests: the envelope as it comes, and each stage's body inside a valid
//! envelope (a fuzzer would never find the checksum itself). What decodes
//! encodes to bytes that decode to the same value.
#![no_main]

use pyfod_manifest::{AnyManifest, Manifest, SCHEMA_VERSION};

fn envelope(stage: &str, body: &[u8]) -> Vec<u8> {
    let mut out = b"PYFOD-MF".to_vec();
    out.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
    out.push(stage.len() as u8);
    out.extend_from_slice(stage.as_bytes());
    out.push(0);
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body);
    let checksum = pyfod_digest::Sha256::of(&out);
    out.extend_from_slice(checksum.as_bytes());
    out
}

fn again(manifest: &AnyManifest) -> Vec<u8> {
    match manifest {
        AnyManifest::Fetch(m) => m.encode(None),
        AnyManifest::BuildSdist(m) => m.encode(None),
        AnyManifest::Install(m) => m.encode(None),
        AnyManifest::Scrub(m) => m.encode(None),
        AnyManifest::Hash(m) => m.encode(None),
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = AnyManifest::decode(data);
    for stage in ["fetch", "build-sdist", "install", "scrub", "hash"] {
        if let Ok((_, manifest)) = AnyManifest::decode(&envelope(stage, data)) {
            let (_, back) = AnyManifest::decode(&again(&manifest)).expect("what pyfod writes, it reads");
            assert_eq!(again(&back), again(&manifest));
        }
    }
});
