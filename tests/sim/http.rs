//! The simulator over real HTTP on loopback: what a scraper sees.
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use fleetdeck::sim::{AgentState, Release, SimHandle, SimOptions, SiteFault};

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

async fn start(opts: SimOptions) -> SimHandle {
    SimHandle::start(opts, loopback())
        .await
        .expect("sim starts")
}

fn url(sim: &SimHandle, path: &str) -> String {
    format!("http://{}{}", sim.addr(), path)
}

async fn metrics(sim: &SimHandle, c: &reqwest::Client, id: &str) -> prometheus_parse::Scrape {
    let resp = c
        .get(url(sim, &sim.metrics_path(id)))
        .send()
        .await
        .expect("device answers");
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let body = resp.text().await.expect("body");
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("parses")
}

fn gauge(scrape: &prometheus_parse::Scrape, name: &str) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name)
        .unwrap_or_else(|| panic!("{name} missing"));
    match sample.value {
        prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{name} is not a scalar: {other:?}"),
    }
}

#[tokio::test]
async fn device_metrics_parse_and_have_every_default_metric() {
    let sim = start(SimOptions::default()).await;
    assert_eq!(sim.devices().len(), 300);
    let c = client();
    let id = sim.devices()[17].id.clone();
    let scrape = metrics(&sim, &c, &id).await;
    let names: HashSet<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
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
        assert!(names.contains(name), "{name} missing");
    }
    let release = scrape
        .samples
        .iter()
        .find(|s| s.metric == "fleet_release_info")
        .expect("release info");
    assert_eq!(release.labels.get("version"), Some("1.4.0"));
    assert!(
        release
            .labels
            .get("image_digest")
            .is_some_and(|d| d.starts_with("sha256:") && d.len() == 71)
    );

    // Keep-alive: the same client scrapes many devices over few connections,
    // and the counters it reads never go back.
    let before = gauge(&scrape, "inference_requests_total");
    tokio::time::sleep(Duration::from_millis(300)).await;
    for d in sim.devices().iter().take(20) {
        metrics(&sim, &c, &d.id).await;
    }
    let after = gauge(&metrics(&sim, &c, &id).await, "inference_requests_total");
    assert!(after >= before, "requests went back: {before} -> {after}");
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_are_404_and_index_is_text() {
    let sim = start(SimOptions {
        devices: 20,
        sites: 3,
        ..SimOptions::default()
    })
    .await;
    let c = client();
    for path in [
        "/devices/pi-99999/metrics",
        "/devices/pi-00001",
        "/metrics",
        "/devices//metrics",
    ] {
        let resp = c.get(url(&sim, path)).send().await.expect("answer");
        assert_eq!(resp.status(), 404, "{path}");
    }
    let index = c.get(url(&sim, "/")).send().await.expect("index");
    assert_eq!(index.status(), 200);
    let text = index.text().await.expect("body");
    assert!(
        text.contains("20 devices") && text.contains("/devices/pi-00001/metrics"),
        "{text}"
    );
    let post = c
        .post(url(&sim, &sim.metrics_path("pi-00001")))
        .send()
        .await
        .expect("answer");
    assert_eq!(post.status(), 405);
    sim.shutdown().await;
}

#[tokio::test]
async fn offline_devices_drop_the_connection_and_runtime_changes_apply() {
    let sim = start(SimOptions {
        devices: 60,
        sites: 6,
        offline: 6,
        ..SimOptions::default()
    })
    .await;
    let c = client();
    let offline = sim.offline_devices();
    assert_eq!(offline.len(), 6);
    let sites: HashSet<String> = sim
        .devices()
        .iter()
        .filter(|d| offline.contains(&d.id))
        .map(|d| d.site.clone())
        .collect();
    assert_eq!(
        sites.len(),
        6,
        "offline devices should be spread over sites"
    );

    let dead = offline[0].clone();
    let err = c.get(url(&sim, &sim.metrics_path(&dead))).send().await;
    assert!(err.is_err(), "an offline device answered: {err:?}");

    // Brought back at runtime: it answers.
    sim.set_offline(&dead, false);
    metrics(&sim, &c, &dead).await;

    // And an online one taken down: the same client, the next request fails.
    let alive = sim
        .devices()
        .iter()
        .find(|d| !offline.contains(&d.id))
        .expect("an online device")
        .id
        .clone();
    metrics(&sim, &c, &alive).await;
    sim.set_offline(&alive, true);
    assert!(
        c.get(url(&sim, &sim.metrics_path(&alive)))
            .send()
            .await
            .is_err()
    );
    assert!(sim.offline_devices().contains(&alive));
    assert!(!sim.offline_devices().contains(&dead));

    // Other devices still answer on the same client afterwards.
    let other = sim
        .devices()
        .iter()
        .find(|d| !sim.offline_devices().contains(&d.id))
        .expect("an online device")
        .id
        .clone();
    metrics(&sim, &c, &other).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn site_faults_and_release_changes_show_in_the_next_scrape() {
    let sim = start(SimOptions {
        devices: 40,
        sites: 4,
        ..SimOptions::default()
    })
    .await;
    let c = client();
    let dev = sim.devices()[0].clone();
    let before = metrics(&sim, &c, &dev.id).await;
    assert_eq!(gauge(&before, "rpi_throttled"), 0.0);
    assert!(gauge(&before, "node_thermal_zone_temp") < 75.0);

    sim.set_site_fault(&dev.site, SiteFault::Hot, true);
    let release = Release::new("r42", "1.5.0");
    assert!(sim.set_release(&dev.id, release.clone()));
    assert!(sim.set_agent_state(&dev.id, AgentState::Verifying));
    let after = metrics(&sim, &c, &dev.id).await;
    assert_eq!(gauge(&after, "rpi_throttled") as u64, 0xE000E);
    assert!(gauge(&after, "node_thermal_zone_temp") > 80.0);
    let info = after
        .samples
        .iter()
        .find(|s| s.metric == "fleet_release_info")
        .expect("release info");
    assert_eq!(info.labels.get("release"), Some("r42"));
    assert_eq!(
        info.labels.get("model_digest"),
        Some(release.model_digest.as_str())
    );
    let verifying = after
        .samples
        .iter()
        .find(|s| s.metric == "fleet_agent_state" && s.labels.get("state") == Some("verifying"))
        .expect("agent state");
    assert_eq!(verifying.value, prometheus_parse::Value::Gauge(1.0));
    sim.shutdown().await;
}

#[tokio::test]
async fn inventory_is_file_sd_json_and_written_atomically() {
    let sim = start(SimOptions {
        devices: 25,
        sites: 5,
        ..SimOptions::default()
    })
    .await;
    let inv = sim.inventory();
    let groups = inv.as_array().expect("array of target groups");
    assert_eq!(groups.len(), 25);
    let target = sim.addr().to_string();
    for (g, d) in groups.iter().zip(sim.devices()) {
        assert_eq!(g["targets"], serde_json::json!([target]));
        let labels = g["labels"].as_object().expect("labels");
        assert_eq!(labels.len(), 4);
        assert_eq!(labels["__metrics_path__"], sim.metrics_path(&d.id));
        assert_eq!(labels["device"], d.id.as_str());
        assert_eq!(labels["site"], d.site.as_str());
        assert_eq!(labels["group"], d.group.as_str());
    }
    assert!(groups.iter().any(|g| g["labels"]["group"] == "canary"));

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet.json");
    sim.write_inventory(&path).expect("written");
    sim.write_inventory(&path).expect("overwritten");
    let read: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read back")).expect("json");
    assert_eq!(read, inv);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "temporary files left behind: {leftovers:?}"
    );

    // Every inventory target is scrapeable.
    let c = client();
    for g in groups.iter().take(5) {
        let path = g["labels"]["__metrics_path__"].as_str().expect("path");
        let resp = c
            .get(format!("http://{target}{path}"))
            .send()
            .await
            .expect("scrape");
        assert_eq!(resp.status(), 200);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_listener() {
    let c = client();
    let sim = start(SimOptions {
        devices: 5,
        sites: 1,
        ..SimOptions::default()
    })
    .await;
    let addr = sim.addr();
    sim.shutdown().await;
    assert!(c.get(format!("http://{addr}/")).send().await.is_err());

    let sim = start(SimOptions {
        devices: 5,
        sites: 1,
        ..SimOptions::default()
    })
    .await;
    let addr = sim.addr();
    drop(sim);
    // The server task notices the drop on its next poll.
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "listener still accepting after drop");
}

#[tokio::test]
async fn bad_options_fail_to_start_with_a_clear_error() {
    let err = SimHandle::start(
        SimOptions {
            slow: vec!["nowhere-1".into()],
            ..SimOptions::default()
        },
        loopback(),
    )
    .await
    .err()
    .expect("must fail");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("'nowhere-1'"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_devices_and_a_fast_scrape_of_a_thousand() {
    let started = std::time::Instant::now();
    let sim = start(SimOptions {
        devices: 10_000,
        sites: 200,
        ..SimOptions::default()
    })
    .await;
    let build = started.elapsed();
    assert_eq!(sim.devices().len(), 10_000);
    assert_eq!(sim.inventory().as_array().map(Vec::len), Some(10_000));

    let c = client();
    let ids: Vec<String> = sim
        .devices()
        .iter()
        .step_by(10)
        .map(|d| d.id.clone())
        .collect();
    let started = std::time::Instant::now();
    let mut bytes = 0;
    // 16 scrapers in parallel, each reusing its connection.
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in ids.chunks(ids.len().div_ceil(16)) {
        let c = c.clone();
        let urls: Vec<String> = chunk
            .iter()
            .map(|id| url(&sim, &sim.metrics_path(id)))
            .collect();
        tasks.spawn(async move {
            let mut n = 0;
            for u in urls {
                let body = c
                    .get(u)
                    .send()
                    .await
                    .expect("scrape")
                    .bytes()
                    .await
                    .expect("body");
                n += body.len();
            }
            n
        });
    }
    while let Some(n) = tasks.join_next().await {
        bytes += n.expect("scraper task");
    }
    let scrape = started.elapsed();
    eprintln!("10k fleet built in {build:?}; 1,000 devices scraped in {scrape:?} ({bytes} bytes)");
    assert!(
        bytes > 1_000 * 3_000,
        "expositions look too small: {bytes} bytes"
    );
    // Debug build on 2 cores: generous, still catches an accidental O(n) per scrape.
    assert!(
        scrape < Duration::from_secs(10),
        "full scrape took {scrape:?}"
    );
    sim.shutdown().await;
}
