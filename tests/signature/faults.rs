//! Registry faults, each with a clear error and nothing hanging: 401 without
//! credentials (a real `docker-registry` behind htpasswd) and basic
//! credentials that work, 404, a manifest of the wrong media type, a 100 MB
//! blob where a small one is expected, a server that never answers, and
//! plain HTTP to a registry not listed in `[registry] insecure`.
//!
//! Real servers wherever a real registry can produce the fault; the two fakes
//! (a non-manifest answer, a body without Content-Length) say why they are
//! needed. Every test is bounded by `tokio::time::timeout`; none asserts on
//! how long something took.
//!
//! Needs `docker-registry`, `openssl`, `htpasswd` (scripts/test.sh installs them).
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

use crate::support;

use fleetdeck::config::{RegistryAuth, RegistryConfig};
use fleetdeck::signature::{RegistryClient, Report, SignatureError, Trust, verify};
use std::future::Future;
use std::path::Path;
use std::time::{Duration, SystemTime};
use support::prometheus::{HttpServer, Reply};
use support::registry::*;

/// Every test's whole body runs under this bound: a hang fails, it never blocks CI.
const BOUND: Duration = Duration::from_secs(120);

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}: something hangs"))
}

async fn run_verify(
    config: &RegistryConfig,
    reference: &str,
    keys: &[&Path],
) -> Result<Report, SignatureError> {
    let mut trust = Trust::default();
    for k in keys {
        trust.add_key_file(k).expect("a test public key loads");
    }
    let client = RegistryClient::new(config).expect("registry client");
    verify(reference, &trust, &client, SystemTime::now()).await
}

/// An image with one good signature by `key`.
async fn signed_image(reg: &Registry, repo: &str, key: &TestKey) -> Image {
    let img = reg.push_image(repo, Some("v1"), repo).await;
    let payload = simple_signing(&img.name(), &img.digest);
    reg.push_attachment(
        repo,
        &img.digest,
        "sig",
        &[signature_layer(&payload, &key.sign(&payload))],
    )
    .await;
    img
}

#[tokio::test]
async fn unauthorized_without_credentials_and_basic_auth_works() {
    bounded("401 test", async {
        let reg = Registry::start_with_basic_auth("fleet", "s3cret-pw");
        let dir = tempfile::tempdir().expect("tempdir");
        let key = TestKey::p256(dir.path(), "release");
        let img = signed_image(&reg, "fleet/private", &key).await;
        let reference = img.by_digest();

        // No credentials: a clear error naming the registry.
        let err = run_verify(&reg.config(), &reference, &[key.public_pem()])
            .await
            .expect_err("a 401 registry without credentials");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("registry '{}'", reg.addr))
                && msg.contains("wants credentials (401)")
                && msg.contains(&format!("[registry.auth.\"{}\"]", reg.addr)),
            "{msg}"
        );

        // Basic credentials in RegistryConfig.auth: verified.
        let mut with_auth = reg.config();
        with_auth.auth.insert(
            reg.addr.clone(),
            RegistryAuth {
                username: Some("fleet".into()),
                password: Some("s3cret-pw".into()),
                token: None,
            },
        );
        let report = run_verify(&with_auth, &reference, &[key.public_pem()])
            .await
            .unwrap_or_else(|e| panic!("with credentials: {e}\n{}", reg.log_tail()));
        assert!(report.verified, "{:?}", report.reasons);
        assert_eq!(report.digest, img.digest);

        // Wrong password: rejected, and said so (not "none configured").
        let mut wrong = with_auth.clone();
        if let Some(a) = wrong.auth.get_mut(&reg.addr) {
            a.password = Some("guess".into());
        }
        let msg = run_verify(&wrong, &reference, &[key.public_pem()])
            .await
            .expect_err("wrong password")
            .to_string();
        assert!(
            msg.contains(&format!("registry '{}'", reg.addr))
                && msg.contains("rejected the configured credentials"),
            "{msg}"
        );

        // The real binary: config without auth → exit 1 with the reason;
        // with `[registry.auth."host"]` and a password file → exit 0.
        let cfg = reg.write_fleetdeck_config(dir.path(), None);
        let pem = key.public_pem().display().to_string();
        let cfg_s = cfg.display().to_string();
        let run = fleetdeck(&["--config", &cfg_s, "verify", &reference, "--key", &pem]).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stderr.contains("wants credentials (401)"), "{run:?}");
        let auth_dir = tempfile::tempdir().expect("tempdir");
        let cfg = reg.write_fleetdeck_config(auth_dir.path(), Some(("fleet", "s3cret-pw")));
        let cfg_s = cfg.display().to_string();
        let run = fleetdeck(&["--config", &cfg_s, "verify", &reference, "--key", &pem]).await;
        assert_eq!(run.code, Some(0), "{run:?}");
    })
    .await;
}

#[tokio::test]
async fn not_found_repository_and_digest() {
    bounded("404 test", async {
        let reg = Registry::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let key = TestKey::p256(dir.path(), "release");
        let img = signed_image(&reg, "fleet/app", &key).await;

        let missing_repo = format!("{}/fleet/nope:v1", reg.addr);
        let msg = run_verify(&reg.config(), &missing_repo, &[key.public_pem()])
            .await
            .expect_err("unknown repository")
            .to_string();
        assert_eq!(
            msg,
            format!(
                "manifest '{}/fleet/nope:v1' not found on '{}' (404)",
                reg.addr, reg.addr
            )
        );

        let absent = sha256(b"no such manifest");
        let missing_digest = format!("{}@{absent}", img.name());
        let msg = run_verify(&reg.config(), &missing_digest, &[key.public_pem()])
            .await
            .expect_err("unknown digest")
            .to_string();
        assert_eq!(
            msg,
            format!(
                "manifest '{missing_digest}' not found on '{}' (404)",
                reg.addr
            )
        );

        // Through the VerifyCache too (it resolves a digest before verifying).
        let cache = fleetdeck::signature::VerifyCache::default();
        let client = RegistryClient::new(&reg.config()).expect("client");
        let err = cache
            .verify(
                &missing_digest,
                &Trust::default(),
                &client,
                SystemTime::now(),
            )
            .await
            .expect_err("unknown digest through the cache");
        assert!(err.to_string().contains("(404)"), "{err}");
        assert!(
            cache.is_empty(),
            "nothing cached for an image that does not exist"
        );

        let cfg = reg.write_fleetdeck_config(dir.path(), None);
        let cfg_s = cfg.display().to_string();
        let run = fleetdeck(&["--config", &cfg_s, "verify", &missing_repo]).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stderr.contains("not found on"), "{run:?}");
    })
    .await;
}

#[tokio::test]
async fn a_manifest_of_the_wrong_media_type() {
    bounded("media type test", async {
        // Real registry: the `.sig` tag holds an image index, not the image
        // manifest cosign writes.
        let reg = Registry::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let key = TestKey::p256(dir.path(), "release");
        let repo = "fleet/indexsig";
        let img = reg.push_image(repo, Some("v1"), repo).await;
        let manifest_len = {
            let client = reqwest::Client::new();
            client
                .get(format!("{}/v2/{repo}/manifests/{}", reg.url, img.digest))
                .header("accept", OCI_MANIFEST)
                .send()
                .await
                .expect("GET manifest")
                .bytes()
                .await
                .expect("manifest body")
                .len()
        };
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": img.digest, "size": manifest_len,
                           "platform": {"architecture": "arm64", "os": "linux"}}],
        }))
        .expect("index JSON");
        reg.push_manifest(repo, &attachment_tag(&img.digest, "sig"), OCI_INDEX, &index)
            .await;
        let report = run_verify(&reg.config(), &img.by_digest(), &[key.public_pem()])
            .await
            .expect("the image itself is readable");
        assert!(!report.verified);
        let expected = format!(
            "manifest '{}:{}' has media type '{OCI_INDEX}', expected an image manifest",
            img.name(),
            attachment_tag(&img.digest, "sig")
        );
        assert!(
            report.reasons.iter().any(|r| r.contains(&expected)),
            "want {expected:?} in {:?}",
            report.reasons
        );
        let cfg = reg.write_fleetdeck_config(dir.path(), None);
        let cfg_s = cfg.display().to_string();
        let pem = key.public_pem().display().to_string();
        let run = fleetdeck(&["--config", &cfg_s, "verify", &img.by_digest(), "--key", &pem]).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stdout.contains(&expected), "{}", run.stdout);

        // Fake: a proxy or login page answering the manifest with HTML. A real
        // registry refuses to store a manifest that is not one of its known
        // types, so only a fake can serve this.
        let fake = HttpServer::start(|req| {
            if req.path().contains("/manifests/") {
                let mut r = Reply::text(200, "<html><body>Please log in</body></html>");
                r.headers = vec![("content-type".into(), "text/html; charset=utf-8".into())];
                r
            } else {
                Reply::text(404, "")
            }
        });
        let config = RegistryConfig {
            insecure: vec![fake.addr.clone()],
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let msg = run_verify(&config, &format!("{}/fleet/app:v1", fake.addr), &[])
            .await
            .expect_err("an HTML answer is not a manifest")
            .to_string();
        assert_eq!(
            msg,
            format!(
                "manifest '{}/fleet/app:v1' has media type 'text/html', expected an OCI or Docker image manifest or index",
                fake.addr
            )
        );
    })
    .await;
}

#[tokio::test]
async fn a_100_mb_signature_layer_is_refused_by_the_size_limit() {
    bounded("100 MB blob test", async {
        // Real registry: a `.sig` layer of 100 MB (the registry stores it and
        // serves it with its Content-Length).
        let reg = Registry::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let key = TestKey::p256(dir.path(), "release");
        let repo = "fleet/hugesig";
        let img = reg.push_image(repo, Some("v1"), repo).await;
        let payload = simple_signing(&img.name(), &img.digest);
        let big_len = 100 * 1000 * 1000;
        let mut big = payload.clone();
        big.resize(big_len, b' ');
        let big_layer = Layer::new(SIMPLESIGNING, big)
            .annotate(SIGNATURE_ANNOTATION, &b64(&key.sign(&payload)));
        let big_digest = sha256(&big_layer.bytes);
        reg.push_attachment(repo, &img.digest, "sig", &[big_layer])
            .await;

        let report = run_verify(&reg.config(), &img.by_digest(), &[key.public_pem()])
            .await
            .expect("the image itself is readable");
        assert!(!report.verified);
        assert_eq!(report.signatures.len(), 1);
        let c = &report.signatures[0].checks[0];
        assert!(!c.ok);
        let limit = fleetdeck::signature::registry::MAX_SIGNATURE_LAYER_BYTES;
        assert!(
            c.reason
                .contains(&format!("blob {}@{big_digest}", img.name()))
                && c.reason
                    .contains(&format!("larger than the {limit}-byte limit")),
            "{}",
            c.reason
        );
        // Not read to the end: the registry's log says how much it wrote
        // before the client hung up.
        let blob_path = format!("/v2/{repo}/blobs/{big_digest}");
        let mut written = Vec::new();
        for _ in 0..40 {
            written = reg.bytes_written_for(&blob_path);
            if !written.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            !written.is_empty(),
            "the blob GET is in the log:\n{}",
            reg.log_tail()
        );
        assert!(
            written.iter().all(|&w| w < big_len as u64),
            "the verifier stopped early, the registry wrote {written:?} of {big_len}"
        );
        eprintln!("registry wrote {written:?} of the {big_len}-byte layer before the refusal");

        // Fake: the same kind of layer sent chunked, without Content-Length.
        // A real registry always declares the length (refused up front); only a
        // server that omits it reaches the cut-off while streaming.
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(b"{}"), "size": 2},
            "layers": [],
        }))
        .expect("json");
        let image_digest = sha256(&manifest);
        let blob_digest = sha256(b"whatever: it is never read to the end");
        let sig_manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(b"{}"), "size": 2},
            "layers": [{"mediaType": SIMPLESIGNING, "digest": blob_digest, "size": 300,
                        "annotations": {SIGNATURE_ANNOTATION: "MEUCIQ=="}}],
        }))
        .expect("json");
        let sig_tag = attachment_tag(&image_digest, "sig");
        let (m, sm, bd, it) = (
            manifest.clone(),
            sig_manifest.clone(),
            blob_digest.clone(),
            image_digest.clone(),
        );
        let fake = HttpServer::start(move |req| {
            let path = req.path();
            let json = |body: &[u8]| {
                let mut r = Reply::json(200, body.to_vec());
                r.headers = vec![("content-type".into(), OCI_MANIFEST.into())];
                r
            };
            if path.ends_with(&format!("/manifests/{it}")) {
                json(&m)
            } else if path.ends_with(&format!("/manifests/{sig_tag}")) {
                json(&sm)
            } else if path.ends_with(&format!("/blobs/{bd}")) {
                // 1600 × 64 KiB ≈ 105 MB, chunked.
                Reply::repeat(200, vec![b' '; 64 * 1024], 1600)
            } else {
                Reply::text(404, "")
            }
        });
        let config = RegistryConfig {
            insecure: vec![fake.addr.clone()],
            timeout: Duration::from_secs(30),
            ..Default::default()
        };
        let reference = format!("{}/fleet/app@{image_digest}", fake.addr);
        let report = run_verify(&config, &reference, &[key.public_pem()])
            .await
            .expect("the image itself is readable");
        assert!(!report.verified);
        let c = &report.signatures[0].checks[0];
        assert!(
            c.reason
                .contains(&format!("larger than the {limit}-byte limit")),
            "{}",
            c.reason
        );
    })
    .await;
}

/// Accepts connections and never says a word; stops on drop.
struct SilentServer {
    addr: String,
    task: tokio::task::JoinHandle<()>,
}

impl SilentServer {
    async fn start() -> SilentServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr").to_string();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        SilentServer { addr, task }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    bounded("silent server test", async {
        let silent = SilentServer::start().await;
        let config = RegistryConfig {
            insecure: vec![silent.addr.clone()],
            timeout: Duration::from_secs(1),
            ..Default::default()
        };
        let reference = format!("{}/fleet/app:v1", silent.addr);
        let msg = run_verify(&config, &reference, &[])
            .await
            .expect_err("nothing answers")
            .to_string();
        assert_eq!(
            msg,
            format!(
                "registry '{}' did not answer within 1s (manifest '{reference}')",
                silent.addr
            )
        );

        // The real binary, with `timeout = "1s"` from its config: exits 1 by
        // itself (run_fleetdeck kills it and reports `None` if it hangs).
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("fleetdeck.toml");
        std::fs::write(
            &cfg,
            format!(
                "[registry]\ninsecure = [\"{}\"]\ntimeout = \"1s\"\n",
                silent.addr
            ),
        )
        .expect("write config");
        let cfg_s = cfg.display().to_string();
        let run = fleetdeck(&["--config", &cfg_s, "verify", &reference]).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stderr.contains("did not answer within 1s"), "{run:?}");
    })
    .await;
}

#[tokio::test]
async fn plain_http_to_a_registry_not_listed_as_insecure_is_refused() {
    bounded("insecure test", async {
        let reg = Registry::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let key = TestKey::p256(dir.path(), "release");
        let img = signed_image(&reg, "fleet/app", &key).await;
        let config = RegistryConfig {
            insecure: Vec::new(),
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let msg = run_verify(&config, &img.by_digest(), &[key.public_pem()])
            .await
            .expect_err("https to a plain-HTTP registry")
            .to_string();
        assert!(
            msg.contains(&format!("'{}'", reg.addr)) && msg.contains("[registry] insecure"),
            "the error should name the registry and say to add it to [registry] insecure: {msg}"
        );
        // Listed: it works (the same registry, the same image).
        let report = run_verify(&reg.config(), &img.by_digest(), &[key.public_pem()])
            .await
            .expect("listed as insecure");
        assert!(report.verified, "{:?}", report.reasons);

        let cfg = dir.path().join("fleetdeck.toml");
        std::fs::write(&cfg, "[registry]\ninsecure = []\ntimeout = \"5s\"\n").expect("config");
        let cfg_s = cfg.display().to_string();
        let run = fleetdeck(&["--config", &cfg_s, "verify", &img.by_digest()]).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stderr.contains("[registry] insecure"), "{run:?}");
    })
    .await;
}
