//! `cargo bench --bench rollout`: rollout progress and gate evaluation at fleet
//! scale (issue 3, Speed: membership + per-site × per-wave progress < 20 ms for
//! 10,000 devices over 200 sites). Prints the median and the worst of several
//! runs. Nothing here asserts time; `cargo test --benches` (scripts/test.sh)
//! runs it once, quickly, for its asserts (benches/common).
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

mod common;

use common::{Condition, condition, devices, measure, sites};
use fleetdeck::fleet::{DeviceSample, Fleet, Reach, Release, Snapshot, Thresholds};
use fleetdeck::rollout::gate::{GateHistory, evaluate};
use fleetdeck::rollout::plan::{DigestRef, Plan, ReleaseSpec};
use fleetdeck::rollout::progress::progress;
use fleetdeck::rollout::wave::{Desired, desired};
use std::time::{Duration, Instant, SystemTime};

fn spec(version: &str, c: char) -> ReleaseSpec {
    ReleaseSpec {
        version: version.into(),
        image: DigestRef::parse(&format!(
            "registry.local/vision@sha256:{}",
            c.to_string().repeat(64)
        ))
        .expect("ref"),
        model: None,
        sbom: None,
    }
}

/// The default 4-wave plan (canary group, 25 %, 50 %, 100 %) with 2 waves released.
fn plan() -> Plan {
    let mut p = Plan::new("vision-1.5.0", spec("1.5.0", 'b'), spec("1.4.0", 'a'));
    p.state.wave = 2;
    p
}

/// `n` devices over `sites` sites with realistic figures (benches/common:
/// some slow, erroring, hot or down); devices follow the plan, with a few
/// updating, failed and drifting ones so every counter moves.
fn snapshot(plan: &Plan, n: usize, sites: usize, at: SystemTime) -> Snapshot {
    let devices = (0..n)
        .map(|i| {
            let mut s = DeviceSample::new(
                &format!("pi-{:05}", i + 1),
                &format!("site-{:03}", i % sites),
                ["canary", "vision", "kiosk", "gate"][i % 4],
            );
            for (f, v) in common::figures(i) {
                s.figures.set(f, Some(v));
            }
            let target = match desired(plan, &s.id, &s.site, &s.group) {
                Desired::New => &plan.release,
                Desired::Previous => &plan.previous,
            };
            let digest = if i % 211 == 0 {
                "sha256:drift".to_string()
            } else if i % 13 == 0 {
                plan.previous.image.digest.clone() // not there yet
            } else {
                target.image.digest.clone()
            };
            s.release = Some(Release {
                version: target.version.clone(),
                release: "r".into(),
                image_digest: digest,
                model_digest: String::new(),
            });
            s.agent_state = Some(
                match i % 53 {
                    0 => "installing",
                    1 => "failed",
                    _ => "idle",
                }
                .into(),
            );
            if condition(i) == Condition::Down {
                s.reach = Reach::Down(None);
            }
            s
        })
        .collect();
    Snapshot {
        source: "bench".into(),
        taken_at: at,
        devices,
    }
}

fn main() {
    let plan = plan();
    let now = SystemTime::now();
    let n = devices(10_000);
    let fleet = Fleet::build(
        snapshot(&plan, n, sites(n), now),
        None,
        &Thresholds::default(),
    );
    assert_eq!(fleet.sites.len(), sites(n));

    let p = progress(&plan, &fleet);
    println!(
        "(plan at wave {}/{}: {} targeted, {} on new, {} offline, {} failed, {} drifting)",
        plan.state.wave,
        plan.waves.len(),
        p.total.devices,
        p.total.on_new,
        p.total.offline,
        p.total.failed,
        p.drift.len()
    );
    measure(
        &format!(
            "progress (site x wave, group x wave), {n} / {} sites",
            sites(n)
        ),
        50,
        || {
            let t = Instant::now();
            let p = progress(&plan, &fleet);
            let d = t.elapsed();
            assert_eq!(p.fleet_devices, n);
            d
        },
    );
    let e = evaluate(&plan, &fleet, now);
    println!(
        "(gates: {:?}, {} canary / {} baseline devices)",
        e.outcome, e.canary_devices, e.baseline_devices
    );
    measure(&format!("gate evaluation, {n} devices"), 50, || {
        let t = Instant::now();
        let e = evaluate(&plan, &fleet, now);
        let d = t.elapsed();
        assert_eq!(e.checks.len(), 4);
        d
    });
    let mut h = GateHistory::new();
    let mut i = 0u64;
    measure("refresh: progress + GateHistory::observe (due)", 50, || {
        i += 1;
        let t = Instant::now();
        let p = progress(&plan, &fleet);
        let e = h.observe(&plan, &fleet, now + Duration::from_secs(60 * i));
        let d = t.elapsed();
        assert!(e.is_some() && p.waves == 4);
        d
    });
}
