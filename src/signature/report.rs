//! What a verification found, as data: the CLI prints it, `--json` serialises
//! it, the TUI inspector draws it. Shared by the key-based and keyless paths.
//!
//! Every string in here may have come from a registry: sanitise before drawing.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// One check of one signature or attestation, with the reason in words.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CheckLine {
    /// "signature", "payload digest", "certificate chain", "identity", "rekor bundle", ...
    pub name: String,
    pub ok: bool,
    pub reason: String,
}

impl CheckLine {
    pub fn pass(name: &str, reason: impl Into<String>) -> CheckLine {
        CheckLine {
            name: name.to_string(),
            ok: true,
            reason: reason.into(),
        }
    }

    pub fn fail(name: &str, reason: impl Into<String>) -> CheckLine {
        CheckLine {
            name: name.to_string(),
            ok: false,
            reason: reason.into(),
        }
    }
}

/// Who signed.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signer {
    /// A trusted public key from `[signing] keys` (or `--key`).
    Key {
        /// `SHA256:<base64>` of the key's SubjectPublicKeyInfo DER.
        fingerprint: String,
        key_file: Option<String>,
    },
    /// A keyless (Fulcio-style) certificate.
    Certificate {
        subject: String,
        issuer: String,
        not_before: String,
        not_after: String,
    },
    /// No trusted key or certificate could be attributed.
    Unknown,
}

/// The Rekor transparency-log entry a bundle points at.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RekorInfo {
    pub log_index: i64,
    pub log_id: String,
    /// Unix seconds.
    pub integrated_time: i64,
    /// The signed entry timestamp verified against a configured Rekor key.
    pub set_verified: bool,
}

/// One cosign signature (one layer of a `.sig` manifest).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SignatureReport {
    /// `registry/repo:sha256-<hex>.sig layer 0 (sha256:…)`
    pub location: String,
    pub media_type: String,
    pub checks: Vec<CheckLine>,
    pub signer: Signer,
    pub rekor: Option<RekorInfo>,
    pub annotations: BTreeMap<String, String>,
    /// Every check passed.
    pub verified: bool,
}

/// One DSSE attestation (one layer of a `.att` manifest).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AttestationReport {
    pub location: String,
    pub predicate_type: String,
    pub subject_matches: bool,
    pub checks: Vec<CheckLine>,
    pub verified: bool,
}

/// What an SBOM says, in one line.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SbomSummary {
    /// "SPDX 2.3" | "CycloneDX 1.5"
    pub format: String,
    pub tool: Option<String>,
    pub components: usize,
    pub location: String,
}

/// The whole verification of one image reference.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Report {
    /// As given by the user.
    pub reference: String,
    /// `sha256:<hex>` the reference resolved to; everything below is about it.
    pub digest: String,
    /// Set when a tag (which can move) was resolved rather than a digest given.
    pub tag_warning: Option<String>,
    pub signatures: Vec<SignatureReport>,
    pub attestations: Vec<AttestationReport>,
    pub sboms: Vec<SbomSummary>,
    /// The policy is satisfied: at least one verified signature.
    pub verified: bool,
    /// Why not (or what else is wrong), in words.
    pub reasons: Vec<String>,
}

/// Keyless part (implemented in keyless.rs): checks the certificate chain
/// against the roots, the identity, and the Rekor bundle.
/// `cert_pem`/`chain_pem` come from the layer annotations
/// `dev.sigstore.cosign/certificate` and `dev.sigstore.cosign/chain`;
/// `bundle_json` from `dev.sigstore.cosign/bundle`.
pub struct KeylessInput<'a> {
    /// The signed bytes (the simple-signing payload, or a DSSE PAE).
    pub payload: &'a [u8],
    pub signature_b64: &'a str,
    pub cert_pem: &'a str,
    pub chain_pem: Option<&'a str>,
    pub bundle_json: Option<&'a str>,
    pub now: SystemTime,
}
