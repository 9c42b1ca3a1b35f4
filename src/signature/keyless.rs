//! Keyless verification (certificate chain, identity, Rekor bundle).
//!
//! STUB: the keyless implementation replaces this file. Until then every
//! keyless check fails closed with a reason that says so.

use super::Trust;
use super::report::{CheckLine, KeylessInput, RekorInfo, Signer};

const NOT_BUILT: &str = "keyless verification is not available in this build";

/// Checks the certificate chain against the roots, the identity, and the Rekor bundle.
pub fn verify_keyless(
    _input: &KeylessInput,
    _trust: &Trust,
) -> (Vec<CheckLine>, Signer, Option<RekorInfo>, bool) {
    (
        vec![CheckLine::fail("certificate chain", NOT_BUILT)],
        Signer::Unknown,
        None,
        false,
    )
}

/// Verifies a Rekor bundle's signed entry timestamp and that it covers this signature.
pub fn verify_rekor_bundle(
    _bundle_json: &str,
    _payload_signature_b64: &str,
    _trust: &Trust,
) -> (CheckLine, Option<RekorInfo>) {
    (CheckLine::fail("rekor bundle", NOT_BUILT), None)
}
