//! Cosign signatures: discovery (the `sha256-<hex>.sig` tag, OCI 1.1 referrers)
//! and key-based verification of each simple-signing layer. Certificates in
//! the annotations are handed to [`keyless`](super::keyless).
//!
//! Fails closed: a signature is verified only when every check passed.

use super::keyless;
use super::registry::{Descriptor, MAX_SIGNATURE_LAYER_BYTES, RegistryClient, Repo};
use super::report::{CheckLine, KeylessInput, SignatureReport, Signer};
use super::{Attached, Trust, decode_b64, verify_with_keys};
use p256::ecdsa::Signature;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::SystemTime;

pub const SIMPLESIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// `artifactType` of a cosign signature manifest found through referrers.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// `critical.type` of a container image signature.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";
/// At most this many signature layers are checked per image.
pub const MAX_SIGNATURES: usize = 64;

/// The signed claim: "this reference is that manifest digest".
#[derive(Clone, Debug, PartialEq)]
pub struct SimpleSigning {
    pub docker_reference: String,
    pub manifest_digest: String,
    pub kind: String,
}

/// Parses the simple-signing JSON (`critical.identity.docker-reference`,
/// `critical.image.docker-manifest-digest`, `critical.type`).
pub fn parse_simple_signing(payload: &[u8]) -> Result<SimpleSigning, String> {
    #[derive(Deserialize)]
    struct Payload {
        critical: Critical,
    }
    #[derive(Deserialize)]
    struct Critical {
        identity: IdentityPart,
        image: ImagePart,
        #[serde(rename = "type")]
        kind: String,
    }
    #[derive(Deserialize)]
    struct IdentityPart {
        #[serde(rename = "docker-reference", default)]
        docker_reference: String,
    }
    #[derive(Deserialize)]
    struct ImagePart {
        #[serde(rename = "docker-manifest-digest")]
        docker_manifest_digest: String,
    }
    let p: Payload = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    if p.critical.kind != SIGNATURE_TYPE {
        return Err(format!(
            "critical.type is '{}', expected '{SIGNATURE_TYPE}'",
            p.critical.kind
        ));
    }
    Ok(SimpleSigning {
        docker_reference: p.critical.identity.docker_reference,
        manifest_digest: p.critical.image.docker_manifest_digest,
        kind: p.critical.kind,
    })
}

/// Checks one signature layer: its payload, annotations, the image digest it
/// names, and who signed it. Pure (no I/O): the registry part is done.
pub fn verify_layer(
    location: String,
    media_type: &str,
    payload: &[u8],
    annotations: &BTreeMap<String, String>,
    image_digest: &str,
    trust: &Trust,
    now: SystemTime,
) -> SignatureReport {
    let mut checks = Vec::new();
    let mut signer = Signer::Unknown;
    let mut rekor = None;

    let sig_b64 = annotations.get(SIGNATURE_ANNOTATION).map(|s| s.trim());
    let signature = match sig_b64 {
        None => {
            checks.push(CheckLine::fail(
                "signature annotation",
                format!("malformed signature annotation: '{SIGNATURE_ANNOTATION}' is missing"),
            ));
            None
        }
        Some(b64) => match parse_signature(b64) {
            Ok(sig) => {
                checks.push(CheckLine::pass(
                    "signature annotation",
                    "base64 ECDSA P-256 signature",
                ));
                Some(sig)
            }
            Err(why) => {
                checks.push(CheckLine::fail(
                    "signature annotation",
                    format!("malformed signature annotation: {why}"),
                ));
                None
            }
        },
    };

    match parse_simple_signing(payload) {
        Ok(claim) => {
            checks.push(CheckLine::pass(
                "payload",
                format!("{} for '{}'", claim.kind, claim.docker_reference),
            ));
            if claim.manifest_digest == image_digest {
                checks.push(CheckLine::pass(
                    "payload digest",
                    format!("signed {} = the image", claim.manifest_digest),
                ));
            } else {
                checks.push(CheckLine::fail(
                    "payload digest",
                    format!(
                        "digest mismatch: signed {} but the image is {image_digest}",
                        claim.manifest_digest
                    ),
                ));
            }
        }
        Err(why) => {
            checks.push(CheckLine::fail("payload", format!("bad payload: {why}")));
            checks.push(CheckLine::fail(
                "payload digest",
                "not checked: the payload does not parse",
            ));
        }
    }

    let cert = annotations
        .get(CERTIFICATE_ANNOTATION)
        .filter(|c| !c.trim().is_empty());
    let bundle = annotations
        .get(BUNDLE_ANNOTATION)
        .filter(|b| !b.trim().is_empty());
    let by_key = signature
        .as_ref()
        .and_then(|sig| verify_with_keys(trust, payload, sig));
    match (by_key, cert, sig_b64) {
        (Some((path, fingerprint)), _, Some(b64)) => {
            checks.push(CheckLine::pass(
                "signature",
                format!("verified with trusted key {fingerprint} ({path})"),
            ));
            signer = Signer::Key {
                fingerprint,
                key_file: Some(path),
            };
            match bundle {
                Some(bundle) => {
                    let (line, info) = keyless::verify_rekor_bundle(bundle, b64, trust);
                    checks.push(line);
                    rekor = info;
                }
                None if trust.require_rekor => checks.push(CheckLine::fail(
                    "rekor bundle",
                    "no Rekor bundle, and [signing] require_rekor is set",
                )),
                None => {}
            }
        }
        (None, Some(cert), Some(b64)) => {
            let input = KeylessInput {
                payload,
                signature_b64: b64,
                cert_pem: cert,
                chain_pem: annotations.get(CHAIN_ANNOTATION).map(String::as_str),
                bundle_json: bundle.map(String::as_str),
                now,
            };
            let (lines, who, info, ok) = keyless::verify_keyless(&input, trust);
            checks.extend(lines);
            if !ok && checks.iter().all(|c| c.ok) {
                checks.push(CheckLine::fail(
                    "certificate",
                    "keyless verification failed",
                ));
            }
            signer = who;
            rekor = info;
        }
        (None, _, _) | (_, _, None) => {
            let reason = if signature.is_none() {
                "not checked: the signature annotation is unusable".to_string()
            } else {
                no_key_reason(trust)
            };
            checks.push(CheckLine::fail("signature", reason));
        }
    }

    let verified = !checks.is_empty() && checks.iter().all(|c| c.ok) && signer != Signer::Unknown;
    SignatureReport {
        location,
        media_type: media_type.to_string(),
        checks,
        signer,
        rekor,
        annotations: annotations.clone(),
        verified,
    }
}

/// Why no trusted key verified, naming what was tried.
pub(crate) fn no_key_reason(trust: &Trust) -> String {
    if trust.keys.is_empty() {
        "no trusted key verifies: no keys are configured ([signing] keys or --key)".to_string()
    } else {
        let tried: Vec<&str> = trust.keys.iter().map(|(_, _, fp)| fp.as_str()).collect();
        // Over these bytes the two cannot be told apart: name both.
        format!(
            "wrong key or tampered payload: no trusted key verifies this signature over this payload (tried {})",
            tried.join(", ")
        )
    }
}

/// The annotation: base64 of an ASN.1 DER ECDSA signature (cosign), or of
/// the raw 64-byte r‖s form.
pub(crate) fn parse_signature(b64: &str) -> Result<Signature, String> {
    if b64.is_empty() {
        return Err("the signature is empty".to_string());
    }
    let bytes = decode_b64(b64).ok_or("not base64")?;
    Signature::from_der(&bytes)
        .or_else(|_| Signature::from_slice(&bytes))
        .map_err(|_| {
            format!(
                "{} bytes that are not an ECDSA P-256 signature",
                bytes.len()
            )
        })
}

/// Finds and checks every signature of `digest` in `repo`.
pub(crate) async fn signatures(
    client: &RegistryClient,
    repo: &Repo,
    digest: &str,
    referrers: Option<&[Descriptor]>,
    trust: &Trust,
    now: SystemTime,
) -> (Vec<SignatureReport>, Vec<String>) {
    let attached = Attached::discover(client, repo, digest, "sig", referrers, |d| {
        d.artifact_type.as_deref() == Some(SIGNATURE_ARTIFACT_TYPE)
    })
    .await;
    let mut reasons = attached.problems.clone();
    let layers = attached.layers(|l| l.media_type == SIMPLESIGNING_MEDIA_TYPE, MAX_SIGNATURES);
    if layers.is_empty() && reasons.is_empty() {
        reasons.push(if attached.manifests.is_empty() {
            format!("no signatures found at {}", attached.tag_location)
        } else {
            format!(
                "no signatures found at {}: no {SIMPLESIGNING_MEDIA_TYPE} layers",
                attached.tag_location
            )
        });
    }
    let checks = layers.into_iter().map(|(location, layer)| async move {
        match client
            .blob(repo, &layer.digest, MAX_SIGNATURE_LAYER_BYTES)
            .await
        {
            Ok(payload) => verify_layer(
                location,
                &layer.media_type,
                &payload,
                &layer.annotations,
                digest,
                trust,
                now,
            ),
            Err(e) => SignatureReport {
                location,
                media_type: layer.media_type.clone(),
                checks: vec![CheckLine::fail("payload", format!("cannot read: {e}"))],
                signer: Signer::Unknown,
                rekor: None,
                annotations: layer.annotations.clone(),
                verified: false,
            },
        }
    });
    (futures_util::future::join_all(checks).await, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_signing_needs_the_cosign_type() {
        let ok = br#"{"critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"sha256:aa"},"type":"cosign container image signature"},"optional":null}"#;
        let s = parse_simple_signing(ok).unwrap();
        assert_eq!(s.manifest_digest, "sha256:aa");
        let other = br#"{"critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"sha256:aa"},"type":"atomic container signature"}}"#;
        assert!(
            parse_simple_signing(other)
                .unwrap_err()
                .contains("critical.type")
        );
        assert!(parse_simple_signing(b"{").is_err());
    }

    #[test]
    fn garbage_signatures_are_malformed() {
        assert!(parse_signature("!!!").unwrap_err().contains("base64"));
        assert!(parse_signature("aGVsbG8=").unwrap_err().contains("5 bytes"));
        assert!(parse_signature("").is_err());
    }
}
