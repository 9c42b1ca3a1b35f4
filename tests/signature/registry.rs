//! Cosign verification against a real OCI registry (Debian's `docker-registry`
//! on loopback, tests/support/registry.rs), with images, signatures,
//! attestations and SBOMs pushed by the tests over plain HTTP.
//!
//! Signatures are made two independent ways — in-process with the `p256`
//! crate, and entirely by the `openssl` CLI (`ecparam -genkey`, `dgst -sha256
//! -sign`) — over simple-signing payloads and DSSE PAEs written here from the
//! specs. Every case goes through the library (`fleetdeck::signature::verify`)
//! and through the real binary (`fleetdeck verify REF --key pub.pem [--json]`).
//!
//! Expected digests, fingerprints and component counts are computed or chosen
//! by the tests (sha256 of the bytes pushed, `openssl pkey -outform DER`,
//! list lengths), never taken from the code under test.
//!
//! Needs `docker-registry` and `openssl` (scripts/test.sh installs them).
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

use crate::support;

use fleetdeck::signature::{RegistryClient, Report, Trust, VerifyCache, verify};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use support::registry::*;

/// Both ways of signing: every case runs with each.
const KINDS: [&str; 2] = ["p256", "openssl"];

fn key(kind: &str, dir: &Path, name: &str) -> TestKey {
    match kind {
        "p256" => TestKey::p256(dir, name),
        "openssl" => TestKey::openssl(dir, name),
        other => panic!("unknown key kind {other}"),
    }
}

/// `fleetdeck::signature::verify` with exactly these trusted keys.
async fn verify_lib(reg: &Registry, reference: &str, keys: &[&Path]) -> Report {
    let mut trust = Trust::default();
    for k in keys {
        trust.add_key_file(k).expect("a test public key loads");
    }
    let client = RegistryClient::new(&reg.config()).expect("registry client");
    verify(reference, &trust, &client, SystemTime::now())
        .await
        .unwrap_or_else(|e| panic!("{reference} should be readable: {e}\n{}", reg.log_tail()))
}

/// `fleetdeck --config CFG verify REF --key K... [--json]`.
async fn verify_cli(cfg: &Path, reference: &str, keys: &[&Path], json: bool) -> CliRun {
    let mut args = vec![
        "--config".to_string(),
        cfg.display().to_string(),
        "verify".to_string(),
        reference.to_string(),
    ];
    for k in keys {
        args.push("--key".to_string());
        args.push(k.display().to_string());
    }
    if json {
        args.push("--json".to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fleetdeck(&args).await
}

/// Signs `payload` for `img` with `key`, checking the fixture with openssl
/// first (so a failure later is fleetdeck's, not the test's).
fn sign_checked(key: &TestKey, msg: &[u8]) -> Vec<u8> {
    let sig = key.sign(msg);
    assert!(
        key.openssl_verifies(msg, &sig),
        "{} signature does not verify with openssl: the fixture is broken",
        key.kind()
    );
    sig
}

fn check<'a>(checks: &'a Value, name: &str) -> &'a Value {
    checks
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check '{name}' in {checks:#}"))
}

fn all_reasons(report: &Report) -> String {
    report.reasons.join("\n")
}

#[tokio::test]
async fn p256_and_openssl_signatures_verify_with_library_and_cli() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = reg.write_fleetdeck_config(dir.path(), None);
    for kind in KINDS {
        let repo = format!("fleet/{kind}-good");
        let k = key(kind, dir.path(), &format!("{kind}-release"));
        let img = reg.push_image(&repo, Some("v1"), &repo).await;
        let payload = simple_signing(&img.name(), &img.digest);
        let sig = sign_checked(&k, &payload);
        reg.push_attachment(
            &repo,
            &img.digest,
            "sig",
            &[signature_layer(&payload, &sig)],
        )
        .await;
        // An SPDX attestation signed by the same key, and a CycloneDX `.sbom`.
        let att_packages = ["busybox", "musl", "onnxruntime", "fleet-agent"];
        let st = statement(
            &img.name(),
            img.hex(),
            SPDX_PREDICATE,
            spdx_document("syft-1.2.0", &att_packages),
        );
        reg.push_attachment(
            &repo,
            &img.digest,
            "att",
            &[attestation_layer(&st, &k, SPDX_PREDICATE)],
        )
        .await;
        let cdx = cyclonedx_document("cdxgen", "10.0", json!([{"name": "app"}, {"name": "libc"}]));
        reg.push_attachment(
            &repo,
            &img.digest,
            "sbom",
            &[Layer::new(
                CYCLONEDX_JSON,
                serde_json::to_vec(&cdx).expect("json"),
            )],
        )
        .await;
        let fingerprint = k.fingerprint();
        let reference = img.by_digest();

        // Library.
        let report = verify_lib(&reg, &reference, &[k.public_pem()]).await;
        assert!(
            report.verified,
            "{kind}: should verify: {}",
            fleetdeck::signature::report_text(&report)
        );
        assert_eq!(report.digest, img.digest);
        assert_eq!(report.tag_warning, None, "a digest reference does not warn");
        assert_eq!(report.signatures.len(), 1);
        let s = &report.signatures[0];
        assert!(s.checks.iter().all(|c| c.ok), "{kind}: {:?}", s.checks);
        assert!(
            s.location.contains(&format!(
                "{}:{}",
                img.name(),
                attachment_tag(&img.digest, "sig")
            )),
            "{kind}: location {}",
            s.location
        );
        assert_eq!(
            s.signer,
            fleetdeck::signature::Signer::Key {
                fingerprint: fingerprint.clone(),
                key_file: Some(k.public_pem().display().to_string()),
            }
        );
        assert_eq!(report.attestations.len(), 1);
        assert!(
            report.attestations[0].verified,
            "{kind}: {:?}",
            report.attestations[0]
        );
        assert!(report.reasons.is_empty(), "{kind}: {:?}", report.reasons);

        // The real binary, JSON.
        let run = verify_cli(&cfg, &reference, &[k.public_pem()], true).await;
        assert_eq!(run.code, Some(0), "{kind}: {run:?}");
        let v = run.json();
        assert_eq!(v["verified"], true);
        assert_eq!(v["digest"], img.digest.as_str());
        assert_eq!(v["tag_warning"], Value::Null);
        let sigs = v["signatures"].as_array().expect("signatures array");
        assert_eq!(sigs.len(), 1, "{v:#}");
        assert_eq!(sigs[0]["verified"], true);
        assert_eq!(sigs[0]["signer"]["kind"], "key");
        assert_eq!(sigs[0]["signer"]["fingerprint"], fingerprint.as_str());
        assert_eq!(
            sigs[0]["annotations"][SIGNATURE_ANNOTATION],
            b64(&sig).as_str()
        );
        for name in [
            "signature annotation",
            "payload",
            "payload digest",
            "signature",
        ] {
            let c = check(&sigs[0]["checks"], name);
            assert_eq!(c["ok"], true, "{kind}: {c}");
        }
        assert!(
            check(&sigs[0]["checks"], "payload digest")["reason"]
                .as_str()
                .is_some_and(|r| r.contains(&img.digest)),
            "{kind}: {:#}",
            sigs[0]["checks"]
        );
        assert!(
            check(&sigs[0]["checks"], "signature")["reason"]
                .as_str()
                .is_some_and(|r| r.contains(&fingerprint)),
        );
        let atts = v["attestations"].as_array().expect("attestations");
        assert_eq!(atts.len(), 1);
        assert_eq!(atts[0]["predicate_type"], SPDX_PREDICATE);
        assert_eq!(atts[0]["verified"], true);
        assert_eq!(atts[0]["subject_matches"], true);
        let mut sboms: Vec<(String, u64)> = v["sboms"]
            .as_array()
            .expect("sboms")
            .iter()
            .map(|s| {
                (
                    s["format"].as_str().unwrap_or("").to_string(),
                    s["components"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        sboms.sort();
        assert_eq!(
            sboms,
            vec![
                ("CycloneDX 1.5".to_string(), 2),
                ("SPDX 2.3".to_string(), att_packages.len() as u64)
            ],
            "{kind}: {:#}",
            v["sboms"]
        );

        // The real binary, text.
        let run = verify_cli(&cfg, &reference, &[k.public_pem()], false).await;
        assert_eq!(run.code, Some(0), "{kind}: {run:?}");
        assert!(run.stdout.contains("Verdict: VERIFIED"), "{}", run.stdout);
        assert!(run.stdout.contains(&fingerprint), "{}", run.stdout);
    }
}

/// What every failure case asserts: the library says not verified with
/// `reason` among the reasons, the binary exits 1 and its JSON says the same.
async fn assert_fails(
    reg: &Registry,
    cfg: &Path,
    reference: &str,
    keys: &[&Path],
    reason: &str,
    case: &str,
) -> Report {
    let report = verify_lib(reg, reference, keys).await;
    assert!(!report.verified, "{case}: must not verify");
    assert!(
        all_reasons(&report).contains(reason),
        "{case}: reasons should contain {reason:?}:\n{}",
        fleetdeck::signature::report_text(&report)
    );
    let run = verify_cli(cfg, reference, keys, true).await;
    assert_eq!(run.code, Some(1), "{case}: exit code; {run:?}");
    let v = run.json();
    assert_eq!(v["verified"], false, "{case}");
    assert!(
        v["reasons"].as_array().is_some_and(|r| r
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains(reason)))),
        "{case}: JSON reasons should contain {reason:?}: {:#}",
        v["reasons"]
    );
    let run = verify_cli(cfg, reference, keys, false).await;
    assert_eq!(run.code, Some(1), "{case}: text exit code; {run:?}");
    assert!(
        run.stdout.contains("NOT VERIFIED"),
        "{case}: {}",
        run.stdout
    );
    assert!(run.stdout.contains(reason), "{case}: {}", run.stdout);
    report
}

#[tokio::test]
async fn a_tampered_payload_fails() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = reg.write_fleetdeck_config(dir.path(), None);
    for kind in KINDS {
        let k = key(kind, dir.path(), &format!("{kind}-release"));

        // Still valid JSON naming the right digest, but not the signed bytes.
        let repo = format!("fleet/{kind}-tampered");
        let img = reg.push_image(&repo, None, &repo).await;
        let payload = simple_signing(&img.name(), &img.digest);
        let sig = sign_checked(&k, &payload);
        let tampered = simple_signing("evil.example/other", &img.digest);
        assert!(!k.openssl_verifies(&tampered, &sig));
        reg.push_attachment(
            &repo,
            &img.digest,
            "sig",
            &[signature_layer(&tampered, &sig)],
        )
        .await;
        let report = assert_fails(
            &reg,
            &cfg,
            &img.by_digest(),
            &[k.public_pem()],
            "tampered payload",
            &format!("{kind} tampered"),
        )
        .await;
        let s = &report.signatures[0];
        let sig_check = s
            .checks
            .iter()
            .find(|c| c.name == "signature")
            .expect("signature check");
        assert!(!sig_check.ok);
        // The digest inside still matches: only the signature check fails.
        assert!(s.checks.iter().any(|c| c.name == "payload digest" && c.ok));

        // Bytes changed so that it is no longer JSON at all.
        let repo = format!("fleet/{kind}-mangled");
        let img = reg.push_image(&repo, None, &repo).await;
        let payload = simple_signing(&img.name(), &img.digest);
        let sig = sign_checked(&k, &payload);
        let mut mangled = payload.clone();
        mangled.truncate(payload.len() - 3);
        reg.push_attachment(
            &repo,
            &img.digest,
            "sig",
            &[signature_layer(&mangled, &sig)],
        )
        .await;
        assert_fails(
            &reg,
            &cfg,
            &img.by_digest(),
            &[k.public_pem()],
            "bad payload",
            &format!("{kind} mangled"),
        )
        .await;
    }
}

#[tokio::test]
async fn a_wrong_key_fails() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = reg.write_fleetdeck_config(dir.path(), None);
    for kind in KINDS {
        let signer = key(kind, dir.path(), &format!("{kind}-attacker"));
        let trusted = key(kind, dir.path(), &format!("{kind}-release"));
        assert_ne!(signer.fingerprint(), trusted.fingerprint());
        let repo = format!("fleet/{kind}-wrongkey");
        let img = reg.push_image(&repo, None, &repo).await;
        let payload = simple_signing(&img.name(), &img.digest);
        let sig = sign_checked(&signer, &payload);
        reg.push_attachment(
            &repo,
            &img.digest,
            "sig",
            &[signature_layer(&payload, &sig)],
        )
        .await;
        let report = assert_fails(
            &reg,
            &cfg,
            &img.by_digest(),
            &[trusted.public_pem()],
            "wrong key",
            &format!("{kind} wrong key"),
        )
        .await;
        // It names the key it tried.
        assert!(
            all_reasons(&report).contains(&trusted.fingerprint()),
            "{}",
            all_reasons(&report)
        );
        assert_eq!(
            report.signatures[0].signer,
            fleetdeck::signature::Signer::Unknown
        );
        // With the signer's key it verifies: the failure was the key only.
        let ok = verify_lib(&reg, &img.by_digest(), &[signer.public_pem()]).await;
        assert!(ok.verified, "{kind}: {:?}", ok.reasons);
    }
}

#[tokio::test]
async fn a_payload_for_another_digest_fails() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = reg.write_fleetdeck_config(dir.path(), None);
    for kind in KINDS {
        let k = key(kind, dir.path(), &format!("{kind}-release"));
        let repo = format!("fleet/{kind}-otherdigest");
        let img = reg
            .push_image(&repo, Some("v2"), &format!("{repo} v2"))
            .await;
        let other = reg
            .push_image(&repo, Some("v1"), &format!("{repo} v1"))
            .await;
        assert_ne!(img.digest, other.digest);
        // A genuine signature of v1, copied next to v2.
        let payload = simple_signing(&img.name(), &other.digest);
        let sig = sign_checked(&k, &payload);
        reg.push_attachment(
            &repo,
            &img.digest,
            "sig",
            &[signature_layer(&payload, &sig)],
        )
        .await;
        let expected = format!(
            "digest mismatch: signed {} but the image is {}",
            other.digest, img.digest
        );
        let report = assert_fails(
            &reg,
            &cfg,
            &img.by_digest(),
            &[k.public_pem()],
            &expected,
            &format!("{kind} digest mismatch"),
        )
        .await;
        // The signature itself is good: that check passes, the digest one fails.
        let s = &report.signatures[0];
        assert!(
            s.checks.iter().any(|c| c.name == "signature" && c.ok),
            "{:?}",
            s.checks
        );
        assert!(s.checks.iter().any(|c| c.name == "payload digest" && !c.ok));
    }
}

#[tokio::test]
async fn a_garbage_annotation_fails() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = reg.write_fleetdeck_config(dir.path(), None);
    for kind in KINDS {
        let k = key(kind, dir.path(), &format!("{kind}-release"));

        let repo = format!("fleet/{kind}-notbase64");
        let img = reg.push_image(&repo, None, &repo).await;
        let payload = simple_signing(&img.name(), &img.digest);
        reg.push_attachment(
            &repo,
            &img.digest,
            "sig",
            &[signature_layer_raw(&payload, "%%% this is not base64 %%%")],
        )
        .await;
        assert_fails(
            &reg,
            &cfg,
            &img.by_digest(),
            &[k.public_pem()],
            "malformed signature annotation: not base64",
            &format!("{kind} not base64"),
        )
        .await;

        // Base64 of the key's real DER signature with its SEQUENCE tag broken.
        let repo = format!("fleet/{kind}-notasignature");
        let img = reg.push_image(&repo, None, &repo).await;
        let payload = simple_signing(&img.name(), &img.digest);
        let mut sig = sign_checked(&k, &payload);
        assert_eq!(sig[0], 0x30, "a DER SEQUENCE");
        sig[0] = 0x31;
        reg.push_attachment(
            &repo,
            &img.digest,
            "sig",
            &[signature_layer(&payload, &sig)],
        )
        .await;
        let expected = format!(
            "malformed signature annotation: {} bytes that are not an ECDSA P-256 signature",
            sig.len()
        );
        assert_fails(
            &reg,
            &cfg,
            &img.by_digest(),
            &[k.public_pem()],
            &expected,
            &format!("{kind} not a signature"),
        )
        .await;
    }
}

#[tokio::test]
async fn no_signature_at_all_fails() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = reg.write_fleetdeck_config(dir.path(), None);
    for kind in KINDS {
        let k = key(kind, dir.path(), &format!("{kind}-release"));
        let repo = format!("fleet/{kind}-unsigned");
        let img = reg.push_image(&repo, Some("v1"), &repo).await;
        let expected = format!(
            "no signatures found at {}:{}",
            img.name(),
            attachment_tag(&img.digest, "sig")
        );
        let report = assert_fails(
            &reg,
            &cfg,
            &img.by_digest(),
            &[k.public_pem()],
            &expected,
            &format!("{kind} unsigned"),
        )
        .await;
        assert!(report.signatures.is_empty());
    }
}

#[tokio::test]
async fn a_tag_reference_verifies_with_the_tag_warning() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = reg.write_fleetdeck_config(dir.path(), None);
    for kind in KINDS {
        let k = key(kind, dir.path(), &format!("{kind}-release"));
        let repo = format!("fleet/{kind}-tagged");
        let img = reg.push_image(&repo, Some("v1.2.3"), &repo).await;
        let payload = simple_signing(&img.name(), &img.digest);
        let sig = sign_checked(&k, &payload);
        reg.push_attachment(
            &repo,
            &img.digest,
            "sig",
            &[signature_layer(&payload, &sig)],
        )
        .await;

        let report = verify_lib(&reg, &img.by_tag(), &[k.public_pem()]).await;
        assert!(report.verified, "{kind}: {:?}", report.reasons);
        assert_eq!(
            report.digest, img.digest,
            "the tag resolves to the pushed manifest"
        );
        let warning = report.tag_warning.clone().expect("a tag warns");
        assert!(warning.contains("'v1.2.3' is a tag"), "{warning}");
        assert!(
            warning.contains(&img.by_digest()),
            "pins to the digest: {warning}"
        );

        let run = verify_cli(&cfg, &img.by_tag(), &[k.public_pem()], true).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        let v = run.json();
        assert_eq!(v["tag_warning"], warning.as_str());
        assert_eq!(v["digest"], img.digest.as_str());
        let run = verify_cli(&cfg, &img.by_tag(), &[k.public_pem()], false).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        assert!(run.stdout.contains("⚠ 'v1.2.3' is a tag"), "{}", run.stdout);
    }
}

/// SBOMs as `.sbom` attachments and as attestation predicates, both formats;
/// the component counts are the ones built here.
#[tokio::test]
async fn spdx_and_cyclonedx_sboms_are_counted() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = reg.write_fleetdeck_config(dir.path(), None);
    let p = TestKey::p256(dir.path(), "release");
    let o = TestKey::openssl(dir.path(), "ci");
    let repo = "fleet/sboms";
    let img = reg.push_image(repo, Some("v1"), repo).await;
    let payload = simple_signing(&img.name(), &img.digest);
    reg.push_attachment(
        repo,
        &img.digest,
        "sig",
        &[signature_layer(&payload, &sign_checked(&p, &payload))],
    )
    .await;

    // `.sbom`: SPDX with 3 packages, CycloneDX with 2 top-level components,
    // one of which has 2 nested ones: 4 in all.
    let sbom_spdx = spdx_document("syft-1.2.0", &["busybox", "musl", "onnxruntime"]);
    let sbom_cdx = cyclonedx_document(
        "cdxgen",
        "10.0",
        json!([
            {"name": "inference-app", "components": [{"name": "tflite"}, {"name": "numpy"}]},
            {"name": "fleet-agent"}
        ]),
    );
    reg.push_attachment(
        repo,
        &img.digest,
        "sbom",
        &[
            Layer::new(SPDX_JSON, serde_json::to_vec(&sbom_spdx).expect("json")),
            Layer::new(CYCLONEDX_JSON, serde_json::to_vec(&sbom_cdx).expect("json")),
        ],
    )
    .await;
    // `.att`: an SPDX predicate with 5 packages (signed with p256) and a
    // CycloneDX predicate with 3 components each holding one: 6 (openssl).
    let att_spdx = spdx_document("trivy 0.50", &["a", "b", "c", "d", "e"]);
    let att_cdx = cyclonedx_document(
        "syft",
        "1.4",
        json!([
            {"name": "x", "components": [{"name": "x1"}]},
            {"name": "y", "components": [{"name": "y1"}]},
            {"name": "z", "components": [{"name": "z1"}]}
        ]),
    );
    reg.push_attachment(
        repo,
        &img.digest,
        "att",
        &[
            attestation_layer(
                &statement(&img.name(), img.hex(), SPDX_PREDICATE, att_spdx),
                &p,
                SPDX_PREDICATE,
            ),
            attestation_layer(
                &statement(&img.name(), img.hex(), CYCLONEDX_PREDICATE, att_cdx),
                &o,
                CYCLONEDX_PREDICATE,
            ),
        ],
    )
    .await;

    let expected = vec![
        (
            "CycloneDX 1.5".to_string(),
            "cdxgen 10.0".to_string(),
            4,
            "sbom",
        ),
        (
            "CycloneDX 1.5".to_string(),
            "syft 1.4".to_string(),
            6,
            "att",
        ),
        ("SPDX 2.3".to_string(), "syft-1.2.0".to_string(), 3, "sbom"),
        ("SPDX 2.3".to_string(), "trivy 0.50".to_string(), 5, "att"),
    ];

    let report = verify_lib(&reg, &img.by_digest(), &[p.public_pem(), o.public_pem()]).await;
    assert!(report.verified, "{:?}", report.reasons);
    assert_eq!(report.attestations.len(), 2);
    assert!(
        report.attestations.iter().all(|a| a.verified),
        "{:?}",
        report.attestations
    );
    let mut types: Vec<&str> = report
        .attestations
        .iter()
        .map(|a| a.predicate_type.as_str())
        .collect();
    types.sort_unstable();
    assert_eq!(types, vec![CYCLONEDX_PREDICATE, SPDX_PREDICATE]);
    let mut got: Vec<(String, String, usize, &str)> = report
        .sboms
        .iter()
        .map(|s| {
            let kind = if s.location.contains(".sbom") {
                "sbom"
            } else {
                "att"
            };
            (
                s.format.clone(),
                s.tool.clone().unwrap_or_default(),
                s.components,
                kind,
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, expected);

    let run = verify_cli(
        &cfg,
        &img.by_digest(),
        &[p.public_pem(), o.public_pem()],
        true,
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let v = run.json();
    let mut got: Vec<(String, String, usize, &str)> = v["sboms"]
        .as_array()
        .expect("sboms")
        .iter()
        .map(|s| {
            let loc = s["location"].as_str().unwrap_or("");
            (
                s["format"].as_str().unwrap_or("").to_string(),
                s["tool"].as_str().unwrap_or("").to_string(),
                s["components"].as_u64().unwrap_or(0) as usize,
                if loc.contains(".sbom") { "sbom" } else { "att" },
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(v["attestations"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn an_attestation_about_another_image_is_rejected() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = reg.write_fleetdeck_config(dir.path(), None);
    for kind in KINDS {
        let k = key(kind, dir.path(), &format!("{kind}-release"));
        let stranger = key(kind, dir.path(), &format!("{kind}-stranger"));
        let repo = format!("fleet/{kind}-attsubject");
        let img = reg
            .push_image(&repo, Some("v2"), &format!("{repo} v2"))
            .await;
        let other = reg
            .push_image(&repo, Some("v1"), &format!("{repo} v1"))
            .await;
        let payload = simple_signing(&img.name(), &img.digest);
        reg.push_attachment(
            &repo,
            &img.digest,
            "sig",
            &[signature_layer(&payload, &sign_checked(&k, &payload))],
        )
        .await;
        let good = statement(
            &img.name(),
            img.hex(),
            SPDX_PREDICATE,
            spdx_document("syft-1.2.0", &["a", "b"]),
        );
        // Properly signed by the trusted key, but about v1.
        let elsewhere = statement(
            &other.name(),
            other.hex(),
            SPDX_PREDICATE,
            spdx_document("syft-1.2.0", &["a", "b", "c", "d", "e", "f", "g"]),
        );
        // About the image, but signed by an untrusted key.
        let unsigned = statement(
            &img.name(),
            img.hex(),
            "https://slsa.dev/provenance/v1",
            json!({"buildDefinition": {"buildType": "x"}}),
        );
        reg.push_attachment(
            &repo,
            &img.digest,
            "att",
            &[
                attestation_layer(&good, &k, SPDX_PREDICATE),
                attestation_layer(&elsewhere, &k, SPDX_PREDICATE),
                attestation_layer(&unsigned, &stranger, "https://slsa.dev/provenance/v1"),
            ],
        )
        .await;

        let report = verify_lib(&reg, &img.by_digest(), &[k.public_pem()]).await;
        assert_eq!(report.attestations.len(), 3, "{kind}");
        let [a_good, a_else, a_unsigned] = &report.attestations[..] else {
            panic!(
                "three attestations in layer order: {:?}",
                report.attestations
            )
        };
        assert!(
            a_good.verified && a_good.subject_matches,
            "{kind}: {a_good:?}"
        );
        assert!(!a_else.verified, "{kind}: {a_else:?}");
        assert!(!a_else.subject_matches);
        let subject = a_else
            .checks
            .iter()
            .find(|c| c.name == "subject")
            .expect("subject check");
        assert!(!subject.ok);
        assert!(
            subject.reason.contains("does not match the image")
                && subject.reason.contains(other.hex())
                && subject.reason.contains(&img.digest),
            "{kind}: {}",
            subject.reason
        );
        assert!(!a_unsigned.verified, "{kind}: {a_unsigned:?}");
        assert!(
            a_unsigned
                .checks
                .iter()
                .any(|c| c.name == "signature" && !c.ok && c.reason.contains("wrong key")),
            "{kind}: {:?}",
            a_unsigned.checks
        );
        // Only the verified attestation's SBOM (2 packages) is summarised.
        let counts: Vec<usize> = report.sboms.iter().map(|s| s.components).collect();
        assert_eq!(counts, vec![2], "{kind}: {:?}", report.sboms);
        assert!(
            all_reasons(&report).contains("attestation subject does not match the image"),
            "{kind}: {:?}",
            report.reasons
        );

        let run = verify_cli(&cfg, &img.by_digest(), &[k.public_pem()], true).await;
        let v = run.json();
        let atts = v["attestations"].as_array().expect("attestations");
        assert_eq!(atts.len(), 3);
        assert_eq!(atts[1]["verified"], false);
        assert_eq!(atts[1]["subject_matches"], false);
        assert_eq!(check(&atts[1]["checks"], "subject")["ok"], false);
        assert_eq!(v["sboms"].as_array().map(Vec::len), Some(1));
        // The policy is about signatures: a bad attestation is reported, the
        // image signature still verifies.
        assert_eq!(run.code, Some(0), "{run:?}");
    }
}

/// 3 signatures (p256, openssl, p256) and 2 attestations on one image:
/// timing uncached vs through `VerifyCache` (printed, never asserted), and a
/// cache hit costs no registry request (counted in the registry's access log).
#[tokio::test]
async fn three_signatures_two_attestations_and_the_cache() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = [
        TestKey::p256(dir.path(), "release-a"),
        TestKey::openssl(dir.path(), "release-b"),
        TestKey::p256(dir.path(), "release-c"),
    ];
    let repo = "fleet/busy";
    let img = reg.push_image(repo, Some("v1"), repo).await;
    let payload = simple_signing(&img.name(), &img.digest);
    let layers: Vec<Layer> = keys
        .iter()
        .map(|k| signature_layer(&payload, &sign_checked(k, &payload)))
        .collect();
    reg.push_attachment(repo, &img.digest, "sig", &layers).await;
    let atts = [
        attestation_layer(
            &statement(
                &img.name(),
                img.hex(),
                SPDX_PREDICATE,
                spdx_document("syft-1.2.0", &["a", "b", "c"]),
            ),
            &keys[0],
            SPDX_PREDICATE,
        ),
        attestation_layer(
            &statement(
                &img.name(),
                img.hex(),
                "https://slsa.dev/provenance/v1",
                json!({"buildDefinition": {"buildType": "https://example.invalid/ci"}}),
            ),
            &keys[1],
            "https://slsa.dev/provenance/v1",
        ),
    ];
    reg.push_attachment(repo, &img.digest, "att", &atts).await;

    let mut trust = Trust::default();
    for k in &keys {
        trust.add_key_file(k.public_pem()).expect("key loads");
    }
    let client = RegistryClient::new(&reg.config()).expect("client");
    let reference = img.by_digest();

    let before = reg.settled_request_count().await;
    let t = Instant::now();
    let report = verify(&reference, &trust, &client, SystemTime::now())
        .await
        .expect("readable");
    let uncached = t.elapsed();
    let uncached_requests = reg.settled_request_count().await - before;
    assert!(report.verified, "{:?}", report.reasons);
    assert_eq!(report.signatures.len(), 3);
    assert!(
        report.signatures.iter().all(|s| s.verified),
        "{:?}",
        report.signatures
    );
    let mut signers: Vec<String> = report
        .signatures
        .iter()
        .map(|s| match &s.signer {
            fleetdeck::signature::Signer::Key { fingerprint, .. } => fingerprint.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    signers.sort();
    let mut want: Vec<String> = keys.iter().map(TestKey::fingerprint).collect();
    want.sort();
    assert_eq!(signers, want, "each signature attributed to its own key");
    assert_eq!(report.attestations.len(), 2);
    assert!(report.attestations.iter().all(|a| a.verified));

    let cache = VerifyCache::default();
    let before = reg.settled_request_count().await;
    let t = Instant::now();
    let first = cache
        .verify(&reference, &trust, &client, SystemTime::now())
        .await
        .expect("readable");
    let miss = t.elapsed();
    let miss_requests = reg.settled_request_count().await - before;
    assert_eq!(*first, report, "the cache computes the same report");
    assert_eq!(cache.len(), 1);

    let before = reg.settled_request_count().await;
    let t = Instant::now();
    let second = cache
        .verify(&reference, &trust, &client, SystemTime::now())
        .await
        .expect("readable");
    let hit = t.elapsed();
    let hit_requests = reg.settled_request_count().await - before;
    assert!(Arc::ptr_eq(&first, &second), "the cached verdict itself");
    assert_eq!(
        hit_requests, 0,
        "a cache hit by digest asks the registry nothing"
    );
    assert_eq!(cache.len(), 1);

    // By tag: one request (the tag may have moved), then the cached verdict.
    let before = reg.settled_request_count().await;
    let by_tag = cache
        .verify(&img.by_tag(), &trust, &client, SystemTime::now())
        .await
        .expect("readable");
    let tag_requests = reg.settled_request_count().await - before;
    assert!(by_tag.verified);
    assert!(by_tag.tag_warning.is_some());
    assert_eq!(tag_requests, 1, "a tag costs one manifest request");

    eprintln!(
        "3 signatures + 2 attestations on a loopback docker-registry: \
         uncached verify {uncached:?} ({uncached_requests} requests), \
         VerifyCache miss {miss:?} ({miss_requests} requests), \
         hit {hit:?} ({hit_requests} requests)"
    );
}
