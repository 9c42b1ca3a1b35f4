//! What a simulated device runs and what its update agent is doing: the state
//! a rollout changes, exported as `fleet_release_info` and `fleet_agent_state`.

use super::rng::{hash_str, mix64};

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

    /// What the whole fleet runs when nothing is being rolled out.
    pub fn stable() -> Self {
        Self::new("r41", "1.4.0")
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
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
    fn stable_release_digests_differ_between_image_and_model() {
        let r = Release::stable();
        assert_eq!(r.release, "r41");
        assert_eq!(r.version, "1.4.0");
        assert_ne!(r.image_digest, r.model_digest);
    }
}
