//! The direct-scrape source against real HTTP exporters on 127.0.0.1.

use crate::support::exporter;

use exporter::{Exporter, Reply, closed_port, inventory, options};
use fleetdeck::fleet::{Reach, Release, Snapshot};
use fleetdeck::metrics::def::Figure;
use fleetdeck::metrics::scrape::ScrapeSource;
use std::time::{Duration, Instant};

/// Exposition text of one device with known counter and bucket values.
fn exposition(requests: f64, errors: f64, buckets: [f64; 5], with_inf: bool) -> String {
    let mut s = String::from(
        "# HELP inference_requests_total Requests served.\n\
         # TYPE inference_requests_total counter\n",
    );
    s += &format!("inference_requests_total{{model=\"yolo\"}} {requests}\n");
    s += "# TYPE inference_errors_total counter\n";
    s += &format!("inference_errors_total{{model=\"yolo\"}} {errors}\n");
    s += "# TYPE inference_latency_seconds histogram\n";
    for (le, v) in ["0.1", "0.25", "0.5", "1", "+Inf"].iter().zip(buckets) {
        if *le == "+Inf" && !with_inf {
            continue;
        }
        s += &format!("inference_latency_seconds_bucket{{model=\"yolo\",le=\"{le}\"}} {v}\n");
    }
    s += "inference_latency_seconds_sum{model=\"yolo\"} 12.5\n";
    s += &format!(
        "inference_latency_seconds_count{{model=\"yolo\"}} {}\n",
        buckets[4]
    );
    s += "# TYPE node_thermal_zone_temp gauge\n\
          node_thermal_zone_temp{type=\"cpu-thermal\"} 61.5\n\
          node_memory_MemAvailable_bytes 1e+09\n\
          node_memory_MemTotal_bytes 4e+09\n\
          fleet_release_info{version=\"1.4.2\",release=\"r17\",image_digest=\"sha256:aa\",model_digest=\"sha256:bb\"} 1\n\
          fleet_agent_state{state=\"idle\"} 0\n\
          fleet_agent_state{state=\"installing\"} 1\n";
    s
}

async fn refresh(source: &mut ScrapeSource) -> Snapshot {
    tokio::time::timeout(Duration::from_secs(20), source.refresh())
        .await
        .expect("refresh must not hang")
        .expect("inventory is fine")
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[tokio::test]
async fn second_refresh_brings_rates_and_quantiles() {
    let exporter = Exporter::start().await;
    let before = [0.0, 100.0, 100.0, 100.0, 100.0];
    // Per bucket +20, +60, +90, +100, +100: p50 0.2125, p95 0.75, p99 0.95 (see compute.rs tests).
    let after = [20.0, 160.0, 190.0, 200.0, 200.0];
    exporter.set("/d0", Reply::Text(exposition(1000.0, 10.0, before, true)));
    exporter.set("/d1", Reply::Text(exposition(5000.0, 10.0, before, true)));
    exporter.set("/d2", Reply::Text(exposition(0.0, 0.0, before, false)));
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory.json");
    let a = exporter.addr;
    std::fs::write(
        &inv,
        inventory(&[(a, "pi-0", "/d0"), (a, "pi-1", "/d1"), (a, "pi-2", "/d2")]),
    )
    .unwrap();
    let mut source = ScrapeSource::new(options(&inv, Duration::from_secs(2), 4)).unwrap();

    let a1 = Instant::now();
    let first = refresh(&mut source).await;
    let b1 = Instant::now();
    assert_eq!(first.devices.len(), 3);
    assert_eq!(first.source, format!("scrape {}", inv.display()));
    for d in &first.devices {
        assert_eq!(d.reach, Reach::Up, "{}", d.id);
        // Gauges are there at once; rates need a second scrape.
        assert_eq!(d.figures.get(Figure::CpuTemp), Some(61.5));
        assert_eq!(d.figures.get(Figure::Memory), Some(0.75));
        assert_eq!(d.figures.get(Figure::Throughput), None);
        assert_eq!(d.figures.get(Figure::LatencyP95), None);
        assert_eq!(d.agent_state.as_deref(), Some("installing"));
        assert_eq!(
            d.release,
            Some(Release {
                version: "1.4.2".into(),
                release: "r17".into(),
                image_digest: "sha256:aa".into(),
                model_digest: "sha256:bb".into(),
            })
        );
        assert_eq!(d.site, "ams");
        assert_eq!(d.group, "canary");
        assert_eq!(d.target, Some(a.to_string()));
        assert!(!d.labels.contains_key("__metrics_path__"));
    }
    assert_eq!(
        first
            .devices
            .iter()
            .map(|d| d.id.as_str())
            .collect::<Vec<_>>(),
        ["pi-0", "pi-1", "pi-2"]
    );

    tokio::time::sleep(Duration::from_millis(1000)).await;
    // pi-0: +600 requests, +6 errors. pi-1 restarted: 5000 → 300 counts as +300.
    exporter.set("/d0", Reply::Text(exposition(1600.0, 16.0, after, true)));
    exporter.set("/d1", Reply::Text(exposition(300.0, 13.0, after, true)));
    exporter.set("/d2", Reply::Text(exposition(400.0, 0.0, after, false)));
    let a2 = Instant::now();
    let second = refresh(&mut source).await;
    let b2 = Instant::now();

    // The source times each scrape itself; it lies within these bounds.
    let dt_min = (a2 - b1).as_secs_f64();
    let dt_max = (b2 - a1).as_secs_f64();
    let within = |v: Option<f64>, increase: f64| {
        v.is_some_and(|v| v >= increase / dt_max - 1e-9 && v <= increase / dt_min + 1e-9)
    };
    let [d0, d1, d2] = &second.devices[..] else {
        panic!("three devices expected")
    };
    assert!(
        within(d0.figures.get(Figure::Throughput), 600.0),
        "{:?}",
        d0.figures
    );
    assert!(
        within(d1.figures.get(Figure::Throughput), 300.0),
        "{:?}",
        d1.figures
    );
    assert!(
        within(d2.figures.get(Figure::Throughput), 400.0),
        "{:?}",
        d2.figures
    );
    assert!(close(d0.figures.get(Figure::ErrorRate), 6.0 / 600.0));
    assert!(close(d1.figures.get(Figure::ErrorRate), 3.0 / 300.0));
    assert!(close(d2.figures.get(Figure::ErrorRate), 0.0));
    for d in [d0, d1, d2] {
        assert!(
            close(d.figures.get(Figure::LatencyP50), 0.2125),
            "{} {:?}",
            d.id,
            d.figures
        );
        assert!(close(d.figures.get(Figure::LatencyP95), 0.75), "{}", d.id);
        assert!(close(d.figures.get(Figure::LatencyP99), 0.95), "{}", d.id);
        // Exported by no device: n/a, never 0.
        assert_eq!(d.figures.get(Figure::Npu), None);
        assert_eq!(d.figures.get(Figure::Cpu), None);
        assert_eq!(d.figures.get(Figure::ConfidenceMedian), None);
    }
}

#[tokio::test]
async fn failing_devices_are_down_with_a_reason() {
    let exporter = Exporter::start().await;
    let good = "# TYPE npu_utilization_ratio gauge\nnpu_utilization_ratio 0.5\n";
    exporter.set("/ok", Reply::Text(good.into()));
    exporter.set("/hang", Reply::Hang);
    exporter.set("/err", Reply::Status(500));
    exporter.set("/huge", Reply::Stream(50 * 1024 * 1024));
    exporter.set("/big", Reply::Text("#".repeat(5 * 1024 * 1024)));
    exporter.set(
        "/garbage",
        Reply::Text("<html><body>Bad Gateway</body></html>".into()),
    );
    exporter.set(
        "/nan",
        Reply::Text("npu_utilization_ratio NaN\nrpi_throttled +Inf\n".into()),
    );
    let a = exporter.addr;
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory.json");
    let devices = [
        (a, "ok", "/ok"),
        (closed_port(), "refused", "/metrics"),
        (a, "hang", "/hang"),
        (a, "err", "/err"),
        (a, "huge", "/huge"),
        (a, "big", "/big"),
        (a, "garbage", "/garbage"),
        (a, "nan", "/nan"),
    ];
    std::fs::write(&inv, inventory(&devices)).unwrap();
    let timeout = Duration::from_millis(500);
    let mut source = ScrapeSource::new(options(&inv, timeout, 8)).unwrap();
    let snap = refresh(&mut source).await;
    let reach = |id: &str| {
        snap.devices
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.reach.clone())
            .unwrap()
    };
    let reason = |id: &str| match reach(id) {
        Reach::Down(Some(r)) => r,
        other => panic!("{id} should be down, is {other:?}"),
    };
    assert_eq!(reach("ok"), Reach::Up);
    assert_eq!(reason("refused"), "connection refused");
    assert_eq!(reason("hang"), "timeout after 500ms");
    assert_eq!(reason("err"), "HTTP 500");
    assert!(reason("huge").contains("too large"), "{}", reason("huge"));
    assert!(reason("big").contains("too large"), "{}", reason("big"));
    assert!(reason("garbage").contains("not in the Prometheus text format"));
    let ok = snap.devices.iter().find(|d| d.id == "ok").unwrap();
    assert_eq!(ok.figures.get(Figure::Npu), Some(0.5));
    assert_eq!(ok.figures.get(Figure::CpuTemp), None);
    assert_eq!(ok.release, None);
    let nan = snap.devices.iter().find(|d| d.id == "nan").unwrap();
    assert!(nan.figures.get(Figure::Npu).is_some_and(f64::is_nan));
    assert_eq!(nan.figures.get(Figure::Throttled), Some(f64::INFINITY));
    for d in snap.devices.iter().filter(|d| d.reach != Reach::Up) {
        assert!(d.figures.0.iter().all(Option::is_none), "{}", d.id);
    }
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let exporter = Exporter::start().await;
    let body = "npu_utilization_ratio 0.25\n".to_string();
    let paths: Vec<(String, String)> = (0..20)
        .map(|i| (format!("pi-{i}"), format!("/d{i}")))
        .collect();
    for (_, p) in &paths {
        exporter.set(p, Reply::Slow(Duration::from_millis(100), body.clone()));
    }
    let targets: Vec<_> = paths
        .iter()
        .map(|(id, p)| (exporter.addr, id.as_str(), p.as_str()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory.json");
    std::fs::write(&inv, inventory(&targets)).unwrap();
    let mut source = ScrapeSource::new(options(&inv, Duration::from_secs(5), 4)).unwrap();
    let snap = refresh(&mut source).await;
    assert_eq!(snap.devices.len(), 20);
    assert!(snap.devices.iter().all(|d| d.reach == Reach::Up));
    assert_eq!(exporter.hits(), 20);
    let max = exporter.max_in_flight();
    assert!(max <= 4, "{max} requests in flight with concurrency 4");
    assert!(max >= 2, "scrapes should overlap, max in flight was {max}");
}

#[tokio::test]
async fn inventory_edits_are_picked_up_and_a_broken_edit_keeps_the_last_good() {
    let exporter = Exporter::start().await;
    exporter.set("/a", Reply::Text("npu_utilization_ratio 0.1\n".into()));
    exporter.set("/b", Reply::Text("npu_utilization_ratio 0.2\n".into()));
    let a = exporter.addr;
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory.json");
    std::fs::write(&inv, inventory(&[(a, "pi-a", "/a")])).unwrap();
    let mut source = ScrapeSource::new(options(&inv, Duration::from_secs(2), 2)).unwrap();
    assert_eq!(refresh(&mut source).await.devices.len(), 1);

    std::fs::write(&inv, inventory(&[(a, "pi-a", "/a"), (a, "pi-b", "/b")])).unwrap();
    let snap = refresh(&mut source).await;
    assert_eq!(snap.devices.len(), 2);
    assert_eq!(snap.devices[1].figures.get(Figure::Npu), Some(0.2));

    std::fs::write(&inv, "[{\"targets\": [").unwrap();
    let err = source.refresh().await.unwrap_err().to_string();
    assert!(
        err.contains("inventory.json") && err.contains("not valid JSON"),
        "{err}"
    );
    assert_eq!(source.targets().len(), 2, "last good inventory is kept");
    // Still broken on the next refresh: still an error, not silently stale.
    assert!(source.refresh().await.is_err());

    std::fs::remove_file(&inv).unwrap();
    let err = source.refresh().await.unwrap_err().to_string();
    assert!(err.contains("file not found"), "{err}");
}

#[tokio::test]
async fn scheme_and_metrics_path_are_honoured() {
    let exporter = Exporter::start().await;
    exporter.set(
        "/custom/path",
        Reply::Text("npu_utilization_ratio 0.7\n".into()),
    );
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory.json");
    let json = serde_json::json!([
        {"targets": [exporter.addr.to_string()], "labels": {"__metrics_path__": "/custom/path", "zone": "z1"}},
        {"targets": [exporter.addr.to_string()], "labels": {"device": "tls", "__scheme__": "https", "__metrics_path__": "/custom/path"}},
    ]);
    std::fs::write(&inv, json.to_string()).unwrap();
    let mut source = ScrapeSource::new(options(&inv, Duration::from_secs(2), 2)).unwrap();
    let snap = refresh(&mut source).await;
    let plain = &snap.devices[0];
    // No device label: the address is the id; no site/group labels: "-".
    assert_eq!(plain.id, exporter.addr.to_string());
    assert_eq!((plain.site.as_str(), plain.group.as_str()), ("-", "-"));
    assert_eq!(plain.reach, Reach::Up);
    assert_eq!(plain.figures.get(Figure::Npu), Some(0.7));
    assert_eq!(plain.labels.get("zone").map(String::as_str), Some("z1"));
    // https against a plain-HTTP exporter fails the TLS handshake: the scheme was used.
    match &snap.devices[1].reach {
        Reach::Down(Some(r)) => assert!(r.starts_with("TLS handshake failed"), "{r}"),
        other => panic!("https to a plain exporter must fail, got {other:?}"),
    }
    assert_eq!(
        source.targets()[1].url,
        format!("https://{}/custom/path", exporter.addr)
    );
}
