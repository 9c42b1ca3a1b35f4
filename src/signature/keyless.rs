//! Keyless cosign signatures, verified offline: a short-lived signing
//! certificate (Fulcio-style) that must chain to the configured roots and
//! name a trusted identity, and a Rekor bundle whose signed entry timestamp
//! proves when the signature was logged.
//!
//! Every check yields a [`CheckLine`] whose reason an SRE can act on; the
//! signature is verified only when every line is ok (fail closed).
//!
//! Why the signing time matters: keyless certificates live about ten
//! minutes, so "is the certificate valid" is asked at the Rekor bundle's
//! integrated time when a verified bundle vouches for it, and otherwise at
//! `now` (where an old release's certificate has long expired).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use serde::Deserialize;
use sha2::{Digest as _, Sha256, Sha384};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

use super::{CheckLine, KeylessInput, RekorInfo, Signer, Trust};
use crate::config::Identity;

/// Fulcio's OIDC issuer extension, v1: the issuer URL as raw bytes (deprecated, still issued).
const OID_FULCIO_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
/// Fulcio's OIDC issuer extension, v2: the issuer URL as a DER UTF8String.
const OID_FULCIO_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
/// Longest leaf → intermediates → root path we follow; Fulcio's is 3.
const MAX_CHAIN_DEPTH: usize = 5;

const CHECK_CERTIFICATE: &str = "certificate";
const CHECK_VALIDITY: &str = "validity";
const CHECK_IDENTITY: &str = "identity";
const CHECK_SIGNATURE: &str = "signature";
const CHECK_REKOR: &str = "rekor";

fn line(name: &str, ok: bool, reason: impl Into<String>) -> CheckLine {
    CheckLine {
        name: name.to_string(),
        ok,
        reason: reason.into(),
    }
}

/// Verifies a keyless signature: certificate chain, validity at signing time,
/// identity, the signature over the payload, and the Rekor bundle.
///
/// Returns the check lines (certificate, validity, identity, signature,
/// rekor — always in that order), the signer as the certificate names it,
/// the Rekor details when a bundle could be read, and whether every check
/// passed.
pub fn verify_keyless(
    input: &KeylessInput,
    trust: &Trust,
) -> (Vec<CheckLine>, Signer, Option<RekorInfo>, bool) {
    // The certificate annotation should hold only the leaf; anything after it
    // is treated as a possible intermediate, never as trusted.
    let leaf_pem = parse_pem_certificates(input.cert_pem);
    let chain_pem = input.chain_pem.map(parse_pem_certificates);

    let leaf_der = match &leaf_pem {
        Ok(ders) => ders.first().filter(|der| parse_der(der).is_ok()).cloned(),
        Err(_) => None,
    };

    let (rekor_line, rekor_info) = match input.bundle_json {
        Some(bundle) => {
            let binding = Binding {
                payload: input.payload,
                leaf_der: leaf_der.as_deref(),
            };
            rekor_check(bundle, input.signature_b64, trust, Some(binding))
        }
        None if trust.require_rekor => (
            line(
                CHECK_REKOR,
                false,
                "no Rekor bundle: [signing] require_rekor wants every signature logged in Rekor",
            ),
            None,
        ),
        None => (
            line(CHECK_REKOR, true, "no Rekor bundle (not required)"),
            None,
        ),
    };

    // A verified bundle vouches for when the signature was made.
    let (check_at, check_at_source) = match &rekor_info {
        Some(info) if rekor_line.ok && info.set_verified => {
            (info.integrated_time, "the Rekor integrated time")
        }
        _ => (unix_seconds(input.now), "now"),
    };

    let not_checked = |why: &str| {
        vec![
            line(CHECK_VALIDITY, false, format!("not checked: {why}")),
            line(CHECK_IDENTITY, false, format!("not checked: {why}")),
            line(CHECK_SIGNATURE, false, format!("not checked: {why}")),
        ]
    };

    let mut leaf_ders = match leaf_pem {
        Ok(ders) => ders,
        Err(e) => {
            let mut lines = vec![line(
                CHECK_CERTIFICATE,
                false,
                format!("malformed certificate: {e}"),
            )];
            lines.extend(not_checked("the certificate could not be read"));
            lines.push(rekor_line);
            return (lines, Signer::Unknown, rekor_info, false);
        }
    };
    let mut pool_ders = leaf_ders.split_off(1);
    match chain_pem {
        Some(Ok(ders)) => pool_ders.extend(ders),
        Some(Err(e)) => {
            let mut lines = vec![line(
                CHECK_CERTIFICATE,
                false,
                format!("malformed certificate chain: {e}"),
            )];
            lines.extend(not_checked("the certificate chain could not be read"));
            lines.push(rekor_line);
            return (lines, Signer::Unknown, rekor_info, false);
        }
        None => {}
    }

    let leaf = match parse_der(&leaf_ders[0]) {
        Ok(cert) => cert,
        Err(e) => {
            let mut lines = vec![line(
                CHECK_CERTIFICATE,
                false,
                format!("malformed certificate: {e}"),
            )];
            lines.extend(not_checked("the certificate could not be read"));
            lines.push(rekor_line);
            return (lines, Signer::Unknown, rekor_info, false);
        }
    };
    let mut pool = Vec::with_capacity(pool_ders.len());
    for der in &pool_ders {
        match parse_der(der) {
            Ok(cert) => pool.push(cert),
            Err(e) => {
                let mut lines = vec![line(
                    CHECK_CERTIFICATE,
                    false,
                    format!("malformed certificate chain: {e}"),
                )];
                lines.extend(not_checked("the certificate chain could not be read"));
                lines.push(rekor_line);
                return (lines, Signer::Unknown, rekor_info, false);
            }
        }
    }
    // A root that does not parse can vouch for nothing; it is left out, and
    // "no usable roots" is reported when none is left.
    let roots: Vec<X509Certificate> = trust
        .roots
        .iter()
        .filter_map(|der| parse_der(der).ok())
        .collect();

    let subject = certificate_subject(&leaf);
    let issuer = oidc_issuer(&leaf);
    let signer = Signer::Certificate {
        subject: subject.clone().unwrap_or_default(),
        issuer: issuer.clone().unwrap_or_default(),
        not_before: rfc3339(leaf.validity().not_before.timestamp()),
        not_after: rfc3339(leaf.validity().not_after.timestamp()),
    };

    let mut lines = Vec::with_capacity(5);
    let path = if trust.roots.is_empty() {
        lines.push(line(
            CHECK_CERTIFICATE,
            false,
            "no trusted roots configured ([signing] roots)",
        ));
        None
    } else if roots.is_empty() {
        lines.push(line(
            CHECK_CERTIFICATE,
            false,
            "none of the [signing] roots is a readable certificate",
        ));
        None
    } else {
        match build_path(&leaf, &pool, &roots) {
            Ok(path) => {
                let top = path.last().map(|c| c.subject().to_string());
                lines.push(line(
                    CHECK_CERTIFICATE,
                    true,
                    format!(
                        "chains to trusted root '{}'",
                        top.unwrap_or_else(|| "?".into())
                    ),
                ));
                Some(path)
            }
            Err(why) => {
                lines.push(line(CHECK_CERTIFICATE, false, why));
                None
            }
        }
    };

    lines.push(validity_check(
        &leaf,
        path.as_deref().unwrap_or(&[]),
        check_at,
        check_at_source,
    ));
    lines.push(identity_check(
        subject.as_deref(),
        issuer.as_deref(),
        &trust.identities,
    ));
    lines.push(signature_check(&leaf, input.payload, input.signature_b64));
    lines.push(rekor_line);

    let verified = lines.iter().all(|l| l.ok);
    (lines, signer, rekor_info, verified)
}

/// Verifies a cosign Rekor bundle on its own: the signed entry timestamp
/// against `trust.rekor_keys`, the log id against the key, and that the
/// logged entry carries `payload_signature_b64`.
///
/// The [`RekorInfo`] is returned whenever the bundle could be read, with
/// `set_verified` telling whether its timestamp signature checked out.
pub fn verify_rekor_bundle(
    bundle_json: &str,
    payload_signature_b64: &str,
    trust: &Trust,
) -> (CheckLine, Option<RekorInfo>) {
    rekor_check(bundle_json, payload_signature_b64, trust, None)
}

/// What a keyless signature additionally binds the Rekor entry to.
struct Binding<'a> {
    payload: &'a [u8],
    /// None when the certificate annotation could not be read: then the
    /// bundle cannot be tied to it and fails.
    leaf_der: Option<&'a [u8]>,
}

#[derive(Deserialize)]
struct Bundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: BundlePayload,
}

#[derive(Deserialize)]
struct BundlePayload {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logIndex")]
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

fn rekor_check(
    bundle_json: &str,
    payload_signature_b64: &str,
    trust: &Trust,
    binding: Option<Binding>,
) -> (CheckLine, Option<RekorInfo>) {
    let fail = |reason: String, info: Option<RekorInfo>| (line(CHECK_REKOR, false, reason), info);

    let bundle: Bundle = match serde_json::from_str(bundle_json) {
        Ok(b) => b,
        Err(e) => return fail(format!("malformed Rekor bundle: {e}"), None),
    };
    let p = &bundle.payload;
    let mut info = RekorInfo {
        log_index: p.log_index,
        log_id: p.log_id.clone(),
        integrated_time: p.integrated_time,
        set_verified: false,
    };
    if trust.rekor_keys.is_empty() {
        return fail(
            "cannot verify the Rekor bundle: no [signing] rekor_keys".into(),
            Some(info),
        );
    }
    let log_id = p.log_id.to_ascii_lowercase();
    let Some(key) = trust
        .rekor_keys
        .iter()
        .find(|k| rekor_log_id(k).as_deref() == Some(log_id.as_str()))
    else {
        return fail(
            format!(
                "unknown Rekor log '{}': it is not the log of any [signing] rekor_keys",
                p.log_id
            ),
            Some(info),
        );
    };

    // The SET signs the canonical JSON (RFC 8785: keys sorted, no spaces) of
    // the bundle payload, exactly as Rekor returned it.
    let canonical = match (
        serde_json::to_string(&p.body),
        serde_json::to_string(&p.log_id),
    ) {
        (Ok(body), Ok(log_id)) => format!(
            "{{\"body\":{body},\"integratedTime\":{},\"logID\":{log_id},\"logIndex\":{}}}",
            p.integrated_time, p.log_index
        ),
        _ => {
            return fail(
                "malformed Rekor bundle: payload cannot be encoded".into(),
                Some(info),
            );
        }
    };
    let set = match decode_b64(&bundle.signed_entry_timestamp)
        .and_then(|der| p256::ecdsa::Signature::from_der(&der).map_err(|e| e.to_string()))
    {
        Ok(sig) => sig,
        Err(e) => {
            return fail(
                format!("malformed Rekor bundle: SignedEntryTimestamp is not a signature ({e})"),
                Some(info),
            );
        }
    };
    use p256::ecdsa::signature::Verifier as _;
    if key.verify(canonical.as_bytes(), &set).is_err() {
        return fail(
            "Rekor signed entry timestamp does not verify: the bundle was altered after logging"
                .into(),
            Some(info),
        );
    }
    info.set_verified = true;

    let entry = match decode_b64(&p.body).and_then(|bytes| {
        serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| e.to_string())
    }) {
        Ok(v) => v,
        Err(e) => {
            return fail(format!("malformed Rekor entry body: {e}"), Some(info));
        }
    };
    let kind = entry.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    if kind != "hashedrekord" && kind != "rekord" {
        return fail(
            format!("unsupported Rekor entry kind '{kind}' (expected hashedrekord or rekord)"),
            Some(info),
        );
    }
    let spec = entry.get("spec");
    let str_at = |path: &[&str]| -> Option<&str> {
        let mut v = spec?;
        for k in path {
            v = v.get(k)?;
        }
        v.as_str()
    };

    let logged_sig = str_at(&["signature", "content"]).map(decode_b64);
    let ours = decode_b64(payload_signature_b64);
    match (logged_sig, ours) {
        (Some(Ok(logged)), Ok(ours)) if logged == ours => {}
        (Some(Ok(_)), Ok(_)) => {
            return fail(
                "bundle is for another signature: the Rekor entry logs a different signature"
                    .into(),
                Some(info),
            );
        }
        (_, Err(e)) => {
            return fail(
                format!("the signature annotation is not base64 ({e})"),
                Some(info),
            );
        }
        (None | Some(Err(_)), _) => {
            return fail(
                "malformed Rekor entry body: no readable spec.signature.content".into(),
                Some(info),
            );
        }
    }

    if let Some(b) = binding {
        let algorithm = str_at(&["data", "hash", "algorithm"]);
        let value = str_at(&["data", "hash", "value"]);
        match (algorithm, value) {
            (Some("sha256"), Some(v))
                if v.eq_ignore_ascii_case(&hex(&Sha256::digest(b.payload))) => {}
            (Some("sha256"), Some(_)) => {
                return fail(
                    "bundle is for another payload: the Rekor entry logs a different digest".into(),
                    Some(info),
                );
            }
            _ => {
                return fail(
                    "malformed Rekor entry body: no sha256 spec.data.hash".into(),
                    Some(info),
                );
            }
        }
        let logged_cert = str_at(&["signature", "publicKey", "content"])
            .map(decode_b64)
            .and_then(Result::ok)
            .and_then(|pem| String::from_utf8(pem).ok())
            .and_then(|pem| parse_pem_certificates(&pem).ok());
        match logged_cert {
            Some(ders) if b.leaf_der.is_some() && ders.first().map(Vec::as_slice) == b.leaf_der => {
            }
            _ if b.leaf_der.is_none() => {
                return fail(
                    "cannot tie the bundle to the signing certificate: the certificate could not be read"
                        .into(),
                    Some(info),
                );
            }
            _ => {
                return fail(
                    "bundle is for another certificate: the Rekor entry logs a different signing certificate"
                        .into(),
                    Some(info),
                );
            }
        }
    }

    let reason = format!(
        "logged in Rekor at index {}, integrated {}",
        info.log_index,
        rfc3339(info.integrated_time)
    );
    (line(CHECK_REKOR, true, reason), Some(info))
}

/// Rekor's log id: the hex SHA-256 of the log key's SubjectPublicKeyInfo DER.
fn rekor_log_id(key: &p256::ecdsa::VerifyingKey) -> Option<String> {
    key.to_public_key_der()
        .ok()
        .map(|der| hex(&Sha256::digest(der.as_bytes())))
}

/// Every CERTIFICATE block of a PEM text, as DER; at least one, nothing else.
fn parse_pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut ders = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| format!("not PEM ({e})"))?;
        if block.label != "CERTIFICATE" {
            return Err(format!(
                "PEM block '{}' where a CERTIFICATE was expected",
                block.label
            ));
        }
        ders.push(block.contents);
    }
    if ders.is_empty() {
        return Err("no PEM CERTIFICATE block".into());
    }
    Ok(ders)
}

fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err("trailing bytes after the certificate".into()),
        Err(e) => Err(format!("not an X.509 certificate ({e})")),
    }
}

/// Finds leaf → intermediates (from the annotation) → trusted root, every
/// link a verified signature by a CA certificate. Returns the issuers.
fn build_path<'c, 'a>(
    leaf: &'c X509Certificate<'a>,
    pool: &'c [X509Certificate<'a>],
    roots: &'c [X509Certificate<'a>],
) -> Result<Vec<&'c X509Certificate<'a>>, String> {
    if let Some(why) = leaf_usage_problem(leaf) {
        return Err(why);
    }
    let mut path: Vec<&X509Certificate> = Vec::new();
    let mut current = leaf;
    let mut detail = String::new();
    for _ in 0..MAX_CHAIN_DEPTH {
        for root in roots {
            if current.issuer().as_raw() != root.subject().as_raw() {
                continue;
            }
            match issued_by(current, root) {
                Ok(()) => {
                    path.push(root);
                    return Ok(path);
                }
                Err(e) => detail = e,
            }
        }
        let mut next = None;
        for candidate in pool {
            if current.issuer().as_raw() != candidate.subject().as_raw()
                || path.iter().any(|p| p.as_raw() == candidate.as_raw())
                || candidate.as_raw() == current.as_raw()
            {
                continue;
            }
            match issued_by(current, candidate) {
                Ok(()) => {
                    next = Some(candidate);
                    break;
                }
                Err(e) => detail = e,
            }
        }
        match next {
            Some(n) => {
                path.push(n);
                current = n;
            }
            None => break,
        }
    }
    let mut why = format!(
        "certificate does not chain to a trusted root (issued by '{}')",
        current.issuer()
    );
    if detail.is_empty() {
        why.push_str(": no such issuer in the chain annotation or [signing] roots");
    } else {
        why.push_str(": ");
        why.push_str(&detail);
    }
    Err(why)
}

/// A signing certificate must not be a CA, and when it restricts its use it
/// must allow code signing (as cosign requires).
fn leaf_usage_problem(leaf: &X509Certificate) -> Option<String> {
    match leaf.extended_key_usage() {
        Ok(Some(eku)) if !(eku.value.code_signing || eku.value.any) => {
            return Some(
                "certificate is not for code signing (extended key usage lacks codeSigning)".into(),
            );
        }
        Err(e) => return Some(format!("malformed certificate: extended key usage ({e})")),
        _ => {}
    }
    match leaf.key_usage() {
        Ok(Some(ku)) if !ku.value.digital_signature() => {
            Some("certificate is not for signing (key usage lacks digitalSignature)".into())
        }
        Err(e) => Some(format!("malformed certificate: key usage ({e})")),
        _ => None,
    }
}

/// `cert` was signed by `issuer`, and `issuer` may issue certificates.
fn issued_by(cert: &X509Certificate, issuer: &X509Certificate) -> Result<(), String> {
    let issuer_name = issuer.subject();
    match issuer.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        _ => return Err(format!("'{issuer_name}' is not a CA (basicConstraints)")),
    }
    if let Ok(Some(ku)) = issuer.key_usage()
        && !ku.value.key_cert_sign()
    {
        return Err(format!(
            "'{issuer_name}' may not sign certificates (key usage lacks keyCertSign)"
        ));
    }
    if cert.signature_algorithm.algorithm != cert.tbs_certificate.signature.algorithm {
        return Err("the certificate's two signature algorithm fields disagree".into());
    }
    let alg = cert.signature_algorithm.algorithm.to_id_string();
    let tbs = cert.tbs_certificate.as_ref();
    let digest: Vec<u8> = match alg.as_str() {
        OID_ECDSA_SHA256 => Sha256::digest(tbs).to_vec(),
        OID_ECDSA_SHA384 => Sha384::digest(tbs).to_vec(),
        other => {
            return Err(format!(
                "unsupported signature algorithm {other} (ECDSA with SHA-256/384 only)"
            ));
        }
    };
    verify_prehash(issuer.public_key().raw, &digest, &cert.signature_value.data).map_err(|e| {
        format!("signature by '{issuer_name}' does not verify{e} (another CA of the same name?)")
    })
}

/// ECDSA over a digest with a P-256 or P-384 key given as SPKI DER. The
/// error is a detail to append (empty when the signature simply is wrong).
fn verify_prehash(spki: &[u8], digest: &[u8], sig_der: &[u8]) -> Result<(), String> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    const MALFORMED: &str = ": malformed ECDSA signature";
    if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(spki) {
        let sig = p256::ecdsa::Signature::from_der(sig_der).map_err(|_| MALFORMED.to_string())?;
        return key.verify_prehash(digest, &sig).map_err(|_| String::new());
    }
    if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_der(spki) {
        let sig = p384::ecdsa::Signature::from_der(sig_der).map_err(|_| MALFORMED.to_string())?;
        return key.verify_prehash(digest, &sig).map_err(|_| String::new());
    }
    Err(": its key is not ECDSA P-256 or P-384".into())
}

fn validity_check(
    leaf: &X509Certificate,
    issuers: &[&X509Certificate],
    at: i64,
    at_source: &str,
) -> CheckLine {
    let when = format!("{} ({at_source})", rfc3339(at));
    for (i, cert) in std::iter::once(&leaf).chain(issuers.iter()).enumerate() {
        let which = if i == 0 {
            "certificate".to_string()
        } else {
            format!("issuer certificate '{}'", cert.subject())
        };
        let v = cert.validity();
        if at < v.not_before.timestamp() {
            return line(
                CHECK_VALIDITY,
                false,
                format!(
                    "{which} not yet valid: valid from {}, checked at {when}",
                    rfc3339(v.not_before.timestamp())
                ),
            );
        }
        if at > v.not_after.timestamp() {
            return line(
                CHECK_VALIDITY,
                false,
                format!(
                    "{which} expired at {}, checked at {when}",
                    rfc3339(v.not_after.timestamp())
                ),
            );
        }
    }
    line(CHECK_VALIDITY, true, format!("valid at {when}"))
}

/// The signer's identity as Fulcio writes it: the first e-mail or URI SAN.
fn certificate_subject(cert: &X509Certificate) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|name| match name {
        GeneralName::RFC822Name(s) | GeneralName::URI(s) => Some((*s).to_string()),
        _ => None,
    })
}

/// The OIDC issuer that vouched for the subject (v2 extension preferred).
fn oidc_issuer(cert: &X509Certificate) -> Option<String> {
    let ext = |oid: &str| {
        cert.extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == oid)
            .map(|e| e.value)
    };
    if let Some(value) = ext(OID_FULCIO_ISSUER_V2) {
        return match x509_parser::der_parser::der::parse_der_utf8string(value) {
            Ok(([], obj)) => obj.as_str().ok().map(str::to_string),
            _ => None,
        };
    }
    ext(OID_FULCIO_ISSUER_V1)
        .and_then(|value| std::str::from_utf8(value).ok())
        .map(str::to_string)
}

fn identity_check(
    subject: Option<&str>,
    issuer: Option<&str>,
    identities: &[Identity],
) -> CheckLine {
    let Some(subject) = subject else {
        return line(
            CHECK_IDENTITY,
            false,
            "certificate names no signer: no e-mail or URI subject alternative name",
        );
    };
    let Some(issuer) = issuer else {
        return line(
            CHECK_IDENTITY,
            false,
            format!(
                "certificate for {subject} names no OIDC issuer (extension {OID_FULCIO_ISSUER_V2} or {OID_FULCIO_ISSUER_V1})"
            ),
        );
    };
    if identities.is_empty() {
        return line(
            CHECK_IDENTITY,
            false,
            format!(
                "signed by {subject} (issuer {issuer}) but no trusted identities are configured ([signing] identities)"
            ),
        );
    }
    let mut config_errors = Vec::new();
    let mut subject_matched = Vec::new();
    for id in identities {
        let s = matches(id.subject.as_deref(), id.subject_regex.as_deref(), subject);
        let i = matches(id.issuer.as_deref(), id.issuer_regex.as_deref(), issuer);
        for r in [&s, &i] {
            if let Err(e) = r {
                config_errors.push(e.clone());
            }
        }
        match (s, i) {
            (Ok(true), Ok(true)) => {
                return line(
                    CHECK_IDENTITY,
                    true,
                    format!("signed by {subject} (issuer {issuer})"),
                );
            }
            (Ok(true), _) => subject_matched.push(id),
            _ => {}
        }
    }
    let mut reason = if subject_matched.is_empty() {
        format!(
            "identity mismatch: signed by {subject} (issuer {issuer}) but trusted identities are {}",
            identities
                .iter()
                .map(describe_identity)
                .collect::<Vec<_>>()
                .join("; ")
        )
    } else {
        format!(
            "issuer mismatch: {subject} signed through issuer {issuer}, but is trusted only through {}",
            subject_matched
                .iter()
                .map(|id| describe_constraint(id.issuer.as_deref(), id.issuer_regex.as_deref()))
                .collect::<Vec<_>>()
                .join(" or ")
        )
    };
    if !config_errors.is_empty() {
        reason.push_str(" (");
        reason.push_str(&config_errors.join("; "));
        reason.push(')');
    }
    line(CHECK_IDENTITY, false, reason)
}

/// Exact and regex constraints must both hold when both are given; an
/// identity with neither matches nothing (fail closed). Regexes must match
/// the whole value, so `.*@example\.com` cannot be satisfied by
/// `evil@example.com.attacker.net`.
fn matches(exact: Option<&str>, pattern: Option<&str>, value: &str) -> Result<bool, String> {
    if exact.is_none() && pattern.is_none() {
        return Ok(false);
    }
    if let Some(exact) = exact
        && exact != value
    {
        return Ok(false);
    }
    if let Some(pattern) = pattern {
        let re = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("invalid regex '{pattern}' in [signing] identities: {e}"))?;
        return Ok(re.is_match(value));
    }
    Ok(true)
}

fn describe_constraint(exact: Option<&str>, pattern: Option<&str>) -> String {
    match (exact, pattern) {
        (Some(e), _) => e.to_string(),
        (None, Some(p)) => format!("/{p}/"),
        (None, None) => "(nothing)".into(),
    }
}

fn describe_identity(id: &Identity) -> String {
    format!(
        "{} (issuer {})",
        describe_constraint(id.subject.as_deref(), id.subject_regex.as_deref()),
        describe_constraint(id.issuer.as_deref(), id.issuer_regex.as_deref())
    )
}

/// The leaf's key (ECDSA P-256, as cosign issues) over the payload bytes.
fn signature_check(leaf: &X509Certificate, payload: &[u8], signature_b64: &str) -> CheckLine {
    use p256::ecdsa::signature::Verifier as _;
    let key = match p256::ecdsa::VerifyingKey::from_public_key_der(leaf.public_key().raw) {
        Ok(k) => k,
        Err(_) => {
            return line(
                CHECK_SIGNATURE,
                false,
                "certificate key is not ECDSA P-256: unsupported",
            );
        }
    };
    let sig = match decode_b64(signature_b64).and_then(|der| {
        p256::ecdsa::Signature::from_der(&der)
            .map_err(|e| format!("not a DER ECDSA signature ({e})"))
    }) {
        Ok(s) => s,
        Err(e) => {
            return line(
                CHECK_SIGNATURE,
                false,
                format!("malformed signature annotation: {e}"),
            );
        }
    };
    match key.verify(payload, &sig) {
        Ok(()) => line(
            CHECK_SIGNATURE,
            true,
            "payload signed by the certificate's key",
        ),
        Err(_) => line(
            CHECK_SIGNATURE,
            false,
            "signature does not match the payload: tampered payload or another signer",
        ),
    }
}

fn decode_b64(s: &str) -> Result<Vec<u8>, String> {
    B64.decode(s.trim())
        .map_err(|e| format!("not base64 ({e})"))
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{unix}"))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
