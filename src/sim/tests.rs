//! Unit tests of the simulated figures: they render through the same code the
//! HTTP server uses and read the numbers back as a scraper would.

use std::collections::HashMap;

use super::*;

/// 2023-11-14 22:13:20 UTC: a fixed start so every run sees the same load.
const T0: f64 = 1_700_000_000.0;

fn fleet(opts: SimOptions) -> SimFleet {
    SimFleet::new_at(&opts, T0).expect("valid options")
}

/// `series text -> value`, e.g. `inference_latency_seconds_bucket{le="0.1"}`.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("sample line has a value");
            let value: f64 = value.parse().expect("sample value is a number");
            (series.to_owned(), value)
        })
        .collect()
}

fn scrape(f: &SimFleet, id: &str, t: f64) -> HashMap<String, f64> {
    let mut out = String::new();
    assert_eq!(
        f.scrape_at(id, t, &mut out),
        ScrapeOutcome::Rendered,
        "{id}"
    );
    parse(&out)
}

fn get(m: &HashMap<String, f64>, series: &str) -> f64 {
    *m.get(series)
        .unwrap_or_else(|| panic!("missing series {series}"))
}

const LE: [&str; 17] = [
    "0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.15", "0.2", "0.25", "0.3", "0.4", "0.5",
    "0.75", "1", "2.5", "5", "+Inf",
];

/// histogram_quantile as Prometheus computes it: linear interpolation inside
/// the bucket that holds the rank, over the increase between two scrapes.
fn quantile(q: f64, a: &HashMap<String, f64>, b: &HashMap<String, f64>) -> f64 {
    let bucket = |m: &HashMap<String, f64>, le: &str| {
        get(
            m,
            &format!("inference_latency_seconds_bucket{{le=\"{le}\"}}"),
        )
    };
    let deltas: Vec<(f64, f64)> = LE
        .iter()
        .map(|le| {
            let bound = if *le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("bound")
            };
            (bound, bucket(b, le) - bucket(a, le))
        })
        .collect();
    let total = deltas[deltas.len() - 1].1;
    assert!(total > 0.0, "no requests between the scrapes");
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(upper, cum) in &deltas {
        if cum >= rank {
            if upper.is_infinite() {
                return lower;
            }
            return lower + (upper - lower) * (rank - below) / (cum - below);
        }
        lower = upper;
        below = cum;
    }
    lower
}

fn site_devices(f: &SimFleet, site: &str) -> Vec<String> {
    f.devices()
        .iter()
        .filter(|d| d.site == site)
        .map(|d| d.id.clone())
        .collect()
}

#[test]
fn exposition_parses_with_prometheus_parse_and_has_every_metric() {
    let f = fleet(SimOptions::default());
    let mut out = String::new();
    f.scrape_at("pi-00001", T0 + 15.0, &mut out);
    let lines = out.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("parses");
    let names: std::collections::HashSet<&str> =
        scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for name in [
        "inference_latency_seconds",
        "inference_requests_total",
        "inference_errors_total",
        "inference_confidence",
        "node_thermal_zone_temp",
        "rpi_throttled",
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
        "npu_utilization_ratio",
        "fleet_release_info",
        "fleet_agent_state",
    ] {
        assert!(names.contains(name), "{name} missing from\n{out}");
    }
    let latency = scrape
        .samples
        .iter()
        .find(|s| s.metric == "inference_latency_seconds")
        .expect("latency histogram");
    match &latency.value {
        prometheus_parse::Value::Histogram(buckets) => assert_eq!(buckets.len(), 17),
        other => panic!("latency is not a histogram: {other:?}"),
    }
    let temp = scrape
        .samples
        .iter()
        .find(|s| s.metric == "node_thermal_zone_temp")
        .expect("temperature");
    assert_eq!(temp.labels.get("type"), Some("cpu-thermal"));
    assert_eq!(temp.labels.get("zone"), Some("0"));
}

#[test]
fn every_line_is_well_formed() {
    let f = fleet(SimOptions::default());
    let mut out = String::new();
    f.scrape_at("pi-00002", T0 + 1.0, &mut out);
    assert!(out.ends_with('\n'));
    let mut typed = std::collections::HashSet::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().expect("name");
            assert!(typed.insert(name.to_owned()), "TYPE {name} twice");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("value");
        let v: f64 = value.parse().expect("number");
        assert!(v.is_finite(), "{line}");
        let name = series.split('{').next().expect("name");
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|b| typed.contains(*b))
            .unwrap_or(name);
        assert!(typed.contains(base), "sample before its TYPE: {line}");
    }
}

#[test]
fn counters_are_monotonic_and_consistent_across_scrapes() {
    let f = fleet(SimOptions::default());
    let id = "pi-00042";
    let mut prev = scrape(&f, id, T0 + 10.0);
    for step in 1..=20 {
        let t = T0 + 10.0 + f64::from(step) * 7.5;
        let next = scrape(&f, id, t);
        for (series, v) in &next {
            let counter = series.contains("_total")
                || series.contains("_bucket")
                || series.contains("_sum")
                || series.contains("_count");
            if counter {
                let before = get(&prev, series);
                assert!(*v >= before, "{series} went back from {before} to {v}");
            }
        }
        let requests = get(&next, "inference_requests_total");
        assert!(
            requests > get(&prev, "inference_requests_total"),
            "no traffic in 7.5 s"
        );
        assert_eq!(
            requests,
            get(&next, "inference_latency_seconds_count"),
            "requests_total and the histogram count disagree"
        );
        assert_eq!(
            requests,
            get(&next, "inference_latency_seconds_bucket{le=\"+Inf\"}")
        );
        assert!(get(&next, "inference_errors_total") <= requests);
        let mut last = 0.0;
        for le in LE {
            let c = get(
                &next,
                &format!("inference_latency_seconds_bucket{{le=\"{le}\"}}"),
            );
            assert!(c >= last, "buckets not cumulative at le={le}");
            last = c;
        }
        // CPU seconds per core advance by wall time.
        let core0 = |m: &HashMap<String, f64>| {
            ["idle", "user", "system", "iowait"]
                .iter()
                .map(|mode| {
                    get(
                        m,
                        &format!("node_cpu_seconds_total{{cpu=\"0\",mode=\"{mode}\"}}"),
                    )
                })
                .sum::<f64>()
        };
        let dcpu = core0(&next) - core0(&prev);
        assert!(
            (dcpu - 7.5).abs() < 0.05,
            "core 0 advanced {dcpu} s in 7.5 s"
        );
        prev = next;
    }
    // A scrape from the past (a concurrent one that lost the race) changes nothing.
    let stale = scrape(&f, id, T0);
    assert_eq!(
        get(&stale, "inference_requests_total"),
        get(&prev, "inference_requests_total")
    );
}

#[test]
fn normal_figures_are_in_realistic_ranges_over_a_day() {
    let f = fleet(SimOptions::default());
    let ids: Vec<String> = f
        .devices()
        .iter()
        .step_by(7)
        .map(|d| d.id.clone())
        .collect();
    let mut prev: Vec<_> = ids.iter().map(|id| scrape(&f, id, T0 + 60.0)).collect();
    let (mut temps, mut rates, mut busy) = (Vec::new(), Vec::new(), Vec::new());
    for hour in 1..=24 {
        let t = T0 + 60.0 + f64::from(hour) * 3600.0;
        for (id, before) in ids.iter().zip(prev.iter_mut()) {
            let after = scrape(&f, id, t);
            let p95 = quantile(0.95, before, &after);
            let p50 = quantile(0.5, before, &after);
            assert!((0.12..=0.25).contains(&p95), "{id} p95 {p95}");
            assert!((0.05..=0.10).contains(&p50), "{id} p50 {p50}");
            let req =
                get(&after, "inference_requests_total") - get(before, "inference_requests_total");
            let err = get(&after, "inference_errors_total") - get(before, "inference_errors_total");
            let share = err / req;
            assert!((0.001..=0.009).contains(&share), "{id} error share {share}");
            rates.push(req / 3600.0);
            let idle = |m: &HashMap<String, f64>| {
                get(m, "node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"}")
            };
            busy.push(1.0 - (idle(&after) - idle(before)) / 3600.0);
            temps.push(get(
                &after,
                "node_thermal_zone_temp{type=\"cpu-thermal\",zone=\"0\"}",
            ));
            assert_eq!(get(&after, "rpi_throttled"), 0.0);
            let npu = get(&after, "npu_utilization_ratio");
            assert!((0.0..=1.0).contains(&npu));
            let avail = get(&after, "node_memory_MemAvailable_bytes");
            assert!(avail > 0.0 && avail < get(&after, "node_memory_MemTotal_bytes"));
            *before = after;
        }
    }
    let within = |v: &[f64], lo: f64, hi: f64| v.iter().filter(|x| (lo..=hi).contains(*x)).count();
    assert!(temps.iter().all(|t| (35.0..=72.0).contains(t)), "{temps:?}");
    assert!(
        within(&temps, 45.0, 65.0) * 10 >= temps.len() * 9,
        "temps mostly 45–65 °C"
    );
    assert!(rates.iter().all(|r| (4.5..=30.5).contains(r)), "{rates:?}");
    let (lo, hi) = rates
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    assert!(
        hi - lo > 8.0,
        "load should follow the day: {lo}..{hi} req/s"
    );
    // CPU follows the load: the hour with the most traffic is far busier
    // than the one with the least.
    let at = |r: f64| rates.iter().position(|x| *x == r).expect("sample");
    let (peak, quiet) = (busy[at(hi)], busy[at(lo)]);
    assert!(
        peak > quiet + 0.2,
        "CPU busy {peak} at peak vs {quiet} at quietest"
    );
    assert!(busy.iter().all(|b| (0.03..=0.9).contains(b)), "{busy:?}");
}

#[test]
fn slow_fault_moves_p95_to_about_450ms_on_that_site_only() {
    let f = fleet(SimOptions {
        slow: vec!["cdg-1".into()],
        ..SimOptions::default()
    });
    for site in ["cdg-1", "ams-1"] {
        for id in site_devices(&f, site) {
            let a = scrape(&f, &id, T0 + 10.0);
            let b = scrape(&f, &id, T0 + 310.0);
            let p95 = quantile(0.95, &a, &b);
            if site == "cdg-1" {
                assert!((0.40..=0.50).contains(&p95), "{id} slow p95 {p95}");
            } else {
                assert!(p95 < 0.25, "{id} healthy p95 {p95}");
            }
        }
    }
    // Turned off at runtime: the next window is healthy again.
    f.set_site_fault("cdg-1", SiteFault::Slow, false);
    let id = &site_devices(&f, "cdg-1")[0];
    let a = scrape(&f, id, T0 + 400.0);
    let b = scrape(&f, id, T0 + 700.0);
    assert!(quantile(0.95, &a, &b) < 0.25);
}

#[test]
fn errors_fault_raises_the_error_share_to_about_8_percent() {
    let f = fleet(SimOptions::default());
    let ids = site_devices(&f, "dub-1");
    let share = |from: f64, to: f64| {
        let (mut req, mut err) = (0.0, 0.0);
        for id in &ids {
            let a = scrape(&f, id, from);
            let b = scrape(&f, id, to);
            req += get(&b, "inference_requests_total") - get(&a, "inference_requests_total");
            err += get(&b, "inference_errors_total") - get(&a, "inference_errors_total");
        }
        err / req
    };
    let before = share(T0 + 10.0, T0 + 310.0);
    assert!((0.002..=0.008).contains(&before), "normal share {before}");
    f.set_site_fault("dub-1", SiteFault::Errors, true);
    assert_eq!(f.site_fault("dub-1", SiteFault::Errors), Some(true));
    let during = share(T0 + 320.0, T0 + 620.0);
    assert!((0.07..=0.09).contains(&during), "faulty share {during}");
}

#[test]
fn hot_fault_heats_and_throttles_without_touching_latency() {
    let f = fleet(SimOptions {
        hot: vec!["fra-1".into()],
        ..SimOptions::default()
    });
    let temp_series = "node_thermal_zone_temp{type=\"cpu-thermal\",zone=\"0\"}";
    for id in site_devices(&f, "fra-1") {
        let a = scrape(&f, &id, T0 + 10.0);
        let b = scrape(&f, &id, T0 + 310.0);
        let temp = get(&b, temp_series);
        assert!((82.0..=88.0).contains(&temp), "{id} hot temp {temp}");
        let bits = get(&b, "rpi_throttled") as u64;
        assert_eq!(bits, 0xE000E, "{id} throttled bits {bits:#x}");
        assert!(quantile(0.95, &a, &b) < 0.25);
    }
    for id in site_devices(&f, "ams-1") {
        let b = scrape(&f, &id, T0 + 310.0);
        assert!(get(&b, temp_series) < 72.0);
        assert_eq!(get(&b, "rpi_throttled"), 0.0);
    }
}

#[test]
fn unknown_fault_site_is_an_error_that_names_it() {
    let err = SimFleet::new(&SimOptions {
        hot: vec!["atlantis-9".into()],
        ..SimOptions::default()
    })
    .err()
    .expect("unknown site must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("'atlantis-9'") && msg.contains("--hot"),
        "{msg}"
    );
}

#[test]
fn offline_devices_are_not_rendered_and_can_come_back() {
    let f = fleet(SimOptions {
        offline: 7,
        ..SimOptions::default()
    });
    let offline = f.offline_devices();
    assert_eq!(offline.len(), 7);
    let mut out = String::new();
    assert_eq!(
        f.scrape_at(&offline[0], T0 + 1.0, &mut out),
        ScrapeOutcome::Offline
    );
    assert!(out.is_empty());
    f.set_offline(&offline[0], false);
    assert_eq!(f.offline_devices().len(), 6);
    assert_eq!(
        f.scrape_at(&offline[0], T0 + 2.0, &mut out),
        ScrapeOutcome::Rendered
    );
    assert_eq!(
        f.scrape_at("pi-99999", T0 + 2.0, &mut String::new()),
        ScrapeOutcome::Unknown
    );
}

#[test]
fn release_and_agent_state_are_per_device_and_exported() {
    let f = fleet(SimOptions::default());
    let stable = Release::stable();
    let m = scrape(&f, "pi-00001", T0 + 1.0);
    let info = format!(
        "fleet_release_info{{release=\"r41\",version=\"1.4.0\",image_digest=\"{}\",model_digest=\"{}\"}}",
        stable.image_digest, stable.model_digest
    );
    assert_eq!(get(&m, &info), 1.0);
    assert_eq!(get(&m, "fleet_agent_state{state=\"idle\"}"), 1.0);
    assert_eq!(get(&m, "fleet_agent_state{state=\"installing\"}"), 0.0);

    let next = Release::new("r42", "1.5.0");
    assert!(f.set_release("pi-00001", next.clone()));
    assert!(f.set_agent_state("pi-00001", AgentState::Installing));
    assert!(!f.set_release("pi-99999", next.clone()));
    let m = scrape(&f, "pi-00001", T0 + 2.0);
    let info = format!(
        "fleet_release_info{{release=\"r42\",version=\"1.5.0\",image_digest=\"{}\",model_digest=\"{}\"}}",
        next.image_digest, next.model_digest
    );
    assert_eq!(get(&m, &info), 1.0);
    assert_eq!(get(&m, "fleet_agent_state{state=\"installing\"}"), 1.0);
    assert_eq!(get(&m, "fleet_agent_state{state=\"idle\"}"), 0.0);
    // Other devices are untouched.
    assert_eq!(f.release("pi-00002"), Some(stable));
    assert_eq!(f.agent_state("pi-00002"), Some(AgentState::Idle));
}

#[test]
fn same_seed_same_figures() {
    let a = fleet(SimOptions::default());
    let b = fleet(SimOptions::default());
    for t in [T0 + 5.0, T0 + 65.0] {
        let (mut x, mut y) = (String::new(), String::new());
        a.scrape_at("pi-00123", t, &mut x);
        b.scrape_at("pi-00123", t, &mut y);
        assert_eq!(x, y);
    }
}

#[test]
fn confidence_median_is_about_085() {
    let f = fleet(SimOptions::default());
    let a = scrape(&f, "pi-00010", T0 + 1.0);
    let b = scrape(&f, "pi-00010", T0 + 601.0);
    let d = |le: &str| {
        let s = format!("inference_confidence_bucket{{le=\"{le}\"}}");
        get(&b, &s) - get(&a, &s)
    };
    let total = d("+Inf");
    assert!(total > 0.0);
    // Median within (0.8, 0.9]: less than half below 0.8, at least half up to 0.9.
    assert!(d("0.8") / total < 0.5 && d("0.9") / total >= 0.5);
    assert_eq!(d("1"), total);
}

#[test]
fn bad_release_parses_version_and_optional_site() {
    let b: BadRelease = "1.5.0@ams-1".parse().expect("valid");
    assert_eq!(b.version, "1.5.0");
    assert_eq!(b.site.as_deref(), Some("ams-1"));
    assert_eq!(b.to_string(), "1.5.0@ams-1");
    let b: BadRelease = "1.5.0".parse().expect("valid");
    assert_eq!(b.site, None);
    for (bad, why) in [
        ("", "no version"),
        ("@ams-1", "no version"),
        ("1.5.0@", "no site"),
        ("1.5.0@a@b", "more than one"),
        ("1.5 .0", "spaces"),
    ] {
        let e = bad.parse::<BadRelease>().expect_err(bad);
        assert!(e.contains(why) && e.contains("VERSION@SITE"), "{bad}: {e}");
    }
}

#[test]
fn bad_release_makes_that_version_slow_and_error_prone_on_its_site_only() {
    let f = fleet(SimOptions {
        bad_release: vec!["1.5.0@cdg-1".parse().expect("valid")],
        ..SimOptions::default()
    });
    for site in ["cdg-1", "ams-1"] {
        for id in site_devices(&f, site) {
            f.set_release(&id, release_for("1.5.0"));
        }
    }
    let other = &site_devices(&f, "cdg-1")[0];
    f.set_release(other, release_for("1.4.1"));
    for site in ["cdg-1", "ams-1"] {
        for id in site_devices(&f, site) {
            let a = scrape(&f, &id, T0 + 10.0);
            let b = scrape(&f, &id, T0 + 310.0);
            let p95 = quantile(0.95, &a, &b);
            let req = get(&b, "inference_requests_total") - get(&a, "inference_requests_total");
            let err = get(&b, "inference_errors_total") - get(&a, "inference_errors_total");
            if site == "cdg-1" && &id != other {
                assert!((0.40..=0.50).contains(&p95), "{id} bad p95 {p95}");
                assert!((0.05..=0.11).contains(&(err / req)), "{id} {err}/{req}");
            } else {
                assert!(p95 < 0.25, "{id} healthy p95 {p95}");
                assert!(err / req < 0.03, "{id} {err}/{req}");
            }
        }
    }
    assert!(matches!(
        SimFleet::new(&SimOptions {
            bad_release: vec!["1.5.0@nowhere-9".parse().expect("valid")],
            ..SimOptions::default()
        }),
        Err(SimError::UnknownSite {
            option: "--bad-release",
            ..
        })
    ));
}

#[test]
fn drifted_devices_run_the_hotpatch_and_are_neither_offline_nor_stuck() {
    let f = fleet(SimOptions {
        devices: 120,
        sites: 6,
        offline: 6,
        stuck: 3,
        drifted: 2,
        ..SimOptions::default()
    });
    let drifted = f.drifted_devices();
    assert_eq!(drifted.len(), 2);
    let stuck = f.stuck_devices();
    for id in &drifted {
        assert!(!stuck.contains(id), "{id} is both drifted and stuck");
        let r = f.release(id).expect("a drifted device reports a release");
        assert_eq!(r.version, "1.4.0-hotpatch");
        assert_ne!(r.image_digest, release::Release::stable().image_digest);
        let m = scrape(&f, id, T0 + 1.0);
        assert!(
            m.keys()
                .any(|k| k.starts_with("fleet_release_info") && k.contains("1.4.0-hotpatch")),
            "{id} exports the hotpatch: {m:?}"
        );
    }
    // Everyone else runs the stable release.
    let others = f
        .devices()
        .iter()
        .filter(|d| !drifted.contains(&d.id))
        .filter_map(|d| f.release(&d.id))
        .filter(|r| r.version != "1.4.0")
        .count();
    assert_eq!(others, 0);
}
