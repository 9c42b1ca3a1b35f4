//! DSSE envelopes (nothing is trusted: nothing may verify, no SBOM comes out).
#![no_main]
use fleetdeck::signature::{Trust, attest};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::time::SystemTime;

fuzz_target!(|data: &[u8]| {
    let (report, sbom) = attest::verify_envelope(
        "fuzz".into(),
        data,
        &BTreeMap::new(),
        "sha256:00",
        &Trust::default(),
        SystemTime::now(),
    );
    assert!(!report.verified && sbom.is_none());
});
