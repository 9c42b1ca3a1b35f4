//! Wave membership and the desired release of a device: pure functions that
//! the console, the headless commands and the simulator's update agents all
//! use, so every tool computes the same sets.
//!
//! Percent waves pick devices by a stable hash of the device id: FNV-1a 64 of
//! the id's UTF-8 bytes, taken modulo 10,000; a device is in a `percent = P`
//! wave when that bucket is below `P × 100`. The result never changes between
//! runs, machines or versions.

use super::plan::{Plan, Status, Wave};

/// FNV-1a, 64 bits.
pub fn stable_hash(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The device's bucket in 0..10,000 for percent waves.
pub fn bucket(id: &str) -> u32 {
    (stable_hash(id) % 10_000) as u32
}

/// Whether one wave's selector matches a device (ignoring earlier waves).
pub fn selects(wave: &Wave, id: &str, site: &str, group: &str) -> bool {
    wave.sites.iter().any(|s| s == site)
        || wave.groups.iter().any(|g| g == group)
        || wave
            .percent
            .is_some_and(|p| f64::from(bucket(id)) < p * 100.0)
}

/// The 1-based number of the first wave that selects the device, or `None`
/// when no wave does (the device is not part of the rollout).
pub fn wave_of(plan: &Plan, id: &str, site: &str, group: &str) -> Option<usize> {
    plan.waves
        .iter()
        .position(|w| selects(w, id, site, group))
        .map(|i| i + 1)
}

/// Which release a device should run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Desired {
    /// The rollout's new release.
    New,
    /// The release it replaces.
    Previous,
}

/// The desired release: the new one when the device is in a released wave and the
/// rollout is not aborted; otherwise the previous one.
pub fn desired(plan: &Plan, id: &str, site: &str, group: &str) -> Desired {
    if plan.state.status == Status::Aborted {
        return Desired::Previous;
    }
    match wave_of(plan, id, site, group) {
        Some(w) if w <= plan.state.wave => Desired::New,
        _ => Desired::Previous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::plan::{DigestRef, Plan, ReleaseSpec};
    use proptest::prelude::*;

    fn plan() -> Plan {
        let r = |v: &str, c: char| ReleaseSpec {
            version: v.into(),
            image: DigestRef::parse(&format!("r/x@sha256:{}", c.to_string().repeat(64)))
                .expect("ref"),
            model: None,
            sbom: None,
        };
        Plan::new("p", r("2", 'b'), r("1", 'a'))
    }

    #[test]
    fn the_hash_is_pinned() {
        // Changing these would move devices between waves: every tool must agree.
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            bucket("pi-00001"),
            (stable_hash("pi-00001") % 10_000) as u32
        );
    }

    #[test]
    fn canary_group_is_wave_one_and_percentages_are_cumulative() {
        let p = plan();
        assert_eq!(wave_of(&p, "pi-1", "ams-1", "canary"), Some(1));
        let n = 20_000;
        let mut counts = [0usize; 5];
        for i in 0..n {
            let w = wave_of(&p, &format!("pi-{i:05}"), "s", "vision").unwrap_or(0);
            counts[w] += 1;
        }
        assert_eq!(counts[0], 0, "100 % selects everyone");
        assert_eq!(
            counts[1], 0,
            "nobody outside the canary group is in the canary wave"
        );
        let share = |c: usize| c as f64 / n as f64;
        assert!((share(counts[2]) - 0.25).abs() < 0.02, "{counts:?}");
        assert!((share(counts[3]) - 0.25).abs() < 0.02, "{counts:?}");
        assert!((share(counts[4]) - 0.50).abs() < 0.02, "{counts:?}");
    }

    #[test]
    fn desired_release_follows_state() {
        let mut p = plan();
        assert_eq!(
            desired(&p, "pi-1", "s", "canary"),
            Desired::Previous,
            "nothing released yet"
        );
        p.state.wave = 1;
        assert_eq!(desired(&p, "pi-1", "s", "canary"), Desired::New);
        assert_eq!(desired(&p, "pi-1", "s", "vision"), Desired::Previous);
        p.state.status = Status::Paused;
        assert_eq!(
            desired(&p, "pi-1", "s", "canary"),
            Desired::New,
            "a halt freezes, it does not roll back"
        );
        p.state.status = Status::Aborted;
        assert_eq!(desired(&p, "pi-1", "s", "canary"), Desired::Previous);
        p.state.status = Status::Complete;
        p.state.wave = 4;
        assert_eq!(desired(&p, "pi-9", "s", "vision"), Desired::New);
    }

    proptest! {
        #[test]
        fn membership_is_monotonic_in_percent(id in "[a-z0-9-]{1,20}", a in 0.01f64..100.0, b in 0.01f64..100.0) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let w = |p: f64| Wave { name: None, sites: vec![], groups: vec![], percent: Some(p), soak: std::time::Duration::ZERO };
            prop_assert!(!selects(&w(lo), &id, "", "") || selects(&w(hi), &id, "", ""));
        }

        #[test]
        fn sites_and_groups_are_exact(site in "[a-z]{1,5}", other in "[a-z]{1,5}") {
            let w = Wave { name: None, sites: vec![site.clone()], groups: vec![], percent: None, soak: std::time::Duration::ZERO };
            prop_assert!(selects(&w, "x", &site, "g"));
            prop_assert_eq!(selects(&w, "x", &other, "g"), other == site);
        }
    }
}
