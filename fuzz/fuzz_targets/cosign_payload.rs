//! Cosign simple-signing payloads, checked as a signature layer would be
//! (nothing is trusted: nothing may verify).
#![no_main]
use fleetdeck::signature::{Trust, cosign};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::time::SystemTime;

fuzz_target!(|data: &[u8]| {
    let _ = cosign::parse_simple_signing(data);
    let mut annotations = BTreeMap::new();
    annotations.insert(
        cosign::SIGNATURE_ANNOTATION.to_string(),
        String::from_utf8_lossy(data).into_owned(),
    );
    let report = cosign::verify_layer(
        "fuzz".into(),
        cosign::SIMPLESIGNING_MEDIA_TYPE,
        data,
        &annotations,
        "sha256:00",
        &Trust::default(),
        SystemTime::now(),
    );
    assert!(!report.verified);
});
