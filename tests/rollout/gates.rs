//! Rollout progress (observed from `fleet_release_info`) and health gates, on
//! small fleets whose every count is worked out by hand below.

use fleetdeck::fleet::{DeviceSample, Fleet, Health, Reach, Release, Snapshot, Thresholds};
use fleetdeck::metrics::def::Figure;
use fleetdeck::rollout::gate::{
    self, CHECKS, GateHistory, HISTORY, Outcome, Verdict, evaluate, verdict_reason,
};
use fleetdeck::rollout::plan::{DigestRef, Plan, ReleaseSpec, Status, Wave};
use fleetdeck::rollout::progress::{Cell, progress};
use proptest::prelude::*;
use std::time::{Duration, SystemTime};

const NEW: char = 'b';
const OLD: char = 'a';

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

fn wave(sites: &[&str], groups: &[&str], percent: Option<f64>) -> Wave {
    Wave {
        name: None,
        sites: sites.iter().map(|s| s.to_string()).collect(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        percent,
        soak: Duration::ZERO,
    }
}

/// 1.5.0 replacing 1.4.0: the `canary` group, then site `ams`, then everyone.
fn plan(released: usize) -> Plan {
    let mut p = Plan::new("vision-1.5.0", spec("1.5.0", NEW), spec("1.4.0", OLD));
    p.waves = vec![
        wave(&[], &["canary"], None),
        wave(&["ams"], &[], None),
        wave(&[], &[], Some(100.0)),
    ];
    p.state.wave = released;
    p
}

/// A device on `release` (None: reports none) with healthy figures.
fn dev(id: &str, site: &str, group: &str, release: Option<char>) -> DeviceSample {
    let mut s = DeviceSample::new(id, site, group);
    s.release = release.map(|c| Release {
        version: String::new(),
        release: String::new(),
        image_digest: digest(c),
        model_digest: String::new(),
    });
    s.agent_state = Some("idle".into());
    for (f, v) in [
        (Figure::LatencyP95, 0.150),
        (Figure::ErrorRate, 0.01),
        (Figure::Throughput, 10.0),
        (Figure::CpuTemp, 55.0),
    ] {
        s.figures.set(f, Some(v));
    }
    s
}

fn with(mut s: DeviceSample, f: Figure, v: Option<f64>) -> DeviceSample {
    s.figures.set(f, v);
    s
}

fn agent(mut s: DeviceSample, state: &str) -> DeviceSample {
    s.agent_state = Some(state.into());
    s
}

fn down(mut s: DeviceSample) -> DeviceSample {
    s.reach = Reach::Down(Some("connection refused".into()));
    s.release = None;
    s.agent_state = None;
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

fn cell(v: [usize; 7]) -> Cell {
    let [
        devices,
        on_new,
        healthy_on_new,
        updating,
        failed,
        offline,
        on_previous,
    ] = v;
    Cell {
        devices,
        on_new,
        healthy_on_new,
        updating,
        failed,
        offline,
        on_previous,
    }
}

/// Eleven devices over three sites, three groups and three waves.
fn matrix_fleet() -> Fleet {
    let mut f = fleet(vec![
        // wave 1 (group canary)
        dev("c1", "ams", "canary", Some(NEW)),
        with(
            dev("c2", "fra", "canary", Some(NEW)),
            Figure::LatencyP95,
            Some(0.5),
        ), // degraded
        agent(dev("c3", "fra", "canary", Some(OLD)), "installing"),
        down(dev("c4", "ber", "canary", Some(OLD))),
        // wave 2 (site ams)
        dev("a1", "ams", "vision", Some(NEW)),
        agent(dev("a2", "ams", "vision", Some(OLD)), "failed"),
        dev("a3", "ams", "kiosk", Some('c')), // drift
        dev("a4", "ams", "kiosk", Some(NEW)), // made stale below
        // wave 3 (everyone else)
        dev("f1", "fra", "vision", Some(OLD)),
        dev("f2", "ber", "vision", Some(NEW)), // early: not targeted
        dev("b1", "ber", "kiosk", None),       // online, reports no release
    ]);
    let i = fleet_index(&f, "a4");
    f.devices[i].health = Health::Stale;
    f
}

fn fleet_index(f: &Fleet, id: &str) -> usize {
    f.index[id]
}

#[test]
fn progress_counts_per_site_and_group_by_wave() {
    let p = progress(&plan(2), &matrix_fleet());
    assert_eq!(p.waves, 3);
    assert_eq!(p.sites, ["ams", "ber", "fra"]);
    assert_eq!(p.groups, ["canary", "kiosk", "vision"]);
    let z = Cell::default();
    //                     dev new hlt upd fail off prev
    assert_eq!(
        p.by_site[0],
        [
            cell([1, 1, 1, 0, 0, 0, 0]),
            cell([4, 2, 1, 0, 2, 1, 1]),
            z.clone()
        ],
        "ams"
    );
    assert_eq!(
        p.by_site[1],
        [
            cell([1, 0, 0, 0, 0, 1, 0]),
            z.clone(),
            cell([2, 1, 1, 0, 1, 0, 0])
        ],
        "ber"
    );
    assert_eq!(
        p.by_site[2],
        [
            cell([2, 1, 0, 1, 0, 0, 1]),
            z.clone(),
            cell([1, 0, 0, 0, 0, 0, 1])
        ],
        "fra"
    );
    assert_eq!(
        p.by_group[0],
        [cell([4, 2, 1, 1, 0, 1, 1]), z.clone(), z.clone()],
        "canary"
    );
    assert_eq!(
        p.by_group[1],
        [
            z.clone(),
            cell([2, 1, 0, 0, 1, 1, 0]),
            cell([1, 0, 0, 0, 1, 0, 0])
        ],
        "kiosk"
    );
    assert_eq!(
        p.by_group[2],
        [
            z.clone(),
            cell([2, 1, 1, 0, 1, 0, 1]),
            cell([2, 1, 1, 0, 0, 0, 1])
        ],
        "vision"
    );
    assert_eq!(
        p.per_wave,
        [
            cell([4, 2, 1, 1, 0, 1, 1]),
            cell([4, 2, 1, 0, 2, 1, 1]),
            cell([3, 1, 1, 0, 1, 0, 1]),
        ]
    );
    assert_eq!(
        p.total,
        cell([8, 4, 2, 1, 2, 2, 2]),
        "waves 1 and 2 are targeted, wave 3 is not"
    );
    assert_eq!((p.fleet_on_new, p.fleet_devices), (5, 11));
    assert_eq!(p.fleet_share_on_new(), Some(5.0 / 11.0));
    assert_eq!(p.drift, ["a3", "b1"]);
}

#[test]
fn offline_is_offline_not_failed() {
    // A down device whose agent last said "failed" and a stale one: offline only.
    let mut f = fleet(vec![
        down(agent(dev("c1", "ams", "canary", Some(OLD)), "failed")),
        agent(dev("c2", "ams", "canary", Some(OLD)), "failed"),
        dev("c3", "ams", "canary", Some('z')),
    ]);
    let i = fleet_index(&f, "c2");
    f.devices[i].health = Health::Stale;
    let p = progress(&plan(1), &f);
    assert_eq!(p.total.offline, 2);
    assert_eq!(
        p.total.failed, 1,
        "only the online device on another release"
    );
    assert_eq!(p.drift, ["c3"]);
}

#[test]
fn aborted_rollout_is_done_when_back_on_previous() {
    let mut pl = plan(2);
    pl.state.status = Status::Aborted;
    let p = progress(&pl, &matrix_fleet());
    assert_eq!(
        p.total,
        cell([8, 4, 2, 1, 2, 2, 2]),
        "the same devices stay targeted"
    );
    assert_eq!(p.total.done(Status::Aborted), 2);
    assert_eq!(p.total.done(Status::Progressing), 4);
    assert_eq!(p.total.share_done(Status::Aborted), Some(0.25));
    assert_eq!(Cell::default().share_done(Status::Aborted), None);
}

#[test]
fn nothing_released_targets_nobody() {
    let p = progress(&plan(0), &matrix_fleet());
    assert_eq!(p.total, Cell::default());
    assert_eq!(
        p.per_wave[0].devices, 4,
        "membership is shown before release"
    );
}

// ---------------------------------------------------------------- gates

/// Three canary devices on 1.5.0 and four baseline devices on 1.4.0, all fine.
fn gate_fleet(canary: impl Fn(DeviceSample) -> DeviceSample) -> Vec<DeviceSample> {
    let mut v: Vec<DeviceSample> = (1..=3)
        .map(|i| canary(dev(&format!("c{i}"), "ams", "canary", Some(NEW))))
        .collect();
    v.extend((1..=4).map(|i| dev(&format!("v{i}"), "fra", "vision", Some(OLD))));
    v
}

fn check<'a>(e: &'a gate::Evaluation, name: &str) -> &'a gate::CheckResult {
    e.check(name).expect("check present")
}

#[test]
fn healthy_canary_passes() {
    let e = evaluate(&plan(1), &fleet(gate_fleet(|d| d)), t(0));
    assert_eq!(e.outcome, Outcome::Pass, "{e:#?}");
    assert_eq!(
        e.checks.iter().map(|c| c.name).collect::<Vec<_>>(),
        CHECKS.to_vec()
    );
    assert_eq!((e.canary_devices, e.baseline_devices), (3, 4));
    let l = check(&e, "latency_p95");
    assert_eq!(
        (l.value, l.threshold, l.baseline),
        (Some(0.15), 0.3, Some(0.15))
    );
    assert_eq!(l.detail, "p95 150ms ≤ 300ms, baseline 150ms (+0%)");
    assert_eq!(check(&e, "up").value, Some(1.0));
    assert_eq!(
        check(&e, "up").detail,
        "3 of 3 targeted devices up (100%) ≥ 90%"
    );
    assert_eq!(
        check(&e, "cpu_temp").detail,
        "CPU 55.0°C ≤ 80.0°C, baseline 55.0°C"
    );
}

#[test]
fn absolute_threshold_fails() {
    let mut devices = gate_fleet(|d| with(d, Figure::LatencyP95, Some(0.452)));
    for d in devices.iter_mut().filter(|d| d.group == "vision") {
        d.figures.set(Figure::LatencyP95, Some(0.45));
    }
    let e = evaluate(&plan(1), &fleet(devices), t(0));
    assert_eq!(e.outcome, Outcome::Fail);
    let l = check(&e, "latency_p95");
    assert_eq!(l.outcome, Outcome::Fail);
    assert_eq!(l.detail, "p95 452ms > 300ms");
    assert_eq!(check(&e, "error_rate").outcome, Outcome::Pass);
    assert_eq!(
        check(&e, "up").outcome,
        Outcome::Pass,
        "degraded is still up"
    );

    let hot = evaluate(
        &plan(1),
        &fleet(gate_fleet(|d| with(d, Figure::CpuTemp, Some(84.0)))),
        t(0),
    );
    assert_eq!(check(&hot, "cpu_temp").detail, "CPU 84.0°C > 80.0°C");
}

#[test]
fn regression_against_baseline_fails() {
    let e = evaluate(
        &plan(1),
        &fleet(gate_fleet(|d| with(d, Figure::LatencyP95, Some(0.21)))),
        t(0),
    );
    let l = check(&e, "latency_p95");
    assert_eq!(l.outcome, Outcome::Fail);
    assert_eq!(l.baseline, Some(0.15));
    assert_eq!(
        l.detail,
        "p95 210ms is 40% worse than baseline 150ms (limit +20%)"
    );

    let mut devices = gate_fleet(|d| with(d, Figure::ErrorRate, Some(0.025)));
    for d in devices.iter_mut().filter(|d| d.group == "vision") {
        d.figures.set(Figure::ErrorRate, Some(0.005));
    }
    let e = evaluate(&plan(1), &fleet(devices), t(0));
    let er = check(&e, "error_rate");
    assert_eq!(
        er.outcome,
        Outcome::Fail,
        "2.5 % is under 3 % but 2 points worse"
    );
    assert_eq!(
        er.detail,
        "error rate 2.5% is 2.0 points above baseline 0.5% (limit +1.0)"
    );
    assert_eq!(e.outcome, Outcome::Fail);
}

#[test]
fn no_canary_device_is_inconclusive_never_pass() {
    // Nothing released.
    let e = evaluate(&plan(0), &fleet(gate_fleet(|d| d)), t(0));
    assert_eq!(e.outcome, Outcome::Inconclusive);
    assert!(e.checks.iter().all(|c| c.outcome == Outcome::Inconclusive));
    assert_eq!(check(&e, "latency_p95").detail, "no device runs 1.5.0 yet");
    assert_eq!(check(&e, "up").detail, "no wave released yet");
    // Released, but the canaries still run 1.4.0.
    let mut devices = gate_fleet(|d| d);
    for d in &mut devices {
        d.release.as_mut().expect("release").image_digest = digest(OLD);
    }
    let e = evaluate(&plan(1), &fleet(devices), t(0));
    assert_eq!(e.outcome, Outcome::Inconclusive);
    assert_eq!(e.canary_devices, 0);
    assert_eq!(check(&e, "error_rate").detail, "no device runs 1.5.0 yet");
    assert_eq!(check(&e, "error_rate").value, None);
    assert_eq!(check(&e, "up").outcome, Outcome::Pass);
}

#[test]
fn nan_and_missing_figures_are_inconclusive() {
    let e = evaluate(
        &plan(1),
        &fleet(gate_fleet(|d| {
            let d = with(d, Figure::LatencyP95, Some(f64::NAN));
            with(d, Figure::ErrorRate, None)
        })),
        t(0),
    );
    assert_eq!(e.outcome, Outcome::Inconclusive);
    let l = check(&e, "latency_p95");
    assert_eq!((l.outcome, l.value), (Outcome::Inconclusive, None));
    assert_eq!(
        l.detail,
        "none of the 3 devices on 1.5.0 reports latency p95"
    );
    assert_eq!(check(&e, "error_rate").outcome, Outcome::Inconclusive);
    assert_eq!(check(&e, "cpu_temp").outcome, Outcome::Pass);

    // Fewer devices with data than min_devices.
    let mut pl = plan(1);
    pl.gates.min_devices = 3;
    let mut devices = gate_fleet(|d| d);
    devices[0].figures.set(Figure::CpuTemp, Some(f64::INFINITY));
    let e = evaluate(&pl, &fleet(devices), t(0));
    assert_eq!(
        check(&e, "cpu_temp").detail,
        "2 of 3 devices on 1.5.0 report CPU temperature; 3 needed"
    );
}

#[test]
fn infinite_p95_is_the_worst_latency_not_missing_data() {
    let e = evaluate(
        &plan(1),
        &fleet(gate_fleet(|d| {
            with(d, Figure::LatencyP95, Some(f64::INFINITY))
        })),
        t(0),
    );
    assert_eq!(check(&e, "latency_p95").outcome, Outcome::Fail);
    assert!(
        check(&e, "latency_p95")
            .detail
            .starts_with("p95 +Inf > 300ms"),
        "{}",
        check(&e, "latency_p95").detail
    );
}

#[test]
fn down_devices_figures_do_not_count_but_lower_the_up_share() {
    let mut devices = gate_fleet(|d| d);
    devices.push(with(
        down(dev("c9", "ams", "canary", Some(NEW))),
        Figure::LatencyP95,
        Some(9.0),
    ));
    let e = evaluate(&plan(1), &fleet(devices), t(0));
    assert_eq!(check(&e, "latency_p95").outcome, Outcome::Pass);
    assert_eq!(e.canary_devices, 3);
    let up = check(&e, "up");
    assert_eq!((up.outcome, up.value), (Outcome::Fail, Some(0.75)));
    assert_eq!(up.detail, "3 of 4 targeted devices up (75%) < 90%");
}

#[test]
fn error_rate_is_weighted_by_requests_else_a_plain_mean() {
    let busy = |d: DeviceSample, e: f64, thr: Option<f64>| {
        with(with(d, Figure::ErrorRate, Some(e)), Figure::Throughput, thr)
    };
    // 10 % errors on 1 req/s and 0 % on 99 req/s: 0.1 % of requests failed.
    let devices = vec![
        busy(dev("c1", "ams", "canary", Some(NEW)), 0.10, Some(1.0)),
        busy(dev("c2", "ams", "canary", Some(NEW)), 0.0, Some(99.0)),
    ];
    let e = evaluate(&plan(1), &fleet(devices.clone()), t(0));
    let er = check(&e, "error_rate");
    assert!((er.value.expect("value") - 0.001).abs() < 1e-12);
    assert_eq!(er.outcome, Outcome::Pass);
    assert_eq!(er.baseline, None, "no device on the previous release");
    // Without throughput: the plain mean, 5 %.
    let mut devices = devices;
    devices[1].figures.set(Figure::Throughput, None);
    let e = evaluate(&plan(1), &fleet(devices), t(0));
    let er = check(&e, "error_rate");
    assert!((er.value.expect("value") - 0.05).abs() < 1e-12);
    assert_eq!(er.detail, "error rate 5.0% > 3.0%");
}

// ------------------------------------------------------- gates over time

fn bad() -> Fleet {
    fleet(gate_fleet(|d| with(d, Figure::LatencyP95, Some(0.6))))
}

fn good() -> Fleet {
    fleet(gate_fleet(|d| d))
}

#[test]
fn failures_count_once_per_interval_up_to_the_limit() {
    let pl = plan(1); // interval 60 s, failure_limit 3
    let mut h = GateHistory::new();
    assert_eq!(h.verdict(&pl), Verdict::Pending);
    assert_eq!(
        verdict_reason(&h.verdict(&pl)),
        Err((true, "gates not evaluated yet".to_string()))
    );

    assert!(h.observe(&pl, &bad(), t(0)).is_some());
    assert_eq!(h.failures(), 1);
    assert_eq!(
        h.verdict(&pl),
        Verdict::Failing {
            failures: 1,
            limit: 3,
            // Issue 11: where first (the canaries are all in ams, which has
            // no baseline device of its own), then the whole population.
            reasons: vec![
                "ams: p95 600ms > 300ms; p95 600ms is 300% worse than fleet baseline 150ms \
                 (limit +20%) on 3 devices on 1.5.0"
                    .into(),
                "p95 600ms > 300ms; p95 600ms is 300% worse than baseline 150ms (limit +20%)"
                    .into()
            ],
        }
    );
    let (inconclusive, why) = verdict_reason(&h.verdict(&pl)).expect_err("not a pass");
    assert!(!inconclusive);
    assert!(
        why.starts_with("gates failing (1 of 3 tolerated failures): ams: p95 600ms"),
        "{why}"
    );

    // Calls inside the interval record nothing, however bad the data.
    for s in [1, 30, 59] {
        assert!(h.observe(&pl, &bad(), t(s)).is_none(), "at {s}s");
    }
    assert_eq!(h.failures(), 1);
    assert_eq!(h.latest().map(|e| e.at), Some(t(0)));

    assert!(h.observe(&pl, &bad(), t(60)).is_some());
    assert_eq!(h.failures(), 2);
    assert!(h.observe(&pl, &good(), t(100)).is_none());
    assert!(
        h.observe(&pl, &good(), t(120)).is_some(),
        "a pass does not forgive earlier failures"
    );
    assert_eq!(h.failures(), 2);
    assert_eq!(h.verdict(&pl), Verdict::Pass);
    assert!(verdict_reason(&h.verdict(&pl)).is_ok());

    assert!(h.observe(&pl, &bad(), t(180)).is_some());
    assert_eq!(h.failures(), 3);
    let v = h.verdict(&pl);
    assert!(
        matches!(
            v,
            Verdict::Failed {
                failures: 3,
                limit: 3,
                ..
            }
        ),
        "{v:?}"
    );
    // Failed is sticky within the wave.
    assert!(h.observe(&pl, &good(), t(240)).is_some());
    assert_eq!(h.latest().map(|e| e.outcome), Some(Outcome::Pass));
    let v = h.verdict(&pl);
    assert_eq!(v.key(), "failed");
    let (inconclusive, why) = verdict_reason(&v).expect_err("failed");
    assert!(!inconclusive);
    assert!(
        why.contains("3 failed evaluations reached the limit of 3: ams: p95 600ms > 300ms"),
        "{why}"
    );

    assert_eq!(h.check_strip("latency_p95"), "✖✖✔✖✔");
    assert_eq!(
        h.check_history("up"),
        vec![Outcome::Pass; 5],
        "per-check history"
    );
    assert_eq!(h.check_history("nonexistent"), Vec::<Outcome>::new());
}

#[test]
fn wave_or_status_change_resets_failures_and_evaluates_at_once() {
    let mut pl = plan(1);
    let mut h = GateHistory::new();
    h.observe(&pl, &bad(), t(0));
    h.observe(&pl, &bad(), t(60));
    assert_eq!(h.failures(), 2);

    pl.state.wave = 2; // promoted (forced)
    assert_eq!(
        h.verdict(&pl),
        Verdict::Pending,
        "an earlier wave's evaluation never approves this one"
    );
    assert!(
        h.observe(&pl, &bad(), t(61)).is_some(),
        "no waiting for the interval"
    );
    assert_eq!(h.failures(), 1);
    assert_eq!(h.check_strip("latency_p95"), "✖✖✖", "the strip spans waves");

    pl.state.status = Status::Paused;
    assert!(h.observe(&pl, &good(), t(62)).is_some());
    assert_eq!(h.failures(), 0);
    assert_eq!(h.verdict(&pl), Verdict::Pass);
    assert!(h.observe(&pl, &bad(), t(63)).is_none());

    // Another rollout starts a fresh history.
    let mut other = plan(1);
    other.name = "vision-1.6.0".into();
    assert!(h.observe(&other, &good(), t(64)).is_some());
    assert_eq!(h.check_strip("latency_p95"), "✔");
}

#[test]
fn inconclusive_verdict_and_history_cap() {
    let pl = plan(0);
    let mut h = GateHistory::new();
    for i in 0..(HISTORY as u64 + 5) {
        assert!(h.observe(&pl, &good(), t(i * 60)).is_some());
    }
    assert_eq!(h.check_history("cpu_temp").len(), HISTORY);
    assert_eq!(h.check_strip("cpu_temp"), "?".repeat(HISTORY));
    assert_eq!(h.failures(), 0);
    let v = h.verdict(&pl);
    assert_eq!(
        v,
        Verdict::Inconclusive {
            reasons: vec![
                "no device runs 1.5.0 yet".into(),
                "no device runs 1.5.0 yet".into(),
                "no device runs 1.5.0 yet".into(),
                "no wave released yet".into(),
            ]
        }
    );
    assert!(matches!(verdict_reason(&v), Err((true, _))));
    assert_eq!(Outcome::Pass.symbol(), "✔");
    assert_eq!(Outcome::Fail.symbol(), "✖");
    assert_eq!(Outcome::Inconclusive.symbol(), "?");
}

#[test]
fn clock_going_back_does_not_stall_or_spam_evaluations() {
    let pl = plan(1);
    let mut h = GateHistory::new();
    h.observe(&pl, &bad(), t(1000));
    assert!(
        h.observe(&pl, &bad(), t(990)).is_none(),
        "a small step back"
    );
    assert!(
        h.observe(&pl, &bad(), t(100)).is_some(),
        "the clock was reset"
    );
    assert_eq!(h.failures(), 2);
}

#[test]
fn evaluation_serialises_for_json_output() {
    let e = evaluate(&plan(1), &good(), t(0));
    let v = serde_json::to_value(&e).expect("json");
    assert_eq!(v["outcome"], "pass");
    assert_eq!(v["at"], "2027-01-15T08:00:00Z");
    assert_eq!(v["checks"][0]["name"], "latency_p95");
    let f = serde_json::to_value(Verdict::Failing {
        failures: 1,
        limit: 3,
        reasons: vec!["x".into()],
    })
    .expect("json");
    assert_eq!(f["verdict"], "failing");
    assert_eq!(f["limit"], 3);
}

// ------------------------------------------------------------- properties

fn any_figure() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        Just(Some(f64::NAN)),
        Just(Some(f64::INFINITY)),
        Just(Some(f64::NEG_INFINITY)),
        Just(Some(0.0)),
        Just(Some(-0.0)),
        (-1e9f64..1e9).prop_map(Some),
        (0.0f64..2.0).prop_map(Some),
        Just(Some(f64::MAX)),
        Just(Some(f64::MIN_POSITIVE)),
    ]
}

#[derive(Debug, Clone)]
struct Gen {
    site: u8,
    group: u8,
    release: u8,
    down: bool,
    agent: u8,
    figures: [Option<f64>; 4],
}

fn any_device() -> impl Strategy<Value = Gen> {
    (
        0u8..4,
        0u8..3,
        0u8..4,
        any::<bool>(),
        0u8..6,
        [any_figure(), any_figure(), any_figure(), any_figure()],
    )
        .prop_map(|(site, group, release, down, agent, figures)| Gen {
            site,
            group,
            release,
            down,
            agent,
            figures,
        })
}

fn build(gens: &[Gen]) -> Fleet {
    let devices = gens
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut s = dev(
                &format!("d{i}"),
                ["ams", "fra", "ber", "osl"][g.site as usize],
                ["canary", "vision", "kiosk"][g.group as usize],
                [Some(NEW), Some(OLD), Some('c'), None][g.release as usize],
            );
            for (f, v) in [
                Figure::LatencyP95,
                Figure::ErrorRate,
                Figure::Throughput,
                Figure::CpuTemp,
            ]
            .into_iter()
            .zip(g.figures)
            {
                s.figures.set(f, v);
            }
            s.agent_state = [
                "idle",
                "downloading",
                "verifying",
                "installing",
                "failed",
                "",
            ]
            .get(g.agent as usize)
            .filter(|a| !a.is_empty())
            .map(|a| a.to_string());
            if g.down {
                s.reach = Reach::Down(None);
            }
            s
        })
        .collect();
    fleet(devices)
}

proptest! {
    #[test]
    fn gates_and_progress_never_panic_and_stay_consistent(
        gens in prop::collection::vec(any_device(), 0..40),
        released in 0usize..=3,
        min_devices in 0usize..4,
        regression in any_figure(),
        aborted in any::<bool>(),
    ) {
        let mut pl = plan(released);
        pl.gates.min_devices = min_devices;
        if let Some(r) = regression {
            pl.gates.latency_p95_regression = r;
            pl.gates.error_rate_regression = r;
        }
        if aborted {
            pl.state.status = Status::Aborted;
        }
        let f = build(&gens);
        let e = evaluate(&pl, &f, t(0));
        for c in &e.checks {
            if c.value.is_none() {
                prop_assert_eq!(c.outcome, Outcome::Inconclusive, "{:?}", c);
            }
            prop_assert!(!c.detail.is_empty());
        }
        // Issue 11: a breaching site (group, by scope) with enough devices
        // on the new release fails the evaluation too.
        let unit_fails = e
            .sites
            .iter()
            .chain(&e.groups)
            .any(|u| u.counts && u.outcome == Outcome::Fail);
        prop_assert_eq!(unit_fails, !e.breaches.is_empty());
        let expected = if unit_fails || e.checks.iter().any(|c| c.outcome == Outcome::Fail) {
            Outcome::Fail
        } else if e.checks.iter().any(|c| c.outcome == Outcome::Inconclusive) {
            Outcome::Inconclusive
        } else {
            Outcome::Pass
        };
        prop_assert_eq!(e.outcome, expected);
        if e.canary_devices == 0 {
            prop_assert_ne!(e.outcome, Outcome::Pass, "never pass without a canary");
        }
        prop_assert!(serde_json::to_string(&e).is_ok());

        let p = progress(&pl, &f);
        let sum = |cells: &[Cell]| cells.iter().map(|c| c.devices).sum::<usize>();
        prop_assert_eq!(sum(&p.per_wave), gens.len(), "100 % wave: everyone is in a wave");
        prop_assert_eq!(p.by_site.iter().map(|r| sum(r)).sum::<usize>(), gens.len());
        prop_assert_eq!(p.by_group.iter().map(|r| sum(r)).sum::<usize>(), gens.len());
        for c in p.per_wave.iter().chain([&p.total]) {
            prop_assert!(c.offline + c.failed + c.updating <= c.devices);
            prop_assert!(c.on_new + c.on_previous <= c.devices);
            prop_assert!(c.healthy_on_new <= c.on_new);
        }
        prop_assert!(p.total.devices <= p.fleet_devices);
    }
}
