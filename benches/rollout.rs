//! `cargo bench --bench rollout`: rollout progress and gate evaluation at fleet
//! scale (issue 3, Speed: membership + per-site × per-wave progress < 20 ms for
//! 10,000 devices over 200 sites). Prints the median and the worst of several
//! runs. Not a test: nothing here asserts time.
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

use fleetdeck::fleet::{DeviceSample, Fleet, Reach, Release, Snapshot, Thresholds};
use fleetdeck::metrics::def::Figure;
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

/// 10,000 devices over 200 sites; devices follow the plan, with a few
/// updating, failed, down and drifting ones so every counter moves.
fn snapshot(plan: &Plan, n: usize, sites: usize, at: SystemTime) -> Snapshot {
    let devices = (0..n)
        .map(|i| {
            let mut s = DeviceSample::new(
                &format!("pi-{:05}", i + 1),
                &format!("site-{:03}", i % sites),
                ["canary", "vision", "kiosk", "gate"][i % 4],
            );
            for f in Figure::ALL {
                s.figures
                    .set(f, Some((i % 97) as f64 / 97.0 + f.index() as f64));
            }
            s.figures
                .set(Figure::LatencyP95, Some(0.1 + (i % 50) as f64 / 1000.0));
            s.figures
                .set(Figure::ErrorRate, Some((i % 7) as f64 / 1000.0));
            s.figures.set(Figure::CpuTemp, Some(50.0 + (i % 20) as f64));
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
            if i % 101 == 0 {
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

fn measure(name: &str, runs: usize, mut f: impl FnMut() -> Duration) {
    let mut v: Vec<Duration> = (0..runs).map(|_| f()).collect();
    v.sort();
    println!(
        "{name:<58} median {:>9.3} ms   worst {:>9.3} ms   ({runs} runs)",
        v[v.len() / 2].as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3
    );
}

fn main() {
    let plan = plan();
    let now = SystemTime::now();
    let fleet = Fleet::build(
        snapshot(&plan, 10_000, 200, now),
        None,
        &Thresholds::default(),
    );
    assert_eq!(fleet.sites.len(), 200);

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
        "progress (site x wave, group x wave), 10,000 / 200 sites",
        50,
        || {
            let t = Instant::now();
            let p = progress(&plan, &fleet);
            let d = t.elapsed();
            assert_eq!(p.fleet_devices, 10_000);
            d
        },
    );
    let e = evaluate(&plan, &fleet, now);
    println!(
        "(gates: {:?}, {} canary / {} baseline devices)",
        e.outcome, e.canary_devices, e.baseline_devices
    );
    measure("gate evaluation, 10,000 devices", 50, || {
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
