//! The OCI distribution API, read-only, over reqwest: references, manifests,
//! blobs, tag lists and OCI 1.1 referrers, with anonymous, basic and bearer
//! (`WWW-Authenticate` challenge) auth.
//!
//! Everything fetched has a size limit and is checked against its digest;
//! every request has the configured timeout. Plain HTTP is used only for hosts
//! listed in `[registry] insecure`.

use super::options::{RegistryAuth, RegistryConfig};
use crate::text::echo;
use base64::Engine as _;
use futures_util::StreamExt as _;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

/// Largest manifest (or index, or referrers list) read.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Largest cosign signature payload read.
pub const MAX_SIGNATURE_LAYER_BYTES: u64 = 1 << 20;
/// Largest SBOM or attestation envelope read.
pub const MAX_SBOM_BYTES: u64 = 16 << 20;
/// Largest tag list read.
pub const MAX_TAG_LIST_BYTES: u64 = 4 << 20;
/// Largest token-endpoint answer read.
pub const MAX_TOKEN_BYTES: u64 = 64 << 10;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// Why the registry could not be read, written for the person at the console.
///
/// Every field may hold outside text (a reference typed by the operator, a
/// host from a plan, a media type or a detail from the registry's answer):
/// `Display` shows each one through [`text::sanitize`] / [`text::echo`], so
/// an error never carries an escape sequence or a forged line to a terminal.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("'{}' is not an image reference: {}", echo(.reference), safe(.reason))]
    BadReference { reference: String, reason: String },
    #[error(
        "registry '{}' wants credentials (401) and none are configured: add [registry.auth.\"{}\"] username/password or token",
        safe(.host), safe(.host)
    )]
    NoCredentials { host: String },
    #[error("registry '{}' rejected the configured credentials (401){}", safe(.host), safe(.detail))]
    BadCredentials { host: String, detail: String },
    #[error("registry '{}' denied access to '{}' (403)", safe(.host), safe(.what))]
    Denied { host: String, what: String },
    #[error("{} not found on '{}' (404)", safe(.what), safe(.host))]
    NotFound { host: String, what: String },
    #[error("{} is larger than the {limit}-byte limit", safe(.what))]
    TooLarge { what: String, limit: u64 },
    #[error("registry '{}' did not answer within {}s ({})", safe(.host), .after.as_secs_f64(), safe(.what))]
    Timeout {
        host: String,
        what: String,
        after: Duration,
    },
    #[error("TLS to registry '{}' failed: {} (custom CA: [registry] ca_file)", safe(.host), safe(.detail))]
    Tls { host: String, detail: String },
    #[error("cannot connect to registry '{}': {}", safe(.host), safe(.detail))]
    Connect { host: String, detail: String },
    #[error(
        "registry '{}' answered an HTTPS request in plain HTTP: if it only serves plain HTTP (a loopback or test registry), add \"{}\" to [registry] insecure",
        safe(.host), safe(.host)
    )]
    PlainHttp { host: String },
    #[error("registry '{}' answered {status} for {}", safe(.host), safe(.what))]
    Status {
        host: String,
        what: String,
        status: u16,
    },
    #[error("{} has media type '{}', expected {}", safe(.what), safe(.media_type), safe(.expected))]
    WrongMediaType {
        what: String,
        media_type: String,
        expected: String,
    },
    #[error("{} does not match its digest: expected {}, got {}", safe(.what), safe(.expected), safe(.actual))]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{} is not valid: {}", safe(.what), safe(.detail))]
    Invalid { what: String, detail: String },
    #[error("cannot use [registry] ca_file '{}': {}", echo(.path), safe(.detail))]
    CaFile { path: String, detail: String },
    #[error("cannot build the HTTP client: {}", safe(.0))]
    Client(String),
}

/// One field of an error, on one line (long details are kept whole up to
/// 1024 characters: the reason is usually at the end).
fn safe(v: &str) -> std::borrow::Cow<'_, str> {
    crate::text::sanitize_max(v, 1024)
}

impl RegistryError {
    /// A 404: the thing is absent (as opposed to unreadable).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound { .. })
    }
}

/// `host[:port]/repo[:tag][@sha256:…]`, normalised the way docker does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]` as written (`docker.io` for the default registry).
    pub registry: String,
    /// `library/nginx`, `fleet/model`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`
    pub digest: Option<String>,
}

/// One repository on one registry: where manifests and blobs are read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Repo {
    pub registry: String,
    pub repository: String,
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

impl Reference {
    /// Parses `[HOST[:PORT]/]PATH[:TAG][@sha256:<64 hex>]` by the grammar of
    /// distribution/reference (what docker, containerd and the registries
    /// accept): path components are lowercase letters and digits joined by
    /// one `.`, one or two `_` or any number of `-`; the host is a DNS name,
    /// an IPv4 address or a bracketed IPv6 address, with an optional port; a
    /// tag is up to 128 of `[A-Za-z0-9_.-]` not starting with `.` or `-`; the
    /// only digest accepted is `sha256:` with 64 lowercase hex digits. No
    /// scheme (`docker://`), no spaces, no control or invisible characters.
    pub fn parse(input: &str) -> Result<Reference, RegistryError> {
        let bad = |reason: &str| RegistryError::BadReference {
            reference: input.to_string(),
            reason: reason.to_string(),
        };
        let s = input;
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > MAX_REFERENCE_LEN {
            return Err(bad("longer than 1024 bytes"));
        }
        if s.chars()
            .any(|c| c.is_whitespace() || crate::text::is_unsafe(c))
        {
            return Err(bad(
                "contains spaces, line breaks, control or invisible characters",
            ));
        }
        if s.contains("://") {
            return Err(bad(
                "no scheme (docker://, https://): write HOST/REPOSITORY[:TAG][@sha256:<64 hex>]",
            ));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((_, d)) if d.contains('@') => return Err(bad("more than one '@'")),
            Some((r, d)) => {
                check_digest(d).map_err(|e| bad(&e))?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        if rest.is_empty() {
            return Err(bad("no repository before the '@'"));
        }
        // The tag is after the last ':' that no '/' follows (a ':' before a
        // '/' is the registry's port).
        let (name, tag) = match rest.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t.to_string())),
            _ => (rest, None),
        };
        if name.len() > 255 {
            return Err(bad("the name is longer than 255 characters"));
        }
        // A first component with '.', ':', upper case or "localhost" is a
        // registry host (distribution/reference's splitDockerDomain).
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                check_host(first).map_err(|e| bad(&e))?;
                (first.to_string(), path)
            }
            _ => ("docker.io".to_string(), name),
        };
        if repository.is_empty() {
            return Err(bad("no repository"));
        }
        for component in repository.split('/') {
            check_path_component(component).map_err(|e| bad(&e))?;
        }
        if let Some(t) = &tag {
            check_tag(t).map_err(|e| bad(&e))?;
        }
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    pub fn repo(&self) -> Repo {
        Repo {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
        }
    }

    /// What to ask the registry for: the digest when there is one.
    pub fn manifest_ref(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Longest reference accepted.
pub const MAX_REFERENCE_LEN: usize = 1024;

/// `host[:port]`: a DNS name (labels of letters, digits and inner '-'), an
/// IPv4 address or `[IPv6]`, then an optional decimal port.
fn check_host(domain: &str) -> Result<(), String> {
    let shown = crate::text::echo(domain);
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(format!("registry '{shown}' has an unclosed '['"));
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("registry '{shown}': '{v6}' is not an IPv6 address"));
        }
        match after {
            "" => (None, None),
            p => match p.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err(format!("registry '{shown}': junk after ']'")),
            },
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(host) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if host.is_empty() || !host.split('.').all(label_ok) {
            return Err(format!(
                "registry '{shown}' is not a host name: letters, digits, '-' and '.' (like registry.example.com:5000)"
            ));
        }
    }
    if let Some(port) = port
        && !(!port.is_empty()
            && port.len() <= 5
            && port.chars().all(|c| c.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| p <= 65535))
    {
        return Err(format!("registry '{shown}' has a bad port '{port}'"));
    }
    Ok(())
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or `-`+ (distribution/reference).
fn check_path_component(c: &str) -> Result<(), String> {
    let lowercase_alnum = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit();
    let msg = || {
        format!(
            "repository component '{}' must be lowercase letters and digits, joined by '.', '_', '__' or '-' (not at either end)",
            crate::text::echo(c)
        )
    };
    if c.is_empty() {
        return Err("empty repository component (a '//' or a '/' at either end)".into());
    }
    let bytes: Vec<char> = c.chars().collect();
    if !lowercase_alnum(bytes[0]) || !lowercase_alnum(bytes[bytes.len() - 1]) {
        return Err(msg());
    }
    let mut i = 0;
    while i < bytes.len() {
        if lowercase_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !lowercase_alnum(bytes[i]) {
            i += 1;
        }
        let sep: String = bytes[start..i].iter().collect();
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|ch| ch == '-');
        if !ok {
            return Err(msg());
        }
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(t: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ok = t.len() <= 128
        && t.chars().next().is_some_and(word)
        && t.chars().all(|c| word(c) || c == '.' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag '{}' must be 1–128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
            crate::text::echo(t)
        ))
    }
}

/// `sha256:<64 lowercase hex>`; other algorithms are refused (fail closed).
pub fn check_digest(d: &str) -> Result<(), String> {
    match d.split_once(':') {
        Some(("sha256", hex))
            if hex.len() == 64
                && hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) =>
        {
            Ok(())
        }
        Some(("sha256", _)) => Err(format!(
            "'{}' is not a sha256 digest (64 lowercase hex digits)",
            crate::text::echo(d)
        )),
        _ => Err(format!(
            "unsupported digest '{}': only sha256:<64 lowercase hex digits> is accepted",
            crate::text::echo(d)
        )),
    }
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An OCI content descriptor.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub artifact_type: Option<String>,
}

/// An image manifest (OCI or Docker v2): a config and layers.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// An image index / manifest list, and the referrers answer.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// A manifest as fetched: its media type, bytes and (verified) digest.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub media_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
}

impl Manifest {
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_MANIFEST_LIST
    }

    /// The image manifest, or a clear error when this is an index or not JSON.
    pub fn image(&self, what: &str) -> Result<ImageManifest, RegistryError> {
        if self.is_index() {
            return Err(RegistryError::WrongMediaType {
                what: what.to_string(),
                media_type: self.media_type.clone(),
                expected: "an image manifest".to_string(),
            });
        }
        serde_json::from_slice(&self.bytes).map_err(|e| RegistryError::Invalid {
            what: what.to_string(),
            detail: e.to_string(),
        })
    }
}

/// A reference resolved to a digest.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub digest: String,
    pub media_type: String,
    /// Set when the reference was a tag.
    pub tag_warning: Option<String>,
}

enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// A read-only client for OCI registries. Cheap to share (`Arc`); caches bearer
/// tokens per (host, scope) and which hosts want basic auth.
pub struct RegistryClient {
    http: reqwest::Client,
    config: RegistryConfig,
    /// (host, scope) → bearer token from the realm.
    tokens: Mutex<HashMap<(String, String), String>>,
    /// Hosts that answered a `Basic` challenge: send credentials up front.
    basic_hosts: Mutex<Vec<String>>,
}

impl RegistryClient {
    pub fn new(config: &RegistryConfig) -> Result<RegistryClient, RegistryError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("fleetdeck/", env!("CARGO_PKG_VERSION")))
            // Hops to blob storage are fine; reqwest drops Authorization across hosts.
            .redirect(reqwest::redirect::Policy::limited(5));
        if let Some(path) = &config.ca_file {
            // Bounded, regular file only, same check as `check-config`.
            let certs =
                crate::files::load_ca_bundle(path).map_err(|detail| RegistryError::CaFile {
                    path: crate::diag::echo_path(path),
                    detail,
                })?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| RegistryError::Client(e.to_string()))?;
        Ok(RegistryClient {
            http,
            config: config.clone(),
            tokens: Mutex::new(HashMap::new()),
            basic_hosts: Mutex::new(Vec::new()),
        })
    }

    /// The registry's API host: `docker.io` is served by `registry-1.docker.io`.
    fn api_host(registry: &str) -> &str {
        if registry == "docker.io" || registry == "index.docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        }
    }

    /// Where requests for `registry` go: its `[registry] mirrors` entry, or
    /// the registry itself. Auth, `insecure` and error messages use this host.
    pub fn host_of<'a>(&'a self, registry: &'a str) -> &'a str {
        self.config
            .mirrors
            .get(registry)
            .map_or(registry, String::as_str)
    }

    /// `" via HOST"` when `registry` is mirrored, for locations in reports.
    pub fn via(&self, registry: &str) -> String {
        match self.config.mirrors.get(registry) {
            Some(m) => format!(" via {m}"),
            None => String::new(),
        }
    }

    fn base_url(&self, registry: &str) -> String {
        let host = self.host_of(registry);
        let scheme = if self.is_insecure(host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", Self::api_host(host))
    }

    fn is_insecure(&self, host: &str) -> bool {
        self.config.insecure.iter().any(|h| h == host)
    }

    fn auth_for(&self, registry: &str) -> Option<&RegistryAuth> {
        self.config
            .auth
            .get(registry)
            .or_else(|| self.config.auth.get(Self::api_host(registry)))
    }

    /// Resolves a reference to a digest (a tag warns: tags move).
    pub async fn resolve(&self, reference: &Reference) -> Result<Resolved, RegistryError> {
        let m = self
            .manifest(&reference.repo(), reference.manifest_ref())
            .await?;
        let tag_warning = match (&reference.tag, &reference.digest) {
            (Some(tag), None) => Some(format!(
                "'{tag}' is a tag: it points at {} now but can be moved; pin {}@{}",
                m.digest,
                reference.repo(),
                m.digest
            )),
            _ => None,
        };
        Ok(Resolved {
            digest: m.digest,
            media_type: m.media_type,
            tag_warning,
        })
    }

    /// An image manifest or index by tag or digest; its digest is computed from
    /// the bytes (and checked against the digest asked for, or the registry's
    /// `Docker-Content-Digest`).
    pub async fn manifest(&self, repo: &Repo, reference: &str) -> Result<Manifest, RegistryError> {
        let what = format!("manifest '{repo}{}{reference}'", ref_sep(reference));
        if reference.starts_with("sha256:") {
            check_digest(reference).map_err(|e| RegistryError::Invalid {
                what: what.clone(),
                detail: e,
            })?;
        }
        let url = format!(
            "{}/v2/{}/manifests/{reference}",
            self.base_url(&repo.registry),
            repo.repository
        );
        let resp = self.get(repo, &url, Some(MANIFEST_ACCEPT), &what).await?;
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let content_type = media_type_of(resp.headers());
        let bytes = read_limited(
            resp,
            MAX_MANIFEST_BYTES,
            &what,
            self.host_of(&repo.registry),
            self,
        )
        .await?;
        let digest = sha256_digest(&bytes);
        let expected = if reference.starts_with("sha256:") {
            Some(reference.to_string())
        } else {
            header_digest.filter(|d| d.starts_with("sha256:"))
        };
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(RegistryError::DigestMismatch {
                what,
                expected,
                actual: digest,
            });
        }
        // The body's own mediaType wins over a generic Content-Type.
        let body_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            });
        let media_type = body_type.or(content_type).unwrap_or_default();
        let known = [
            OCI_MANIFEST,
            OCI_INDEX,
            DOCKER_MANIFEST,
            DOCKER_MANIFEST_LIST,
        ];
        if !known.contains(&media_type.as_str()) {
            return Err(RegistryError::WrongMediaType {
                what,
                media_type: if media_type.is_empty() {
                    "(none)".to_string()
                } else {
                    media_type
                },
                expected: "an OCI or Docker image manifest or index".to_string(),
            });
        }
        Ok(Manifest {
            media_type,
            digest,
            bytes,
        })
    }

    /// A blob, streamed: stops as soon as it passes `limit` bytes, and checks
    /// its sha256 against `digest`.
    pub async fn blob(
        &self,
        repo: &Repo,
        digest: &str,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let what = format!("blob {repo}@{digest}");
        check_digest(digest).map_err(|e| RegistryError::Invalid {
            what: what.clone(),
            detail: e,
        })?;
        let url = format!(
            "{}/v2/{}/blobs/{digest}",
            self.base_url(&repo.registry),
            repo.repository
        );
        let resp = self.get(repo, &url, None, &what).await?;
        let bytes = read_limited(resp, limit, &what, self.host_of(&repo.registry), self).await?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                what,
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// The repository's tags (first page; registries page at their own limit).
    pub async fn tags(&self, repo: &Repo) -> Result<Vec<String>, RegistryError> {
        let what = format!("tag list of '{repo}'");
        let url = format!(
            "{}/v2/{}/tags/list",
            self.base_url(&repo.registry),
            repo.repository
        );
        let resp = self
            .get(repo, &url, Some("application/json"), &what)
            .await?;
        let bytes = read_limited(
            resp,
            MAX_TAG_LIST_BYTES,
            &what,
            self.host_of(&repo.registry),
            self,
        )
        .await?;
        #[derive(Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let list: TagList = serde_json::from_slice(&bytes).map_err(|e| RegistryError::Invalid {
            what,
            detail: e.to_string(),
        })?;
        Ok(list.tags.unwrap_or_default())
    }

    /// OCI 1.1 referrers of a manifest; `None` when the registry does not offer
    /// the API (404).
    pub async fn referrers(
        &self,
        repo: &Repo,
        digest: &str,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        let what = format!("referrers of {repo}@{digest}");
        check_digest(digest).map_err(|e| RegistryError::Invalid {
            what: what.clone(),
            detail: e,
        })?;
        let url = format!(
            "{}/v2/{}/referrers/{digest}",
            self.base_url(&repo.registry),
            repo.repository
        );
        let resp = match self.get(repo, &url, Some(OCI_INDEX), &what).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let bytes = read_limited(
            resp,
            MAX_MANIFEST_BYTES,
            &what,
            self.host_of(&repo.registry),
            self,
        )
        .await?;
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Invalid {
                what,
                detail: e.to_string(),
            })?;
        Ok(Some(index.manifests))
    }

    /// GET with auth: known token or basic first, then the server's challenge
    /// once. Non-success statuses become errors naming `what`.
    async fn get(
        &self,
        repo: &Repo,
        url: &str,
        accept: Option<&str>,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        // A mirror is the server talked to: its auth, its tokens, its name in errors.
        let host = self.host_of(&repo.registry);
        let scope = format!("repository:{}:pull", repo.repository);
        let auth = self.cached_auth(host, &scope);
        let resp = self.send(host, url, accept, auth.as_deref(), what).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return check_status(resp, host, what);
        }
        let challenge = parse_challenge(resp.headers());
        let creds = self.auth_for(host);
        let header = match challenge {
            Some(Challenge::Basic) => {
                let Some(basic) = creds.and_then(basic_header) else {
                    return Err(RegistryError::NoCredentials {
                        host: host.to_string(),
                    });
                };
                if auth.as_deref() == Some(basic.as_str()) {
                    return Err(RegistryError::BadCredentials {
                        host: host.to_string(),
                        detail: String::new(),
                    });
                }
                if let Ok(mut hosts) = self.basic_hosts.lock()
                    && !hosts.iter().any(|h| h == host)
                {
                    hosts.push(host.to_string());
                }
                basic
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope: challenge_scope,
            }) => {
                let scope_asked = challenge_scope.unwrap_or_else(|| scope.clone());
                let token = self
                    .fetch_token(host, &realm, service.as_deref(), &scope_asked, creds)
                    .await?;
                let header = format!("Bearer {token}");
                if auth.as_deref() == Some(header.as_str()) {
                    return Err(RegistryError::BadCredentials {
                        host: host.to_string(),
                        detail: ": the token was refused".to_string(),
                    });
                }
                if let Ok(mut tokens) = self.tokens.lock() {
                    tokens.insert((host.to_string(), scope.clone()), token);
                }
                header
            }
            None => {
                return Err(match creds {
                    Some(_) => RegistryError::BadCredentials {
                        host: host.to_string(),
                        detail: String::new(),
                    },
                    None => RegistryError::NoCredentials {
                        host: host.to_string(),
                    },
                });
            }
        };
        let resp = self.send(host, url, accept, Some(&header), what).await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(match creds {
                Some(_) => RegistryError::BadCredentials {
                    host: host.to_string(),
                    detail: String::new(),
                },
                None => RegistryError::NoCredentials {
                    host: host.to_string(),
                },
            });
        }
        check_status(resp, host, what)
    }

    fn cached_auth(&self, host: &str, scope: &str) -> Option<String> {
        if let Some(t) = self
            .tokens
            .lock()
            .ok()
            .and_then(|t| t.get(&(host.to_string(), scope.to_string())).cloned())
        {
            return Some(format!("Bearer {t}"));
        }
        let creds = self.auth_for(host)?;
        if let Some(token) = &creds.token {
            return Some(format!("Bearer {token}"));
        }
        let basic_known = self
            .basic_hosts
            .lock()
            .map(|h| h.iter().any(|x| x == host))
            .unwrap_or(false);
        if basic_known {
            basic_header(creds)
        } else {
            None
        }
    }

    async fn send(
        &self,
        host: &str,
        url: &str,
        accept: Option<&str>,
        auth: Option<&str>,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut req = self.http.get(url);
        if let Some(a) = accept {
            req = req.header(ACCEPT, a);
        }
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        req.send()
            .await
            .map_err(|e| self.transport_error(host, what, &e))
    }

    /// Asks the challenge's realm for a token (with basic credentials when
    /// configured, anonymously otherwise).
    async fn fetch_token(
        &self,
        host: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        creds: Option<&RegistryAuth>,
    ) -> Result<String, RegistryError> {
        let what = format!("token for '{scope}' from {realm}");
        let mut url = reqwest::Url::parse(realm).map_err(|e| RegistryError::Invalid {
            what: format!("token realm '{realm}' of registry '{host}'"),
            detail: e.to_string(),
        })?;
        let realm_host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => String::new(),
        };
        // Credentials never travel in clear text unless that host is listed as insecure.
        let secure =
            url.scheme() == "https" || (url.scheme() == "http" && self.is_insecure(&realm_host));
        if !secure {
            return Err(RegistryError::Invalid {
                what: format!("token realm of registry '{host}'"),
                detail: format!(
                    "'{realm}' is not https and '{realm_host}' is not in [registry] insecure"
                ),
            });
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        let mut req = self.http.get(url);
        if let Some(basic) = creds.and_then(basic_header) {
            req = req.header(AUTHORIZATION, basic);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(&realm_host, &what, &e))?;
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(match creds {
                Some(_) => RegistryError::BadCredentials {
                    host: host.to_string(),
                    detail: format!(": the token service refused them ({})", resp.status()),
                },
                None => RegistryError::NoCredentials {
                    host: host.to_string(),
                },
            });
        }
        let resp = check_status(resp, &realm_host, &what)?;
        let bytes = read_limited(resp, MAX_TOKEN_BYTES, &what, &realm_host, self).await?;
        #[derive(Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Invalid {
                what: what.clone(),
                detail: e.to_string(),
            })?;
        answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or(RegistryError::Invalid {
                what,
                detail: "no usable 'token' in the answer".to_string(),
            })
    }

    fn transport_error(&self, host: &str, what: &str, e: &reqwest::Error) -> RegistryError {
        if e.is_timeout() {
            return RegistryError::Timeout {
                host: host.to_string(),
                what: what.to_string(),
                after: self.config.timeout,
            };
        }
        let detail = error_chain(e);
        let lower = detail.to_ascii_lowercase();
        // rustls' answer to "HTTP/1.1 400 …" where a TLS record was expected.
        if !self.is_insecure(host) && lower.contains("invalidcontenttype") {
            return RegistryError::PlainHttp {
                host: host.to_string(),
            };
        }
        if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
            RegistryError::Tls {
                host: host.to_string(),
                detail,
            }
        } else {
            RegistryError::Connect {
                host: host.to_string(),
                detail,
            }
        }
    }
}

fn ref_sep(reference: &str) -> &'static str {
    if reference.starts_with("sha256:") {
        "@"
    } else {
        ":"
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        src = s.source();
    }
    out
}

fn basic_header(creds: &RegistryAuth) -> Option<String> {
    let user = creds.username.as_deref()?;
    let pass = creds.password.as_deref().unwrap_or("");
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    Some(format!("Basic {encoded}"))
}

fn media_type_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .filter(|v| !v.is_empty())
}

fn check_status(
    resp: reqwest::Response,
    host: &str,
    what: &str,
) -> Result<reqwest::Response, RegistryError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    Err(match status {
        StatusCode::NOT_FOUND => RegistryError::NotFound {
            host: host.to_string(),
            what: what.to_string(),
        },
        StatusCode::FORBIDDEN => RegistryError::Denied {
            host: host.to_string(),
            what: what.to_string(),
        },
        StatusCode::UNAUTHORIZED => RegistryError::NoCredentials {
            host: host.to_string(),
        },
        s => RegistryError::Status {
            host: host.to_string(),
            what: what.to_string(),
            status: s.as_u16(),
        },
    })
}

/// Reads a body, refusing it as soon as it passes `limit` (by Content-Length up
/// front, or while streaming).
async fn read_limited(
    resp: reqwest::Response,
    limit: u64,
    what: &str,
    host: &str,
    client: &RegistryClient,
) -> Result<Vec<u8>, RegistryError> {
    let too_large = || RegistryError::TooLarge {
        what: what.to_string(),
        limit,
    };
    let declared = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let cap = declared.unwrap_or(0).min(limit).min(1 << 20) as usize;
    let mut out = Vec::with_capacity(cap);
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| client.transport_error(host, what, &e))?;
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `WWW-Authenticate: Basic realm="…"` or `Bearer realm="…",service="…",scope="…"`.
fn parse_challenge(headers: &HeaderMap) -> Option<Challenge> {
    let value = headers
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| {
            let l = v.trim_start().to_ascii_lowercase();
            l.starts_with("bearer") || l.starts_with("basic")
        })?;
    let value = value.trim();
    let (scheme, params) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_auth_params(params);
    Some(Challenge::Bearer {
        realm: params.get("realm")?.clone(),
        service: params.get("service").cloned(),
        scope: params.get("scope").cloned(),
    })
}

/// `k="v", k2=v2` (quoted values may contain commas).
fn parse_auth_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_normalise_like_docker() {
        let r = Reference::parse("nginx").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("docker.io", "library/nginx", Some("latest"))
        );
        let r = Reference::parse("127.0.0.1:5000/fleet/app:v1.2").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "fleet/app");
        assert_eq!(r.tag.as_deref(), Some("v1.2"));
        let r = Reference::parse(&format!("ghcr.io/org/app@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.manifest_ref(), D);
        let r = Reference::parse(&format!("localhost/app:v1@{D}")).unwrap();
        assert_eq!(r.manifest_ref(), D);
        assert_eq!(r.to_string(), format!("localhost/app:v1@{D}"));
        assert_eq!(
            RegistryClient::api_host("docker.io"),
            "registry-1.docker.io"
        );
    }

    #[test]
    fn mirrors_change_where_requests_go_not_the_reference() {
        let mut cfg = RegistryConfig::default();
        cfg.mirrors
            .insert("registry.local".into(), "127.0.0.1:5000".into());
        cfg.mirrors
            .insert("docker.io".into(), "mirror.example:443".into());
        let c = RegistryClient::new(&cfg).expect("client");
        // Not listed as insecure: a mirror is still reached over HTTPS.
        assert_eq!(c.base_url("registry.local"), "https://127.0.0.1:5000");
        assert_eq!(c.base_url("docker.io"), "https://mirror.example:443");
        assert_eq!(c.base_url("ghcr.io"), "https://ghcr.io");
        assert_eq!(c.via("registry.local"), " via 127.0.0.1:5000");
        assert_eq!(c.via("ghcr.io"), "");
        cfg.insecure = vec!["127.0.0.1:5000".into()];
        let c = RegistryClient::new(&cfg).expect("client");
        assert_eq!(c.base_url("registry.local"), "http://127.0.0.1:5000");
        // The registry as written being insecure does not make its mirror so.
        cfg.insecure = vec!["registry.local".into()];
        let c = RegistryClient::new(&cfg).expect("client");
        assert_eq!(c.base_url("registry.local"), "https://127.0.0.1:5000");
    }

    #[test]
    fn bad_references_say_why() {
        for bad in [
            "",
            "Upper/Case",
            "host:5000/",
            "a b",
            "app@sha256:abc",
            "app@md5:00",
        ] {
            let e = Reference::parse(bad).unwrap_err().to_string();
            assert!(e.contains("is not an image reference"), "{bad}: {e}");
        }
    }

    /// The distribution/reference grammar, good and bad (issue 9, case 7).
    #[test]
    fn reference_grammar_table() {
        let good = [
            "nginx".to_string(),
            "library/nginx:1.25".into(),
            "registry.local/vision".into(),
            format!("registry.local/vision@{D}"),
            format!("registry.local:5000/fleet/vision:1.5.0@{D}"),
            format!("r.local/a.b/c_d/e__f/g---h@{D}"),
            format!("[::1]:5000/app@{D}"),
            format!("10.0.0.1/app:v_1.2-rc.3@{D}"),
            format!("localhost:5000/app@{D}"),
            format!("Registry.Example.COM/app@{D}"),
            format!("x:{}", "t".repeat(128)),
        ];
        for g in &good {
            assert!(
                Reference::parse(g).is_ok(),
                "{g}: {:?}",
                Reference::parse(g)
            );
        }
        let bad = [
            String::new(),
            format!("r.local/x@@{D}"),
            format!("r.local/x@{D}@{D}"),
            format!("r.local/x @{D}"),
            format!(" r.local/x@{D}"),
            format!("r.local/x@{D}\n"),
            format!("r.local/x\nother@{D}"),
            format!("r.local/x\u{1b}]2;PWNED\u{7}@{D}"),
            format!("docker://r.local/x@{D}"),
            format!("https://r.local/x@{D}"),
            format!("r.local/X@{D}"),
            format!("r.local/x-@{D}"),
            format!("r.local/.x@{D}"),
            format!("r.local/a...b@{D}"),
            format!("r.local/a___b@{D}"),
            format!("r.local//x@{D}"),
            format!("r.local/x/@{D}"),
            format!("r.lo_cal/x@{D}"),
            format!("-r.local/x@{D}"),
            format!("r.local:99999/x@{D}"),
            format!("r.local:/x@{D}"),
            format!("[::zz]:5000/x@{D}"),
            format!("r.local/x:.tag@{D}"),
            format!("r.local/x:{}@{D}", "t".repeat(129)),
            "r.local/x@sha256:abc".into(),
            format!("r.local/x@sha256:{}", "AB".repeat(32)),
            format!("r.local/x@sha512:{}", "ab".repeat(64)),
            format!("r.local/x\u{200b}@{D}"),
            format!("r.local/x\u{202e}@{D}"),
            format!("{}/x@{D}", "a".repeat(1100)),
            format!("r.local/{}@{D}", "a".repeat(300)),
        ];
        for b in &bad {
            let e = Reference::parse(b).expect_err(b).to_string();
            assert!(e.contains("is not an image reference"), "{b:?}: {e}");
            assert!(
                !e.chars().any(crate::text::is_unsafe),
                "the error echoes the input safely: {e:?}"
            );
            assert!(e.chars().count() < 600, "the echo is cut: {}", e.len());
        }
    }

    #[test]
    fn challenges_parse() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::WWW_AUTHENTICATE,
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
                .parse()
                .unwrap(),
        );
        match parse_challenge(&h) {
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                assert_eq!(realm, "https://auth.example/token");
                assert_eq!(service.as_deref(), Some("registry.example"));
                assert_eq!(scope.as_deref(), Some("repository:a/b:pull,push"));
            }
            _ => panic!("not a bearer challenge"),
        }
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::WWW_AUTHENTICATE,
            r#"Basic realm="Registry Realm""#.parse().unwrap(),
        );
        assert!(matches!(parse_challenge(&h), Some(Challenge::Basic)));
    }
}
