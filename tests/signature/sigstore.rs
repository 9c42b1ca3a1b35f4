//! fleetdeck and the `sigstore` crate (sigstore-rs) agree on cosign's
//! signature format — shown with committed fixtures, so the sigstore crate
//! (~100 crates, minutes of build) is not compiled on every run.
//!
//! tests/fixtures/sigstore/ (its README.md says how to regenerate) holds, as
//! OCI image layouts pulled byte for byte from a real registry:
//! - images signed by sigstore's cosign client (scripts/sigstore-fixtures:
//!   sigstore's P-256 keys, simple-signing payload, `PrivateKeySigner`,
//!   `triangulate` and `push_signature`), plus the negative cases: another
//!   key, a payload changed after signing, a signature of another digest;
//! - under `independent/`, signatures made without sigstore by this crate's
//!   test helpers (tests/support: the `p256` crate and the `openssl` CLI;
//!   `write_independent_fixtures` below), which the same program put through
//!   sigstore's verifier;
//! - `sigstore-verdicts.json`: every verdict sigstore's verifier gave.
//!
//! Each test pushes the layouts to a real registry (Debian's
//! `docker-registry` on loopback) and verifies them through fleetdeck's
//! library and the real binary (`fleetdeck verify REF --key pub.pem`); where
//! the test used to ask sigstore, it now checks sigstore's recorded verdict.
//!
//! Needs `docker-registry` and `openssl` (scripts/test.sh installs them).

use crate::support;

use fleetdeck::signature::{RegistryClient, Report, Signer, Trust, verify};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use support::registry::*;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigstore")
}

/// A public key from the fixtures (`keys/release.pub.pem`, …).
fn fixture_key(rel: &str) -> PathBuf {
    let p = fixtures().join(rel);
    assert!(p.is_file(), "missing fixture {}", p.display());
    p
}

fn read_json(p: &Path) -> Value {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// What scripts/sigstore-fixtures recorded (sigstore-verdicts.json).
fn recorded() -> Value {
    read_json(&fixtures().join("sigstore-verdicts.json"))
}

/// sigstore's verdict on the layout `layout` (pushed to a registry, read
/// back by sigstore's `trusted_signature_layers`) with the public key `key`,
/// as recorded when the fixtures were made. Panics if it was never asked.
fn sigstore_verdict(layout: &str, key: &str) -> bool {
    let all = recorded();
    all["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .find(|v| v["layout"] == layout && v["key"] == key)
        .and_then(|v| v["sigstore_verified"].as_bool())
        .unwrap_or_else(|| panic!("no sigstore verdict recorded for {layout} with {key}"))
}

/// Pushes every tag of the OCI image layout `tests/fixtures/sigstore/<layout>`
/// to `repo` with its exact bytes: the blobs a manifest names, then the
/// manifest under its tag (`push_manifest` checks the registry's digest).
/// Returns tag → manifest digest.
async fn push_layout(reg: &Registry, repo: &str, layout: &str) -> BTreeMap<String, String> {
    let dir = fixtures().join(layout);
    let index = read_json(&dir.join("index.json"));
    let blob = |digest: &str| {
        let p = dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(sha256(&bytes), digest, "{}", p.display());
        bytes
    };
    let mut pushed = BTreeMap::new();
    for m in index["manifests"].as_array().expect("manifests") {
        let digest = m["digest"].as_str().expect("digest");
        let tag = m["annotations"][REF_NAME].as_str().expect("tag");
        let bytes = blob(digest);
        let manifest: Value = serde_json::from_slice(&bytes).expect("manifest JSON");
        let layers = manifest["layers"].as_array().expect("layers");
        for d in std::iter::once(&manifest["config"]).chain(layers) {
            let d = d["digest"].as_str().expect("blob digest");
            assert_eq!(reg.push_blob(repo, &blob(d)).await, d);
        }
        let media_type = m["mediaType"].as_str().expect("media type");
        let got = reg.push_manifest(repo, tag, media_type, &bytes).await;
        assert_eq!(got, digest);
        pushed.insert(tag.to_string(), digest.to_string());
    }
    pushed
}

/// The image `tag` of `repo` as pushed by [`push_layout`].
fn image(reg: &Registry, repo: &str, pushed: &BTreeMap<String, String>, tag: &str) -> Image {
    Image {
        registry: reg.addr.clone(),
        repo: repo.to_string(),
        tag: Some(tag.to_string()),
        digest: pushed
            .get(tag)
            .unwrap_or_else(|| panic!("{repo}: no tag {tag} in the fixture"))
            .clone(),
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

/// `fleetdeck --config CFG verify REF --key K... --json`.
async fn verify_cli(cfg: &Path, reference: &str, keys: &[&Path]) -> CliRun {
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
    args.push("--json".to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fleetdeck(&args).await
}

/// Not verified, with `reason`, by the library and by the binary (exit 1).
async fn assert_fails(reg: &Registry, cfg: &Path, reference: &str, key: &Path, reason: &str) {
    let report = verify_lib(reg, reference, &[key]).await;
    assert!(!report.verified, "{reference} must not verify");
    assert!(
        report.reasons.iter().any(|r| r.contains(reason)),
        "reasons should contain {reason:?}:\n{}",
        fleetdeck::signature::report_text(&report)
    );
    let run = verify_cli(cfg, reference, &[key]).await;
    assert_eq!(run.code, Some(1), "exit code; {run:?}");
    let v = run.json();
    assert_eq!(v["verified"], false);
    assert!(
        v["reasons"].as_array().is_some_and(|r| r
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains(reason)))),
        "JSON reasons should contain {reason:?}: {:#}",
        v["reasons"]
    );
}

/// The one layer of the `.sig` manifest at cosign's tag for `img`, read by
/// the test over plain HTTP: (descriptor, payload bytes).
async fn sig_layer(reg: &Registry, img: &Image) -> (Value, Vec<u8>) {
    let manifest = reg
        .get_manifest(&img.repo, &attachment_tag(&img.digest, "sig"))
        .await;
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{manifest:#}");
    let layer = layers[0].clone();
    let digest = layer["digest"].as_str().expect("layer digest").to_string();
    let payload = reg.get_blob(&img.repo, &digest).await;
    (layer, payload)
}

fn annotation(layer: &Value) -> String {
    layer["annotations"][SIGNATURE_ANNOTATION]
        .as_str()
        .unwrap_or_else(|| panic!("no {SIGNATURE_ANNOTATION} in {layer:#}"))
        .to_string()
}

fn unbase64(s: &str) -> Vec<u8> {
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, s).expect("base64")
}

#[tokio::test]
async fn a_sigstore_signature_verifies_with_library_and_cli() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = reg.write_fleetdeck_config(dir.path(), None);
    let key = fixture_key("keys/release.pub.pem");
    let pushed = push_layout(&reg, "fleet/app", "app").await;
    let img = image(&reg, "fleet/app", &pushed, "v1");

    // Signed by tag, as `cosign sign` is usually run.
    assert_eq!(
        recorded()["resolved_by_sigstore"]["app"],
        img.digest.as_str(),
        "sigstore resolved the pushed manifest"
    );

    // What sigstore pushed is cosign's format, checked here without fleetdeck:
    // the `.sig` tag, a simple-signing layer naming the digest, and a DER
    // signature in the annotation that `openssl dgst -verify` accepts.
    let (layer, payload) = sig_layer(&reg, &img).await;
    assert_eq!(layer["mediaType"], SIMPLESIGNING, "{layer:#}");
    let claim: Value = serde_json::from_slice(&payload).expect("payload JSON");
    assert_eq!(
        claim["critical"]["image"]["docker-manifest-digest"],
        img.digest.as_str()
    );
    assert_eq!(
        claim["critical"]["type"],
        "cosign container image signature"
    );
    let sig_der = unbase64(&annotation(&layer));
    assert!(
        openssl_verifies(&key, &payload, &sig_der),
        "openssl accepts sigstore's signature"
    );
    assert!(sigstore_verdict("app", "keys/release.pub.pem"));

    // fleetdeck, library, by digest and by tag.
    let fingerprint = openssl_fingerprint(&key);
    for reference in [img.by_digest(), img.by_tag()] {
        let report = verify_lib(&reg, &reference, &[&key]).await;
        assert!(
            report.verified,
            "{reference}: {}",
            fleetdeck::signature::report_text(&report)
        );
        assert_eq!(report.digest, img.digest);
        assert_eq!(report.signatures.len(), 1);
        let s = &report.signatures[0];
        assert!(s.checks.iter().all(|c| c.ok), "{:?}", s.checks);
        assert_eq!(
            s.signer,
            Signer::Key {
                fingerprint: fingerprint.clone(),
                key_file: Some(key.display().to_string()),
            }
        );
    }

    // The real binary.
    let run = verify_cli(&cfg, &img.by_digest(), &[&key]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let v = run.json();
    assert_eq!(v["verified"], true);
    assert_eq!(v["digest"], img.digest.as_str());
    let sigs = v["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 1, "{v:#}");
    assert_eq!(sigs[0]["signer"]["fingerprint"], fingerprint.as_str());
    assert_eq!(
        sigs[0]["annotations"][SIGNATURE_ANNOTATION],
        annotation(&layer).as_str()
    );
    let cfg_s = cfg.display().to_string();
    let pem = key.display().to_string();
    let run = fleetdeck(&["--config", &cfg_s, "verify", &img.by_tag(), "--key", &pem]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("Verdict: VERIFIED"), "{}", run.stdout);
}

#[tokio::test]
async fn a_sigstore_signature_with_the_wrong_key_fails() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = reg.write_fleetdeck_config(dir.path(), None);
    let signer = fixture_key("keys/attacker.pub.pem");
    let trusted = fixture_key("keys/release.pub.pem");
    let pushed = push_layout(&reg, "fleet/wrongkey", "wrongkey").await;
    let img = image(&reg, "fleet/wrongkey", &pushed, "v1");

    assert_fails(&reg, &cfg, &img.by_digest(), &trusted, "wrong key").await;
    let report = verify_lib(&reg, &img.by_digest(), &[&trusted]).await;
    assert_eq!(report.signatures[0].signer, Signer::Unknown);
    assert!(
        report
            .reasons
            .iter()
            .any(|r| r.contains(&openssl_fingerprint(&trusted))),
        "names the key it tried: {:?}",
        report.reasons
    );
    // sigstore agreed, and both accept the signer's own key.
    assert!(!sigstore_verdict("wrongkey", "keys/release.pub.pem"));
    assert!(sigstore_verdict("wrongkey", "keys/attacker.pub.pem"));
    let ok = verify_lib(&reg, &img.by_digest(), &[&signer]).await;
    assert!(ok.verified, "{:?}", ok.reasons);
}

#[tokio::test]
async fn a_tampered_sigstore_payload_fails() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = reg.write_fleetdeck_config(dir.path(), None);
    let key = fixture_key("keys/release.pub.pem");
    let pushed = push_layout(&reg, "fleet/tampered", "tampered").await;
    let img = image(&reg, "fleet/tampered", &pushed, "v1");
    assert!(verify_lib(&reg, &img.by_digest(), &[&key]).await.verified);
    assert!(sigstore_verdict("tampered", "keys/release.pub.pem"));
    let (layer, payload) = sig_layer(&reg, &img).await;

    // The `.sig` re-pushed by sigstore's `push_signature` with the payload
    // changed (still JSON, still naming the right digest) and its signature
    // annotation kept.
    let repushed = push_layout(&reg, "fleet/tampered", "tampered-payload").await;
    assert_eq!(
        repushed.keys().collect::<Vec<_>>(),
        [&attachment_tag(&img.digest, "sig")]
    );
    let (tampered_layer, tampered) = sig_layer(&reg, &img).await;
    assert_ne!(tampered, payload, "the registry serves the tampered layer");
    assert_eq!(annotation(&tampered_layer), annotation(&layer));
    let claim: Value = serde_json::from_slice(&tampered).expect("payload JSON");
    assert_eq!(
        claim["critical"]["identity"]["docker-reference"],
        "evil.example/other"
    );
    assert_eq!(
        claim["critical"]["image"]["docker-manifest-digest"],
        img.digest.as_str()
    );

    assert_fails(&reg, &cfg, &img.by_digest(), &key, "tampered payload").await;
    let report = verify_lib(&reg, &img.by_digest(), &[&key]).await;
    let s = &report.signatures[0];
    assert!(
        s.checks.iter().any(|c| c.name == "payload digest" && c.ok),
        "only the signature check fails: {:?}",
        s.checks
    );
    assert!(s.checks.iter().any(|c| c.name == "signature" && !c.ok));
    assert!(!sigstore_verdict(
        "tampered-payload",
        "keys/release.pub.pem"
    ));
}

#[tokio::test]
async fn a_sigstore_signature_for_another_digest_fails() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = reg.write_fleetdeck_config(dir.path(), None);
    let key = fixture_key("keys/release.pub.pem");
    let pushed = push_layout(&reg, "fleet/other", "other").await;
    let img = image(&reg, "fleet/other", &pushed, "v2");
    let other = image(&reg, "fleet/other", &pushed, "v1");
    assert_ne!(img.digest, other.digest);
    // A genuine sigstore signature of v1's digest, pushed to v2's `.sig` tag.
    let (_, payload) = sig_layer(&reg, &img).await;
    let claim: Value = serde_json::from_slice(&payload).expect("payload JSON");
    assert_eq!(
        claim["critical"]["image"]["docker-manifest-digest"],
        other.digest.as_str()
    );

    let reason = format!(
        "digest mismatch: signed {} but the image is {}",
        other.digest, img.digest
    );
    assert_fails(&reg, &cfg, &img.by_digest(), &key, &reason).await;
    let report = verify_lib(&reg, &img.by_digest(), &[&key]).await;
    let s = &report.signatures[0];
    assert!(
        s.checks.iter().any(|c| c.name == "signature" && c.ok),
        "the signature itself is good: {:?}",
        s.checks
    );
    assert!(s.checks.iter().any(|c| c.name == "payload digest" && !c.ok));
    assert!(!sigstore_verdict("other", "keys/release.pub.pem"));
}

/// The other direction: signatures made without sigstore (the `p256` crate
/// and the `openssl` CLI, tests/support) passed sigstore's verifier with
/// their key and failed it with another key or a tampered payload — exactly
/// as fleetdeck decides.
#[tokio::test]
async fn independently_made_signatures_pass_sigstores_verifier_too() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    for kind in ["p256", "openssl"] {
        let own_rel = format!("independent/keys/{kind}-release.pub.pem");
        let other_rel = format!("independent/keys/{kind}-other.pub.pem");
        let (own, other) = (fixture_key(&own_rel), fixture_key(&other_rel));

        let repo = format!("fleet/{kind}");
        let pushed = push_layout(&reg, &repo, &format!("independent/{kind}")).await;
        let img = image(&reg, &repo, &pushed, "v1");
        let (layer, payload) = sig_layer(&reg, &img).await;
        let sig = unbase64(&annotation(&layer));
        // The fixture is what the helpers make: their payload for this
        // digest, and a signature of it by the key.
        let claim: Value = serde_json::from_slice(&payload).expect("payload JSON");
        let reference = claim["critical"]["identity"]["docker-reference"]
            .as_str()
            .expect("docker-reference");
        assert_eq!(payload, simple_signing(reference, &img.digest));
        if kind == "p256" {
            // Deterministic (RFC 6979, key derived from its name): the
            // helper signs today exactly as when the fixture was made.
            let k = TestKey::p256(dir.path(), "p256-release");
            assert_eq!(std::fs::read(k.public_pem()).ok(), std::fs::read(&own).ok());
            assert_eq!(k.sign(&payload), sig, "TestKey::p256 made this signature");
        }
        assert!(openssl_verifies(&own, &payload, &sig), "{kind}");

        let name = format!("independent/{kind}");
        assert!(
            sigstore_verdict(&name, &own_rel),
            "{kind}: sigstore accepts it"
        );
        assert!(verify_lib(&reg, &img.by_digest(), &[&own]).await.verified);
        assert!(
            !sigstore_verdict(&name, &other_rel),
            "{kind}: sigstore refuses another key"
        );
        assert!(!verify_lib(&reg, &img.by_digest(), &[&other]).await.verified);

        let repo = format!("fleet/{kind}-tampered");
        let name = format!("independent/{kind}-tampered");
        let pushed = push_layout(&reg, &repo, &name).await;
        let img = image(&reg, &repo, &pushed, "v1");
        let (layer, tampered) = sig_layer(&reg, &img).await;
        assert_eq!(tampered, simple_signing("evil.example/other", &img.digest));
        assert!(!openssl_verifies(
            &own,
            &tampered,
            &unbase64(&annotation(&layer))
        ));
        assert!(
            !sigstore_verdict(&name, &own_rel),
            "{kind}: sigstore refuses a tampered payload"
        );
        assert!(!verify_lib(&reg, &img.by_digest(), &[&own]).await.verified);
    }
}

/// Rewrites tests/fixtures/sigstore/independent/ with this crate's test
/// helpers (then scripts/sigstore-fixtures asks sigstore about them; the
/// README there has the whole procedure). Run only on purpose:
/// `FLEETDECK_WRITE_SIGSTORE_FIXTURES=1 cargo test --test it -- --ignored
/// --exact signature::sigstore::write_independent_fixtures`.
#[tokio::test]
#[ignore = "writes fixtures: see tests/fixtures/sigstore/README.md"]
async fn write_independent_fixtures() {
    assert!(
        std::env::var_os("FLEETDECK_WRITE_SIGSTORE_FIXTURES").is_some(),
        "this rewrites tests/fixtures/sigstore/independent/: set \
         FLEETDECK_WRITE_SIGSTORE_FIXTURES=1 to do it (README.md there)"
    );
    let out = fixtures().join("independent");
    let keys = out.join("keys");
    std::fs::create_dir_all(&keys).expect("create keys dir");
    let reg = Registry::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    for kind in ["p256", "openssl"] {
        let (k, other) = match kind {
            "p256" => (
                TestKey::p256(tmp.path(), "p256-release"),
                TestKey::p256(tmp.path(), "p256-other"),
            ),
            _ => (
                TestKey::openssl(tmp.path(), "openssl-release"),
                TestKey::openssl(tmp.path(), "openssl-other"),
            ),
        };
        for key in [&k, &other] {
            let name = key.public_pem().file_name().expect("file name");
            std::fs::copy(key.public_pem(), keys.join(name)).expect("copy public key");
        }

        let repo = format!("fleet/{kind}");
        let img = reg.push_image(&repo, Some("v1"), &repo).await;
        let payload = simple_signing(&img.name(), &img.digest);
        let layer = signature_layer(&payload, &k.sign(&payload));
        reg.push_attachment(&repo, &img.digest, "sig", &[layer])
            .await;
        let tags = ["v1".to_string(), attachment_tag(&img.digest, "sig")];
        dump_layout(&reg, &repo, &tags, &out.join(kind)).await;

        let repo = format!("fleet/{kind}-tampered");
        let img = reg.push_image(&repo, Some("v1"), &repo).await;
        let payload = simple_signing(&img.name(), &img.digest);
        let sig = k.sign(&payload);
        let tampered = simple_signing("evil.example/other", &img.digest);
        reg.push_attachment(
            &repo,
            &img.digest,
            "sig",
            &[signature_layer(&tampered, &sig)],
        )
        .await;
        let tags = ["v1".to_string(), attachment_tag(&img.digest, "sig")];
        dump_layout(&reg, &repo, &tags, &out.join(format!("{kind}-tampered"))).await;
    }
}

/// Writes `tags` of `repo`, byte for byte as the registry serves them, to
/// `dir` as an OCI image layout (what [`push_layout`] reads).
async fn dump_layout(reg: &Registry, repo: &str, tags: &[String], dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("create layout");
    let write_blob = |bytes: &[u8]| {
        let name = sha256(bytes).trim_start_matches("sha256:").to_string();
        std::fs::write(blobs.join(name), bytes).expect("write blob");
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client");
    let mut index = Vec::new();
    for tag in tags {
        let resp = http
            .get(format!("{}/v2/{repo}/manifests/{tag}", reg.url))
            .header("accept", format!("{OCI_MANIFEST}, {OCI_INDEX}"))
            .send()
            .await
            .expect("GET manifest");
        assert_eq!(resp.status().as_u16(), 200, "GET {repo}:{tag}");
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .expect("content type")
            .to_string();
        let bytes = resp.bytes().await.expect("manifest bytes").to_vec();
        let manifest: Value = serde_json::from_slice(&bytes).expect("manifest JSON");
        let layers = manifest["layers"].as_array().expect("layers");
        for d in std::iter::once(&manifest["config"]).chain(layers) {
            let d = d["digest"].as_str().expect("blob digest");
            write_blob(&reg.get_blob(repo, d).await);
        }
        write_blob(&bytes);
        index.push(serde_json::json!({
            "mediaType": media_type,
            "digest": sha256(&bytes),
            "size": bytes.len(),
            "annotations": {REF_NAME: tag},
        }));
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("write oci-layout");
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index});
    let text = serde_json::to_string_pretty(&index).expect("index JSON") + "\n";
    std::fs::write(dir.join("index.json"), text).expect("write index.json");
}
