//! Keyless verification, all offline: a test CA (P-384 root → P-256
//! intermediate, as Fulcio's), a ten-minute leaf certificate naming
//! `release@example.com` through `https://issuer.example`, and a test Rekor
//! key signing the bundle's entry timestamp — all generated here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use fleetdeck::config::Identity;
use fleetdeck::signature::keyless::{verify_keyless, verify_rekor_bundle};
use fleetdeck::signature::{CheckLine, KeylessInput, RekorInfo, Signer, Trust};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType,
    SignatureAlgorithm,
};
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// 2026-01-01T00:00:00Z: when the leaf certificate was issued.
const T0: i64 = 1_767_225_600;
/// Fulcio certificates live ten minutes.
const LIFETIME: i64 = 600;
/// When Rekor logged the signature: inside the certificate's lifetime.
const INTEGRATED: i64 = T0 + 120;
const LOG_INDEX: i64 = 4242;
const SUBJECT: &str = "release@example.com";
const ISSUER: &str = "https://issuer.example";
const PAYLOAD: &[u8] = br#"{"critical":{"identity":{"docker-reference":"registry.example/edge/infer"},"image":{"docker-manifest-digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"type":"cosign container image signature"},"optional":null}"#;

const OID_ISSUER_V1: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 1];
const OID_ISSUER_V2: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 8];

fn at(unix: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).expect("positive time"))
}

fn odt(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).expect("valid time")
}

/// A certificate authority that can issue certificates.
struct Ca {
    der: Vec<u8>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca_params(cn: &str, is_ca: bool) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "fleetdeck tests");
    params.not_before = odt(T0 - 365 * 86_400);
    params.not_after = odt(T0 + 10 * 365 * 86_400);
    if is_ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    }
    params
}

fn root(cn: &str, alg: &'static SignatureAlgorithm) -> Ca {
    let key = KeyPair::generate_for(alg).expect("root key");
    let params = ca_params(cn, true);
    let cert = params.self_signed(&key).expect("root certificate");
    Ca {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

fn intermediate(cn: &str, parent: &Ca, is_ca: bool) -> Ca {
    ca_signed_by(ca_params(cn, is_ca), parent)
}

/// A certificate made from `params`, issued by `parent`, that can issue in turn.
fn ca_signed_by(params: CertificateParams, parent: &Ca) -> Ca {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("intermediate key");
    let cert = params
        .signed_by(&key, &parent.issuer)
        .expect("intermediate certificate");
    Ca {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// What goes into a leaf certificate.
struct LeafSpec {
    san: SanType,
    issuer_v1: Option<&'static str>,
    issuer_v2: Option<&'static str>,
    not_before: i64,
    not_after: i64,
    /// No extended key usage extension at all when empty.
    ekus: Vec<ExtendedKeyUsagePurpose>,
    extensions: Vec<CustomExtension>,
}

impl Default for LeafSpec {
    fn default() -> Self {
        LeafSpec {
            san: SanType::Rfc822Name(SUBJECT.try_into().expect("ia5")),
            issuer_v1: Some(ISSUER),
            issuer_v2: None,
            not_before: T0,
            not_after: T0 + LIFETIME,
            ekus: vec![ExtendedKeyUsagePurpose::CodeSigning],
            extensions: Vec::new(),
        }
    }
}

struct Leaf {
    pem: String,
    key: SigningKey,
}

fn leaf(spec: LeafSpec, ca: &Ca) -> Leaf {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
    let mut params = CertificateParams::default();
    params.not_before = odt(spec.not_before);
    params.not_after = odt(spec.not_after);
    params.subject_alt_names = vec![spec.san];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = spec.ekus;
    params.custom_extensions = spec.extensions;
    if let Some(issuer) = spec.issuer_v1 {
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                OID_ISSUER_V1,
                issuer.as_bytes().to_vec(),
            ));
    }
    if let Some(issuer) = spec.issuer_v2 {
        let mut der = vec![0x0c, u8::try_from(issuer.len()).expect("short issuer")];
        der.extend_from_slice(issuer.as_bytes());
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(OID_ISSUER_V2, der));
    }
    let cert = params
        .signed_by(&key, &ca.issuer)
        .expect("leaf certificate");
    Leaf {
        pem: cert.pem(),
        key: SigningKey::from_pkcs8_der(key.serialized_der()).expect("leaf key as p256"),
    }
}

fn sign_b64(key: &SigningKey, message: &[u8]) -> String {
    let sig: Signature = key.sign(message);
    B64.encode(sig.to_der().as_bytes())
}

/// A test transparency log.
struct Rekor {
    key: SigningKey,
    log_id: String,
}

fn rekor() -> Rekor {
    let kp = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("rekor key");
    let key = SigningKey::from_pkcs8_der(kp.serialized_der()).expect("rekor key as p256");
    let spki = key.verifying_key().to_public_key_der().expect("rekor spki");
    let log_id = hex(&Sha256::digest(spki.as_bytes()));
    Rekor { key, log_id }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hashedrekord entry Rekor would log for this signature.
fn hashedrekord(signature_b64: &str, cert_pem: &str, payload: &[u8]) -> String {
    let entry = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex(&Sha256::digest(payload))}},
            "signature": {
                "content": signature_b64,
                "publicKey": {"content": B64.encode(cert_pem.as_bytes())}
            }
        }
    });
    B64.encode(entry.to_string().as_bytes())
}

/// A cosign bundle whose SET the log signs over the canonical payload.
fn bundle(rekor: &Rekor, body: &str, integrated_time: i64) -> String {
    let canonical = format!(
        r#"{{"body":"{body}","integratedTime":{integrated_time},"logID":"{}","logIndex":{LOG_INDEX}}}"#,
        rekor.log_id
    );
    let set = sign_b64(&rekor.key, canonical.as_bytes());
    bundle_json(&set, body, integrated_time, &rekor.log_id)
}

fn bundle_json(set: &str, body: &str, integrated_time: i64, log_id: &str) -> String {
    json!({
        "SignedEntryTimestamp": set,
        "Payload": {"body": body, "integratedTime": integrated_time, "logIndex": LOG_INDEX, "logID": log_id}
    })
    .to_string()
}

/// Everything a correctly signed release brings, and the trust that accepts it.
struct World {
    root: Ca,
    intermediate: Ca,
    leaf: Leaf,
    rekor: Rekor,
    signature_b64: String,
    bundle: String,
}

fn world_with(spec: LeafSpec) -> World {
    let root = root("test-root", &rcgen::PKCS_ECDSA_P384_SHA384);
    let intermediate = intermediate("test-intermediate", &root, true);
    let leaf = leaf(spec, &intermediate);
    let rekor = rekor();
    let signature_b64 = sign_b64(&leaf.key, PAYLOAD);
    let body = hashedrekord(&signature_b64, &leaf.pem, PAYLOAD);
    let bundle = bundle(&rekor, &body, INTEGRATED);
    World {
        root,
        intermediate,
        leaf,
        rekor,
        signature_b64,
        bundle,
    }
}

fn world() -> World {
    world_with(LeafSpec::default())
}

fn identity(subject: &str, issuer: &str) -> Identity {
    Identity {
        subject: Some(subject.into()),
        issuer: Some(issuer.into()),
        ..Identity::default()
    }
}

fn trust(w: &World) -> Trust {
    Trust {
        keys: Vec::new(),
        identities: vec![identity(SUBJECT, ISSUER)],
        roots: vec![w.root.der.clone()],
        rekor_keys: vec![*w.rekor.key.verifying_key()],
        require_rekor: true,
    }
}

/// Checked a day after signing: the leaf has long expired by then.
fn input(w: &World) -> KeylessInput<'_> {
    KeylessInput {
        payload: PAYLOAD,
        signature_b64: &w.signature_b64,
        cert_pem: &w.leaf.pem,
        chain_pem: Some(&w.intermediate.pem),
        bundle_json: Some(&w.bundle),
        now: at(T0 + 86_400),
    }
}

type Outcome = (Vec<CheckLine>, Signer, Option<RekorInfo>, bool);

fn check<'a>(outcome: &'a Outcome, name: &str) -> &'a CheckLine {
    outcome
        .0
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no '{name}' check in {:#?}", outcome.0))
}

/// Asserts the named check failed with a reason containing `reason`, and
/// that the signature as a whole did not verify.
fn assert_fails(outcome: &Outcome, name: &str, reason: &str) {
    let l = check(outcome, name);
    assert!(!l.ok, "'{name}' should fail: {:#?}", outcome.0);
    assert!(
        l.reason.contains(reason),
        "'{name}' reason {:?} should contain {reason:?}",
        l.reason
    );
    assert!(!outcome.3, "must not verify: {:#?}", outcome.0);
}

fn assert_verified(outcome: &Outcome) {
    assert!(
        outcome.3 && outcome.0.iter().all(|l| l.ok),
        "should verify: {:#?}",
        outcome.0
    );
}

#[test]
fn verifies_with_roots_identity_and_rekor_key() {
    let w = world();
    let outcome = verify_keyless(&input(&w), &trust(&w));
    assert_verified(&outcome);
    let names: Vec<&str> = outcome.0.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["certificate", "validity", "identity", "signature", "rekor"]
    );
    assert_eq!(
        outcome.1,
        Signer::Certificate {
            subject: SUBJECT.into(),
            issuer: ISSUER.into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2026-01-01T00:10:00Z".into(),
        }
    );
    assert_eq!(
        outcome.2,
        Some(RekorInfo {
            log_index: LOG_INDEX,
            log_id: w.rekor.log_id.clone(),
            integrated_time: INTEGRATED,
            set_verified: true,
        })
    );
    assert!(check(&outcome, "certificate").reason.contains("test-root"));
    assert!(
        check(&outcome, "validity")
            .reason
            .contains("2026-01-01T00:02:00Z (the Rekor integrated time)"),
        "{:?}",
        check(&outcome, "validity")
    );
    assert!(check(&outcome, "rekor").reason.contains("index 4242"));
}

#[test]
fn wrong_subject_is_an_identity_mismatch() {
    let w = world();
    let mut t = trust(&w);
    t.identities = vec![identity("ops@example.com", ISSUER)];
    let outcome = verify_keyless(&input(&w), &t);
    assert_fails(
        &outcome,
        "identity",
        "identity mismatch: signed by release@example.com (issuer https://issuer.example) but trusted identities are ops@example.com (issuer https://issuer.example)",
    );
    // The other checks still report on their own.
    assert!(check(&outcome, "certificate").ok && check(&outcome, "signature").ok);
}

#[test]
fn wrong_issuer_is_an_issuer_mismatch() {
    let w = world();
    let mut t = trust(&w);
    t.identities = vec![identity(
        SUBJECT,
        "https://token.actions.githubusercontent.com",
    )];
    let outcome = verify_keyless(&input(&w), &t);
    assert_fails(
        &outcome,
        "identity",
        "issuer mismatch: release@example.com signed through issuer https://issuer.example, but is trusted only through https://token.actions.githubusercontent.com",
    );
}

#[test]
fn no_identities_configured_fails() {
    let w = world();
    let mut t = trust(&w);
    t.identities.clear();
    let outcome = verify_keyless(&input(&w), &t);
    assert_fails(&outcome, "identity", "no trusted identities are configured");
}

#[test]
fn regex_identities_match_the_whole_value() {
    let w = world();
    let regex = |subject: &str, issuer: &str| Identity {
        subject_regex: Some(subject.into()),
        issuer_regex: Some(issuer.into()),
        ..Identity::default()
    };
    let run = |id: Identity| {
        let mut t = trust(&w);
        t.identities = vec![id];
        verify_keyless(&input(&w), &t)
    };

    assert_verified(&run(regex(r".*@example\.com", r"https://issuer\.example")));
    assert_verified(&run(regex(r"(release|ops)@example\.com", r".*")));
    // Anchored: a prefix of the subject is not a match.
    assert_fails(
        &run(regex(r"release@example", r".*")),
        "identity",
        "trusted identities are /release@example/",
    );
    assert_fails(
        &run(regex(r".*@example\.com", r"https://accounts\.google\.com")),
        "identity",
        r"issuer mismatch: release@example.com signed through issuer https://issuer.example, but is trusted only through /https://accounts\.google\.com/",
    );
    assert_fails(
        &run(regex(r"(unclosed", r".*")),
        "identity",
        "invalid regex '(unclosed'",
    );
    // Exact and regex together must both hold.
    let both = Identity {
        subject: Some(SUBJECT.into()),
        subject_regex: Some(r"ops@.*".into()),
        issuer: Some(ISSUER.into()),
        issuer_regex: None,
    };
    assert_fails(&run(both), "identity", "identity mismatch");
    // Several identities: any one matching is enough.
    let mut t = trust(&w);
    t.identities = vec![
        identity("ops@example.com", ISSUER),
        regex(r"release@.*", r"https://issuer\.example"),
    ];
    assert_verified(&verify_keyless(&input(&w), &t));
}

#[test]
fn uri_subject_and_v2_issuer_extension() {
    const WORKFLOW: &str =
        "https://github.com/acme/edge/.github/workflows/release.yml@refs/heads/main";
    const ACTIONS: &str = "https://token.actions.githubusercontent.com";
    let w = world_with(LeafSpec {
        san: SanType::URI(WORKFLOW.try_into().expect("ia5")),
        issuer_v1: None,
        issuer_v2: Some(ACTIONS),
        ..LeafSpec::default()
    });
    let mut t = trust(&w);
    t.identities = vec![identity(WORKFLOW, ACTIONS)];
    let outcome = verify_keyless(&input(&w), &t);
    assert_verified(&outcome);
    assert!(
        matches!(&outcome.1, Signer::Certificate { subject, issuer, .. } if subject == WORKFLOW && issuer == ACTIONS)
    );
}

#[test]
fn certificate_without_issuer_extension_fails_identity() {
    let w = world_with(LeafSpec {
        issuer_v1: None,
        ..LeafSpec::default()
    });
    let outcome = verify_keyless(&input(&w), &trust(&w));
    assert_fails(&outcome, "identity", "names no OIDC issuer");
}

#[test]
fn untrusted_root_fails_the_certificate() {
    let w = world();
    let mut t = trust(&w);
    t.roots = vec![root("another-root", &rcgen::PKCS_ECDSA_P384_SHA384).der];
    let outcome = verify_keyless(&input(&w), &t);
    assert_fails(
        &outcome,
        "certificate",
        "certificate does not chain to a trusted root",
    );
}

#[test]
fn impostor_root_with_the_same_name_fails() {
    let w = world();
    let mut t = trust(&w);
    t.roots = vec![root("test-root", &rcgen::PKCS_ECDSA_P384_SHA384).der];
    let outcome = verify_keyless(&input(&w), &t);
    assert_fails(
        &outcome,
        "certificate",
        "certificate does not chain to a trusted root",
    );
    assert!(
        check(&outcome, "certificate")
            .reason
            .contains("does not verify")
    );
}

#[test]
fn missing_intermediate_fails_the_certificate() {
    let w = world();
    let mut i = input(&w);
    i.chain_pem = None;
    let outcome = verify_keyless(&i, &trust(&w));
    assert_fails(
        &outcome,
        "certificate",
        "certificate does not chain to a trusted root (issued by 'CN=test-intermediate, O=fleetdeck tests'): no such issuer in the chain annotation or [signing] roots",
    );
}

#[test]
fn chain_with_the_root_and_the_intermediate_in_the_leaf_annotation() {
    let w = world();
    // Whatever is appended is only a candidate intermediate, never trusted.
    let cert_pem = format!("{}{}", w.leaf.pem, w.intermediate.pem);
    let chain_pem = format!("{}{}", w.intermediate.pem, w.root.pem);
    let mut i = input(&w);
    i.cert_pem = &cert_pem;
    i.chain_pem = None;
    assert_verified(&verify_keyless(&i, &trust(&w)));
    let mut i = input(&w);
    i.chain_pem = Some(&chain_pem);
    assert_verified(&verify_keyless(&i, &trust(&w)));
    // A root shipped in the chain is not trusted unless configured.
    let mut t = trust(&w);
    t.roots = vec![root("another-root", &rcgen::PKCS_ECDSA_P256_SHA256).der];
    assert_fails(
        &verify_keyless(&i, &t),
        "certificate",
        "does not chain to a trusted root",
    );
}

#[test]
fn p256_root_signing_the_leaf_directly() {
    let root = root("flat-root", &rcgen::PKCS_ECDSA_P256_SHA256);
    let leaf = leaf(LeafSpec::default(), &root);
    let rekor = rekor();
    let signature_b64 = sign_b64(&leaf.key, PAYLOAD);
    let bundle = bundle(
        &rekor,
        &hashedrekord(&signature_b64, &leaf.pem, PAYLOAD),
        INTEGRATED,
    );
    let t = Trust {
        keys: Vec::new(),
        identities: vec![identity(SUBJECT, ISSUER)],
        roots: vec![root.der.clone()],
        rekor_keys: vec![*rekor.key.verifying_key()],
        require_rekor: true,
    };
    let i = KeylessInput {
        payload: PAYLOAD,
        signature_b64: &signature_b64,
        cert_pem: &leaf.pem,
        chain_pem: None,
        bundle_json: Some(&bundle),
        now: SystemTime::now(),
    };
    assert_verified(&verify_keyless(&i, &t));
}

#[test]
fn issuer_that_is_not_a_ca_fails() {
    let root = root("test-root", &rcgen::PKCS_ECDSA_P384_SHA384);
    let not_ca = intermediate("not-a-ca", &root, false);
    let leaf = leaf(LeafSpec::default(), &not_ca);
    let signature_b64 = sign_b64(&leaf.key, PAYLOAD);
    let t = Trust {
        keys: Vec::new(),
        identities: vec![identity(SUBJECT, ISSUER)],
        roots: vec![root.der.clone()],
        rekor_keys: Vec::new(),
        require_rekor: false,
    };
    let i = KeylessInput {
        payload: PAYLOAD,
        signature_b64: &signature_b64,
        cert_pem: &leaf.pem,
        chain_pem: Some(&not_ca.pem),
        bundle_json: None,
        now: at(INTEGRATED),
    };
    let outcome = verify_keyless(&i, &t);
    assert_fails(&outcome, "certificate", "is not a CA (basicConstraints)");
}

#[test]
fn leaf_not_for_code_signing_fails() {
    let w = world_with(LeafSpec {
        ekus: vec![ExtendedKeyUsagePurpose::ServerAuth],
        ..LeafSpec::default()
    });
    let outcome = verify_keyless(&input(&w), &trust(&w));
    assert_fails(&outcome, "certificate", "not for code signing");
}

#[test]
fn no_roots_configured_fails() {
    let w = world();
    let mut t = trust(&w);
    t.roots.clear();
    let outcome = verify_keyless(&input(&w), &t);
    assert_fails(
        &outcome,
        "certificate",
        "no trusted roots configured ([signing] roots)",
    );
}

#[test]
fn malformed_certificates_fail() {
    let w = world();
    let not_a_cert = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        B64.encode(b"this is not DER")
    );
    let truncated = &w.leaf.pem[..w.leaf.pem.len() / 2];
    let public_key = w
        .rekor
        .key
        .verifying_key()
        .to_public_key_der()
        .expect("spki");
    let wrong_label = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        B64.encode(public_key.as_bytes())
    );
    for bad in ["", "garbage", truncated, &not_a_cert, &wrong_label] {
        let mut i = input(&w);
        i.cert_pem = bad;
        let outcome = verify_keyless(&i, &trust(&w));
        assert_fails(&outcome, "certificate", "malformed certificate");
        assert_fails(
            &outcome,
            "rekor",
            "cannot tie the bundle to the signing certificate",
        );
        assert_eq!(outcome.1, Signer::Unknown);
        assert_eq!(outcome.0.len(), 5, "every check still reported");
        assert!(
            outcome
                .0
                .iter()
                .filter(|l| l.name != "rekor")
                .all(|l| !l.ok)
        );
    }
    let mut i = input(&w);
    i.chain_pem = Some("garbage");
    assert_fails(
        &verify_keyless(&i, &trust(&w)),
        "certificate",
        "malformed certificate chain",
    );
}

#[test]
fn signature_over_another_payload_fails() {
    let w = world();
    let mut t = trust(&w);
    t.require_rekor = false;
    let mut i = input(&w);
    i.bundle_json = None;
    i.now = at(INTEGRATED);
    assert_verified(&verify_keyless(&i, &t));

    let other = sign_b64(&w.leaf.key, b"another payload");
    i.signature_b64 = &other;
    let outcome = verify_keyless(&i, &t);
    assert_fails(
        &outcome,
        "signature",
        "signature does not match the payload",
    );
    assert!(check(&outcome, "certificate").ok && check(&outcome, "identity").ok);

    i.signature_b64 = "%%% not base64";
    assert_fails(
        &verify_keyless(&i, &t),
        "signature",
        "malformed signature annotation",
    );
}

#[test]
fn tampered_payload_fails_signature_and_bundle() {
    let w = world();
    let mut i = input(&w);
    let tampered = String::from_utf8_lossy(PAYLOAD).replace("0000", "1111");
    i.payload = tampered.as_bytes();
    let outcome = verify_keyless(&i, &trust(&w));
    assert_fails(
        &outcome,
        "signature",
        "signature does not match the payload",
    );
    assert_fails(&outcome, "rekor", "bundle is for another payload");
}

#[test]
fn expired_without_bundle_is_checked_at_now() {
    let w = world();
    let mut t = trust(&w);
    t.require_rekor = false;
    let mut i = input(&w);
    i.bundle_json = None;
    let outcome = verify_keyless(&i, &t);
    assert_fails(
        &outcome,
        "validity",
        "certificate expired at 2026-01-01T00:10:00Z, checked at 2026-01-02T00:00:00Z (now)",
    );
    assert!(check(&outcome, "rekor").ok);

    i.now = at(T0 - 3600);
    assert_fails(
        &verify_keyless(&i, &t),
        "validity",
        "certificate not yet valid: valid from 2026-01-01T00:00:00Z",
    );
}

#[test]
fn bundle_outside_the_certificate_lifetime_fails_validity() {
    let w = world();
    let body = hashedrekord(&w.signature_b64, &w.leaf.pem, PAYLOAD);
    let late = bundle(&w.rekor, &body, T0 + LIFETIME + 60);
    let mut i = input(&w);
    i.bundle_json = Some(&late);
    let outcome = verify_keyless(&i, &trust(&w));
    assert!(check(&outcome, "rekor").ok);
    assert_fails(
        &outcome,
        "validity",
        "certificate expired at 2026-01-01T00:10:00Z, checked at 2026-01-01T00:11:00Z (the Rekor integrated time)",
    );
}

#[test]
fn tampered_set_fails() {
    let w = world();
    let body = hashedrekord(&w.signature_b64, &w.leaf.pem, PAYLOAD);
    // Signed by the log, but over a different payload.
    let other_set = sign_b64(&w.rekor.key, b"something else");
    let tampered = bundle_json(&other_set, &body, INTEGRATED, &w.rekor.log_id);
    let mut i = input(&w);
    i.bundle_json = Some(&tampered);
    let outcome = verify_keyless(&i, &trust(&w));
    assert_fails(
        &outcome,
        "rekor",
        "Rekor signed entry timestamp does not verify",
    );
    assert_eq!(outcome.2.as_ref().map(|r| r.set_verified), Some(false));
    // Without a verified bundle, validity falls back to now: long expired.
    assert_fails(&outcome, "validity", "(now)");

    let garbage = bundle_json("bm90IGEgc2lnbmF0dXJl", &body, INTEGRATED, &w.rekor.log_id);
    i.bundle_json = Some(&garbage);
    assert_fails(
        &verify_keyless(&i, &trust(&w)),
        "rekor",
        "SignedEntryTimestamp is not a signature",
    );
}

#[test]
fn changed_integrated_time_fails() {
    let w = world();
    // Move the logging time into the certificate's lifetime of a day later.
    let moved = w
        .bundle
        .replace(&INTEGRATED.to_string(), &(INTEGRATED + 86_400).to_string());
    assert_ne!(moved, w.bundle);
    let mut i = input(&w);
    i.bundle_json = Some(&moved);
    let outcome = verify_keyless(&i, &trust(&w));
    assert_fails(
        &outcome,
        "rekor",
        "Rekor signed entry timestamp does not verify",
    );
    assert_eq!(
        outcome.2.as_ref().map(|r| r.integrated_time),
        Some(INTEGRATED + 86_400)
    );
}

#[test]
fn bundle_for_another_signature_fails() {
    let w = world();
    let other_sig = sign_b64(&w.leaf.key, b"another payload");
    let body = hashedrekord(&other_sig, &w.leaf.pem, b"another payload");
    let other = bundle(&w.rekor, &body, INTEGRATED);
    let mut i = input(&w);
    i.bundle_json = Some(&other);
    let outcome = verify_keyless(&i, &trust(&w));
    assert_fails(&outcome, "rekor", "bundle is for another signature");
    // The SET itself was genuine.
    assert_eq!(outcome.2.as_ref().map(|r| r.set_verified), Some(true));

    let (l, info) = verify_rekor_bundle(&other, &w.signature_b64, &trust(&w));
    assert!(
        !l.ok && l.reason.contains("bundle is for another signature"),
        "{l:?}"
    );
    assert!(info.is_some());
}

#[test]
fn bundle_for_another_certificate_fails() {
    let w = world();
    let someone_else = leaf(LeafSpec::default(), &w.intermediate);
    let body = hashedrekord(&w.signature_b64, &someone_else.pem, PAYLOAD);
    let other = bundle(&w.rekor, &body, INTEGRATED);
    let mut i = input(&w);
    i.bundle_json = Some(&other);
    assert_fails(
        &verify_keyless(&i, &trust(&w)),
        "rekor",
        "bundle is for another certificate",
    );
}

#[test]
fn unknown_log_and_missing_rekor_keys_fail() {
    let w = world();
    let mut t = trust(&w);
    let stranger = rekor();
    t.rekor_keys = vec![*stranger.key.verifying_key()];
    let outcome = verify_keyless(&input(&w), &t);
    assert_fails(
        &outcome,
        "rekor",
        &format!("unknown Rekor log '{}'", w.rekor.log_id),
    );

    // Same log id but signed by another key: the SET gives it away.
    let forged_set = {
        let canonical = format!(
            r#"{{"body":"{}","integratedTime":{INTEGRATED},"logID":"{}","logIndex":{LOG_INDEX}}}"#,
            hashedrekord(&w.signature_b64, &w.leaf.pem, PAYLOAD),
            w.rekor.log_id
        );
        sign_b64(&stranger.key, canonical.as_bytes())
    };
    let forged = bundle_json(
        &forged_set,
        &hashedrekord(&w.signature_b64, &w.leaf.pem, PAYLOAD),
        INTEGRATED,
        &w.rekor.log_id,
    );
    let mut i = input(&w);
    i.bundle_json = Some(&forged);
    assert_fails(
        &verify_keyless(&i, &trust(&w)),
        "rekor",
        "Rekor signed entry timestamp does not verify",
    );

    let mut t = trust(&w);
    t.rekor_keys.clear();
    t.require_rekor = false;
    let outcome = verify_keyless(&input(&w), &t);
    assert_fails(
        &outcome,
        "rekor",
        "cannot verify the Rekor bundle: no [signing] rekor_keys",
    );
    let (l, info) = verify_rekor_bundle(&w.bundle, &w.signature_b64, &t);
    assert!(!l.ok);
    assert_eq!(
        info.map(|r| (r.log_index, r.set_verified)),
        Some((LOG_INDEX, false))
    );
}

#[test]
fn malformed_bundles_fail() {
    let w = world();
    let not_an_entry = bundle(&w.rekor, &B64.encode(b"{not json"), INTEGRATED);
    let other_kind = bundle(
        &w.rekor,
        &B64.encode(json!({"kind": "alpine", "spec": {}}).to_string()),
        INTEGRATED,
    );
    for (bad, reason) in [
        ("", "malformed Rekor bundle"),
        ("{}", "malformed Rekor bundle"),
        (
            r#"{"SignedEntryTimestamp":"x","Payload":{"body":1}}"#,
            "malformed Rekor bundle",
        ),
        (not_an_entry.as_str(), "malformed Rekor entry body"),
        (other_kind.as_str(), "unsupported Rekor entry kind 'alpine'"),
    ] {
        let (l, _) = verify_rekor_bundle(bad, &w.signature_b64, &trust(&w));
        assert!(!l.ok && l.reason.contains(reason), "{bad:?}: {l:?}");
        assert_eq!(l.name, "rekor");
    }
}

#[test]
fn verify_rekor_bundle_alone() {
    let w = world();
    let (l, info) = verify_rekor_bundle(&w.bundle, &w.signature_b64, &trust(&w));
    assert!(l.ok, "{l:?}");
    assert_eq!(
        info,
        Some(RekorInfo {
            log_index: LOG_INDEX,
            log_id: w.rekor.log_id.clone(),
            integrated_time: INTEGRATED,
            set_verified: true,
        })
    );
}

#[test]
fn require_rekor_semantics() {
    let w = world();
    let mut i = input(&w);
    i.bundle_json = None;
    i.now = at(INTEGRATED);

    // Required: a missing bundle fails even when everything else is fine.
    let mut t = trust(&w);
    t.require_rekor = true;
    let outcome = verify_keyless(&i, &t);
    assert_fails(&outcome, "rekor", "no Rekor bundle");
    assert!(outcome.0.iter().filter(|l| l.name != "rekor").all(|l| l.ok));
    assert_eq!(outcome.2, None);

    // Not required: an informational line, and the signature verifies.
    t.require_rekor = false;
    let outcome = verify_keyless(&i, &t);
    assert_verified(&outcome);
    assert_eq!(
        check(&outcome, "rekor").reason,
        "no Rekor bundle (not required)"
    );

    // Not required, but a bundle that is there must still verify.
    let tampered = w.bundle.replace(&w.rekor.log_id, &"0".repeat(64));
    i.bundle_json = Some(&tampered);
    assert_fails(&verify_keyless(&i, &t), "rekor", "unknown Rekor log");
}

// Path validation (rustls-webpki): constraints the hand-built path ignored.

/// A release whose leaf `issuer` issued, logged in Rekor inside the leaf's
/// lifetime, checked a day later with `chain_pem` as the chain annotation
/// and `roots` as the configured [signing] roots.
fn verify_release(
    spec: LeafSpec,
    issuer: &Ca,
    chain_pem: Option<&str>,
    roots: Vec<Vec<u8>>,
) -> Outcome {
    let leaf = leaf(spec, issuer);
    let rekor = rekor();
    let signature_b64 = sign_b64(&leaf.key, PAYLOAD);
    let bundle = bundle(
        &rekor,
        &hashedrekord(&signature_b64, &leaf.pem, PAYLOAD),
        INTEGRATED,
    );
    let t = Trust {
        keys: Vec::new(),
        identities: vec![identity(SUBJECT, ISSUER)],
        roots,
        rekor_keys: vec![*rekor.key.verifying_key()],
        require_rekor: true,
    };
    let i = KeylessInput {
        payload: PAYLOAD,
        signature_b64: &signature_b64,
        cert_pem: &leaf.pem,
        chain_pem,
        bundle_json: Some(&bundle),
        now: at(T0 + 86_400),
    };
    verify_keyless(&i, &t)
}

#[test]
fn path_length_zero_intermediate_may_not_issue_a_ca() {
    let root = root("test-root", &rcgen::PKCS_ECDSA_P384_SHA384);
    let mut params = ca_params("pathlen-zero", true);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let pathlen_zero = ca_signed_by(params, &root);
    let sub_ca = intermediate("sub-ca", &pathlen_zero, true);

    // pathLenConstraint 0: it may issue leaves...
    assert_verified(&verify_release(
        LeafSpec::default(),
        &pathlen_zero,
        Some(&pathlen_zero.pem),
        vec![root.der.clone()],
    ));
    // ...but not a CA that issues them.
    let chain = format!("{}{}", sub_ca.pem, pathlen_zero.pem);
    let outcome = verify_release(
        LeafSpec::default(),
        &sub_ca,
        Some(&chain),
        vec![root.der.clone()],
    );
    assert_fails(
        &outcome,
        "certificate",
        "certificate does not chain to a trusted root: path length constraint violated: 'CN=pathlen-zero, O=fleetdeck tests' allows 0 intermediate CA(s) below it (pathLenConstraint) but the chain has 1",
    );
}

#[test]
fn name_constrained_ca_refuses_names_outside_its_constraints() {
    let root = root("test-root", &rcgen::PKCS_ECDSA_P384_SHA384);
    let constrained = |cn: &str, constraints: NameConstraints| {
        let mut params = ca_params(cn, true);
        params.name_constraints = Some(constraints);
        ca_signed_by(params, &root)
    };

    // Permitted e-mail subtree that the leaf's release@example.com is outside of.
    let other_domain = constrained(
        "only-other-example",
        NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::Rfc822Name("other.example".into())],
            excluded_subtrees: Vec::new(),
        },
    );
    let outcome = verify_release(
        LeafSpec::default(),
        &other_domain,
        Some(&other_domain.pem),
        vec![root.der.clone()],
    );
    assert_fails(
        &outcome,
        "certificate",
        "certificate does not chain to a trusted root: name constraints violated: the certificate's names are outside the name constraints of 'CN=only-other-example, O=fleetdeck tests'",
    );

    // Excluded subtree that the leaf is inside of.
    let excluding = constrained(
        "no-example-com",
        NameConstraints {
            permitted_subtrees: Vec::new(),
            excluded_subtrees: vec![GeneralSubtree::Rfc822Name("example.com".into())],
        },
    );
    assert_fails(
        &verify_release(
            LeafSpec::default(),
            &excluding,
            Some(&excluding.pem),
            vec![root.der.clone()],
        ),
        "certificate",
        "name constraints violated",
    );

    // Constraints on DNS names only do not touch an e-mail identity.
    let dns_only = constrained(
        "dns-only",
        NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName("example.org".into())],
            excluded_subtrees: Vec::new(),
        },
    );
    assert_verified(&verify_release(
        LeafSpec::default(),
        &dns_only,
        Some(&dns_only.pem),
        vec![root.der.clone()],
    ));
}

#[test]
fn unknown_critical_extension_in_the_leaf_fails() {
    const UNKNOWN: &[u64] = &[1, 3, 6, 1, 4, 1, 99999, 1];
    let extension = |critical: bool| {
        // DER NULL: the content does not matter, only that nobody knows it.
        let mut ext = CustomExtension::from_oid_content(UNKNOWN, vec![0x05, 0x00]);
        ext.set_criticality(critical);
        ext
    };
    let w = world();
    let run = |critical: bool| {
        verify_release(
            LeafSpec {
                extensions: vec![extension(critical)],
                ..LeafSpec::default()
            },
            &w.intermediate,
            Some(&w.intermediate.pem),
            vec![w.root.der.clone()],
        )
    };
    // Not critical: may be ignored.
    assert_verified(&run(false));
    assert_fails(
        &run(true),
        "certificate",
        "certificate has a critical extension that cannot be processed (1.3.6.1.4.1.99999.1)",
    );
}

#[test]
fn leaf_without_the_code_signing_eku_fails() {
    let w = world();
    let run = |ekus: Vec<ExtendedKeyUsagePurpose>| {
        verify_release(
            LeafSpec {
                ekus,
                ..LeafSpec::default()
            },
            &w.intermediate,
            Some(&w.intermediate.pem),
            vec![w.root.der.clone()],
        )
    };
    assert_fails(
        &run(Vec::new()),
        "certificate",
        "certificate is not for code signing (no extended key usage extension; codeSigning is required)",
    );
    assert_fails(
        &run(vec![ExtendedKeyUsagePurpose::Any]),
        "certificate",
        "certificate is not for code signing (extended key usage lacks codeSigning)",
    );
    assert_fails(
        &run(vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]),
        "certificate",
        "certificate is not for code signing (extended key usage lacks codeSigning)",
    );
    assert_verified(&run(vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::CodeSigning,
    ]));
}

#[test]
fn intermediate_whose_eku_excludes_code_signing_fails() {
    let root = root("test-root", &rcgen::PKCS_ECDSA_P384_SHA384);
    let mut params = ca_params("tls-only-ca", true);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let tls_only = ca_signed_by(params, &root);
    assert_fails(
        &verify_release(
            LeafSpec::default(),
            &tls_only,
            Some(&tls_only.pem),
            vec![root.der.clone()],
        ),
        "certificate",
        "'CN=tls-only-ca, O=fleetdeck tests' may not issue code-signing certificates (its extended key usage lacks codeSigning)",
    );
}

#[test]
fn root_supplied_only_in_the_annotation_is_not_trusted() {
    let configured = root("fulcio-root", &rcgen::PKCS_ECDSA_P384_SHA384);

    // The attacker's own root and intermediate, shipped with the signature.
    let attacker_root = root("attacker-root", &rcgen::PKCS_ECDSA_P384_SHA384);
    let attacker_ca = intermediate("attacker-intermediate", &attacker_root, true);
    let chain = format!("{}{}", attacker_ca.pem, attacker_root.pem);
    let outcome = verify_release(
        LeafSpec::default(),
        &attacker_ca,
        Some(&chain),
        vec![configured.der.clone()],
    );
    assert_fails(
        &outcome,
        "certificate",
        "certificate does not chain to a trusted root: the chain ends at 'CN=attacker-root, O=fleetdeck tests', a root that came with the signature and is not one of the [signing] roots",
    );
    // Everything else about the release is fine: only the chain is refused.
    assert!(
        outcome
            .0
            .iter()
            .filter(|l| l.name != "certificate")
            .all(|l| l.ok),
        "{:#?}",
        outcome.0
    );

    // The same with the root in the certificate annotation itself.
    let leaf_and_chain = leaf(LeafSpec::default(), &attacker_ca);
    let cert_pem = format!(
        "{}{}{}",
        leaf_and_chain.pem, attacker_ca.pem, attacker_root.pem
    );
    let signature_b64 = sign_b64(&leaf_and_chain.key, PAYLOAD);
    let t = Trust {
        keys: Vec::new(),
        identities: vec![identity(SUBJECT, ISSUER)],
        roots: vec![configured.der.clone()],
        rekor_keys: Vec::new(),
        require_rekor: false,
    };
    let i = KeylessInput {
        payload: PAYLOAD,
        signature_b64: &signature_b64,
        cert_pem: &cert_pem,
        chain_pem: None,
        bundle_json: None,
        now: at(INTEGRATED),
    };
    assert_fails(
        &verify_keyless(&i, &t),
        "certificate",
        "a root that came with the signature and is not one of the [signing] roots",
    );

    // An attacker root named like the configured one does not pass for it.
    let lookalike = root("fulcio-root", &rcgen::PKCS_ECDSA_P384_SHA384);
    let lookalike_ca = intermediate("attacker-intermediate", &lookalike, true);
    let chain = format!("{}{}", lookalike_ca.pem, lookalike.pem);
    assert_fails(
        &verify_release(
            LeafSpec::default(),
            &lookalike_ca,
            Some(&chain),
            vec![configured.der.clone()],
        ),
        "certificate",
        "certificate does not chain to a trusted root: a signature along certificate → 'CN=attacker-intermediate, O=fleetdeck tests' → 'CN=fulcio-root, O=fleetdeck tests' does not verify",
    );
}

#[test]
fn validity_is_judged_at_the_rekor_time_not_now() {
    let w = world();
    // Checked a day later: the leaf expired long ago, but Rekor vouches
    // that it was signed two minutes into the leaf's lifetime.
    let outcome = verify_keyless(&input(&w), &trust(&w));
    assert_verified(&outcome);
    assert!(
        check(&outcome, "validity")
            .reason
            .contains("(the Rekor integrated time)")
    );

    // Without Rekor's word the same leaf is judged now, and refused; the
    // chain itself is still reported as sound.
    let mut t = trust(&w);
    t.require_rekor = false;
    let mut i = input(&w);
    i.bundle_json = None;
    let outcome = verify_keyless(&i, &t);
    assert_fails(
        &outcome,
        "validity",
        "certificate expired at 2026-01-01T00:10:00Z, checked at 2026-01-02T00:00:00Z (now)",
    );
    assert!(
        check(&outcome, "certificate").ok,
        "{:?}",
        check(&outcome, "certificate")
    );

    // Logged before the leaf was valid.
    let early = verify_release(
        LeafSpec {
            not_before: INTEGRATED + 60,
            not_after: INTEGRATED + 60 + LIFETIME,
            ..LeafSpec::default()
        },
        &w.intermediate,
        Some(&w.intermediate.pem),
        vec![w.root.der.clone()],
    );
    assert_fails(
        &early,
        "validity",
        "certificate not yet valid: valid from 2026-01-01T00:03:00Z, checked at 2026-01-01T00:02:00Z (the Rekor integrated time)",
    );
}

#[test]
fn intermediate_expired_at_the_rekor_time_fails_validity() {
    let root = root("test-root", &rcgen::PKCS_ECDSA_P384_SHA384);
    let mut params = ca_params("short-lived-ca", true);
    // Valid when the leaf was issued, expired when Rekor logged the signature.
    params.not_after = odt(T0 + 60);
    let short_lived = ca_signed_by(params, &root);
    let outcome = verify_release(
        LeafSpec::default(),
        &short_lived,
        Some(&short_lived.pem),
        vec![root.der.clone()],
    );
    assert_fails(
        &outcome,
        "validity",
        "issuer certificate 'CN=short-lived-ca, O=fleetdeck tests' expired at 2026-01-01T00:01:00Z, checked at 2026-01-01T00:02:00Z (the Rekor integrated time)",
    );
    assert!(check(&outcome, "certificate").ok);
}

#[test]
fn intermediates_that_issue_each_other_fail_without_looping() {
    // Two CAs, each certified by the other, neither reaching a configured
    // root: path building must stop and refuse.
    let key_a = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key a");
    let key_b = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key b");
    let same_key = |k: &KeyPair| KeyPair::try_from(k.serialized_der()).expect("key copy");
    let issuer_a = Issuer::new(ca_params("loop-a", true), same_key(&key_a));
    let issuer_b = Issuer::new(ca_params("loop-b", true), same_key(&key_b));
    let cert_a = ca_params("loop-a", true)
        .signed_by(&key_a, &issuer_b)
        .expect("a by b");
    let cert_b = ca_params("loop-b", true)
        .signed_by(&key_b, &issuer_a)
        .expect("b by a");
    let a = Ca {
        der: cert_a.der().to_vec(),
        pem: cert_a.pem(),
        issuer: issuer_a,
    };
    let chain = format!("{}{}", cert_a.pem(), cert_b.pem());
    let configured = root("fulcio-root", &rcgen::PKCS_ECDSA_P384_SHA384);
    let outcome = verify_release(
        LeafSpec::default(),
        &a,
        Some(&chain),
        vec![configured.der.clone()],
    );
    assert_fails(
        &outcome,
        "certificate",
        "certificate does not chain to a trusted root: the chain annotation loops back to 'CN=loop-a, O=fleetdeck tests' without reaching a [signing] root",
    );
}
