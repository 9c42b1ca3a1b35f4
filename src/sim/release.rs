//! What a simulated device runs and what its update agent is doing: the state
//! a rollout changes, exported as `fleet_release_info` and `fleet_agent_state`.

use super::rng::{hash_str, mix64};
use crate::rollout::plan::{DigestRef, ReleaseSpec};

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
    /// A release whose digests are derived from its version, so every device
    /// (and every test) agrees on them without sharing state.
    pub fn new(release: &str, version: &str) -> Self {
        Self {
            release: release.to_owned(),
            version: version.to_owned(),
            image_digest: fake_digest(&format!("image/{version}")),
            model_digest: fake_digest(&format!("model/{version}")),
        }
    }

    /// What the whole fleet runs when nothing is being rolled out: release
    /// "r41", version 1.4.0, digests `fake_digest("image/1.4.0")` and
    /// `fake_digest("model/1.4.0")` — the same digests as
    /// [`release_for`]`("1.4.0")`, so a plan whose `previous` is
    /// [`release_spec_for`]`("1.4.0")` matches what the devices run.
    pub fn stable() -> Self {
        Self::new("r41", "1.4.0")
    }

    /// What a device runs once its update agent has installed `spec`: the
    /// release label is the version, the digests are the spec's (a spec
    /// without a model gets `fake_digest("model/<version>")`).
    pub fn from_spec(spec: &ReleaseSpec) -> Self {
        Self {
            release: spec.version.clone(),
            version: spec.version.clone(),
            image_digest: spec.image.digest.clone(),
            model_digest: spec.model.as_ref().map_or_else(
                || fake_digest(&format!("model/{}", spec.version)),
                |m| m.digest.clone(),
            ),
        }
    }

    /// Whether a device running `self` runs `other`: same image and model
    /// digests (the release label is only a name).
    pub fn same_artifacts(&self, other: &Release) -> bool {
        self.image_digest == other.image_digest && self.model_digest == other.model_digest
    }
}

/// The simulated release of `version`: label = version, digests derived from
/// the version with [`fake_digest`] (`"image/<version>"`, `"model/<version>"`).
/// `release_for("1.4.0")` has the digests of [`Release::stable`].
pub fn release_for(version: &str) -> Release {
    Release::new(version, version)
}

/// A plan [`ReleaseSpec`] whose digests are those of [`release_for`]`(version)`:
/// image `registry.local/fleet/vision:<version>@<digest>`, model
/// `registry.local/fleet/model:<version>@<digest>`. A plan whose `previous` is
/// `release_spec_for("1.4.0")` names what the simulated fleet runs at start.
pub fn release_spec_for(version: &str) -> ReleaseSpec {
    let r = release_for(version);
    ReleaseSpec {
        version: version.to_owned(),
        image: DigestRef {
            repository: format!("registry.local/fleet/vision:{version}"),
            digest: r.image_digest,
        },
        model: Some(DigestRef {
            repository: format!("registry.local/fleet/model:{version}"),
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
/// for `s`. Not cryptographic: it only has to be stable and distinct.
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
