//! Overlapping rollouts: two in-progress plans whose released waves select
//! the same devices fight over them (each device runs one release; the last
//! agent to read the repository wins). Pure functions over plans and a list
//! of devices, so the CLI, the console and the tests compute the same sets
//! (docs/ARCHITECTURE.md, "Overlapping rollouts").
//!
//! - [`detect`]: pairs of in-progress plans that both hold some devices.
//! - [`would_take`]: devices the *next* wave of a plan would take from other
//!   in-progress plans — a promote refuses unless forced ([`super::action`]).
//! - [`taken`]: devices a plan holds that run another overlapping plan's
//!   release instead: the other plan took them.

use super::plan::{Plan, Status};
use super::wave::{self, Desired};
use crate::fleet::Fleet;

/// A device as the overlap functions need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceRef<'a> {
    pub id: &'a str,
    pub site: &'a str,
    pub group: &'a str,
    /// The release it reports, when known.
    pub version: Option<&'a str>,
}

/// Every device of a fleet.
pub fn devices(fleet: &Fleet) -> Vec<DeviceRef<'_>> {
    fleet
        .devices
        .iter()
        .map(|d| DeviceRef {
            id: d.id(),
            site: d.site(),
            group: d.group(),
            version: d.version(),
        })
        .collect()
}

/// A rollout that holds devices: some wave released, not complete (a later
/// rollout replacing a finished one is succession, not overlap), not aborted.
pub fn in_progress(p: &Plan) -> bool {
    matches!(p.state.status, Status::Progressing | Status::Paused) && p.state.wave > 0
}

/// Whether `p` wants `d` on its new release now.
pub fn holds(p: &Plan, d: &DeviceRef<'_>) -> bool {
    in_progress(p) && wave::desired(p, d.id, d.site, d.group) == Desired::New
}

/// Another rollout sharing devices with the one asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shared {
    /// The other rollout's name.
    pub other: String,
    /// Its release version.
    pub version: String,
    /// Devices both hold (or, for [`would_take`], that the next wave selects and the other holds).
    pub devices: usize,
}

/// The in-progress rollouts that hold some of the devices `plan` holds, by name.
pub fn detect(plan: &Plan, plans: &[&Plan], devices: &[DeviceRef<'_>]) -> Vec<Shared> {
    if !in_progress(plan) {
        return Vec::new();
    }
    let mine: Vec<&DeviceRef<'_>> = devices.iter().filter(|d| holds(plan, d)).collect();
    plans
        .iter()
        .filter(|o| o.name != plan.name && in_progress(o))
        .filter_map(|o| {
            let n = mine.iter().filter(|d| holds(o, d)).count();
            (n > 0).then(|| Shared {
                other: o.name.clone(),
                version: o.release.version.clone(),
                devices: n,
            })
        })
        .collect()
}

/// The devices promoting `plan` would take from other in-progress rollouts:
/// those its next wave selects (first selected there) that another rollout
/// holds. Empty when there is no next wave.
pub fn would_take(plan: &Plan, plans: &[&Plan], devices: &[DeviceRef<'_>]) -> Vec<Shared> {
    let next = plan.state.wave + 1;
    if plan.state.status != Status::Progressing || next > plan.waves.len() {
        return Vec::new();
    }
    let joining: Vec<&DeviceRef<'_>> = devices
        .iter()
        .filter(|d| wave::wave_of(plan, d.id, d.site, d.group) == Some(next))
        .collect();
    plans
        .iter()
        .filter(|o| o.name != plan.name && in_progress(o))
        .filter_map(|o| {
            let n = joining.iter().filter(|d| holds(o, d)).count();
            (n > 0).then(|| Shared {
                other: o.name.clone(),
                version: o.release.version.clone(),
                devices: n,
            })
        })
        .collect()
}

/// Devices `plan` holds that run another overlapping rollout's release (and
/// not its own): taken by that rollout.
pub fn taken(plan: &Plan, plans: &[&Plan], devices: &[DeviceRef<'_>]) -> Vec<Shared> {
    detect(plan, plans, devices)
        .into_iter()
        .filter(|s| s.version != plan.release.version)
        .filter_map(|s| {
            let n = devices
                .iter()
                .filter(|d| holds(plan, d) && d.version == Some(s.version.as_str()))
                .count();
            (n > 0).then_some(Shared { devices: n, ..s })
        })
        .collect()
}

/// The overlap check of a promote: fails when the next wave would take
/// devices from another in-progress rollout, naming it and how many.
pub fn promote_check(
    plan: &Plan,
    plans: &[&Plan],
    devices: &[DeviceRef<'_>],
) -> super::action::Check {
    let w = would_take(plan, plans, devices);
    if w.is_empty() {
        return super::action::Check::Pass;
    }
    let what: Vec<String> = w
        .iter()
        .map(|s| {
            format!(
                "{} device{} of {} ({}, in progress)",
                s.devices,
                if s.devices == 1 { "" } else { "s" },
                s.other,
                s.version
            )
        })
        .collect();
    super::action::Check::Fail(format!(
        "wave {} of {} would take {}",
        plan.state.wave + 1,
        plan.name,
        what.join(" and ")
    ))
}

/// "shares 16 devices with vision-1.5.1 (1.5.1)"; several joined by "; ".
pub fn describe(shared: &[Shared], verb: &str) -> String {
    shared
        .iter()
        .map(|s| {
            format!(
                "{verb} {} device{} with {} ({})",
                s.devices,
                if s.devices == 1 { "" } else { "s" },
                s.other,
                s.version
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::plan::{DigestRef, ReleaseSpec};

    fn plan(name: &str, version: &str, wave: usize, status: Status) -> Plan {
        let r = |v: &str, c: char| ReleaseSpec {
            version: v.into(),
            image: DigestRef::parse(&format!("r/x@sha256:{}", c.to_string().repeat(64)))
                .expect("ref"),
            model: None,
            sbom: None,
        };
        let mut p = Plan::new(name, r(version, 'b'), r("1.4.0", 'a'));
        p.state.wave = wave;
        p.state.status = status;
        p
    }

    /// 40 devices: every 10th in the canary group, on 1.5.0 when `on` says so.
    fn fleet(ids: &[String], version: impl Fn(usize) -> &'static str) -> Vec<DeviceRef<'_>> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| DeviceRef {
                id,
                site: "ams-1",
                group: if i % 10 == 0 { "canary" } else { "vision" },
                version: Some(version(i)),
            })
            .collect()
    }

    #[test]
    fn two_canaries_on_the_same_group_overlap_both_ways() {
        let ids: Vec<String> = (0..40).map(|i| format!("pi-{i:03}")).collect();
        let devs = fleet(&ids, |_| "1.5.0");
        let a = plan("vision-1.5.0", "1.5.0", 1, Status::Progressing);
        let b = plan("vision-1.5.1", "1.5.1", 1, Status::Progressing);
        let all = [&a, &b];
        let on_a = detect(&a, &all, &devs);
        assert_eq!(
            on_a,
            vec![Shared {
                other: "vision-1.5.1".into(),
                version: "1.5.1".into(),
                devices: 4
            }]
        );
        assert_eq!(detect(&b, &all, &devs)[0].other, "vision-1.5.0");
        assert_eq!(
            describe(&on_a, "shares"),
            "shares 4 devices with vision-1.5.1 (1.5.1)"
        );
        // Everyone still on 1.5.0: nothing taken from a yet; b lost its own.
        assert!(taken(&a, &all, &devs).is_empty());
    }

    #[test]
    fn promoting_into_anothers_canary_would_take_its_devices() {
        let ids: Vec<String> = (0..40).map(|i| format!("pi-{i:03}")).collect();
        let devs = fleet(&ids, |_| "1.4.0");
        let live = plan("vision-1.5.0", "1.5.0", 1, Status::Progressing);
        let fresh = plan("vision-1.5.1", "1.5.1", 0, Status::Progressing);
        let all = [&live, &fresh];
        assert!(
            detect(&live, &all, &devs).is_empty(),
            "not started: no overlap"
        );
        let w = would_take(&fresh, &all, &devs);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].other.as_str(), w[0].devices), ("vision-1.5.0", 4));
        // Paused still holds its devices; complete and aborted do not.
        let mut other = live.clone();
        other.state.status = Status::Paused;
        assert_eq!(would_take(&fresh, &[&other, &fresh], &devs).len(), 1);
        for s in [Status::Complete, Status::Aborted] {
            other.state.status = s;
            assert!(
                would_take(&fresh, &[&other, &fresh], &devs).is_empty(),
                "{s:?}"
            );
        }
        // A wave that selects none of the other's devices takes nothing.
        let mut later = fresh.clone();
        later.state.wave = 1;
        let next_selects_canary = would_take(&later, &all, &devs)
            .iter()
            .any(|s| s.devices > 0 && s.other == "vision-1.5.0");
        // Wave 2 is 25 %: it selects non-canary devices only, which 1.5.0 (at
        // wave 1) does not hold.
        assert!(!next_selects_canary);
    }

    #[test]
    fn devices_running_the_other_release_are_taken() {
        let ids: Vec<String> = (0..40).map(|i| format!("pi-{i:03}")).collect();
        // The canaries (every 10th) were taken by 1.5.1.
        let devs = fleet(&ids, |i| if i % 10 == 0 { "1.5.1" } else { "1.4.0" });
        let a = plan("vision-1.5.0", "1.5.0", 1, Status::Progressing);
        let b = plan("vision-1.5.1", "1.5.1", 1, Status::Progressing);
        let all = [&a, &b];
        let t = taken(&a, &all, &devs);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].other.as_str(), t[0].devices), ("vision-1.5.1", 4));
        assert!(taken(&b, &all, &devs).is_empty());
    }
}
