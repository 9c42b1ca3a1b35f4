//! `PrometheusSource` against a real Prometheus 2.x scraping fake devices.
//!
//! The devices are served by a loopback HTTP server in the test (their counters
//! grow linearly with time, so every rate, ratio and quantile is known); the
//! inventory is a `file_sd` file; Prometheus is the real binary
//! (`apt-get install prometheus`).
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

use crate::support;
use crate::support::run::{CHILD_LIMIT, Deadline as _};

use fleetdeck::fleet::Reach;
use fleetdeck::metrics::def::{Figure, MetricDefs};
use fleetdeck::metrics::prometheus::PrometheusSource;
use fleetdeck::metrics::{HistoryRange, LabelNames, PrometheusOptions, SourceError, promql};
use std::time::{Duration, Instant, SystemTime};
use support::prometheus::*;

const JOB: &str = "fleet";
const WAIT: Duration = Duration::from_secs(60);

/// Requests per second of device `k` (so devices differ).
fn rate_of(k: usize) -> f64 {
    10.0 * (k as f64 + 1.0)
}

/// Exposition text of fake device `k`, `t` seconds after the exporter started.
fn device_metrics(k: usize, t: f64) -> String {
    let r = rate_of(k) * t;
    format!(
        "# TYPE inference_requests_total counter\n\
         inference_requests_total {r}\n\
         # TYPE inference_errors_total counter\n\
         inference_errors_total {errors}\n\
         # TYPE inference_latency_seconds histogram\n\
         inference_latency_seconds_bucket{{le=\"0.1\"}} 0\n\
         inference_latency_seconds_bucket{{le=\"0.2\"}} {half}\n\
         inference_latency_seconds_bucket{{le=\"0.5\"}} {r}\n\
         inference_latency_seconds_bucket{{le=\"+Inf\"}} {r}\n\
         inference_latency_seconds_sum {lat_sum}\n\
         inference_latency_seconds_count {r}\n\
         # TYPE inference_confidence histogram\n\
         inference_confidence_bucket{{le=\"0.5\"}} {low}\n\
         inference_confidence_bucket{{le=\"1.0\"}} {r}\n\
         inference_confidence_bucket{{le=\"+Inf\"}} {r}\n\
         inference_confidence_sum {conf_sum}\n\
         inference_confidence_count {r}\n\
         node_thermal_zone_temp{{type=\"cpu-thermal\"}} {temp}\n\
         node_thermal_zone_temp{{type=\"gpu\"}} 99\n\
         rpi_throttled 5\n\
         node_cpu_seconds_total{{cpu=\"0\",mode=\"idle\"}} {idle0}\n\
         node_cpu_seconds_total{{cpu=\"1\",mode=\"idle\"}} {idle1}\n\
         node_cpu_seconds_total{{cpu=\"0\",mode=\"user\"}} {idle1}\n\
         node_memory_MemAvailable_bytes 1e9\n\
         node_memory_MemTotal_bytes 4e9\n\
         node_filesystem_avail_bytes{{mountpoint=\"/\"}} 30\n\
         node_filesystem_size_bytes{{mountpoint=\"/\"}} 120\n\
         node_filesystem_avail_bytes{{mountpoint=\"/boot\"}} 1\n\
         node_filesystem_size_bytes{{mountpoint=\"/boot\"}} 100\n\
         npu_utilization_ratio 0.25\n\
         fleet_release_info{{version=\"1.2.{k}\",release=\"r{k}\",image_digest=\"sha256:aa\",model_digest=\"sha256:bb\"}} 1\n\
         fleet_agent_state{{state=\"idle\"}} 1\n\
         fleet_agent_state{{state=\"installing\"}} 0\n",
        errors = 0.05 * r,
        half = 0.5 * r,
        lat_sum = 0.25 * r,
        low = 0.2 * r,
        conf_sum = 0.7 * r,
        temp = 50.5 + k as f64,
        idle0 = 0.75 * t,
        idle1 = 0.25 * t,
    )
}

/// Serves `/dev/<k>` as device `k`; `/dev/down` answers 500.
fn start_exporter() -> HttpServer {
    let started = Instant::now();
    HttpServer::start(move |req| {
        let t = started.elapsed().as_secs_f64() + 100.0;
        match req.path().strip_prefix("/dev/").map(str::parse::<usize>) {
            Some(Ok(k)) => Reply::text(200, device_metrics(k, t)),
            _ => Reply::text(500, "exporter broke\n"),
        }
    })
}

/// Default definitions with 5 s rate windows: a fresh Prometheus has only a
/// few seconds of data, and `rate()` over a mostly empty 60 s window
/// under-reports (it divides by the window, not by the data's span).
fn test_defs() -> MetricDefs {
    let mut defs = MetricDefs::default();
    for d in &mut defs.defs {
        d.window = Duration::from_secs(5);
    }
    defs
}

fn options(prom: &PrometheusProcess, url: &str) -> PrometheusOptions {
    PrometheusOptions {
        url: url.to_string(),
        timeout: Duration::from_secs(5),
        defs: test_defs(),
        recording_rules: false,
        ..prom.options(Some(JOB))
    }
}

fn hostile_device() -> String {
    format!("evil\"dev\\\n\x1b[31m推理🚀{}", "x".repeat(10 * 1024))
}

const HOSTILE_SITE: &str = "site\"\r\n\x1b[0m\t🚀 wide";

fn close(a: Option<f64>, b: f64, tol: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() <= tol * b.abs().max(1e-9))
}

/// Waits until the counters of every device have ≥ 6 s of samples, so 5 s
/// rates are exact up to scrape jitter.
async fn wait_for_rates(prom: &PrometheusProcess, devices: usize) {
    prom.wait_for(
        &format!("count_over_time(inference_requests_total{{job=\"{JOB}\"}}[10s]) >= 7"),
        devices,
        WAIT,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_history_and_hostile_labels_against_real_prometheus() {
    let exporter = start_exporter();
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = dir.path().join("fleet.json");
    let hostile = hostile_device();
    write_file_sd(
        &sd,
        &[
            Target::new(&exporter.addr, "/dev/0")
                .label("device", "pi-00001")
                .label("site", "lab-a")
                .label("group", "canary"),
            Target::new(&exporter.addr, "/dev/1")
                .label("device", "pi-00002")
                .label("site", "lab-b")
                .label("group", "main"),
            Target::new(&exporter.addr, "/dev/2")
                .label("device", &hostile)
                .label("site", HOSTILE_SITE)
                .label("group", "main"),
            Target::new(&exporter.addr, "/dev/down")
                .label("device", "pi-down")
                .label("site", "lab-a")
                .label("group", "main"),
        ],
    );
    // The recording rules fleetdeck prints are loaded too, and used below.
    let rules = dir.path().join("fleetdeck.rules.yml");
    std::fs::write(
        &rules,
        promql::recording_rules(&test_defs(), Some(JOB), &LabelNames::default()),
    )
    .expect("write rules");
    let prom = PrometheusProcess::start_with_rules(JOB, &sd, &[&rules]);
    prom.wait_for(&format!("up{{job=\"{JOB}\"}}"), 4, WAIT)
        .await;
    wait_for_rates(&prom, 3).await;

    let mut src = PrometheusSource::new(options(&prom, &prom.url)).expect("source");
    let snap = src.refresh().await.expect("refresh");
    assert!(src.last_warnings().is_empty(), "{:?}", src.last_warnings());
    assert_eq!(
        snap.devices.len(),
        4,
        "{:?}",
        snap.devices.iter().map(|d| &d.id).collect::<Vec<_>>()
    );
    let dev = |id: &str| {
        snap.devices
            .iter()
            .find(|d| d.id == id)
            .unwrap_or_else(|| panic!("device {id:?} missing"))
    };

    let d1 = dev("pi-00001");
    assert_eq!((d1.site.as_str(), d1.group.as_str()), ("lab-a", "canary"));
    assert_eq!(d1.reach, Reach::Up);
    assert_eq!(d1.target.as_deref(), Some(exporter.addr.as_str()));
    assert_eq!(d1.labels.get("job").map(String::as_str), Some(JOB));
    assert!(!d1.labels.contains_key("__name__"));
    let f = |d: &fleetdeck::fleet::DeviceSample, fig| d.figures.get(fig);
    // Gauges are exact.
    assert_eq!(f(d1, Figure::CpuTemp), Some(50.5));
    assert_eq!(f(dev("pi-00002"), Figure::CpuTemp), Some(51.5));
    assert_eq!(f(d1, Figure::Throttled), Some(5.0));
    assert_eq!(f(d1, Figure::Npu), Some(0.25));
    assert_eq!(f(d1, Figure::Memory), Some(0.75));
    assert_eq!(f(d1, Figure::Disk), Some(0.75));
    // Rates, ratios and quantiles: known up to scrape jitter.
    assert!(
        close(f(d1, Figure::Throughput), 10.0, 0.1),
        "{:?}",
        f(d1, Figure::Throughput)
    );
    assert!(close(f(dev("pi-00002"), Figure::Throughput), 20.0, 0.1));
    assert!(close(f(d1, Figure::ErrorRate), 0.05, 0.01));
    assert!(
        close(f(d1, Figure::Cpu), 0.5, 0.1),
        "{:?}",
        f(d1, Figure::Cpu)
    );
    assert!(
        close(f(d1, Figure::LatencyP50), 0.2, 0.01),
        "{:?}",
        f(d1, Figure::LatencyP50)
    );
    assert!(close(f(d1, Figure::LatencyP95), 0.47, 0.01));
    assert!(close(f(d1, Figure::LatencyP99), 0.494, 0.01));
    assert!(close(f(d1, Figure::ConfidenceMedian), 0.6875, 0.01));
    assert!(close(f(d1, Figure::LowConfidence), 0.2, 0.01));
    let release = d1.release.as_ref().expect("release");
    assert_eq!(
        (release.version.as_str(), release.release.as_str()),
        ("1.2.0", "r0")
    );
    assert_eq!(release.image_digest, "sha256:aa");
    assert_eq!(d1.agent_state.as_deref(), Some("idle"));

    // The device whose exporter answers 500 is down, with no figures.
    let down = dev("pi-down");
    assert_eq!(down.reach, Reach::Down(None));
    assert!(down.figures.0.iter().all(Option::is_none));
    assert_eq!(down.release, None);

    // The hostile device keeps its labels byte for byte.
    let h = dev(&hostile);
    assert_eq!(h.site, HOSTILE_SITE);
    assert_eq!(f(h, Figure::CpuTemp), Some(52.5));

    // A query with the hostile values as matchers is accepted and finds it.
    let defs = test_defs();
    let q = promql::figure_query(
        defs.get(Figure::CpuTemp),
        Some(JOB),
        &LabelNames::default(),
        &[("device", &hostile), ("site", HOSTILE_SITE)],
    );
    let found = src.query(&q, None).await.expect("hostile query");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0.get("device"), Some(&hostile));
    assert_eq!(found[0].1, 52.5);
    let up = src
        .query(&promql::selector("up", &[("site", HOSTILE_SITE)]), None)
        .await
        .expect("hostile selector");
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].0.get("device"), Some(&hostile));

    // A bucket bound written "1.0" by the exporter is matched by le = 1.
    let mut frac = defs.get(Figure::LowConfidence).clone();
    frac.le = Some(1.0);
    let q = promql::figure_query(
        &frac,
        Some(JOB),
        &LabelNames::default(),
        &[("device", "pi-00001")],
    );
    let all = src.query(&q, None).await.expect("le=1 query");
    assert_eq!(all.len(), 1);
    assert!((all[0].1 - 1.0).abs() < 1e-9, "{}", all[0].1);

    // A scalar result.
    let scalar = src.query("scalar(vector(42))", None).await.expect("scalar");
    assert_eq!(scalar.len(), 1);
    assert_eq!(scalar[0].1, 42.0);

    // History: one range query per figure, restricted to one device.
    let range = HistoryRange {
        end: SystemTime::now(),
        span: Duration::from_secs(30),
        step: Duration::from_secs(1),
    };
    let hist = src.history("pi-00001", range).await.expect("history");
    assert_eq!(hist.device, "pi-00001");
    assert_eq!(hist.series.len(), Figure::COUNT);
    let temps = &hist.series[Figure::CpuTemp.index()];
    assert_eq!(temps.0, Figure::CpuTemp);
    assert!(temps.1.len() >= 5, "{temps:?}");
    assert!(temps.1.iter().all(|&(_, v)| v == 50.5), "{temps:?}");
    assert!(!hist.series[Figure::Throughput.index()].1.is_empty());
    let hist = src.history(&hostile, range).await.expect("hostile history");
    let temps = &hist.series[Figure::CpuTemp.index()].1;
    assert!(!temps.is_empty() && temps.iter().all(|&(_, v)| v == 52.5));
    let none = src
        .history("no-such-device", range)
        .await
        .expect("empty history");
    assert!(none.series.iter().all(|(_, p)| p.is_empty()));

    // A broken raw PromQL override loses that figure only, with a warning; a
    // working one is used as is.
    let mut opts = options(&prom, &prom.url);
    opts.defs.get_mut(Figure::Npu).promql = Some("sum by (device) (npu_utilization_ratio{".into());
    opts.defs.get_mut(Figure::Throttled).promql = Some(format!(
        "max by (device) (rpi_throttled{{job=\"{JOB}\"}}) * 2"
    ));
    let mut custom = PrometheusSource::new(opts).expect("source");
    let snap = custom.refresh().await.expect("refresh with a bad figure");
    let d1 = snap
        .devices
        .iter()
        .find(|d| d.id == "pi-00001")
        .expect("pi-00001");
    assert_eq!(d1.figures.get(Figure::Npu), None);
    assert_eq!(d1.figures.get(Figure::Throttled), Some(10.0));
    assert_eq!(d1.figures.get(Figure::CpuTemp), Some(50.5));
    let warnings = custom.last_warnings().join("\n");
    assert!(warnings.contains("NPU busy"), "{warnings}");
    assert!(warnings.contains("parse error"), "{warnings}");
    // The raw override also works for one device's history.
    let hist = custom.history("pi-00001", range).await.expect("history");
    assert!(
        hist.series[Figure::Throttled.index()]
            .1
            .iter()
            .all(|&(_, v)| v == 10.0)
    );
    assert!(!hist.series[Figure::Throttled.index()].1.is_empty());

    // The recording rules evaluate in Prometheus and give the same figures.
    prom.wait_for("fleetdeck:latency_p95:by_device", 3, WAIT)
        .await;
    prom.wait_for("fleetdeck:throughput:by_device", 3, WAIT)
        .await;
    let mut recorded = PrometheusSource::new(options(&prom, &prom.url))
        .expect("source")
        .with_recording_rules(true);
    let snap = recorded
        .refresh()
        .await
        .expect("refresh from recording rules");
    let d1 = snap
        .devices
        .iter()
        .find(|d| d.id == "pi-00001")
        .expect("pi-00001");
    assert_eq!(d1.figures.get(Figure::CpuTemp), Some(50.5));
    assert!(close(d1.figures.get(Figure::LatencyP95), 0.47, 0.01));
    assert!(close(d1.figures.get(Figure::Throughput), 10.0, 0.1));
}

/// Every escaped string, hostile or random, is accepted by Prometheus' parser
/// and comes back unchanged as a label value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaped_values_round_trip_through_prometheus() {
    use proptest::strategy::{Strategy, ValueTree};
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = dir.path().join("empty.json");
    write_file_sd(&sd, &[]);
    let prom = PrometheusProcess::start(JOB, &sd);
    let src = PrometheusSource::new(options(&prom, &prom.url)).expect("source");

    let mut values: Vec<String> = vec![
        "quote\" backslash\\ newline\n cr\r tab\t".into(),
        "\x1b[31mred\x1b[0m \x07bell \x00nul \x7fdel".into(),
        "\u{85}\u{9b}31m C1 controls".into(),
        "推理 🚀 wide ｗｉｄｅ \u{202e}bidi \u{fffd} replacement".into(),
        "\\x41 \\u0041 \\n literal backslashes".into(),
        "x".repeat(10 * 1024),
        (0u8..0x20).map(char::from).collect(),
    ];
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = proptest::arbitrary::any::<String>();
    for _ in 0..300 {
        values.push(strategy.new_tree(&mut runner).expect("value").current());
    }
    for v in values.iter().filter(|v| !v.is_empty()) {
        // `$` is special in label_replace's replacement (regex expansion), not in PromQL.
        let replacement = v.replace('$', "$$");
        let q = format!(
            "label_replace(vector(1), \"x\", \"{}\", \"\", \"\")",
            promql::escape_label_value(&replacement)
        );
        let got = src
            .query(&q, None)
            .await
            .unwrap_or_else(|e| panic!("{v:?} was not accepted: {e}"));
        assert_eq!(got.len(), 1, "{v:?}");
        assert_eq!(got[0].0.get("x"), Some(v), "{v:?}");
    }

    // Prometheus' special values come back as such, never as errors or zeros.
    let got = src
        .query("vector(0/0) or label_replace(vector(1/0), \"s\", \"inf\", \"\", \"\") or label_replace(vector(-1/0), \"s\", \"-inf\", \"\", \"\")", None)
        .await
        .expect("special values");
    assert_eq!(got.len(), 3);
    let by = |s: Option<&str>| {
        got.iter()
            .find(|(l, _)| l.get("s").map(String::as_str) == s)
            .map(|(_, v)| *v)
    };
    assert!(by(None).is_some_and(f64::is_nan));
    assert_eq!(by(Some("inf")), Some(f64::INFINITY));
    assert_eq!(by(Some("-inf")), Some(f64::NEG_INFINITY));
}

/// The rules file is valid for `promtool` (shipped with the Debian package).
#[test]
fn recording_rules_pass_promtool() {
    let Some(promtool) = promtool_bin() else {
        eprintln!("promtool not found; the structure is checked by the unit tests");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rules.yml");
    let mut defs = MetricDefs::default();
    defs.get_mut(Figure::Npu).promql = Some("max by (device) (npu_utilization_ratio)".into());
    std::fs::write(
        &path,
        promql::recording_rules(&defs, Some("fle\"et"), &LabelNames::default()),
    )
    .expect("write");
    let out = std::process::Command::new(promtool)
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output_within(CHILD_LIMIT)
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool rejected the rules:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{} rules found", Figure::COUNT))
    );
}

/// The number of requests per refresh does not grow with the fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_refresh_do_not_grow_with_the_fleet() {
    let exporter = start_exporter();
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = dir.path().join("fleet.json");
    let inventory = |n: usize| {
        (0..n)
            .map(|k| {
                Target::new(&exporter.addr, &format!("/dev/{k}"))
                    .label("device", &format!("pi-{k:05}"))
                    .label("site", &format!("site-{}", k % 7))
                    .label("group", "main")
            })
            .collect::<Vec<_>>()
    };
    write_file_sd(&sd, &inventory(3));
    let prom = PrometheusProcess::start(JOB, &sd);
    let proxy = CountingProxy::start(&prom.url);
    prom.wait_for(&format!("up{{job=\"{JOB}\"}} == 1"), 3, WAIT)
        .await;

    let mut src = PrometheusSource::new(options(&prom, proxy.url())).expect("source");
    let before = proxy.request_count();
    let snap = src.refresh().await.expect("refresh");
    let with_3 = proxy.request_count() - before;
    assert_eq!(snap.devices.len(), 3);

    write_file_sd(&sd, &inventory(300));
    prom.wait_for(&format!("up{{job=\"{JOB}\"}} == 1"), 300, WAIT)
        .await;
    let before = proxy.request_count();
    let snap = src.refresh().await.expect("refresh");
    let with_300 = proxy.request_count() - before;
    assert_eq!(snap.devices.len(), 300);
    assert!(
        snap.devices
            .iter()
            .all(|d| d.figures.get(Figure::CpuTemp).is_some())
    );

    assert_eq!(with_3, with_300);
    // inventory + one per figure + release + agent state
    assert_eq!(with_3, Figure::COUNT + 3);
}

/// Prometheus going away mid-session is reported as unreachable at once, not
/// after the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_prometheus_is_unreachable_quickly() {
    let exporter = start_exporter();
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = dir.path().join("fleet.json");
    write_file_sd(
        &sd,
        &[Target::new(&exporter.addr, "/dev/0").label("device", "pi-00001")],
    );
    let mut prom = PrometheusProcess::start(JOB, &sd);
    prom.wait_for("up", 1, WAIT).await;
    let mut opts = options(&prom, &prom.url);
    opts.timeout = Duration::from_secs(10);
    let mut src = PrometheusSource::new(opts).expect("source");
    let snap = src.refresh().await.expect("refresh while running");
    assert_eq!(snap.devices.len(), 1);

    prom.stop();
    let started = Instant::now();
    let err = src.refresh().await.expect_err("refresh after stop");
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains(&prom.url), "{err}");
}
