//! Makes fleetdeck's sigstore fixtures (tests/fixtures/sigstore/, README.md
//! there says when and how to run this) with the `sigstore` crate itself, so
//! fleetdeck's tests can prove they agree with sigstore without compiling it.
//!
//! 1. Starts a real `docker-registry` on loopback (plain HTTP, temp storage).
//! 2. Pushes small images (the same shape as `push_image` in
//!    tests/support/registry.rs) and signs them the way `cosign sign --key`
//!    does, all with sigstore: P-256 keys (`SigningScheme::ECDSA_P256_SHA256_ASN1`),
//!    the simple-signing payload (`SignatureLayer::new_unsigned`), the signature
//!    (`PrivateKeySigner`), the `.sig` tag (`triangulate`) and the signature
//!    manifest (`push_signature`). Cases: a good signature, one by another key,
//!    one whose payload was changed after signing (re-pushed by
//!    `push_signature`), one for another image's digest.
//! 3. Pulls every tag back from the registry byte for byte and writes it as an
//!    OCI image layout (`oci-layout`, `index.json` with the tags as
//!    `org.opencontainers.image.ref.name`, `blobs/sha256/<hex>`). Only public
//!    keys are written.
//! 4. The other direction: pushes the layouts under `independent/` (made by
//!    fleetdeck's own test helpers: the `p256` crate and the `openssl` CLI,
//!    `write_independent_fixtures` in tests/signature/sigstore.rs) and asks
//!    sigstore's verifier (`trusted_signature_layers` + `PublicKeyVerifier`)
//!    about each with the right and a wrong key.
//! 5. Writes every verdict of sigstore's verifier to `sigstore-verdicts.json`.
//!
//! Usage: `cargo run --locked -- FIXTURE_DIR` (default ../../tests/fixtures/sigstore).
//! Needs `docker-registry` on PATH (or `$FLEETDECK_REGISTRY_BIN`).

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use sigstore::cosign::constraint::PrivateKeySigner;
use sigstore::cosign::payload::simple_signing::Optional;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{
    Client, ClientBuilder, Constraint as _, CosignCapabilities as _, SignatureLayer,
    verify_constraints,
};
use sigstore::crypto::SigningScheme;
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// A `docker-registry` on a free loopback port; killed on drop.
struct Registry {
    addr: String,
    url: String,
    child: Child,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Registry {
    fn start() -> Registry {
        let bin = std::env::var_os("FLEETDECK_REGISTRY_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("docker-registry"));
        let dir = tempfile::tempdir().expect("tempdir for the registry");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: sigstore-fixtures\n",
            dir.path().join("storage").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write registry config");
        // Its log (404s for `.sig` tags not pushed yet are expected) goes to a
        // file, shown if it does not come up.
        let log_path = dir.path().join("registry.log");
        let log = std::fs::File::create(&log_path).expect("registry log");
        let mut child = Command::new(&bin)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): apt-get install docker-registry",
                    bin.display()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while !answers(port) {
            if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("docker-registry did not answer /v2/ within 20 s; its log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let addr = format!("127.0.0.1:{port}");
        Registry {
            url: format!("http://{addr}"),
            addr,
            child,
            _dir: dir,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("reqwest client"),
        }
    }

    async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let start = self
            .http
            .post(format!("{}/v2/{repo}/blobs/uploads/", self.url))
            .send()
            .await
            .expect("POST blob upload");
        assert_eq!(start.status().as_u16(), 202, "start upload to {repo}");
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("upload Location")
            .to_string();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.url)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = self
            .http
            .put(format!("{location}{sep}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("PUT blob");
        assert_eq!(put.status().as_u16(), 201, "upload {digest} to {repo}");
        digest
    }

    async fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let resp = self
            .http
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.url))
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .expect("PUT manifest");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(status.as_u16(), 201, "PUT {repo}:{reference}: {body}");
    }

    /// The exact bytes and media type the registry serves for a manifest.
    async fn get_manifest(&self, repo: &str, reference: &str) -> (Vec<u8>, String) {
        let resp = self
            .http
            .get(format!("{}/v2/{repo}/manifests/{reference}", self.url))
            .header("accept", format!("{OCI_MANIFEST}, {OCI_INDEX}"))
            .send()
            .await
            .expect("GET manifest");
        assert_eq!(resp.status().as_u16(), 200, "GET {repo}:{reference}");
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .expect("manifest content type")
            .to_string();
        (resp.bytes().await.expect("manifest").to_vec(), media_type)
    }

    async fn get_blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let resp = self
            .http
            .get(format!("{}/v2/{repo}/blobs/{digest}", self.url))
            .send()
            .await
            .expect("GET blob");
        assert_eq!(resp.status().as_u16(), 200, "GET blob {repo}@{digest}");
        let bytes = resp.bytes().await.expect("blob").to_vec();
        assert_eq!(sha256(&bytes), digest);
        bytes
    }

    /// An image exactly as `Registry::push_image` in tests/support/registry.rs
    /// makes it; returns its manifest digest.
    async fn push_image(&self, repo: &str, tag: &str, seed: &str) -> String {
        let config = serde_json::to_vec(&json!({
            "architecture": "arm64",
            "os": "linux",
            "config": {"Labels": {"seed": seed}},
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .expect("config JSON");
        let layer = format!("layer of {seed}\n").into_bytes();
        let config_digest = self.push_blob(repo, &config).await;
        let layer_digest = self.push_blob(repo, &layer).await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": layer.len()}],
        }))
        .expect("manifest JSON");
        self.push_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
        sha256(&manifest)
    }

    /// Writes `tags` of `repo`, as the registry serves them, to `dir` as an
    /// OCI image layout.
    async fn dump_layout(&self, repo: &str, tags: &[String], dir: &Path) {
        let _ = std::fs::remove_dir_all(dir);
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).expect("create layout");
        let write_blob = |bytes: &[u8]| {
            let digest = sha256(bytes);
            std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes)
                .expect("write blob");
        };
        let mut index = Vec::new();
        for tag in tags {
            let (bytes, media_type) = self.get_manifest(repo, tag).await;
            let manifest: Value = serde_json::from_slice(&bytes).expect("manifest JSON");
            let mut referenced = vec![manifest["config"]["digest"].clone()];
            referenced.extend(
                manifest["layers"]
                    .as_array()
                    .expect("layers")
                    .iter()
                    .map(|l| l["digest"].clone()),
            );
            for d in referenced {
                write_blob(&self.get_blob(repo, d.as_str().expect("digest")).await);
            }
            write_blob(&bytes);
            index.push(json!({
                "mediaType": media_type,
                "digest": sha256(&bytes),
                "size": bytes.len(),
                "annotations": {REF_NAME: tag},
            }));
        }
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("write oci-layout");
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index});
        std::fs::write(
            dir.join("index.json"),
            serde_json::to_string_pretty(&index).expect("index JSON") + "\n",
        )
        .expect("write index.json");
    }

    /// Pushes every tag of the OCI image layout `dir` to `repo`; returns
    /// (tag, manifest digest) in index order.
    async fn push_layout(&self, repo: &str, dir: &Path) -> Vec<(String, String)> {
        let read =
            |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let index: Value =
            serde_json::from_slice(&read(dir.join("index.json"))).expect("index.json");
        let blob = |digest: &str| {
            read(
                dir.join("blobs/sha256")
                    .join(digest.trim_start_matches("sha256:")),
            )
        };
        let mut pushed = Vec::new();
        for m in index["manifests"].as_array().expect("manifests") {
            let digest = m["digest"].as_str().expect("digest");
            let tag = m["annotations"][REF_NAME].as_str().expect("ref name");
            let bytes = blob(digest);
            let manifest: Value = serde_json::from_slice(&bytes).expect("manifest JSON");
            let mut referenced = vec![manifest["config"]["digest"].clone()];
            referenced.extend(
                manifest["layers"]
                    .as_array()
                    .expect("layers")
                    .iter()
                    .map(|l| l["digest"].clone()),
            );
            for d in referenced {
                self.push_blob(repo, &blob(d.as_str().expect("digest")))
                    .await;
            }
            self.push_manifest(
                repo,
                tag,
                m["mediaType"].as_str().expect("media type"),
                &bytes,
            )
            .await;
            pushed.push((tag.to_string(), digest.to_string()));
        }
        pushed
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn answers(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if String::from_utf8_lossy(&buf[..n]).contains(" 200"))
}

/// A P-256 key generated by sigstore; only its public PEM is written.
struct SigstoreKey {
    private_pem: Zeroizing<Vec<u8>>,
}

impl SigstoreKey {
    fn generate(public_pem: &Path) -> SigstoreKey {
        let pair = SigningScheme::ECDSA_P256_SHA256_ASN1
            .create_signer()
            .expect("sigstore generates a P-256 key")
            .to_sigstore_keypair()
            .expect("sigstore exports its key pair");
        std::fs::write(public_pem, pair.public_key_to_pem().expect("public PEM"))
            .expect("write public key");
        let private = pair.private_key_to_pem().expect("private PEM");
        SigstoreKey {
            private_pem: Zeroizing::new(private.as_bytes().to_vec()),
        }
    }

    fn signer(&self) -> PrivateKeySigner {
        PrivateKeySigner::new_with_raw(
            self.private_pem.clone(),
            Zeroizing::new(Vec::new()),
            &SigningScheme::ECDSA_P256_SHA256_ASN1,
        )
        .expect("sigstore reads back its own key")
    }
}

fn cosign_client() -> Client {
    ClientBuilder::default()
        .with_oci_client_config(ClientConfig {
            protocol: ClientProtocol::Http,
            ..Default::default()
        })
        .build()
        .expect("sigstore cosign client")
}

fn oci_ref(reference: &str) -> OciReference {
    reference
        .parse()
        .unwrap_or_else(|e| panic!("sigstore parses {reference}: {e}"))
}

/// `cosign sign --key`, with sigstore: resolve `image` to its digest and
/// `.sig` tag, build the payload for `signed_digest` (the image's own unless
/// given), sign it and push it. Returns (resolved digest, the signed layer).
async fn sigstore_sign(
    image: &str,
    key: &SigstoreKey,
    signed_digest: Option<&str>,
) -> (String, SignatureLayer) {
    let mut client = cosign_client();
    let image = oci_ref(image);
    let (sig_ref, digest) = client
        .triangulate(&image, &Auth::Anonymous)
        .await
        .expect("sigstore resolves the image");
    let mut layer = SignatureLayer::new_unsigned(&image, signed_digest.unwrap_or(&digest))
        .expect("sigstore builds the payload");
    assert!(
        key.signer()
            .add_constraint(&mut layer)
            .expect("sigstore signs"),
        "sigstore signed the layer"
    );
    client
        .push_signature(None, &Auth::Anonymous, &sig_ref, vec![layer.clone()])
        .await
        .expect("sigstore pushes the signature");
    (digest, layer)
}

/// sigstore's verdict: do the `.sig` layers of `image` satisfy "signed by the
/// key in `public_pem`"?
async fn sigstore_verifies(image: &str, public_pem: &Path) -> bool {
    let mut client = cosign_client();
    let layers = client
        .trusted_signature_layers(&Auth::Anonymous, &oci_ref(image))
        .await
        .expect("sigstore reads the signature layers");
    let pem = std::fs::read(public_pem).expect("read public key");
    let constraints: VerificationConstraintVec = vec![Box::new(
        PublicKeyVerifier::try_from(&pem).expect("sigstore loads the public key"),
    )];
    verify_constraints(&layers, constraints.iter()).is_ok()
}

struct Verdicts {
    root: PathBuf,
    list: Vec<Value>,
}

impl Verdicts {
    /// Asks sigstore about `image` (pushed from `layout`) with `key`, records
    /// the answer, and checks it is the `expected` one.
    async fn check(&mut self, layout: &str, image: &str, key: &Path, expected: bool) {
        let verified = sigstore_verifies(image, key).await;
        let key = key
            .strip_prefix(&self.root)
            .expect("key under the fixture dir");
        assert_eq!(
            verified,
            expected,
            "sigstore's verdict on {layout} with {}",
            key.display()
        );
        self.list.push(json!({
            "layout": layout,
            "key": key.to_string_lossy(),
            "sigstore_verified": verified,
        }));
    }
}

#[tokio::main]
async fn main() {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sigstore")
        });
    let root = root
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let reg = Registry::start();
    let keys = root.join("keys");
    std::fs::create_dir_all(&keys).expect("create keys dir");
    let release_pem = keys.join("release.pub.pem");
    let attacker_pem = keys.join("attacker.pub.pem");
    let release = SigstoreKey::generate(&release_pem);
    let attacker = SigstoreKey::generate(&attacker_pem);
    let mut v = Verdicts {
        root: root.clone(),
        list: Vec::new(),
    };
    let mut resolved = serde_json::Map::new();
    let by_tag = |repo: &str, tag: &str| format!("{}/{repo}:{tag}", reg.addr);
    let by_digest = |repo: &str, digest: &str| format!("{}/{repo}@{digest}", reg.addr);

    // A good signature, made by tag as `cosign sign` is usually run.
    let digest = reg.push_image("fleet/app", "v1", "app v1").await;
    let (got, _) = sigstore_sign(&by_tag("fleet/app", "v1"), &release, None).await;
    assert_eq!(got, digest, "sigstore resolved the pushed manifest");
    resolved.insert("app".into(), got.into());
    reg.dump_layout(
        "fleet/app",
        &["v1".into(), sig_tag(&digest)],
        &root.join("app"),
    )
    .await;
    v.check("app", &by_tag("fleet/app", "v1"), &release_pem, true)
        .await;

    // Signed by the attacker's key.
    let digest = reg.push_image("fleet/wrongkey", "v1", "wrongkey").await;
    sigstore_sign(&by_tag("fleet/wrongkey", "v1"), &attacker, None).await;
    reg.dump_layout(
        "fleet/wrongkey",
        &["v1".into(), sig_tag(&digest)],
        &root.join("wrongkey"),
    )
    .await;
    let image = by_digest("fleet/wrongkey", &digest);
    v.check("wrongkey", &image, &release_pem, false).await;
    v.check("wrongkey", &image, &attacker_pem, true).await;

    // A good signature, then the same layer re-pushed by sigstore with its
    // payload changed (still naming the right digest), the signature kept.
    let digest = reg.push_image("fleet/tampered", "v1", "tampered").await;
    let (_, mut layer) = sigstore_sign(&by_tag("fleet/tampered", "v1"), &release, None).await;
    reg.dump_layout(
        "fleet/tampered",
        &["v1".into(), sig_tag(&digest)],
        &root.join("tampered"),
    )
    .await;
    let image = by_digest("fleet/tampered", &digest);
    v.check("tampered", &image, &release_pem, true).await;
    layer.simple_signing.critical.identity.docker_reference = "evil.example/other".into();
    layer.simple_signing.optional = Some(Optional {
        creator: Some("someone else".into()),
        ..Default::default()
    });
    cosign_client()
        .push_signature(
            None,
            &Auth::Anonymous,
            &oci_ref(&format!("{}/fleet/tampered:{}", reg.addr, sig_tag(&digest))),
            vec![layer],
        )
        .await
        .expect("sigstore pushes the tampered layer");
    reg.dump_layout(
        "fleet/tampered",
        &[sig_tag(&digest)],
        &root.join("tampered-payload"),
    )
    .await;
    v.check("tampered-payload", &image, &release_pem, false)
        .await;

    // A genuine signature of v1's digest, pushed to v2's `.sig` tag.
    let v2 = reg.push_image("fleet/other", "v2", "other v2").await;
    let v1 = reg.push_image("fleet/other", "v1", "other v1").await;
    sigstore_sign(&by_tag("fleet/other", "v2"), &release, Some(&v1)).await;
    reg.dump_layout(
        "fleet/other",
        &["v2".into(), "v1".into(), sig_tag(&v2)],
        &root.join("other"),
    )
    .await;
    v.check("other", &by_digest("fleet/other", &v2), &release_pem, false)
        .await;

    // The other direction: signatures made by fleetdeck's test helpers.
    for kind in ["p256", "openssl"] {
        let own = root.join(format!("independent/keys/{kind}-release.pub.pem"));
        let other = root.join(format!("independent/keys/{kind}-other.pub.pem"));
        for (layout, verdict_own) in [
            (kind.to_string(), true),
            (format!("{kind}-tampered"), false),
        ] {
            let dir = root.join("independent").join(&layout);
            let repo = format!("fleet/{layout}");
            let pushed = reg.push_layout(&repo, &dir).await;
            let (_, digest) = pushed
                .iter()
                .find(|(t, _)| t == "v1")
                .unwrap_or_else(|| panic!("{}: no tag v1", dir.display()));
            let image = by_digest(&repo, digest);
            let name = format!("independent/{layout}");
            v.check(&name, &image, &own, verdict_own).await;
            if verdict_own {
                v.check(&name, &image, &other, false).await;
            }
        }
    }

    let out = json!({
        "generated_by": "scripts/sigstore-fixtures",
        "sigstore": "0.15 (features cosign, rustls-tls), its cosign client and verifier",
        "registry_used": reg.addr,
        "resolved_by_sigstore": resolved,
        "verdicts": v.list,
    });
    std::fs::write(
        root.join("sigstore-verdicts.json"),
        serde_json::to_string_pretty(&out).expect("JSON") + "\n",
    )
    .expect("write sigstore-verdicts.json");
    println!("fixtures written to {}", root.display());
}
