//! What a simulated device runs and what its update agent is doing: the state
//! a rollout changes, exported as `fleet_release_info` and `fleet_agent_state`.

pub use super::registry::release_digests;
use super::registry::{IMAGE_REPO, MODEL_REPO, REGISTRY_HOST};
use super::rng::{hash_str, mix64};
use crate::rollout::plan::{DigestRef, ReleaseSpec};

/// The version of the hand-installed build drifted devices run
/// ([`super::SimOptions::drifted`]): no rollout names it, the registry does
/// not have it.
pub const DRIFT_VERSION: &str = "1.4.0-hotpatch";

/// The release a device runs, as `fleet_release_info` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Release {
    /// Rollout name, e.g. "r41".
    pub release: String,
    /// Semantic version of the application image.
    pub version: String,
    /// "sha256:<64 hex>" of the container image.
    pub image_digest: String,
    /// "sha256:<64 hex>" of the model artefact.
    pub model_digest: String,
}

impl Release {
    /// A release whose digests are those of the image and model manifests the
    /// simulated registry serves for `version` ([`release_digests`]): they
    /// depend only on the version, so every device (and every test) agrees on
    /// them without sharing state.
    pub fn new(release: &str, version: &str) -> Self {
        let (image_digest, model_digest) = release_digests(version);
        Self {
            release: release.to_owned(),
            version: version.to_owned(),
            image_digest,
            model_digest,
        }
    }

    /// What the whole fleet runs when nothing is being rolled out: release
    /// "r41", version 1.4.0 — the same digests as [`release_for`]`("1.4.0")`,
    /// so a plan whose `previous` is [`release_spec_for`]`("1.4.0")` matches
    /// what the devices run.
    pub fn stable() -> Self {
        Self::new("r41", "1.4.0")
    }

    /// What a device runs once its update agent has installed `spec`: the
    /// release label is the version, the digests are the spec's (a spec
    /// without a model gets the simulated model of its version).
    pub fn from_spec(spec: &ReleaseSpec) -> Self {
        Self {
            release: spec.version.clone(),
            version: spec.version.clone(),
            image_digest: spec.image.digest.clone(),
            model_digest: spec
                .model
                .as_ref()
                .map_or_else(|| release_digests(&spec.version).1, |m| m.digest.clone()),
        }
    }

    /// Whether a device running `self` runs `other`: same image and model
    /// digests (the release label is only a name).
    pub fn same_artifacts(&self, other: &Release) -> bool {
        self.image_digest == other.image_digest && self.model_digest == other.model_digest
    }
}

/// The simulated release of `version`: label = version, digests those of the
/// simulated registry's manifests for that version ([`release_digests`]).
/// `release_for("1.4.0")` has the digests of [`Release::stable`].
pub fn release_for(version: &str) -> Release {
    Release::new(version, version)
}

/// A plan [`ReleaseSpec`] whose digests are those of [`release_for`]`(version)`:
/// image `registry.local/fleet/vision:<version>@<digest>`, model
/// `registry.local/fleet/model:<version>@<digest>` — what the simulated
/// registry serves (through `[registry] mirrors`). A plan whose `previous` is
/// `release_spec_for("1.4.0")` names what the simulated fleet runs at start.
pub fn release_spec_for(version: &str) -> ReleaseSpec {
    let r = release_for(version);
    ReleaseSpec {
        version: version.to_owned(),
        image: DigestRef {
            repository: format!("{REGISTRY_HOST}/{IMAGE_REPO}:{version}"),
            digest: r.image_digest,
        },
        model: Some(DigestRef {
            repository: format!("{REGISTRY_HOST}/{MODEL_REPO}:{version}"),
            digest: r.model_digest,
        }),
        sbom: None,
    }
}

impl Default for Release {
    fn default() -> Self {
        Self::stable()
    }
}

/// A deterministic, realistic-looking OCI digest ("sha256:" + 64 hex digits)
/// for `s`, of nothing in particular (for tests that need an arbitrary
/// digest). Not cryptographic: it only has to be stable and distinct. The
/// simulated releases use real digests ([`release_digests`]).
pub fn fake_digest(s: &str) -> String {
    use std::fmt::Write;
    let h = hash_str(s);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for i in 0..4u64 {
        let word = mix64(h ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let _ = write!(out, "{word:016x}");
    }
    out
}

/// The update agent's state machine, as `fleet_agent_state{state}` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    #[default]
    Idle,
    Downloading,
    Verifying,
    Installing,
    Failed,
}

impl AgentState {
    /// Every state, in the order they are exported.
    pub const ALL: [AgentState; 5] = [
        AgentState::Idle,
        AgentState::Downloading,
        AgentState::Verifying,
        AgentState::Installing,
        AgentState::Failed,
    ];

    /// The `state` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Idle => "idle",
            AgentState::Downloading => "downloading",
            AgentState::Verifying => "verifying",
            AgentState::Installing => "installing",
            AgentState::Failed => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_shape_and_stability() {
        let d = fake_digest("image/1.4.0");
        assert_eq!(d.len(), 7 + 64);
        assert!(d.starts_with("sha256:"));
        assert!(
            d[7..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(d, fake_digest("image/1.4.0"));
        assert_ne!(d, fake_digest("image/1.4.1"));
    }

    #[test]
    fn release_spec_for_matches_release_for_and_stable() {
        let spec = release_spec_for("1.4.0");
        let parsed =
            DigestRef::parse(&spec.image.to_string()).expect("the spec's image reference parses");
        assert_eq!(parsed, spec.image);
        let r = Release::from_spec(&spec);
        assert_eq!(r, release_for("1.4.0"));
        assert!(r.same_artifacts(&Release::stable()));
        assert!(!r.same_artifacts(&release_for("1.5.0")));
        let mut no_model = spec.clone();
        no_model.model = None;
        assert_eq!(Release::from_spec(&no_model), release_for("1.4.0"));
    }

    #[test]
    fn stable_release_digests_differ_between_image_and_model() {
        let r = Release::stable();
        assert_eq!(r.release, "r41");
        assert_eq!(r.version, "1.4.0");
        assert_ne!(r.image_digest, r.model_digest);
    }
}
