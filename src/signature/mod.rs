//! Supply-chain verification of OCI images: cosign signatures, DSSE/in-toto
//! attestations and SBOMs, read from the registry and checked offline against
//! the trust config (`[signing]`).
//!
//! - [`registry`] the OCI distribution API client (auth, limits, digests).
//! - [`cosign`]   `.sig` discovery and key-based signature checks.
//! - [`keyless`]  certificate chain, identity and Rekor bundle checks.
//! - [`attest`]   `.att` DSSE envelopes and `.sbom` SPDX / CycloneDX summaries.
//! - [`report`]   the result types every consumer reads.
//!
//! [`verify`] returns `Err` only when the image itself cannot be read; every
//! problem with its signatures is a reason in the [`Report`], and the verdict
//! fails closed.

pub mod attest;
pub mod cosign;
pub mod keyless;
pub mod options;
pub mod policy;
pub mod registry;
pub mod report;

pub use registry::{Reference, RegistryClient, RegistryError};
pub use report::{
    AttestationReport, CheckLine, KeylessInput, RekorInfo, Report, SbomSummary, SignatureReport,
    Signer,
};

use base64::Engine as _;
use options::{Identity, SigningConfig};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use registry::{Descriptor, ImageManifest, Repo};
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Why verification could not even start: the trust config or the image.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("cannot read {what} '{path}': {detail}")]
    Read {
        what: &'static str,
        path: String,
        detail: String,
    },
    #[error("{what} '{path}' is not valid: {detail}")]
    BadFile {
        what: &'static str,
        path: String,
        detail: String,
    },
    #[error("[signing] identities[{index}]: {detail}")]
    BadIdentity { index: usize, detail: String },
}

/// The loaded `[signing]` config: what a signature must chain to.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// (file, key, `SHA256:` fingerprint) of each trusted P-256 public key.
    pub keys: Vec<(PathBuf, VerifyingKey, String)>,
    /// Accepted keyless identities (regexes are checked at load).
    pub identities: Vec<Identity>,
    /// DER CA certificates keyless certificates must chain to.
    pub roots: Vec<Vec<u8>>,
    /// Rekor log keys whose signed entry timestamps are accepted.
    pub rekor_keys: Vec<VerifyingKey>,
    /// A signature without a verified Rekor bundle fails.
    pub require_rekor: bool,
}

impl Trust {
    /// Reads every key and root named in the config; an unreadable or invalid
    /// file is an error naming it (a typo must not silently weaken trust).
    pub fn load(config: &SigningConfig) -> Result<Trust, SignatureError> {
        let mut trust = Trust {
            identities: config.identities.clone(),
            require_rekor: config.require_rekor,
            ..Trust::default()
        };
        for path in &config.keys {
            trust.add_key_file(path)?;
        }
        for (index, id) in config.identities.iter().enumerate() {
            for re in [&id.subject_regex, &id.issuer_regex].into_iter().flatten() {
                options::check_regex(re).map_err(|e| SignatureError::BadIdentity {
                    index,
                    detail: format!("regex '{}': {e}", crate::diag::echo(re)),
                })?;
            }
            if id.subject.is_none() && id.subject_regex.is_none() {
                return Err(SignatureError::BadIdentity {
                    index,
                    detail: "needs subject or subject_regex".to_string(),
                });
            }
        }
        for path in &config.roots {
            trust.roots.extend(load_root_certs(path)?);
        }
        for path in &config.rekor_keys {
            trust.rekor_keys.push(load_public_key(path, "Rekor key")?);
        }
        Ok(trust)
    }

    /// Adds one trusted public key (`[signing] keys`, `--key FILE`).
    pub fn add_key_file(&mut self, path: &Path) -> Result<(), SignatureError> {
        let key = load_public_key(path, "signing key")?;
        let fingerprint = key_fingerprint(&key);
        if !self.keys.iter().any(|(_, _, f)| *f == fingerprint) {
            self.keys.push((path.to_path_buf(), key, fingerprint));
        }
        Ok(())
    }

    /// Nothing is trusted: nothing can verify.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.identities.is_empty()
    }

    /// Identifies this trust config: a cached verdict is reused only under
    /// the same keys, identities, roots, Rekor keys and policy.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        let mut keys: Vec<&str> = self.keys.iter().map(|(_, _, f)| f.as_str()).collect();
        keys.sort_unstable();
        for k in keys {
            h.update(b"key\0");
            h.update(k.as_bytes());
        }
        for id in &self.identities {
            h.update(b"id\0");
            h.update(format!("{id:?}").as_bytes());
        }
        for r in &self.roots {
            h.update(b"root\0");
            h.update(Sha256::digest(r));
        }
        for k in &self.rekor_keys {
            h.update(b"rekor\0");
            h.update(key_fingerprint(k).as_bytes());
        }
        h.update([u8::from(self.require_rekor)]);
        hex::encode(h.finalize())
    }
}

/// `SHA256:<base64, no padding>` of the key's SubjectPublicKeyInfo DER (the
/// form `ssh-keygen -l` uses).
pub fn key_fingerprint(key: &VerifyingKey) -> String {
    let der = key
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_else(|_| key.to_sec1_point(false).as_bytes().to_vec());
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(der))
    )
}

/// A PEM `PUBLIC KEY` (ECDSA P-256) file.
pub fn load_public_key(path: &Path, what: &'static str) -> Result<VerifyingKey, SignatureError> {
    let pem = read_text(path, what)?;
    VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| SignatureError::BadFile {
        what,
        path: crate::diag::echo_path(path),
        detail: format!("not a PEM ECDSA P-256 public key ({e})"),
    })
}

/// The DER certificates of a PEM trust-root file (`[signing] roots`).
pub fn load_root_certs(path: &Path) -> Result<Vec<Vec<u8>>, SignatureError> {
    let pem = read_text(path, "trust root")?;
    let certs = pem_blocks(&pem, "CERTIFICATE");
    if certs.is_empty() {
        return Err(SignatureError::BadFile {
            what: "trust root",
            path: crate::diag::echo_path(path),
            detail: "no BEGIN CERTIFICATE block".to_string(),
        });
    }
    Ok(certs)
}

/// A key or certificate file the operator named: a regular file under
/// [`crate::files::cap::KEY`] (`/dev/zero` fails at once, naming the file).
fn read_text(path: &Path, what: &'static str) -> Result<String, SignatureError> {
    crate::files::read_text_capped(path, crate::files::cap::KEY).map_err(|e| SignatureError::Read {
        what,
        path: crate::diag::echo_path(path),
        detail: crate::files::read_reason(&e),
    })
}

/// The DER contents of every `-----BEGIN <label>-----` block.
pub fn pem_blocks(pem: &str, label: &str) -> Vec<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(&end) else { break };
        let b64: String = after[..stop].split_whitespace().collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(der);
        }
        rest = &after[stop + end.len()..];
    }
    out
}

/// Base64 as producers write it (standard or URL-safe, padded or not).
pub(crate) fn decode_b64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

/// The first trusted key that verifies `sig` over `msg` (ECDSA P-256, SHA-256):
/// (file, fingerprint).
pub(crate) fn verify_with_keys(
    trust: &Trust,
    msg: &[u8],
    sig: &Signature,
) -> Option<(String, String)> {
    trust
        .keys
        .iter()
        .find(|(_, key, _)| key.verify(msg, sig).is_ok())
        .map(|(path, _, fp)| (path.display().to_string(), fp.clone()))
}

/// Signature, attestation or SBOM manifests attached to one image, found
/// through the cosign tag (`sha256-<hex>.<suffix>`) and OCI 1.1 referrers.
pub(crate) struct Attached {
    /// `registry/repo:sha256-<hex>.<suffix>`: where cosign puts them.
    tag_location: String,
    /// (where, manifest)
    manifests: Vec<(String, ImageManifest)>,
    /// Reading failed for a reason other than "absent".
    problems: Vec<String>,
}

/// Referrer manifests read per kind at most.
const MAX_REFERRERS: usize = 16;

impl Attached {
    async fn discover(
        client: &RegistryClient,
        repo: &Repo,
        digest: &str,
        suffix: &str,
        referrers: Option<&[Descriptor]>,
        wanted: impl Fn(&Descriptor) -> bool,
    ) -> Attached {
        let tag = format!("{}.{suffix}", digest.replacen(':', "-", 1));
        let via = client.via(&repo.registry);
        let tag_location = format!("{repo}:{tag}{via}");
        let mut found = Attached {
            tag_location: tag_location.clone(),
            manifests: Vec::new(),
            problems: Vec::new(),
        };
        let mut seen = HashSet::new();
        match client.manifest(repo, &tag).await {
            Ok(m) => match m.image(&format!("manifest '{tag_location}'")) {
                Ok(image) => {
                    seen.insert(m.digest.clone());
                    found.manifests.push((tag_location.clone(), image));
                }
                Err(e) => found.problems.push(e.to_string()),
            },
            Err(e) if e.is_not_found() => {}
            Err(e) => found
                .problems
                .push(format!("cannot read {tag_location}: {e}")),
        }
        let candidates = referrers
            .unwrap_or_default()
            .iter()
            .filter(|d| wanted(d) && !seen.contains(&d.digest))
            .take(MAX_REFERRERS);
        for d in candidates {
            let place = format!("{repo}@{}{via} (referrer)", d.digest);
            match client.manifest(repo, &d.digest).await {
                Ok(m) => match m.image(&format!("manifest '{place}'")) {
                    Ok(image) => found.manifests.push((place, image)),
                    Err(e) => found.problems.push(e.to_string()),
                },
                Err(e) => found.problems.push(format!("cannot read {place}: {e}")),
            }
        }
        found
    }

    /// (location, layer) of the layers `keep` accepts, at most `max`.
    fn layers(&self, keep: impl Fn(&Descriptor) -> bool, max: usize) -> Vec<(String, Descriptor)> {
        self.manifests
            .iter()
            .flat_map(|(place, m)| {
                m.layers
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| keep(l))
                    .map(move |(i, l)| (format!("{place} layer {i} ({})", l.digest), l.clone()))
            })
            .take(max)
            .collect()
    }
}

/// Everything about one image reference: resolves it (a tag warns), then
/// finds and checks its signatures, attestations and SBOMs.
///
/// `Err` only when the image itself cannot be resolved or read.
pub async fn verify(
    reference: &str,
    trust: &Trust,
    client: &RegistryClient,
    now: SystemTime,
) -> Result<Report, SignatureError> {
    let parsed = Reference::parse(reference)?;
    let resolved = client.resolve(&parsed).await?;
    Ok(verify_digest(
        reference,
        &parsed.repo(),
        &resolved.digest,
        resolved.tag_warning,
        trust,
        client,
        now,
    )
    .await)
}

async fn verify_digest(
    reference: &str,
    repo: &Repo,
    digest: &str,
    tag_warning: Option<String>,
    trust: &Trust,
    client: &RegistryClient,
    now: SystemTime,
) -> Report {
    // Referrers are an extra source; a registry without them (404) or with a
    // broken endpoint still has cosign's tags, so errors here change nothing.
    let referrers = client.referrers(repo, digest).await.ok().flatten();
    let refs = referrers.as_deref();
    let ((signatures, sig_reasons), (attestations, att_sboms, att_reasons), (sboms, sbom_reasons)) =
        futures_util::future::join3(
            cosign::signatures(client, repo, digest, refs, trust, now),
            attest::attestations(client, repo, digest, refs, trust, now),
            attest::attached_sboms(client, repo, digest, refs),
        )
        .await;

    let mut reasons = Vec::new();
    if trust.is_empty() {
        reasons.push(
            "no trusted keys or identities are configured ([signing] keys, identities): nothing can verify"
                .to_string(),
        );
    }
    reasons.extend(sig_reasons);
    for s in signatures.iter().filter(|s| !s.verified) {
        if let Some(c) = s.checks.iter().find(|c| !c.ok) {
            reasons.push(format!("{}: {}", s.location, c.reason));
        }
    }
    for a in attestations.iter().filter(|a| !a.verified) {
        if let Some(c) = a.checks.iter().find(|c| !c.ok) {
            reasons.push(format!("attestation {}: {}", a.location, c.reason));
        }
    }
    reasons.extend(att_reasons);
    reasons.extend(sbom_reasons);
    let verified = signatures.iter().any(|s| s.verified);
    let mut all_sboms = sboms;
    all_sboms.extend(att_sboms);
    Report {
        reference: reference.to_string(),
        digest: digest.to_string(),
        tag_warning,
        signatures,
        attestations,
        sboms: all_sboms,
        verified,
        reasons,
    }
}

/// Verdicts by (digest, trust fingerprint), so a refresh does not re-verify.
///
/// A verified report is kept until evicted: the digest's content cannot
/// change, and neither can the trust it was checked under. An unverified one
/// is kept for `unverified_ttl` only — someone may sign the release, or the
/// registry may have been briefly unreachable.
pub struct VerifyCache {
    entries: Mutex<HashMap<(String, String), CacheEntry>>,
    unverified_ttl: Duration,
    capacity: usize,
}

struct CacheEntry {
    report: Arc<Report>,
    at: Instant,
}

impl Default for VerifyCache {
    fn default() -> Self {
        VerifyCache::new(Duration::from_secs(60), 1024)
    }
}

impl VerifyCache {
    pub fn new(unverified_ttl: Duration, capacity: usize) -> VerifyCache {
        VerifyCache {
            entries: Mutex::new(HashMap::new()),
            unverified_ttl,
            capacity: capacity.max(1),
        }
    }

    /// [`verify`], reusing a cached verdict. A digest reference costs no
    /// request on a hit; a tag costs one (the tag may have moved).
    pub async fn verify(
        &self,
        reference: &str,
        trust: &Trust,
        client: &RegistryClient,
        now: SystemTime,
    ) -> Result<Arc<Report>, SignatureError> {
        let parsed = Reference::parse(reference)?;
        let trust_fp = trust.fingerprint();
        let (digest, tag_warning) = match &parsed.digest {
            Some(d) => (d.clone(), None),
            None => {
                let r = client.resolve(&parsed).await?;
                (r.digest, r.tag_warning)
            }
        };
        let key = (digest.clone(), trust_fp);
        if let Some(hit) = self.get(&key) {
            if hit.reference == reference && hit.tag_warning == tag_warning {
                return Ok(hit);
            }
            let mut report = (*hit).clone();
            report.reference = reference.to_string();
            report.tag_warning = tag_warning;
            return Ok(Arc::new(report));
        }
        if parsed.digest.is_some() {
            // Not cached yet: the image must exist (and match its digest).
            client.resolve(&parsed).await?;
        }
        let report = Arc::new(
            verify_digest(
                reference,
                &parsed.repo(),
                &digest,
                tag_warning,
                trust,
                client,
                now,
            )
            .await,
        );
        self.put(key, Arc::clone(&report));
        Ok(report)
    }

    fn get(&self, key: &(String, String)) -> Option<Arc<Report>> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(key)?;
        let fresh = e.report.verified || e.at.elapsed() < self.unverified_ttl;
        fresh.then(|| Arc::clone(&e.report))
    }

    fn put(&self, key: (String, String), report: Arc<Report>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.at)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(
            key,
            CacheEntry {
                report,
                at: Instant::now(),
            },
        );
    }

    /// Number of cached verdicts.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything (e.g. after the trust config was edited).
    pub fn clear(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.clear();
        }
    }
}

/// The report for `fleetdeck verify`, one fact per line. Text from the
/// registry is sanitised.
pub fn report_text(report: &Report) -> String {
    use crate::text::sanitize;
    let mut out = String::new();
    let _ = writeln!(out, "{} → {}", sanitize(&report.reference), report.digest);
    if let Some(w) = &report.tag_warning {
        let _ = writeln!(out, "  ⚠ {}", sanitize(w));
    }
    let verified = report.signatures.iter().filter(|s| s.verified).count();
    let _ = writeln!(
        out,
        "\nSignatures: {} found, {verified} verified",
        report.signatures.len()
    );
    for s in &report.signatures {
        let _ = writeln!(out, "  {} {}", mark(s.verified), sanitize(&s.location));
        write_checks(&mut out, &s.checks);
        let signer = match &s.signer {
            Signer::Key {
                fingerprint,
                key_file,
            } => match key_file {
                Some(f) => format!("key {fingerprint} ({})", sanitize(f)),
                None => format!("key {fingerprint}"),
            },
            Signer::Certificate {
                subject,
                issuer,
                not_before,
                not_after,
            } => format!(
                "certificate {} issued by {} (valid {} – {})",
                sanitize(subject),
                sanitize(issuer),
                sanitize(not_before),
                sanitize(not_after)
            ),
            Signer::Unknown => "unknown".to_string(),
        };
        let _ = writeln!(out, "      signer: {signer}");
        if let Some(r) = &s.rekor {
            let when = crate::format::utc(
                SystemTime::UNIX_EPOCH + Duration::from_secs(r.integrated_time.max(0) as u64),
            );
            let _ = writeln!(
                out,
                "      rekor: log index {}, integrated {when}, entry timestamp {}, log id {}",
                r.log_index,
                if r.set_verified {
                    "verified"
                } else {
                    "NOT verified"
                },
                sanitize(&r.log_id)
            );
        }
        for (k, v) in &s.annotations {
            let _ = writeln!(
                out,
                "      {} = {}",
                crate::text::sanitize_max(k, 64),
                crate::text::sanitize_max(v, 72)
            );
        }
    }
    if !report.attestations.is_empty() {
        let _ = writeln!(out, "\nAttestations: {}", report.attestations.len());
        for a in &report.attestations {
            let _ = writeln!(
                out,
                "  {} {} at {}",
                mark(a.verified),
                sanitize(if a.predicate_type.is_empty() {
                    "(unknown predicate)"
                } else {
                    &a.predicate_type
                }),
                sanitize(&a.location)
            );
            write_checks(&mut out, &a.checks);
        }
    }
    if !report.sboms.is_empty() {
        let _ = writeln!(out, "\nSBOMs: {}", report.sboms.len());
        for s in &report.sboms {
            let _ = writeln!(
                out,
                "  {}, {} components{} at {}",
                sanitize(&s.format),
                s.components,
                s.tool
                    .as_ref()
                    .map(|t| format!(", tool {}", sanitize(t)))
                    .unwrap_or_default(),
                sanitize(&s.location)
            );
        }
    }
    let _ = writeln!(
        out,
        "\nVerdict: {}",
        if report.verified {
            "VERIFIED (at least one signature verified with the trust config)"
        } else {
            "NOT VERIFIED"
        }
    );
    for r in &report.reasons {
        let _ = writeln!(out, "  - {}", sanitize(r));
    }
    out
}

fn mark(ok: bool) -> &'static str {
    if ok { "✔" } else { "✖" }
}

fn write_checks(out: &mut String, checks: &[CheckLine]) {
    let width = checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for c in checks {
        let _ = writeln!(
            out,
            "      {} {:width$}  {}",
            mark(c.ok),
            crate::text::sanitize(&c.name),
            crate::text::sanitize(&c.reason)
        );
    }
}
