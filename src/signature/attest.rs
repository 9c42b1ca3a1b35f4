//! Attestations (`.att`: DSSE envelopes carrying in-toto statements) and SBOMs
//! (`.sbom` attachments, or SPDX / CycloneDX attestation predicates).
//!
//! An attestation is verified when its envelope signature verifies with the
//! trust config and its statement's subject is the image. SBOMs from
//! attestations are summarised only when the attestation verified; `.sbom`
//! attachments are unsigned by design and say so by their location.

use super::keyless;
use super::registry::{Descriptor, MAX_SBOM_BYTES, RegistryClient, Repo};
use super::report::{AttestationReport, CheckLine, KeylessInput, SbomSummary};
use super::{Attached, Trust, decode_b64, verify_with_keys};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::SystemTime;

pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
pub const INTOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const ATTESTATION_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.att.v1+json";
pub const SBOM_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sbom.v1+json";
pub const SPDX_PREDICATE: &str = "https://spdx.dev/Document";
pub const CYCLONEDX_PREDICATE: &str = "https://cyclonedx.org/bom";
/// Layer media types of an SBOM attached with `cosign attach sbom` (JSON only).
pub const SBOM_MEDIA_TYPES: [&str; 4] = [
    "text/spdx+json",
    "application/spdx+json",
    "spdx+json",
    "application/vnd.cyclonedx+json",
];
/// At most this many attestation or SBOM layers are read per image.
pub const MAX_ATTACHMENTS: usize = 32;
/// Nesting depth of CycloneDX components that is still counted.
const MAX_COMPONENT_DEPTH: usize = 64;

/// DSSE pre-authentication encoding: what the envelope signature covers.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Statement {
    #[serde(rename = "_type")]
    kind: String,
    #[serde(default)]
    subject: Vec<Subject>,
    predicate_type: String,
    #[serde(default)]
    predicate: Value,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    name: String,
    #[serde(default)]
    digest: BTreeMap<String, String>,
}

/// Checks one DSSE envelope; returns the report and, when it verified, the
/// SBOM its predicate carries.
pub fn verify_envelope(
    location: String,
    envelope: &[u8],
    annotations: &BTreeMap<String, String>,
    image_digest: &str,
    trust: &Trust,
    now: SystemTime,
) -> (AttestationReport, Option<SbomSummary>) {
    let mut checks = Vec::new();
    let mut report = AttestationReport {
        location: location.clone(),
        predicate_type: String::new(),
        subject_matches: false,
        checks: Vec::new(),
        verified: false,
    };
    let env: Envelope = match serde_json::from_slice(envelope) {
        Ok(e) => e,
        Err(e) => {
            report.checks = vec![CheckLine::fail(
                "envelope",
                format!("not a DSSE envelope: {e}"),
            )];
            return (report, None);
        }
    };
    let Some(body) = decode_b64(&env.payload) else {
        report.checks = vec![CheckLine::fail("envelope", "the payload is not base64")];
        return (report, None);
    };
    if env.signatures.is_empty() {
        checks.push(CheckLine::fail(
            "envelope",
            "the envelope has no signatures",
        ));
    } else {
        checks.push(CheckLine::pass(
            "envelope",
            format!("DSSE, {} signature(s)", env.signatures.len()),
        ));
    }
    if env.payload_type == INTOTO_PAYLOAD_TYPE {
        checks.push(CheckLine::pass("payload type", INTOTO_PAYLOAD_TYPE));
    } else {
        checks.push(CheckLine::fail(
            "payload type",
            format!("'{}', expected '{INTOTO_PAYLOAD_TYPE}'", env.payload_type),
        ));
    }

    // Any signature by a trusted key; otherwise a certificate in the annotations.
    let signed = pae(&env.payload_type, &body);
    let by_key = env.signatures.iter().find_map(|s| {
        let sig = super::cosign::parse_signature(&s.sig).ok()?;
        verify_with_keys(trust, &signed, &sig).map(|found| (found, s.keyid.clone()))
    });
    let cert = annotations
        .get(super::cosign::CERTIFICATE_ANNOTATION)
        .filter(|c| !c.trim().is_empty());
    match (by_key, cert, env.signatures.first()) {
        (Some(((path, fingerprint), _keyid)), _, _) => checks.push(CheckLine::pass(
            "signature",
            format!("verified with trusted key {fingerprint} ({path})"),
        )),
        (None, Some(cert), Some(first)) => {
            let input = KeylessInput {
                payload: &signed,
                signature_b64: &first.sig,
                cert_pem: cert,
                chain_pem: annotations
                    .get(super::cosign::CHAIN_ANNOTATION)
                    .map(String::as_str),
                bundle_json: annotations
                    .get(super::cosign::BUNDLE_ANNOTATION)
                    .map(String::as_str),
                now,
            };
            let (lines, _signer, _rekor, ok) = keyless::verify_keyless(&input, trust);
            checks.extend(lines);
            if !ok && checks.iter().all(|c| c.ok) {
                checks.push(CheckLine::fail(
                    "certificate",
                    "keyless verification failed",
                ));
            }
        }
        _ => {
            let malformed = env
                .signatures
                .iter()
                .any(|s| super::cosign::parse_signature(&s.sig).is_err());
            let reason = if malformed && env.signatures.len() == 1 {
                "malformed signature in the envelope".to_string()
            } else {
                super::cosign::no_key_reason(trust)
            };
            checks.push(CheckLine::fail("signature", reason));
        }
    }

    let mut sbom = None;
    match serde_json::from_slice::<Statement>(&body) {
        Ok(st) => {
            let known = st.kind.starts_with("https://in-toto.io/Statement/");
            if known {
                checks.push(CheckLine::pass("statement", st.kind.clone()));
            } else {
                checks.push(CheckLine::fail(
                    "statement",
                    format!("'_type' is '{}', not an in-toto statement", st.kind),
                ));
            }
            report.predicate_type = st.predicate_type.clone();
            let want = image_digest.strip_prefix("sha256:").unwrap_or(image_digest);
            report.subject_matches = st
                .subject
                .iter()
                .any(|s| s.digest.get("sha256").map(|d| d.as_str()) == Some(want));
            if report.subject_matches {
                checks.push(CheckLine::pass("subject", format!("names {image_digest}")));
            } else {
                let named: Vec<String> = st
                    .subject
                    .iter()
                    .map(|s| match s.digest.get("sha256") {
                        Some(d) => format!("{}@sha256:{d}", s.name),
                        None => format!("{} (no sha256)", s.name),
                    })
                    .collect();
                checks.push(CheckLine::fail(
                    "subject",
                    format!(
                        "attestation subject does not match the image: it names {} but the image is {image_digest}",
                        if named.is_empty() { "nothing".to_string() } else { named.join(", ") }
                    ),
                ));
            }
            report.verified = checks.iter().all(|c| c.ok);
            if report.verified {
                sbom = sbom_from_predicate(&st.predicate_type, &st.predicate, &location);
            }
        }
        Err(e) => checks.push(CheckLine::fail(
            "statement",
            format!("bad in-toto statement: {e}"),
        )),
    }
    report.checks = checks;
    (report, sbom)
}

/// The SBOM in an SPDX or CycloneDX predicate (cosign's older `{"Data": …}`
/// wrapping included).
pub fn sbom_from_predicate(
    predicate_type: &str,
    predicate: &Value,
    location: &str,
) -> Option<SbomSummary> {
    if !(predicate_type.starts_with(SPDX_PREDICATE)
        || predicate_type.starts_with(CYCLONEDX_PREDICATE))
    {
        return None;
    }
    let doc = match predicate.get("Data") {
        Some(Value::String(s)) => serde_json::from_str(s).ok()?,
        Some(v @ Value::Object(_)) => v.clone(),
        _ => predicate.clone(),
    };
    sbom_summary(&doc, location)
}

/// Format + version, tool and component count of an SPDX or CycloneDX JSON document.
pub fn sbom_summary(doc: &Value, location: &str) -> Option<SbomSummary> {
    if let Some(version) = doc.get("spdxVersion").and_then(Value::as_str) {
        let tools: Vec<&str> = doc
            .pointer("/creationInfo/creators")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|c| c.strip_prefix("Tool:"))
            .map(str::trim)
            .collect();
        let components = doc
            .get("packages")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        return Some(SbomSummary {
            format: format!("SPDX {}", version.trim_start_matches("SPDX-")),
            tool: (!tools.is_empty()).then(|| tools.join(", ")),
            components,
            location: location.to_string(),
        });
    }
    if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        let version = doc
            .get("specVersion")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let tools = match doc.pointer("/metadata/tools") {
            // 1.5+: {"components": [...], "services": [...]}
            Some(Value::Object(o)) => ["components", "services"]
                .iter()
                .filter_map(|k| o.get(*k).and_then(Value::as_array))
                .flatten()
                .filter_map(tool_name)
                .collect(),
            // ≤1.4: [{"vendor", "name", "version"}]
            Some(Value::Array(a)) => a.iter().filter_map(tool_name).collect(),
            _ => Vec::new(),
        };
        return Some(SbomSummary {
            format: format!("CycloneDX {version}"),
            tool: (!tools.is_empty()).then(|| tools.join(", ")),
            components: count_components(doc.get("components"), 0),
            location: location.to_string(),
        });
    }
    None
}

fn tool_name(t: &Value) -> Option<String> {
    let name = t.get("name").and_then(Value::as_str)?;
    Some(match t.get("version").and_then(Value::as_str) {
        Some(v) => format!("{name} {v}"),
        None => name.to_string(),
    })
}

fn count_components(list: Option<&Value>, depth: usize) -> usize {
    if depth > MAX_COMPONENT_DEPTH {
        return 0;
    }
    list.and_then(Value::as_array).map_or(0, |items| {
        items
            .iter()
            .map(|c| 1 + count_components(c.get("components"), depth + 1))
            .sum()
    })
}

/// Finds and checks every attestation of `digest`; SBOMs from the verified ones.
pub(crate) async fn attestations(
    client: &RegistryClient,
    repo: &Repo,
    digest: &str,
    referrers: Option<&[Descriptor]>,
    trust: &Trust,
    now: SystemTime,
) -> (Vec<AttestationReport>, Vec<SbomSummary>, Vec<String>) {
    let attached = Attached::discover(client, repo, digest, "att", referrers, |d| {
        matches!(
            d.artifact_type.as_deref(),
            Some(ATTESTATION_ARTIFACT_TYPE | DSSE_MEDIA_TYPE | INTOTO_PAYLOAD_TYPE)
        )
    })
    .await;
    let layers = attached.layers(|l| l.media_type == DSSE_MEDIA_TYPE, MAX_ATTACHMENTS);
    let checks = layers.into_iter().map(|(location, layer)| async move {
        match client.blob(repo, &layer.digest, MAX_SBOM_BYTES).await {
            Ok(bytes) => verify_envelope(location, &bytes, &layer.annotations, digest, trust, now),
            Err(e) => (
                AttestationReport {
                    location,
                    predicate_type: layer
                        .annotations
                        .get("predicateType")
                        .cloned()
                        .unwrap_or_default(),
                    subject_matches: false,
                    checks: vec![CheckLine::fail("envelope", format!("cannot read: {e}"))],
                    verified: false,
                },
                None,
            ),
        }
    });
    let mut reports = Vec::new();
    let mut sboms = Vec::new();
    for (report, sbom) in futures_util::future::join_all(checks).await {
        reports.push(report);
        sboms.extend(sbom);
    }
    (reports, sboms, attached.problems)
}

/// SBOMs attached with `cosign attach sbom` (the `.sbom` tag).
pub(crate) async fn attached_sboms(
    client: &RegistryClient,
    repo: &Repo,
    digest: &str,
    referrers: Option<&[Descriptor]>,
) -> (Vec<SbomSummary>, Vec<String>) {
    let attached = Attached::discover(client, repo, digest, "sbom", referrers, |d| {
        d.artifact_type
            .as_deref()
            .is_some_and(|t| t == SBOM_ARTIFACT_TYPE || SBOM_MEDIA_TYPES.contains(&t))
    })
    .await;
    let layers = attached.layers(
        |l| SBOM_MEDIA_TYPES.contains(&l.media_type.as_str()),
        MAX_ATTACHMENTS,
    );
    let reads = layers.into_iter().map(|(location, layer)| async move {
        let bytes = client
            .blob(repo, &layer.digest, MAX_SBOM_BYTES)
            .await
            .map_err(|e| format!("SBOM at {location}: {e}"))?;
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("SBOM at {location} is not JSON: {e}"))?;
        sbom_summary(&doc, &location)
            .ok_or_else(|| format!("SBOM at {location} is neither SPDX nor CycloneDX JSON"))
    });
    let mut sboms = Vec::new();
    let mut problems = attached.problems;
    for r in futures_util::future::join_all(reads).await {
        match r {
            Ok(s) => sboms.push(s),
            Err(why) => problems.push(why),
        }
    }
    (sboms, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_dsse_v1_encoding() {
        assert_eq!(
            pae("application/vnd.in-toto+json", b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec()
        );
    }

    #[test]
    fn spdx_and_cyclonedx_are_summarised() {
        let spdx = serde_json::json!({
            "spdxVersion": "SPDX-2.3",
            "creationInfo": {"creators": ["Organization: x", "Tool: syft-1.2.0"]},
            "packages": [{"name": "a"}, {"name": "b"}, {"name": "c"}]
        });
        let s = sbom_summary(&spdx, "here").unwrap();
        assert_eq!(
            (s.format.as_str(), s.tool.as_deref(), s.components),
            ("SPDX 2.3", Some("syft-1.2.0"), 3)
        );
        let cdx = serde_json::json!({
            "bomFormat": "CycloneDX", "specVersion": "1.5",
            "metadata": {"tools": {"components": [{"name": "trivy", "version": "0.50"}]}},
            "components": [{"name": "a", "components": [{"name": "a1"}, {"name": "a2", "components": [{"name": "x"}]}]}, {"name": "b"}]
        });
        let s = sbom_summary(&cdx, "here").unwrap();
        assert_eq!(
            (s.format.as_str(), s.tool.as_deref(), s.components),
            ("CycloneDX 1.5", Some("trivy 0.50"), 5)
        );
        let old = serde_json::json!({"bomFormat": "CycloneDX", "specVersion": "1.4",
            "metadata": {"tools": [{"vendor": "v", "name": "cdxgen", "version": "9"}]}});
        assert_eq!(
            sbom_summary(&old, "").unwrap().tool.as_deref(),
            Some("cdxgen 9")
        );
        assert!(sbom_summary(&serde_json::json!({"x": 1}), "").is_none());
    }
}
