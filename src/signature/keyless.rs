//! Keyless cosign signatures, verified offline: a short-lived signing
//! certificate (Fulcio-style) that must chain to the configured roots and
//! name a trusted identity, and a Rekor bundle whose signed entry timestamp
//! proves when the signature was logged. The X.509 path is validated by
//! rustls-webpki with only the configured roots as trust anchors
//! (docs/ARCHITECTURE.md, "Keyless signatures").
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
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

use super::options::Identity;
use super::{CheckLine, KeylessInput, RekorInfo, Signer, Trust};

/// Fulcio's OIDC issuer extension, v1: the issuer URL as raw bytes (deprecated, still issued).
const OID_FULCIO_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
/// Fulcio's OIDC issuer extension, v2: the issuer URL as a DER UTF8String.
const OID_FULCIO_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), the OID's DER content as webpki takes it.
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// Signatures a chain may use: ECDSA P-256/P-384 with SHA-256/384 (Fulcio
/// signs with P-384).
static CHAIN_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
];
/// The extensions webpki processes (key usage, subject alternative name,
/// basic constraints, name constraints, CRL distribution points, extended
/// key usage); it refuses a certificate with any other critical extension.
const UNDERSTOOD_EXTENSIONS: &[&str] = &[
    "2.5.29.15",
    "2.5.29.17",
    "2.5.29.19",
    "2.5.29.30",
    "2.5.29.31",
    "2.5.29.37",
];
/// How far [`name_walk`] follows names to word a refusal; webpki itself
/// allows at most six intermediates.
const MAX_WALK: usize = 8;
const NO_CHAIN: &str = "certificate does not chain to a trusted root";

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
    let roots: Vec<(&[u8], X509Certificate)> = trust
        .roots
        .iter()
        .filter_map(|der| parse_der(der).ok().map(|cert| (der.as_slice(), cert)))
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
    let chain = if trust.roots.is_empty() {
        Chain::refused("no trusted roots configured ([signing] roots)")
    } else if roots.is_empty() {
        Chain::refused("none of the [signing] roots is a readable certificate")
    } else {
        verify_chain(
            &ChainInput {
                leaf_der: &leaf_ders[0],
                leaf: &leaf,
                pool_ders: &pool_ders,
                pool: &pool,
                roots: &roots,
            },
            check_at,
        )
    };
    lines.push(chain.certificate);

    let mut validity = validity_check(&leaf, &chain.issuers, check_at, check_at_source);
    if let Some(why) = chain.refused_at_check_time
        && validity.ok
    {
        // webpki's word is final: the path it found valid at another time
        // is not the one it refused at this time (fail closed).
        validity = line(
            CHECK_VALIDITY,
            false,
            format!(
                "{why}, checked at {} ({check_at_source})",
                rfc3339(check_at)
            ),
        );
    }
    lines.push(validity);
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
                if v.eq_ignore_ascii_case(&hex::encode(Sha256::digest(b.payload))) => {}
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
        .map(|der| hex::encode(Sha256::digest(der.as_bytes())))
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

/// The configured roots and the annotations' certificates, for [`verify_chain`].
struct ChainInput<'c> {
    leaf_der: &'c [u8],
    leaf: &'c X509Certificate<'c>,
    /// Candidate intermediates from the signature's annotations: an attacker
    /// chooses them, so they are only ever candidates, never trusted.
    pool_ders: &'c [Vec<u8>],
    pool: &'c [X509Certificate<'c>],
    /// The configured roots that parse, with their DER: the only trust anchors.
    roots: &'c [(&'c [u8], X509Certificate<'c>)],
}

/// What path validation decided, for the certificate and validity lines.
struct Chain<'c> {
    certificate: CheckLine,
    /// The verified path's issuers, the leaf's issuer first and the
    /// configured root last; empty when no path was accepted.
    issuers: Vec<&'c X509Certificate<'c>>,
    /// webpki refused the path at the checking time because a certificate
    /// was not valid then: the validity line must fail, whatever else it finds.
    refused_at_check_time: Option<String>,
}

impl Chain<'_> {
    fn refused(why: impl Into<String>) -> Self {
        Chain {
            certificate: line(CHECK_CERTIFICATE, false, why),
            issuers: Vec::new(),
            refused_at_check_time: None,
        }
    }
}

/// X.509 path validation by rustls-webpki (docs/ARCHITECTURE.md, "Keyless
/// signatures"): leaf → candidate intermediates from the annotations → one
/// of the configured roots, enforcing basic constraints, path length, name
/// constraints, unknown critical extensions, the code-signing extended key
/// usage and every certificate's validity at `at`.
///
/// When webpki refuses only because a certificate is not valid at `at`, the
/// path is judged again at the leaf's issuance, so that the certificate line
/// still says whether it chains and the validity line says when it was not
/// valid; the signature fails either way.
fn verify_chain<'c>(input: &ChainInput<'c>, at: i64) -> Chain<'c> {
    let leaf = input.leaf;
    if let Some(why) = leaf_usage_problem(leaf) {
        return Chain::refused(why);
    }
    let leaf_der = CertificateDer::from(input.leaf_der);
    let end_entity = match webpki::EndEntityCert::try_from(&leaf_der) {
        Ok(ee) => ee,
        Err(webpki::Error::UnsupportedCriticalExtension) => {
            return Chain::refused(format!(
                "certificate has a critical extension that cannot be processed ({})",
                unknown_critical_extensions(leaf).join(", ")
            ));
        }
        Err(e) => return Chain::refused(format!("malformed certificate ({e:?})")),
    };

    let root_ders: Vec<CertificateDer> = input
        .roots
        .iter()
        .map(|(der, _)| CertificateDer::from(*der))
        .collect();
    let mut anchors = Vec::with_capacity(root_ders.len());
    let mut anchor_roots = Vec::with_capacity(root_ders.len());
    for (der, (_, root)) in root_ders.iter().zip(input.roots) {
        if let Ok(anchor) = webpki::anchor_from_trusted_cert(der) {
            anchors.push(anchor);
            anchor_roots.push(root);
        }
    }
    if anchors.is_empty() {
        return Chain::refused(
            "none of the [signing] roots can be a trust anchor (not an X.509 v3 certificate)",
        );
    }
    let intermediates: Vec<CertificateDer> = input
        .pool_ders
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();

    // The verified path as our parsed certificates: intermediates come from
    // the pool webpki was given, the anchor is one of the configured roots.
    let verify = |unix: i64| -> Result<Vec<&'c X509Certificate<'c>>, webpki::Error> {
        let path = end_entity.verify_for_usage(
            CHAIN_ALGORITHMS,
            &anchors,
            &intermediates,
            unix_time(unix),
            webpki::KeyUsage::required_if_present(EKU_CODE_SIGNING),
            None,
            None,
        )?;
        let mut issuers = Vec::new();
        for cert in path.intermediate_certificates() {
            let der = cert.der();
            if let Some(i) = input
                .pool_ders
                .iter()
                .position(|d| d.as_slice() == der.as_ref())
            {
                issuers.push(&input.pool[i]);
            }
        }
        if let Some(i) = anchors.iter().position(|a| std::ptr::eq(a, path.anchor())) {
            issuers.push(anchor_roots[i]);
        }
        Ok(issuers)
    };

    let walk = name_walk(input);
    let (issuers, refused_at_check_time) = match verify(at) {
        Ok(issuers) => (issuers, None),
        Err(e @ (webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. })) => {
            let why = describe_time_refusal(&e);
            match verify(leaf.validity().not_before.timestamp()) {
                Ok(issuers) => (issuers, Some(why)),
                Err(e) => {
                    return Chain {
                        certificate: line(CHECK_CERTIFICATE, false, describe_refusal(&e, &walk)),
                        issuers: Vec::new(),
                        refused_at_check_time: Some(why),
                    };
                }
            }
        }
        Err(e) => return Chain::refused(describe_refusal(&e, &walk)),
    };

    // What webpki leaves to its caller: the configured root must be a CA,
    // and no issuer's key usage may forbid signing certificates.
    if let Some(why) = issuers.iter().find_map(|c| issuer_usage_problem(c)) {
        return Chain {
            certificate: line(CHECK_CERTIFICATE, false, format!("{NO_CHAIN}: {why}")),
            issuers: Vec::new(),
            refused_at_check_time,
        };
    }
    let Some(root) = issuers.last() else {
        // Not reached: webpki returns a path only with an anchor.
        return Chain::refused(format!("{NO_CHAIN}: no configured root in the path"));
    };
    Chain {
        certificate: line(
            CHECK_CERTIFICATE,
            true,
            format!("chains to trusted root '{}'", root.subject()),
        ),
        issuers,
        refused_at_check_time,
    }
}

fn unix_time(unix: i64) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(unix).unwrap_or(0),
    ))
}

/// A signing certificate must say it is for code signing (as Fulcio's do),
/// and when it restricts its key usage it must allow digital signatures.
fn leaf_usage_problem(leaf: &X509Certificate) -> Option<String> {
    match leaf.extended_key_usage() {
        Ok(Some(eku)) if eku.value.code_signing => {}
        Ok(Some(_)) => {
            return Some(
                "certificate is not for code signing (extended key usage lacks codeSigning)".into(),
            );
        }
        Ok(None) => {
            return Some(
                "certificate is not for code signing (no extended key usage extension; codeSigning is required)"
                    .into(),
            );
        }
        Err(e) => return Some(format!("malformed certificate: extended key usage ({e})")),
    }
    match leaf.key_usage() {
        Ok(Some(ku)) if !ku.value.digital_signature() => {
            Some("certificate is not for signing (key usage lacks digitalSignature)".into())
        }
        Err(e) => Some(format!("malformed certificate: key usage ({e})")),
        _ => None,
    }
}

/// Checks on an issuer in a verified path that webpki does not make: trust
/// anchors are not checked for basicConstraints, and key usage of CAs is
/// ignored.
fn issuer_usage_problem(issuer: &X509Certificate) -> Option<String> {
    let name = issuer.subject();
    match issuer.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        _ => return Some(format!("'{name}' is not a CA (basicConstraints)")),
    }
    match issuer.key_usage() {
        Ok(Some(ku)) if !ku.value.key_cert_sign() => Some(format!(
            "'{name}' may not sign certificates (key usage lacks keyCertSign)"
        )),
        Err(e) => Some(format!("'{name}' has a malformed key usage ({e})")),
        _ => None,
    }
}

/// The chain by names alone — leaf, annotation certificates, then a
/// configured root — used only to say which certificate webpki's refusal
/// is about. Nothing here is verified or trusted.
struct Walk<'c> {
    certs: Vec<&'c X509Certificate<'c>>,
    end: WalkEnd,
}

/// Why [`name_walk`] stopped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WalkEnd {
    /// At a configured root of the right name.
    Root,
    /// At a self-signed certificate from the annotations.
    SelfSigned,
    /// No certificate of the issuer's name in the annotations or roots.
    Missing,
    /// The issuer's name is one already walked.
    Loop,
    /// [`MAX_WALK`] certificates.
    TooLong,
}

fn name_walk<'c>(input: &ChainInput<'c>) -> Walk<'c> {
    let mut certs = vec![input.leaf];
    let mut current = input.leaf;
    let end = loop {
        if certs.len() >= MAX_WALK {
            break WalkEnd::TooLong;
        }
        let issuer = current.issuer().as_raw();
        if certs.len() > 1 && current.subject().as_raw() == issuer {
            break WalkEnd::SelfSigned;
        }
        if let Some((_, root)) = input
            .roots
            .iter()
            .find(|(_, r)| r.subject().as_raw() == issuer)
        {
            certs.push(root);
            break WalkEnd::Root;
        }
        if certs.iter().any(|c| c.subject().as_raw() == issuer) {
            break WalkEnd::Loop;
        }
        match input.pool.iter().find(|c| c.subject().as_raw() == issuer) {
            Some(next) => {
                certs.push(next);
                current = next;
            }
            None => break WalkEnd::Missing,
        }
    };
    Walk { certs, end }
}

/// Critical extensions webpki does not process (it refuses the certificate).
fn unknown_critical_extensions(cert: &X509Certificate) -> Vec<String> {
    cert.extensions()
        .iter()
        .filter(|e| e.critical)
        .map(|e| e.oid.to_id_string())
        .filter(|oid| !UNDERSTOOD_EXTENSIONS.contains(&oid.as_str()))
        .collect()
}

fn describe_time_refusal(e: &webpki::Error) -> String {
    let at = |t: &UnixTime| rfc3339(i64::try_from(t.as_secs()).unwrap_or(i64::MAX));
    match e {
        webpki::Error::CertExpired { not_after, .. } => {
            format!("a certificate in the chain expired at {}", at(not_after))
        }
        webpki::Error::CertNotValidYet { not_before, .. } => format!(
            "a certificate in the chain is not yet valid: valid from {}",
            at(not_before)
        ),
        other => format!("a certificate in the chain is not valid ({other:?})"),
    }
}

/// Words for webpki's refusal of the path, naming the certificate it is
/// about when the names along `walk` (see [`name_walk`]) tell.
fn describe_refusal(e: &webpki::Error, walk: &Walk) -> String {
    use webpki::Error as E;
    let (end, walk) = (walk.end, walk.certs.as_slice());
    let issuers = walk.get(1..).unwrap_or_default();
    let route: String = issuers
        .iter()
        .map(|c| format!(" → '{}'", c.subject()))
        .collect();
    let named = |find: &dyn Fn(usize, &X509Certificate) -> Option<String>, otherwise: &str| {
        let found = issuers.iter().enumerate().find_map(|(i, c)| find(i, c));
        format!("{NO_CHAIN}: {}", found.unwrap_or_else(|| otherwise.into()))
    };
    match e {
        E::UnknownIssuer => match (end, walk.last()) {
            (WalkEnd::SelfSigned, Some(top)) => format!(
                "{NO_CHAIN}: the chain ends at '{}', a root that came with the signature and is not one of the [signing] roots",
                top.subject()
            ),
            (WalkEnd::Missing, Some(top)) => format!(
                "{NO_CHAIN} (issued by '{}'): no such issuer in the chain annotation or [signing] roots",
                top.issuer()
            ),
            (WalkEnd::Loop, Some(top)) => format!(
                "{NO_CHAIN}: the chain annotation loops back to '{}' without reaching a [signing] root",
                top.issuer()
            ),
            _ => format!("{NO_CHAIN}: no path along certificate{route} was accepted"),
        },
        E::InvalidSignatureForPublicKey => format!(
            "{NO_CHAIN}: a signature along certificate{route} does not verify (another CA of the same name?)"
        ),
        E::SignatureAlgorithmMismatch => {
            format!("{NO_CHAIN}: a certificate's two signature algorithm fields disagree")
        }
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => format!(
            "{NO_CHAIN}: unsupported signature algorithm along certificate{route} (ECDSA P-256/P-384 with SHA-256/384 only)"
        ),
        E::PathLenConstraintViolated => named(
            &|i, c| {
                let limit = c.basic_constraints().ok()??.value.path_len_constraint?;
                (usize::try_from(limit).ok()? < i).then(|| {
                    format!(
                        "path length constraint violated: '{}' allows {limit} intermediate CA(s) below it (pathLenConstraint) but the chain has {i}",
                        c.subject()
                    )
                })
            },
            "path length constraint violated: a CA's pathLenConstraint allows fewer intermediate CAs below it",
        ),
        E::NameConstraintViolation => named(
            &|_, c| {
                c.name_constraints().ok()??;
                Some(format!(
                    "name constraints violated: the certificate's names are outside the name constraints of '{}' (e-mail, URI and directory-name constraints cannot be evaluated and always refuse)",
                    c.subject()
                ))
            },
            "name constraints violated by the certificate's names",
        ),
        E::UnsupportedCriticalExtension => named(
            &|_, c| {
                let unknown = unknown_critical_extensions(c);
                (!unknown.is_empty()).then(|| {
                    format!(
                        "'{}' has a critical extension that cannot be processed ({})",
                        c.subject(),
                        unknown.join(", ")
                    )
                })
            },
            "a certificate in the chain has a critical extension that cannot be processed",
        ),
        E::EndEntityUsedAsCa => named(
            &|_, c| match c.basic_constraints() {
                Ok(Some(bc)) if bc.value.ca => None,
                _ => Some(format!("'{}' is not a CA (basicConstraints)", c.subject())),
            },
            "an issuer in the chain is not a CA (basicConstraints)",
        ),
        E::CaUsedAsEndEntity => {
            "certificate is a CA certificate (basicConstraints), not a signing certificate".into()
        }
        E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => named(
            &|_, c| match c.extended_key_usage() {
                Ok(Some(eku)) if !eku.value.code_signing => Some(format!(
                    "'{}' may not issue code-signing certificates (its extended key usage lacks codeSigning)",
                    c.subject()
                )),
                _ => None,
            },
            "an issuer's extended key usage lacks codeSigning",
        ),
        E::CertExpired { .. } | E::CertNotValidYet { .. } => {
            format!(
                "{NO_CHAIN}: {} when the signing certificate was issued",
                describe_time_refusal(e)
            )
        }
        E::InvalidCertValidity => format!(
            "{NO_CHAIN}: a certificate along certificate{route} is valid from after it expires"
        ),
        E::MaximumPathDepthExceeded
        | E::MaximumSignatureChecksExceeded
        | E::MaximumPathBuildCallsExceeded
        | E::MaximumNameConstraintComparisonsExceeded => {
            format!("{NO_CHAIN}: the chain is too long or too tangled to verify ({e:?})")
        }
        _ => format!("{NO_CHAIN}: refused by path validation ({e:?})"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_signing_eku_constant_is_the_oid() {
        let oid = x509_parser::der_parser::oid::Oid::from(&[1, 3, 6, 1, 5, 5, 7, 3, 3]).unwrap();
        assert_eq!(oid.as_bytes(), EKU_CODE_SIGNING);
    }

    #[test]
    fn times_before_the_epoch_clamp_to_it() {
        assert_eq!(unix_time(-5).as_secs(), 0);
        assert_eq!(unix_time(1_767_225_600).as_secs(), 1_767_225_600);
    }

    #[test]
    fn time_refusals_say_when() {
        let expired = webpki::Error::CertExpired {
            time: unix_time(1_767_312_000),
            not_after: unix_time(1_767_226_200),
        };
        assert_eq!(
            describe_time_refusal(&expired),
            "a certificate in the chain expired at 2026-01-01T00:10:00Z"
        );
        let early = webpki::Error::CertNotValidYet {
            time: unix_time(0),
            not_before: unix_time(1_767_225_600),
        };
        assert_eq!(
            describe_time_refusal(&early),
            "a certificate in the chain is not yet valid: valid from 2026-01-01T00:00:00Z"
        );
    }

    #[test]
    fn path_refusals_all_say_the_chain_is_refused() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["leaf.example".into()]).unwrap();
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let leaf = parse_der(&der).unwrap();
        let walk = Walk {
            certs: vec![&leaf],
            end: WalkEnd::Missing,
        };
        for e in [
            webpki::Error::UnknownIssuer,
            webpki::Error::PathLenConstraintViolated,
            webpki::Error::NameConstraintViolation,
            webpki::Error::EndEntityUsedAsCa,
            webpki::Error::UnsupportedCriticalExtension,
            webpki::Error::InvalidSignatureForPublicKey,
            webpki::Error::MaximumPathDepthExceeded,
            webpki::Error::BadDer,
        ] {
            let why = describe_refusal(&e, &walk);
            assert!(why.starts_with(NO_CHAIN), "{e:?}: {why}");
        }
        assert!(unknown_critical_extensions(&leaf).is_empty());
    }
}
