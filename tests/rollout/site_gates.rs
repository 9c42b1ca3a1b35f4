//! Gates per site and per group (issue 11): every check is evaluated for the
//! devices on the new release of each site and group as well as for the whole
//! targeted population; with `[gates] scope = "site"` (the default) one
//! breaching site with at least `min_devices` devices on the new release
//! fails the evaluation, and the reason names it.

use crate::support::fixture;
use fleetdeck::app::{App, Event};
use fleetdeck::fleet::{DeviceSample, Fleet, Reach, Release, Snapshot, Thresholds};
use fleetdeck::metrics::def::Figure;
use fleetdeck::rollout::gate::{Evaluation, GateHistory, Outcome, Verdict, evaluate};
use fleetdeck::rollout::plan::{DigestRef, Plan, ReleaseSpec, Scope, Wave};
use proptest::prelude::*;
use std::time::{Duration, SystemTime};

const NEW: char = 'b';
const OLD: char = 'a';
const SITES: [&str; 4] = ["ams", "ber", "fra", "osl"];

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn spec(version: &str, c: char) -> ReleaseSpec {
    ReleaseSpec {
        version: version.into(),
        image: DigestRef::parse(&format!("registry.local/vision@{}", digest(c))).expect("ref"),
        model: None,
        sbom: None,
    }
}

/// 1.5.0 replacing 1.4.0 in one wave: the `canary` group everywhere.
fn plan(scope: Scope) -> Plan {
    let mut p = Plan::new("vision-1.5.0", spec("1.5.0", NEW), spec("1.4.0", OLD));
    p.waves = vec![Wave {
        name: Some("canary".into()),
        sites: Vec::new(),
        groups: vec!["canary".into()],
        percent: None,
        soak: Duration::ZERO,
    }];
    p.gates.scope = scope;
    p.state.wave = 1;
    p
}

fn dev(id: &str, site: &str, group: &str, release: char) -> DeviceSample {
    let mut s = DeviceSample::new(id, site, group);
    s.release = Some(Release {
        version: String::new(),
        release: String::new(),
        image_digest: digest(release),
        model_digest: String::new(),
    });
    s.agent_state = Some("idle".into());
    for (f, v) in [
        (Figure::LatencyP95, 0.150),
        (Figure::ErrorRate, 0.005),
        (Figure::Throughput, 10.0),
        (Figure::CpuTemp, 55.0),
    ] {
        s.figures.set(f, Some(v));
    }
    s
}

fn fleet(devices: Vec<DeviceSample>) -> Fleet {
    Fleet::build(
        Snapshot {
            source: "test".into(),
            taken_at: t(0),
            devices,
        },
        None,
        &Thresholds::default(),
    )
}

/// `canaries` canary devices on 1.5.0 and two baseline devices on 1.4.0 in
/// each of the four sites; `f` may change each device.
fn world(canaries: usize, f: impl Fn(&str, DeviceSample) -> DeviceSample) -> Fleet {
    let mut v = Vec::new();
    for site in SITES {
        for i in 0..canaries {
            v.push(f(site, dev(&format!("{site}-c{i}"), site, "canary", NEW)));
        }
        for i in 0..2 {
            v.push(f(site, dev(&format!("{site}-v{i}"), site, "vision", OLD)));
        }
    }
    fleet(v)
}

/// ber's canaries run at 85 °C; everyone else at 55 °C.
fn hot_ber() -> Fleet {
    world(3, |site, mut d| {
        if site == "ber" && d.group == "canary" {
            d.figures.set(Figure::CpuTemp, Some(85.0));
        }
        d
    })
}

fn unit<'a>(
    units: &'a [fleetdeck::rollout::gate::UnitEvaluation],
    name: &str,
) -> &'a fleetdeck::rollout::gate::UnitEvaluation {
    units
        .iter()
        .find(|u| u.name == name)
        .unwrap_or_else(|| panic!("{name} not evaluated: {units:#?}"))
}

fn check<'a>(
    checks: &'a [fleetdeck::rollout::gate::CheckResult],
    name: &str,
) -> &'a fleetdeck::rollout::gate::CheckResult {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}"))
}

#[test]
fn a_breaching_site_fails_while_the_fleet_median_passes() {
    let e = evaluate(&plan(Scope::Site), &hot_ber(), t(0));
    // The whole population: 12 canaries, median 55 °C.
    assert_eq!(e.fleet_outcome, Outcome::Pass, "{e:#?}");
    assert_eq!(check(&e.checks, "cpu_temp").outcome, Outcome::Pass);
    assert_eq!(e.outcome, Outcome::Fail, "ber breaches: {e:#?}");
    let ber = unit(&e.sites, "ber");
    assert!(ber.eligible && ber.counts);
    assert_eq!(ber.outcome, Outcome::Fail);
    assert_eq!((ber.canary_devices, ber.baseline_devices), (3, 2));
    let temp = check(&ber.checks, "cpu_temp");
    assert_eq!(temp.value, Some(85.0));
    assert_eq!(temp.detail, "CPU 85.0°C > 80.0°C");
    assert_eq!(unit(&e.sites, "ams").outcome, Outcome::Pass);
    assert_eq!(
        e.breaches(),
        vec!["ber: CPU 85.0°C > 80.0°C on 3 devices on 1.5.0".to_string()]
    );
    // The groups are evaluated too, but do not count with scope "site".
    let canary = unit(&e.groups, "canary");
    assert!(!canary.counts);
    assert_eq!(canary.canary_devices, 12);

    // The verdict names the site and the figure.
    let pl = plan(Scope::Site);
    let mut h = GateHistory::new();
    h.observe(&pl, &hot_ber(), t(0));
    match h.verdict(&pl) {
        Verdict::Failing {
            failures: 1,
            reasons,
            ..
        } => assert_eq!(reasons, ["ber: CPU 85.0°C > 80.0°C on 3 devices on 1.5.0"]),
        v => panic!("{v:?}"),
    }
}

#[test]
fn scope_fleet_keeps_the_fleet_wide_verdict() {
    let site = evaluate(&plan(Scope::Site), &hot_ber(), t(0));
    let fleet_wide = evaluate(&plan(Scope::Fleet), &hot_ber(), t(0));
    assert_eq!(fleet_wide.outcome, Outcome::Pass, "{fleet_wide:#?}");
    assert_eq!(
        fleet_wide.checks, site.checks,
        "the same whole-population checks"
    );
    assert!(fleet_wide.breaches().is_empty());
    assert!(fleet_wide.sites.iter().all(|u| !u.counts));
    // Still shown per site: ber fails there, it just does not count.
    assert_eq!(unit(&fleet_wide.sites, "ber").outcome, Outcome::Fail);
    // A fleet-wide breach fails every scope.
    let all_hot = world(3, |_, mut d| {
        d.figures.set(Figure::CpuTemp, Some(90.0));
        d
    });
    for scope in [Scope::Site, Scope::Group, Scope::Fleet] {
        assert_eq!(
            evaluate(&plan(scope), &all_hot, t(0)).outcome,
            Outcome::Fail,
            "{scope:?}"
        );
    }
}

#[test]
fn scope_group_fails_on_a_breaching_group() {
    // Two groups on the new release: canary (fine) and kiosk (erroring) in
    // every site, so no single site breaches on its own… but kiosk does.
    let mut p = plan(Scope::Group);
    p.waves[0].groups.push("kiosk".into());
    let f = world(3, |site, mut d| {
        if d.group == "canary" && d.id.ends_with("c0") {
            d.group = "kiosk".into();
            d.figures.set(Figure::ErrorRate, Some(0.2));
            // Fewer requests: the site's weighted share stays under 3 %.
            d.figures.set(Figure::Throughput, Some(1.0));
        }
        let _ = site;
        d
    });
    let e = evaluate(&p, &f, t(0));
    let kiosk = unit(&e.groups, "kiosk");
    assert!(kiosk.counts && kiosk.eligible);
    assert_eq!(kiosk.outcome, Outcome::Fail, "{kiosk:#?}");
    assert_eq!(e.outcome, Outcome::Fail);
    let b = e.breaches();
    assert_eq!(b.len(), 1, "{b:?}");
    assert!(
        b[0].starts_with("kiosk: error rate 20.0% > 3.0%")
            && b[0].ends_with("on 4 devices on 1.5.0"),
        "{b:?}"
    );
    assert!(
        e.sites.iter().all(|u| u.outcome != Outcome::Fail),
        "{:#?}",
        e.sites
    );
    p.gates.scope = Scope::Site;
    assert_eq!(evaluate(&p, &f, t(0)).outcome, Outcome::Pass);
}

#[test]
fn min_devices_decides_which_sites_count() {
    // ber: 2 hot canaries out of 2; the others fine.
    let f = world(2, |site, mut d| {
        if site == "ber" && d.group == "canary" {
            d.figures.set(Figure::CpuTemp, Some(85.0));
        }
        d
    });
    let mut p = plan(Scope::Site);
    p.gates.min_devices = 3;
    let e = evaluate(&p, &f, t(0));
    let ber = unit(&e.sites, "ber");
    assert!(!ber.eligible && !ber.counts, "2 devices < min_devices 3");
    assert_ne!(e.outcome, Outcome::Fail, "{e:#?}");
    assert!(e.breaches().is_empty());
    p.gates.min_devices = 2;
    let e = evaluate(&p, &f, t(0));
    assert_eq!(e.outcome, Outcome::Fail);
    assert_eq!(
        e.breaches(),
        ["ber: CPU 85.0°C > 80.0°C on 2 devices on 1.5.0"]
    );
}

#[test]
fn baseline_per_site_where_the_site_has_one_else_the_fleets() {
    // Canaries at 210 ms everywhere. ams's own baseline runs at 200 ms (+5 %:
    // fine); fra has no baseline device, so it is compared with the fleet's
    // (150 ms: +40 %, over the +20 % limit).
    let mut v = Vec::new();
    for site in ["ams", "fra", "ber"] {
        for i in 0..3 {
            let mut d = dev(&format!("{site}-c{i}"), site, "canary", NEW);
            d.figures.set(Figure::LatencyP95, Some(0.21));
            v.push(d);
        }
    }
    for i in 0..2 {
        let mut d = dev(&format!("ams-v{i}"), "ams", "vision", OLD);
        d.figures.set(Figure::LatencyP95, Some(0.2));
        v.push(d);
    }
    for i in 0..5 {
        v.push(dev(&format!("ber-v{i}"), "ber", "vision", OLD));
    }
    let e = evaluate(&plan(Scope::Site), &fleet(v), t(0));
    let ams = check(&unit(&e.sites, "ams").checks, "latency_p95").clone();
    assert_eq!(ams.outcome, Outcome::Pass, "{ams:#?}");
    assert_eq!(ams.baseline, Some(0.2));
    assert_eq!(ams.baseline_from, Some("site"));
    assert_eq!(ams.detail, "p95 210ms ≤ 300ms, site baseline 200ms (+5%)");
    let fra = check(&unit(&e.sites, "fra").checks, "latency_p95").clone();
    assert_eq!(fra.outcome, Outcome::Fail, "{fra:#?}");
    assert_eq!(fra.baseline, Some(0.15));
    assert_eq!(fra.baseline_from, Some("fleet"));
    assert_eq!(
        fra.detail,
        "p95 210ms is 40% worse than fleet baseline 150ms (limit +20%)"
    );
    assert_eq!(unit(&e.sites, "fra").baseline_devices, 0);
    // The whole population keeps its wording.
    assert_eq!(check(&e.checks, "latency_p95").baseline_from, Some("fleet"));
    assert!(
        check(&e.checks, "latency_p95")
            .detail
            .contains("worse than baseline"),
        "{:?}",
        check(&e.checks, "latency_p95").detail
    );
}

#[test]
fn per_site_results_serialise_for_json() {
    let e = evaluate(&plan(Scope::Site), &hot_ber(), t(0));
    let v = serde_json::to_value(&e).expect("json");
    assert_eq!(v["scope"], "site");
    assert_eq!(v["outcome"], "fail");
    assert_eq!(v["fleet_outcome"], "pass");
    let ber = v["sites"]
        .as_array()
        .expect("sites")
        .iter()
        .find(|s| s["name"] == "ber")
        .expect("ber");
    assert_eq!(ber["outcome"], "fail");
    assert_eq!(ber["counts"], true);
    let temp = ber["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "cpu_temp")
        .expect("cpu_temp");
    assert_eq!(temp["value"], 85.0);
    assert_eq!(temp["outcome"], "fail");
    assert_eq!(v["groups"][0]["name"], "canary");
    assert_eq!(
        v["breaches"][0],
        "ber: CPU 85.0°C > 80.0°C on 3 devices on 1.5.0"
    );
}

// ------------------------------------------ verdict as soon as data is at hand

#[test]
fn the_verdict_follows_the_data_at_hand_within_an_interval() {
    let pl = plan(Scope::Site);
    let mut h = GateHistory::new();
    // Plans before the first refresh: nothing to judge yet.
    h.observe(&pl, &fleet(Vec::new()), t(0));
    assert!(matches!(h.verdict(&pl), Verdict::Inconclusive { .. }));
    // The fleet arrives 2 s later: judged now, not one interval later.
    assert!(h.observe(&pl, &world(3, |_, d| d), t(2)).is_some());
    assert_eq!(h.verdict(&pl), Verdict::Pass);
    assert_eq!(
        h.check_strip("cpu_temp"),
        "✔",
        "the provisional ? was replaced"
    );
    // A decided evaluation waits for the interval, as before.
    assert!(h.observe(&pl, &hot_ber(), t(30)).is_none());
    assert_eq!(h.verdict(&pl), Verdict::Pass);
    assert!(h.observe(&pl, &hot_ber(), t(62)).is_some());
    assert_eq!(h.failures(), 1);
    // A failure found while replacing counts once, and waits a full interval.
    let mut h = GateHistory::new();
    h.observe(&pl, &fleet(Vec::new()), t(0));
    h.observe(&pl, &hot_ber(), t(50));
    assert_eq!(h.failures(), 1);
    assert!(
        h.observe(&pl, &hot_ber(), t(70)).is_none(),
        "within an interval of the failure"
    );
    assert!(h.observe(&pl, &hot_ber(), t(110)).is_some());
    assert_eq!(h.failures(), 2);
    assert_eq!(
        h.check_strip("cpu_temp"),
        "✔✔",
        "fleet-wide temperature passes"
    );
}

#[test]
fn the_console_judges_as_soon_as_plans_and_fleet_are_loaded() {
    let mut app = App::new(
        fixture::settings(),
        fleetdeck::app::keymap::Keymap::default(),
        "test".into(),
        "default".into(),
        fixture::t(fixture::T0 + 2),
    );
    // Plans first, then the fleet, a second later (well within the 1m interval).
    app.update(Event::Rollouts {
        result: Ok(vec![Ok(fixture::rollout_plan(
            1,
            fleetdeck::rollout::plan::Status::Progressing,
        ))]),
    });
    let e = app.rollouts.get("vision-1.5.0").expect("entry");
    assert!(
        matches!(e.verdict, Verdict::Inconclusive { .. }),
        "{:?}",
        e.verdict
    );
    app.update(Event::Fleet {
        generation: 1,
        result: Ok(fixture::fleet(120, 8)),
        warnings: vec![],
    });
    let e = app.rollouts.get("vision-1.5.0").expect("entry");
    assert_eq!(e.progress.total.on_new, 6);
    assert_eq!(e.verdict, Verdict::Pass, "{:?}", e.gates.latest());
}

// ------------------------------------------------------------- property

#[derive(Debug, Clone)]
struct Gen {
    site: u8,
    new: bool,
    down: bool,
    temp: Option<f64>,
}

fn any_device() -> impl Strategy<Value = Gen> {
    (
        0u8..4,
        any::<bool>(),
        prop::bool::weighted(0.1),
        prop_oneof![
            Just(None),
            Just(Some(f64::NAN)),
            (40.0f64..100.0).prop_map(Some),
            Just(Some(80.0)),
        ],
    )
        .prop_map(|(site, new, down, temp)| Gen {
            site,
            new,
            down,
            temp,
        })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Whether these canaries' CPU temperature breaches 80 °C, worked out
/// independently of fleetdeck: the median of the finite figures, when at
/// least `need` devices report one.
fn temp_breach(canaries: &[&Gen], need: usize) -> bool {
    let temps: Vec<f64> = canaries
        .iter()
        .filter_map(|g| g.temp)
        .filter(|v| v.is_finite())
        .collect();
    temps.len() >= need && median(temps) > 80.0 + 1e-9
}

fn build(gens: &[Gen]) -> Fleet {
    fleet(
        gens.iter()
            .enumerate()
            .map(|(i, g)| {
                let site = SITES[g.site as usize];
                let mut d = if g.new {
                    dev(&format!("d{i}"), site, "canary", NEW)
                } else {
                    dev(&format!("d{i}"), site, "vision", OLD)
                };
                d.figures.set(Figure::CpuTemp, g.temp);
                if g.down {
                    d.reach = Reach::Down(None);
                    d.release = None;
                }
                d
            })
            .collect(),
    )
}

proptest! {
    /// With scope "site" the evaluation fails iff some site with at least
    /// `min_devices` online devices on the new release breaches, or the whole
    /// population does (a site scope only adds checks to the fleet's). Only
    /// the CPU temperature can breach here: the other figures are healthy and
    /// every targeted device is in its wave, so `up` is the share online.
    #[test]
    fn scope_site_fails_iff_an_eligible_site_breaches(
        gens in prop::collection::vec(any_device(), 0..40),
        min_devices in 0usize..4,
    ) {
        let mut pl = plan(Scope::Site);
        pl.gates.min_devices = min_devices;
        pl.gates.min_up = 0.0;
        let need = min_devices.max(1);
        let e = evaluate(&pl, &build(&gens), t(0));
        let canaries: Vec<&Gen> = gens.iter().filter(|g| g.new && !g.down).collect();
        let mut site_breach = Vec::new();
        for (i, site) in SITES.iter().enumerate() {
            let here: Vec<&Gen> = canaries.iter().copied().filter(|g| g.site as usize == i).collect();
            if here.len() >= need && temp_breach(&here, need) {
                site_breach.push(*site);
            }
        }
        let fleet_breach = temp_breach(&canaries, need);
        prop_assert_eq!(
            e.outcome == Outcome::Fail,
            fleet_breach || !site_breach.is_empty(),
            "sites {:?} fleet {} — {:#?}", site_breach, fleet_breach, e
        );
        // Each breaching site is named, and only those.
        let named: Vec<&str> = e
            .breaches()
            .iter()
            .filter_map(|b| b.split_once(':').map(|(s, _)| s))
            .map(|s| SITES.iter().copied().find(|x| *x == s).unwrap_or("?"))
            .collect();
        prop_assert_eq!(named, site_breach);
        // Scope fleet: only the whole population decides.
        pl.gates.scope = Scope::Fleet;
        let f = evaluate(&pl, &build(&gens), t(0));
        prop_assert_eq!(f.outcome == Outcome::Fail, fleet_breach);
    }
}

/// An evaluation as `rollout show --json` prints it lists every site with a
/// targeted device.
#[test]
fn every_targeted_site_is_listed() {
    let e: Evaluation = evaluate(&plan(Scope::Site), &hot_ber(), t(0));
    let names: Vec<&str> = e.sites.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, SITES);
}

/// The rollouts list says where: the needs phrase carries the breaching site
/// and its figure.
#[test]
fn the_console_names_the_breaching_site() {
    let mut snap = fixture::snapshot(120, 8);
    // One gate interval after the first (passing) evaluation.
    snap.taken_at = fixture::t(fixture::T0 + 70);
    for d in snap
        .devices
        .iter_mut()
        .filter(|d| d.group == "canary" && d.site == "site-05")
    {
        d.figures.set(Figure::CpuTemp, Some(86.0));
    }
    let mut app = fixture::rollout_app(
        fixture::rollout_plan(1, fleetdeck::rollout::plan::Status::Progressing),
        false,
    );
    app.update(Event::Fleet {
        generation: 2,
        result: Ok(std::sync::Arc::new(Fleet::build(
            snap,
            None,
            &Thresholds::default(),
        ))),
        warnings: vec![],
    });
    let e = app.rollouts.get("vision-1.5.0").expect("entry");
    assert!(
        matches!(e.verdict, Verdict::Failing { .. }),
        "{:?}",
        e.verdict
    );
    let (rank, phrase) = e.needs(fixture::t(fixture::T0 + 2));
    assert_eq!(rank, 1);
    assert_eq!(
        phrase,
        "gates failing (1/3): site-05: CPU 86.0°C > 80.0°C on 3 devices on 1.5.0"
    );
}

/// The history keeps per-site results for the latest evaluation only.
#[test]
fn history_keeps_per_site_results_of_the_latest_only() {
    let pl = plan(Scope::Site);
    let mut h = GateHistory::new();
    for i in 0..5 {
        assert!(h.observe(&pl, &hot_ber(), t(i * 60)).is_some());
    }
    assert_eq!(h.latest().map(|e| e.sites.len()), Some(4));
    assert_eq!(h.check_strip("cpu_temp"), "✔✔✔✔✔");
    assert_eq!(h.failures(), 5);
}
