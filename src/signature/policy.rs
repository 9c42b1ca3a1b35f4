//! The release policy: a rollout's new image — and its model, when the model
//! is an OCI artifact — must verify before a wave is promoted (or the canary
//! started). Shared by `fleetdeck rollout promote`, `fleetdeck gate` and the
//! TUI, so all three say the same thing for the same release.
//!
//! Verdicts are cached by (digest, trust fingerprint) in a [`VerifyCache`]: a
//! refresh of the console does not re-verify a release it already checked.

use super::options::{RegistryConfig, SigningConfig};
use super::{Reference, RegistryClient, Report, SignatureError, Trust, VerifyCache};
use crate::rollout::action::Check;
use crate::rollout::plan::{DigestRef, ReleaseSpec};
use std::sync::Arc;
use std::time::SystemTime;

/// Which part of a release an artifact is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Image,
    Model,
}

impl Part {
    pub fn key(self) -> &'static str {
        match self {
            Part::Image => "image",
            Part::Model => "model",
        }
    }
}

/// The verification of one artifact of a release.
#[derive(Clone, Debug)]
pub struct ArtifactVerdict {
    pub part: Part,
    /// `repo[:tag]@sha256:…` as the plan names it.
    pub reference: String,
    /// `Err`: the artifact could not be read at all (registry unreachable,
    /// 404, bad reference…): no verdict, never a pass.
    pub result: Result<Arc<Report>, String>,
}

impl ArtifactVerdict {
    /// What this artifact contributes to the promotion check.
    pub fn check(&self) -> Check {
        match &self.result {
            Ok(r) if r.verified => Check::Pass,
            Ok(r) => Check::Fail(format!(
                "{} {}: {}",
                self.part.key(),
                crate::format::short_reference(&self.reference),
                r.reasons
                    .first()
                    .map_or("no signature verifies", String::as_str)
            )),
            Err(e) => Check::Inconclusive(format!(
                "{} {}: {e}",
                self.part.key(),
                crate::format::short_reference(&self.reference)
            )),
        }
    }
}

/// The verification of a whole release (image, and model when it is OCI).
#[derive(Clone, Debug)]
pub struct ReleaseVerdict {
    pub version: String,
    pub artifacts: Vec<ArtifactVerdict>,
    /// Artifacts that were not checked, and why (a model that is not an OCI
    /// reference): shown, not blocking.
    pub skipped: Vec<String>,
}

impl ReleaseVerdict {
    /// The promotion check: `Pass` only when every checked artifact verifies;
    /// a failure wins over an inconclusive result.
    pub fn check(&self) -> Check {
        let checks: Vec<Check> = self.artifacts.iter().map(ArtifactVerdict::check).collect();
        let fails: Vec<&str> = checks
            .iter()
            .filter_map(|c| match c {
                Check::Fail(w) => Some(w.as_str()),
                _ => None,
            })
            .collect();
        if !fails.is_empty() {
            return Check::Fail(fails.join("; "));
        }
        let unknown: Vec<&str> = checks
            .iter()
            .filter_map(|c| match c {
                Check::Inconclusive(w) => Some(w.as_str()),
                _ => None,
            })
            .collect();
        if !unknown.is_empty() {
            return Check::Inconclusive(unknown.join("; "));
        }
        if self.artifacts.is_empty() {
            return Check::Inconclusive("nothing to verify".into());
        }
        Check::Pass
    }

    /// One line for people: "signed ✔ image, model" / "unsigned: …".
    pub fn summary(&self) -> String {
        match self.check() {
            Check::Pass => format!(
                "verified: {}",
                self.artifacts
                    .iter()
                    .map(|a| a.part.key())
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
            Check::Fail(w) => format!("does not verify: {w}"),
            Check::Inconclusive(w) => format!("not verified: {w}"),
            Check::NotApplicable => "not checked".into(),
        }
    }
}

/// Trust config + registry client + cache: verifies references and releases.
pub struct ReleaseVerifier {
    trust: Trust,
    client: RegistryClient,
    cache: VerifyCache,
}

impl ReleaseVerifier {
    /// Loads the trust config (every key file is read now: a typo is an error
    /// naming the file) and builds the registry client.
    pub fn from_config(
        signing: &SigningConfig,
        registry: &RegistryConfig,
    ) -> Result<ReleaseVerifier, SignatureError> {
        Ok(ReleaseVerifier {
            trust: Trust::load(signing)?,
            client: RegistryClient::new(registry)?,
            cache: VerifyCache::default(),
        })
    }

    pub fn new(trust: Trust, client: RegistryClient) -> ReleaseVerifier {
        ReleaseVerifier {
            trust,
            client,
            cache: VerifyCache::default(),
        }
    }

    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    pub fn cache(&self) -> &VerifyCache {
        &self.cache
    }

    /// One reference, through the cache.
    pub async fn verify_ref(&self, reference: &str) -> Result<Arc<Report>, SignatureError> {
        self.cache
            .verify(reference, &self.trust, &self.client, SystemTime::now())
            .await
    }

    /// The image, and the model when it is an OCI reference, concurrently.
    pub async fn verify_release(&self, spec: &ReleaseSpec) -> ReleaseVerdict {
        let mut skipped = Vec::new();
        let mut wanted: Vec<(Part, String)> = vec![(Part::Image, spec.image.to_string())];
        if let Some(model) = &spec.model {
            match oci_reference(model) {
                Some(r) => wanted.push((Part::Model, r)),
                None => skipped.push(format!(
                    "model {} is not an OCI reference: not verified here",
                    model.repository
                )),
            }
        }
        let results = futures_util::future::join_all(
            wanted
                .iter()
                .map(|(_, reference)| self.verify_ref(reference)),
        )
        .await;
        let artifacts = wanted
            .into_iter()
            .zip(results)
            .map(|((part, reference), result)| ArtifactVerdict {
                part,
                reference,
                result: result.map_err(|e| e.to_string()),
            })
            .collect();
        ReleaseVerdict {
            version: spec.version.clone(),
            artifacts,
            skipped,
        }
    }
}

/// `Some(repo@digest)` when the reference names an OCI registry (a host with
/// a dot, a port or `localhost`), not a URL or a bare path.
pub fn oci_reference(r: &DigestRef) -> Option<String> {
    if r.repository.contains("://") {
        return None;
    }
    let s = r.to_string();
    let parsed = Reference::parse(&s).ok()?;
    (parsed.registry != "docker.io" || r.repository.starts_with("docker.io/")).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(results: Vec<(Part, Result<bool, &str>)>) -> ReleaseVerdict {
        ReleaseVerdict {
            version: "1.5.0".into(),
            artifacts: results
                .into_iter()
                .map(|(part, r)| ArtifactVerdict {
                    part,
                    reference: format!(
                        "registry.local/fleet/{}@sha256:{}",
                        part.key(),
                        "a".repeat(64)
                    ),
                    result: r.map_err(str::to_string).map(|ok| {
                        Arc::new(Report {
                            reference: String::new(),
                            digest: String::new(),
                            tag_warning: None,
                            signatures: vec![],
                            attestations: vec![],
                            sboms: vec![],
                            verified: ok,
                            reasons: if ok {
                                vec![]
                            } else {
                                vec!["no signatures".into()]
                            },
                        })
                    }),
                })
                .collect(),
            skipped: vec![],
        }
    }

    #[test]
    fn every_artifact_must_verify_and_failure_beats_unknown() {
        assert_eq!(
            verdict(vec![(Part::Image, Ok(true)), (Part::Model, Ok(true))]).check(),
            Check::Pass
        );
        let c = verdict(vec![(Part::Image, Ok(true)), (Part::Model, Ok(false))]).check();
        assert!(
            matches!(&c, Check::Fail(w) if w.starts_with("model registry.local/fleet/model@sha256:aaaaaaaaaaaa…: no signatures")),
            "{c:?}"
        );
        let c = verdict(vec![
            (Part::Image, Err("registry unreachable")),
            (Part::Model, Ok(false)),
        ])
        .check();
        assert!(matches!(c, Check::Fail(_)), "{c:?}");
        let c = verdict(vec![
            (Part::Image, Err("registry unreachable")),
            (Part::Model, Ok(true)),
        ])
        .check();
        assert!(
            matches!(&c, Check::Inconclusive(w) if w.contains("registry unreachable")),
            "{c:?}"
        );
        assert!(matches!(verdict(vec![]).check(), Check::Inconclusive(_)));
    }

    #[test]
    fn only_registry_references_are_oci() {
        let d = format!("sha256:{}", "b".repeat(64));
        let r = |repo: &str| DigestRef {
            repository: repo.into(),
            digest: d.clone(),
        };
        assert!(oci_reference(&r("registry.local/fleet/model:1.5.0")).is_some());
        assert!(oci_reference(&r("127.0.0.1:5000/fleet/model")).is_some());
        assert!(oci_reference(&r("s3://models/vision")).is_none());
        assert!(oci_reference(&r("models/vision")).is_none());
    }
}
