//! Drift: a device running an image or model digest that no rollout names as
//! its new or previous release, or one whose signature does not verify.
//! Pure: the caller says which digests the rollouts name and what their
//! verification found (the console keeps both in `app::Signatures`).

use crate::fleet::Device;
use crate::signature::policy::Part;
use std::collections::HashMap;

/// Why a device is flagged as drift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    /// Runs an image or model digest no rollout names as its new or previous release.
    Unknown(Part),
    /// Runs a release whose signature does not verify.
    Unverified(Part),
}

impl Drift {
    pub fn text(&self) -> String {
        match self {
            Drift::Unknown(p) => format!("{} digest named by no rollout", p.key()),
            Drift::Unverified(p) => format!("{} does not verify", p.key()),
        }
    }
}

/// The devices flagged as drift, by id.
///
/// `known`: the image and model digests the rollouts name → (part, OCI
/// reference). `verified(reference)`: whether that reference's signature
/// verifies, `None` while it is not known (pending, unreadable). Nothing is
/// flagged when no digest is known; models are looked at only when some
/// rollout names a model; the image is looked at before the model and the
/// first flag wins.
pub fn detect(
    devices: &[Device],
    known: &HashMap<String, (Part, String)>,
    verified: impl Fn(&str) -> Option<bool>,
) -> HashMap<String, Drift> {
    let mut drift = HashMap::new();
    if known.is_empty() {
        return drift;
    }
    let verified_state = |digest: &str| -> Option<bool> {
        let (_, reference) = known.get(digest)?;
        verified(reference)
    };
    let has_models = known.values().any(|(p, _)| *p == Part::Model);
    for d in devices {
        let Some(rel) = &d.sample.release else {
            continue;
        };
        let mut parts = vec![(Part::Image, rel.image_digest.as_str())];
        if has_models {
            parts.push((Part::Model, rel.model_digest.as_str()));
        }
        for (part, digest) in parts {
            if digest.is_empty() {
                continue;
            }
            let flag = if !known.contains_key(digest) {
                Some(Drift::Unknown(part))
            } else if verified_state(digest) == Some(false) {
                Some(Drift::Unverified(part))
            } else {
                None
            };
            if let Some(f) = flag {
                drift.insert(d.id().to_string(), f);
                break;
            }
        }
    }
    drift
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{DeviceSample, Fleet, Release, Snapshot, Thresholds};
    use std::time::SystemTime;

    fn fleet(devices: &[(&str, Option<(&str, &str)>)]) -> Fleet {
        let devices = devices
            .iter()
            .map(|(id, rel)| {
                let mut s = DeviceSample::new(id, "ams-1", "vision");
                s.release = rel.map(|(image, model)| Release {
                    version: "1.5.0".into(),
                    release: "vision-1.5.0".into(),
                    image_digest: image.into(),
                    model_digest: model.into(),
                });
                s
            })
            .collect();
        let snap = Snapshot {
            source: "test".into(),
            taken_at: SystemTime::UNIX_EPOCH,
            devices,
        };
        Fleet::build(snap, None, &Thresholds::default())
    }

    #[test]
    fn unknown_and_unverified_digests_are_drift() {
        let f = fleet(&[
            ("known", Some(("sha256:a", "sha256:m"))),
            ("unknown", Some(("sha256:x", "sha256:m"))),
            ("unsigned", Some(("sha256:b", ""))),
            ("silent", None),
        ]);
        let known: HashMap<String, (Part, String)> = [
            ("sha256:a", (Part::Image, "r/vision@sha256:a")),
            ("sha256:b", (Part::Image, "r/vision@sha256:b")),
        ]
        .into_iter()
        .map(|(d, (p, r))| (d.to_string(), (p, r.to_string())))
        .collect();
        let verified = |r: &str| match r {
            "r/vision@sha256:a" => Some(true),
            "r/vision@sha256:b" => Some(false),
            _ => None,
        };
        let d = detect(&f.devices, &known, verified);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d.get("unknown"), Some(&Drift::Unknown(Part::Image)));
        assert_eq!(d.get("unsigned"), Some(&Drift::Unverified(Part::Image)));
        // No rollout names a model: the model digest is not looked at.
        assert!(!d.contains_key("known"));
        // Nothing is known: nothing is flagged.
        assert!(detect(&f.devices, &HashMap::new(), verified).is_empty());
    }
}
