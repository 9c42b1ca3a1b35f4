//! The simulator's own OCI registry: read-only, in process, on its own
//! loopback port (started by [`SimHandle::start`](super::SimHandle::start)).
//!
//! For every release version it knows it serves, under `registry.local`'s
//! names (reach it with `[registry] mirrors = { "registry.local" = ADDR }`):
//!
//! - `fleet/vision:<version>`: an OCI image manifest with a config blob and
//!   one small layer (a real tar holding `opt/vision/VERSION`);
//! - `fleet/model:<version>`: an OCI artifact manifest (empty config, one
//!   layer of pseudo-random "weights");
//! - unless the version is listed in [`SimOptions::unsigned`](super::SimOptions::unsigned):
//!   cosign signatures (`sha256-<hex>.sig`) of both, made with a P-256 key
//!   generated at start ([`SimRegistry::public_key_pem`]); for the image also
//!   an SPDX SBOM (`.sbom`) and a signed SLSA provenance attestation (`.att`).
//!
//! Image and model content — hence their digests — depend only on the version
//! ([`release_digests`]): every device, plan and test agrees on them without
//! shared state. Signatures depend on the key, so they differ per start.
//!
//! The API subset: `GET /v2/`, `GET|HEAD /v2/<name>/manifests/<tag|digest>`,
//! `GET|HEAD /v2/<name>/blobs/<digest>`, `GET /v2/<name>/tags/list` (`n`,
//! `last`). Referrers are not offered (404, as the spec asks of registries
//! without them); everything else is a 404 or 405 with the spec's JSON error
//! body.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::rng::{SplitMix64, hash_str};

/// The registry host the simulated plans name.
pub const REGISTRY_HOST: &str = "registry.local";
/// Repository of the application image.
pub const IMAGE_REPO: &str = "fleet/vision";
/// Repository of the model artifact.
pub const MODEL_REPO: &str = "fleet/model";
/// Versions every simulated registry serves (plus the ones named in the
/// options: unsigned and bad releases).
pub const KNOWN_VERSIONS: [&str; 3] = ["1.4.0", "1.5.0", "1.5.1"];

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// `artifactType` of the model manifests.
pub const MODEL_ARTIFACT_TYPE: &str = "application/vnd.fleetdeck.model.v1";
const MODEL_LAYER: &str = "application/vnd.fleetdeck.model.weights.v1";
const SIMPLESIGNING: &str = crate::signature::cosign::SIMPLESIGNING_MEDIA_TYPE;
const DSSE: &str = crate::signature::attest::DSSE_MEDIA_TYPE;
const INTOTO: &str = crate::signature::attest::INTOTO_PAYLOAD_TYPE;
const SPDX_JSON: &str = "text/spdx+json";
/// The predicate of the simulated attestations.
pub const SLSA_PROVENANCE: &str = "https://slsa.dev/provenance/v1";
/// Size of the simulated model weights.
const MODEL_BYTES: usize = 4096;

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": sha256(bytes), "size": bytes.len()})
}

/// A manifest and the blobs it references.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    pub(crate) manifest: Vec<u8>,
    pub(crate) blobs: Vec<Vec<u8>>,
}

impl Built {
    pub(crate) fn digest(&self) -> String {
        sha256(&self.manifest)
    }
}

fn manifest(config: (&str, &[u8]), layers: &[Value], extra: &[(&str, Value)]) -> Vec<u8> {
    let mut m = serde_json::Map::new();
    m.insert("schemaVersion".into(), json!(2));
    m.insert("mediaType".into(), json!(OCI_MANIFEST));
    for (k, v) in extra {
        m.insert((*k).into(), v.clone());
    }
    m.insert("config".into(), descriptor(config.0, config.1));
    m.insert("layers".into(), Value::Array(layers.to_vec()));
    // Serialising a Value cannot fail.
    serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
}

/// A one-file ustar archive (what a real image layer is).
fn tar_one_file(path: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, field: &[u8]| {
        h[at..at + field.len()].copy_from_slice(field);
    };
    put(&mut header, 0, &path.as_bytes()[..path.len().min(100)]);
    put(&mut header, 100, b"0000644\0");
    put(&mut header, 108, b"0000000\0");
    put(&mut header, 116, b"0000000\0");
    put(
        &mut header,
        124,
        format!("{:011o}\0", content.len()).as_bytes(),
    );
    put(&mut header, 136, b"00000000000\0");
    put(&mut header, 148, b"        ");
    header[156] = b'0';
    put(&mut header, 257, b"ustar\0");
    put(&mut header, 263, b"00");
    put(&mut header, 265, b"root");
    put(&mut header, 297, b"root");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    put(&mut header, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.resize(out.len() + 1024, 0);
    out
}

/// The application image of `version`.
pub(crate) fn image(version: &str) -> Built {
    let layer = tar_one_file(
        "opt/vision/VERSION",
        format!("vision {version}\n").as_bytes(),
    );
    let config = serde_json::to_vec(&json!({
        "architecture": "arm64",
        "os": "linux",
        "config": {
            "Entrypoint": ["/opt/vision/run"],
            "Labels": {"org.opencontainers.image.version": version}
        },
        "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
        "history": [{"created_by": "fleetdeck simulator"}]
    }))
    .unwrap_or_default();
    let manifest = manifest(
        (OCI_CONFIG, &config),
        &[descriptor(OCI_LAYER_TAR, &layer)],
        &[(
            "annotations",
            json!({
                "org.opencontainers.image.title": "vision",
                "org.opencontainers.image.version": version
            }),
        )],
    );
    Built {
        manifest,
        blobs: vec![config, layer],
    }
}

/// The model artifact of `version`.
pub(crate) fn model(version: &str) -> Built {
    let mut rng = SplitMix64::new(hash_str(&format!("model/{version}")));
    let mut weights = Vec::with_capacity(MODEL_BYTES);
    while weights.len() < MODEL_BYTES {
        weights.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    let mut layer = descriptor(MODEL_LAYER, &weights);
    layer["annotations"] =
        json!({"org.opencontainers.image.title": format!("detector-{version}.onnx")});
    let empty = b"{}".to_vec();
    let manifest = manifest(
        (OCI_EMPTY, &empty),
        &[layer],
        &[
            ("artifactType", json!(MODEL_ARTIFACT_TYPE)),
            (
                "annotations",
                json!({"org.opencontainers.image.version": version}),
            ),
        ],
    );
    Built {
        manifest,
        blobs: vec![empty, weights],
    }
}

/// (image digest, model digest) of `version`: the sha256 of the manifests
/// the simulated registry serves. Memoised (a fleet asks once per device).
pub fn release_digests(version: &str) -> (String, String) {
    static MEMO: LazyLock<Mutex<HashMap<String, (String, String)>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    if let Ok(memo) = MEMO.lock()
        && let Some(d) = memo.get(version)
    {
        return d.clone();
    }
    let d = (image(version).digest(), model(version).digest());
    if let Ok(mut memo) = MEMO.lock() {
        if memo.len() >= 1024 {
            memo.clear();
        }
        memo.insert(version.to_owned(), d.clone());
    }
    d
}

/// A cosign-style config blob for an attachment manifest whose one layer is `layer`.
fn attachment_config(layer: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]}
    }))
    .unwrap_or_default()
}

fn attachment(layer_media_type: &str, layer: Vec<u8>, annotations: Value) -> Built {
    let config = attachment_config(&layer);
    let mut desc = descriptor(layer_media_type, &layer);
    desc["annotations"] = annotations;
    Built {
        manifest: manifest((OCI_CONFIG, &config), &[desc], &[]),
        blobs: vec![config, layer],
    }
}

fn sign_b64(key: &SigningKey, message: &[u8]) -> String {
    let sig: Signature = key.sign(message);
    base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes())
}

/// A cosign `.sig` manifest: one simple-signing layer signed with `key`.
pub(crate) fn signature(docker_reference: &str, digest: &str, key: &SigningKey) -> Built {
    let payload = serde_json::to_vec(&json!({
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": crate::signature::cosign::SIGNATURE_TYPE
        },
        "optional": null
    }))
    .unwrap_or_default();
    let sig = sign_b64(key, &payload);
    attachment(
        SIMPLESIGNING,
        payload,
        json!({ crate::signature::cosign::SIGNATURE_ANNOTATION: sig }),
    )
}

/// A cosign `.att` manifest: a DSSE envelope with an in-toto statement
/// carrying SLSA provenance for `digest`, signed with `key`.
pub(crate) fn attestation(
    docker_reference: &str,
    digest: &str,
    version: &str,
    key: &SigningKey,
) -> Built {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let statement = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": docker_reference, "digest": {"sha256": hex}}],
        "predicateType": SLSA_PROVENANCE,
        "predicate": {
            "buildDefinition": {
                "buildType": "https://fleetdeck.invalid/sim-build/v1",
                "externalParameters": {"version": version, "repository": "https://git.fleetdeck.invalid/vision"},
            },
            "runDetails": {
                "builder": {"id": "https://fleetdeck.invalid/sim-builder"},
                "metadata": {"invocationId": format!("sim-build-{version}")}
            }
        }
    }))
    .unwrap_or_default();
    let b64 = base64::engine::general_purpose::STANDARD;
    let sig = sign_b64(key, &crate::signature::attest::pae(INTOTO, &statement));
    let envelope = serde_json::to_vec(&json!({
        "payloadType": INTOTO,
        "payload": b64.encode(&statement),
        "signatures": [{"keyid": "", "sig": sig}]
    }))
    .unwrap_or_default();
    attachment(DSSE, envelope, json!({"predicateType": SLSA_PROVENANCE}))
}

/// The packages of the simulated image's SBOM.
const SBOM_PACKAGES: [(&str, &str); 4] = [
    ("debian-base", "12.7"),
    ("onnxruntime", "1.18.1"),
    ("libcamera", "0.3.0"),
    ("python3", "3.11.2"),
];

/// A cosign `.sbom` manifest: an SPDX 2.3 JSON document (unsigned, as
/// `cosign attach sbom` makes them).
pub(crate) fn sbom(version: &str) -> Built {
    let mut packages: Vec<Value> = SBOM_PACKAGES
        .iter()
        .enumerate()
        .map(|(i, (name, v))| {
            json!({"SPDXID": format!("SPDXRef-Package-{i}"), "name": name, "versionInfo": v,
                   "downloadLocation": "NOASSERTION"})
        })
        .collect();
    packages.push(json!({"SPDXID": "SPDXRef-Package-vision", "name": "vision",
                         "versionInfo": version, "downloadLocation": "NOASSERTION"}));
    let doc = serde_json::to_vec(&json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("vision-{version}"),
        "documentNamespace": format!("https://fleetdeck.invalid/spdx/vision-{version}"),
        "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: fleetdeck-sim"]},
        "packages": packages
    }))
    .unwrap_or_default();
    attachment(SPDX_JSON, doc, json!({}))
}

/// Number of packages in the simulated SBOM.
pub const SBOM_COMPONENTS: usize = SBOM_PACKAGES.len() + 1;

/// One repository: manifests by digest, tags, blobs by digest.
#[derive(Debug, Default)]
struct Repo {
    manifests: HashMap<String, Bytes>,
    tags: BTreeMap<String, String>,
    blobs: HashMap<String, Bytes>,
}

impl Repo {
    /// Stores `built` and tags it; returns its digest.
    fn put(&mut self, tag: &str, built: Built) -> String {
        let digest = built.digest();
        for b in built.blobs {
            self.blobs.insert(sha256(&b), Bytes::from(b));
        }
        self.manifests
            .insert(digest.clone(), Bytes::from(built.manifest));
        self.tags.insert(tag.to_owned(), digest.clone());
        digest
    }
}

/// Everything the simulated registry serves. Built once at start.
pub struct SimRegistry {
    repos: HashMap<String, Repo>,
    public_key_pem: String,
}

/// `sha256:<hex>` → cosign's attachment tag `sha256-<hex>.<suffix>`.
fn attachment_tag(digest: &str, suffix: &str) -> String {
    format!("{}.{suffix}", digest.replacen(':', "-", 1))
}

impl SimRegistry {
    /// Content for `versions` (deduplicated), signed with `key` except the
    /// `unsigned` ones.
    pub fn build(versions: &[String], unsigned: &[String], key: &SigningKey) -> SimRegistry {
        let mut image_repo = Repo::default();
        let mut model_repo = Repo::default();
        let image_ref = format!("{REGISTRY_HOST}/{IMAGE_REPO}");
        let model_ref = format!("{REGISTRY_HOST}/{MODEL_REPO}");
        for version in versions {
            let image_digest = image_repo.put(version, image(version));
            let model_digest = model_repo.put(version, model(version));
            if unsigned.contains(version) {
                continue;
            }
            image_repo.put(
                &attachment_tag(&image_digest, "sig"),
                signature(&image_ref, &image_digest, key),
            );
            image_repo.put(
                &attachment_tag(&image_digest, "att"),
                attestation(&image_ref, &image_digest, version, key),
            );
            image_repo.put(&attachment_tag(&image_digest, "sbom"), sbom(version));
            model_repo.put(
                &attachment_tag(&model_digest, "sig"),
                signature(&model_ref, &model_digest, key),
            );
        }
        let public_key_pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default();
        SimRegistry {
            repos: HashMap::from([
                (IMAGE_REPO.to_owned(), image_repo),
                (MODEL_REPO.to_owned(), model_repo),
            ]),
            public_key_pem,
        }
    }

    /// The PEM (SubjectPublicKeyInfo) of the key the releases are signed with.
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// Answers one request (no I/O: the server and the unit tests call it).
    pub(crate) fn respond(
        &self,
        method: &Method,
        path: &str,
        query: &str,
    ) -> Response<Full<Bytes>> {
        let head = method == Method::HEAD;
        if method != Method::GET && !head {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "this registry is read-only: only GET and HEAD",
            );
        }
        if path == "/v2/" || path == "/v2" {
            return ok(head, "application/json", Bytes::from_static(b"{}"), None);
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return error(StatusCode::NOT_FOUND, "UNSUPPORTED", "no such endpoint");
        };
        if let Some(name) = rest.strip_suffix("/tags/list") {
            let Some(repo) = self.repos.get(name) else {
                return name_unknown(name);
            };
            if head {
                return error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "UNSUPPORTED",
                    "tags/list: GET only",
                );
            }
            let (n, last) = tag_query(query);
            let tags: Vec<&String> = repo
                .tags
                .keys()
                .filter(|t| last.as_deref().is_none_or(|l| t.as_str() > l))
                .take(n.unwrap_or(usize::MAX))
                .collect();
            let body = serde_json::to_vec(&json!({"name": name, "tags": tags})).unwrap_or_default();
            return ok(false, "application/json", Bytes::from(body), None);
        }
        if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
            let Some(repo) = self.repos.get(name) else {
                return name_unknown(name);
            };
            let digest = if reference.starts_with("sha256:") {
                Some(reference.to_owned())
            } else {
                repo.tags.get(reference).cloned()
            };
            return match digest.and_then(|d| repo.manifests.get(&d).map(|m| (d, m))) {
                Some((digest, bytes)) => ok(head, OCI_MANIFEST, bytes.clone(), Some(&digest)),
                None => error(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    &format!("manifest unknown: {name}:{reference}"),
                ),
            };
        }
        if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
            let Some(repo) = self.repos.get(name) else {
                return name_unknown(name);
            };
            return match repo.blobs.get(digest) {
                Some(bytes) => ok(
                    head,
                    "application/octet-stream",
                    bytes.clone(),
                    Some(digest),
                ),
                None => error(
                    StatusCode::NOT_FOUND,
                    "BLOB_UNKNOWN",
                    &format!("blob unknown: {name}@{digest}"),
                ),
            };
        }
        if rest.contains("/referrers/") {
            return error(
                StatusCode::NOT_FOUND,
                "UNSUPPORTED",
                "the referrers API is not offered: use the cosign tag scheme",
            );
        }
        error(StatusCode::NOT_FOUND, "UNSUPPORTED", "no such endpoint")
    }
}

/// `n` and `last` of a tags/list query.
fn tag_query(query: &str) -> (Option<usize>, Option<String>) {
    let mut n = None;
    let mut last = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("n", v)) => n = v.parse().ok(),
            Some(("last", v)) => last = Some(v.to_owned()),
            _ => {}
        }
    }
    (n, last)
}

fn api_version() -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static("docker-distribution-api-version"),
        HeaderValue::from_static("registry/2.0"),
    )
}

fn ok(
    head: bool,
    content_type: &'static str,
    body: Bytes,
    digest: Option<&str>,
) -> Response<Full<Bytes>> {
    let len = body.len();
    let mut resp = Response::new(Full::new(if head { Bytes::new() } else { body }));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(d) = digest.and_then(|d| HeaderValue::from_str(d).ok()) {
        h.insert(HeaderName::from_static("docker-content-digest"), d);
    }
    let (k, v) = api_version();
    h.insert(k, v);
    resp
}

/// The spec's error body: `{"errors":[{"code","message","detail"}]}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(
        &json!({"errors": [{"code": code, "message": message, "detail": null}]}),
    )
    .unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let (k, v) = api_version();
    resp.headers_mut().insert(k, v);
    resp
}

fn name_unknown(name: &str) -> Response<Full<Bytes>> {
    error(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        &format!("repository name not known to registry: {name}"),
    )
}

/// A fresh random signing key (OS entropy: the demo's keys are real keys).
pub(crate) fn generate_key() -> SigningKey {
    <SigningKey as p256::elliptic_curve::Generate>::generate()
}

/// Accepts connections until `shutdown` fires or its sender is dropped.
pub(crate) async fn serve(
    listener: TcpListener,
    registry: Arc<SimRegistry>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let registry = Arc::clone(&registry);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let resp = registry.respond(
                            req.method(),
                            req.uri().path(),
                            req.uri().query().unwrap_or(""),
                        );
                        async move { Ok::<_, std::convert::Infallible>(resp) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Binds the registry's own port on loopback.
pub(crate) async fn bind(listen: SocketAddr) -> std::io::Result<TcpListener> {
    let ip = if listen.ip().is_loopback() {
        listen.ip()
    } else {
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
    };
    TcpListener::bind(SocketAddr::new(ip, 0)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    fn versions() -> Vec<String> {
        KNOWN_VERSIONS.iter().map(|v| (*v).to_owned()).collect()
    }

    fn registry(key: &SigningKey) -> SimRegistry {
        SimRegistry::build(&versions(), &["1.5.1".to_owned()], key)
    }

    fn key() -> SigningKey {
        SigningKey::from_slice(&[7u8; 32]).expect("a valid scalar")
    }

    async fn get(
        r: &SimRegistry,
        method: Method,
        path: &str,
    ) -> (StatusCode, hyper::HeaderMap, Vec<u8>) {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let resp = r.respond(&method, path, query);
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .expect("a Full body cannot fail")
            .to_bytes()
            .to_vec();
        (status, headers, body)
    }

    /// sha256 computed here, independently of the code under test.
    fn digest_of(bytes: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(bytes);
        format!("sha256:{}", hex::encode(h.finalize()))
    }

    fn header<'a>(h: &'a hyper::HeaderMap, k: &str) -> &'a str {
        h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[tokio::test]
    async fn manifests_and_blobs_match_their_digests_and_the_releases() {
        let r = registry(&key());
        for v in KNOWN_VERSIONS {
            let (image_digest, model_digest) = release_digests(v);
            for (repo, want) in [(IMAGE_REPO, &image_digest), (MODEL_REPO, &model_digest)] {
                let (status, h, body) =
                    get(&r, Method::GET, &format!("/v2/{repo}/manifests/{v}")).await;
                assert_eq!(status, StatusCode::OK, "{repo}:{v}");
                assert_eq!(&digest_of(&body), want, "{repo}:{v}");
                assert_eq!(header(&h, "docker-content-digest"), want.as_str());
                assert_eq!(header(&h, "content-type"), OCI_MANIFEST);
                // By digest: the same bytes.
                let (_, _, by_digest) =
                    get(&r, Method::GET, &format!("/v2/{repo}/manifests/{want}")).await;
                assert_eq!(by_digest, body);
                // HEAD: headers only.
                let (status, h, empty) =
                    get(&r, Method::HEAD, &format!("/v2/{repo}/manifests/{v}")).await;
                assert_eq!(status, StatusCode::OK);
                assert!(empty.is_empty());
                assert_eq!(header(&h, "content-length"), body.len().to_string());
                assert_eq!(header(&h, "docker-content-digest"), want.as_str());
                // Every blob it names is served and matches its descriptor.
                let m: Value = serde_json::from_slice(&body).expect("manifest JSON");
                assert_eq!(m["schemaVersion"], 2);
                assert_eq!(m["mediaType"], OCI_MANIFEST);
                let mut descs = vec![m["config"].clone()];
                descs.extend(m["layers"].as_array().cloned().unwrap_or_default());
                assert_eq!(descs.len(), 2, "{repo}:{v}: config + one layer");
                for d in descs {
                    let digest = d["digest"].as_str().expect("digest");
                    let (status, _, blob) =
                        get(&r, Method::GET, &format!("/v2/{repo}/blobs/{digest}")).await;
                    assert_eq!(status, StatusCode::OK, "{repo}@{digest}");
                    assert_eq!(digest_of(&blob), digest);
                    assert_eq!(d["size"].as_u64(), Some(blob.len() as u64));
                }
            }
        }
        // Versions differ, image and model differ.
        let (a, b) = (release_digests("1.5.0"), release_digests("1.5.1"));
        assert_ne!(a.0, b.0);
        assert_ne!(a.0, a.1);
        // Content depends only on the version: another key, the same digests.
        let other = SimRegistry::build(
            &versions(),
            &[],
            &SigningKey::from_slice(&[9u8; 32]).expect("scalar"),
        );
        let (_, h, _) = get(&other, Method::HEAD, "/v2/fleet/vision/manifests/1.5.0").await;
        assert_eq!(header(&h, "docker-content-digest"), a.0);
    }

    #[tokio::test]
    async fn the_image_layer_is_a_tar_with_its_version() {
        let built = image("1.5.0");
        let layer = &built.blobs[1];
        assert_eq!(layer.len() % 512, 0);
        assert_eq!(&layer[..18], b"opt/vision/VERSION");
        assert_eq!(&layer[257..262], b"ustar");
        // The checksum field: the sum of the header with the field as spaces.
        let mut header = layer[..512].to_vec();
        let field = String::from_utf8_lossy(&header[148..154]).to_string();
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(u32::from_str_radix(&field, 8).expect("octal"), sum);
        assert_eq!(&layer[512..525], b"vision 1.5.0\n");
    }

    #[tokio::test]
    async fn tags_list_has_versions_and_attachments_of_signed_releases_only() {
        let r = registry(&key());
        let (status, _, body) = get(&r, Method::GET, "/v2/fleet/vision/tags/list").await;
        assert_eq!(status, StatusCode::OK);
        let v: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(v["name"], "fleet/vision");
        let tags: Vec<&str> = v["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for t in KNOWN_VERSIONS {
            assert!(tags.contains(&t), "{tags:?}");
        }
        for (v, signed) in [("1.4.0", true), ("1.5.0", true), ("1.5.1", false)] {
            let hex = release_digests(v).0.replacen("sha256:", "sha256-", 1);
            for suffix in ["sig", "att", "sbom"] {
                assert_eq!(
                    tags.contains(&format!("{hex}.{suffix}").as_str()),
                    signed,
                    "{v} .{suffix}: {tags:?}"
                );
            }
        }
        assert_eq!(tags.len(), 3 + 2 * 3);
        let model: Value =
            serde_json::from_slice(&get(&r, Method::GET, "/v2/fleet/model/tags/list").await.2)
                .expect("JSON");
        assert_eq!(
            model["tags"].as_array().map(Vec::len),
            Some(3 + 2),
            "{model}"
        );
        // Paging: n and last.
        let (_, _, body) = get(&r, Method::GET, "/v2/fleet/vision/tags/list?n=2&last=1.4.0").await;
        let v: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(v["tags"], json!(["1.5.0", "1.5.1"]));
    }

    #[tokio::test]
    async fn everything_else_is_a_404_or_405_with_the_spec_error_body() {
        let r = registry(&key());
        let missing = release_digests("9.9.9").0;
        for (method, path, status, code) in [
            (
                Method::GET,
                "/v2/fleet/vision/manifests/1.6.0".to_owned(),
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
            ),
            (
                Method::HEAD,
                format!("/v2/fleet/vision/manifests/{missing}"),
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
            ),
            (
                Method::GET,
                "/v2/fleet/other/manifests/1.5.0".to_owned(),
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
            ),
            (
                Method::GET,
                "/v2/fleet/other/tags/list".to_owned(),
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
            ),
            (
                Method::GET,
                format!("/v2/fleet/vision/blobs/{missing}"),
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
            ),
            (
                Method::GET,
                format!("/v2/fleet/vision/referrers/{}", release_digests("1.5.0").0),
                StatusCode::NOT_FOUND,
                "UNSUPPORTED",
            ),
            (
                Method::GET,
                "/v1/search".to_owned(),
                StatusCode::NOT_FOUND,
                "UNSUPPORTED",
            ),
            (
                Method::PUT,
                "/v2/fleet/vision/manifests/1.5.0".to_owned(),
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
            ),
            (
                Method::POST,
                "/v2/fleet/vision/blobs/uploads/".to_owned(),
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
            ),
        ] {
            let (got, h, body) = get(&r, method.clone(), &path).await;
            assert_eq!(got, status, "{method} {path}");
            assert_eq!(header(&h, "content-type"), "application/json");
            let v: Value = serde_json::from_slice(&body).expect("error JSON");
            assert_eq!(v["errors"][0]["code"], code, "{method} {path}: {v}");
            assert!(v["errors"][0]["message"].is_string());
        }
        let (status, h, body) = get(&r, Method::GET, "/v2/").await;
        assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"{}"[..]));
        assert_eq!(
            header(&h, "docker-distribution-api-version"),
            "registry/2.0"
        );
    }

    #[tokio::test]
    async fn signatures_and_attestations_verify_with_the_key_and_only_with_it() {
        let key = key();
        let r = registry(&key);
        let mut trust = crate::signature::Trust::default();
        let vk = *key.verifying_key();
        trust
            .keys
            .push(("sim.pub".into(), vk, crate::signature::key_fingerprint(&vk)));
        let mut wrong = crate::signature::Trust::default();
        let other = *SigningKey::from_slice(&[8u8; 32])
            .expect("scalar")
            .verifying_key();
        wrong.keys.push((
            "other.pub".into(),
            other,
            crate::signature::key_fingerprint(&other),
        ));
        let now = std::time::SystemTime::now();
        for (repo, digest) in [
            (IMAGE_REPO, release_digests("1.5.0").0),
            (MODEL_REPO, release_digests("1.5.0").1),
        ] {
            let tag = attachment_tag(&digest, "sig");
            let (status, _, body) =
                get(&r, Method::GET, &format!("/v2/{repo}/manifests/{tag}")).await;
            assert_eq!(status, StatusCode::OK, "{repo} {tag}");
            let m: Value = serde_json::from_slice(&body).expect("JSON");
            let layer = &m["layers"][0];
            assert_eq!(layer["mediaType"], SIMPLESIGNING);
            let annotations: BTreeMap<String, String> =
                serde_json::from_value(layer["annotations"].clone()).expect("annotations");
            let payload = get(
                &r,
                Method::GET,
                &format!(
                    "/v2/{repo}/blobs/{}",
                    layer["digest"].as_str().unwrap_or("")
                ),
            )
            .await
            .2;
            let ok = crate::signature::cosign::verify_layer(
                "here".into(),
                SIMPLESIGNING,
                &payload,
                &annotations,
                &digest,
                &trust,
                now,
            );
            assert!(ok.verified, "{:?}", ok.checks);
            let bad = crate::signature::cosign::verify_layer(
                "here".into(),
                SIMPLESIGNING,
                &payload,
                &annotations,
                &digest,
                &wrong,
                now,
            );
            assert!(!bad.verified);
            let other_digest = release_digests("1.4.0").0;
            let mismatch = crate::signature::cosign::verify_layer(
                "here".into(),
                SIMPLESIGNING,
                &payload,
                &annotations,
                &other_digest,
                &trust,
                now,
            );
            assert!(!mismatch.verified);
        }
        let digest = release_digests("1.5.0").0;
        let att = attestation("registry.local/fleet/vision", &digest, "1.5.0", &key);
        let (report, att_sbom) = crate::signature::attest::verify_envelope(
            "here".into(),
            &att.blobs[1],
            &BTreeMap::new(),
            &digest,
            &trust,
            now,
        );
        assert!(report.verified, "{:?}", report.checks);
        assert_eq!(report.predicate_type, SLSA_PROVENANCE);
        assert!(att_sbom.is_none());
        let doc: Value = serde_json::from_slice(&sbom("1.5.0").blobs[1]).expect("SPDX JSON");
        let summary = crate::signature::attest::sbom_summary(&doc, "here").expect("an SBOM");
        assert_eq!(
            (summary.format.as_str(), summary.components),
            ("SPDX 2.3", SBOM_COMPONENTS)
        );
    }
}
