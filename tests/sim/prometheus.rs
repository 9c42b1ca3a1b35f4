//! The simulator behind a real Prometheus (2.42, `apt-get install prometheus`):
//! the inventory works as-is with `file_sd_configs`, every exposition is
//! accepted, and the figures Prometheus computes are the ones the faults promise.
//!
//! Needs the `prometheus` binary on PATH: the README's test command installs it;
//! without it the test fails and says how to install it.
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fleetdeck::sim::{SimHandle, SimOptions};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `label value -> sample value` of an instant vector query.
async fn query(c: &reqwest::Client, prom: &str, promql: &str, by: &str) -> HashMap<String, f64> {
    let Ok(resp) = c
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
    else {
        return HashMap::new();
    };
    let Ok(body) = resp.json::<serde_json::Value>().await else {
        return HashMap::new();
    };
    body["data"]["result"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    let key = r["metric"][by].as_str().unwrap_or_default().to_owned();
                    let v: f64 = r["value"][1].as_str()?.parse().ok()?;
                    Some((key, v))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn prometheus_scrapes_the_inventory_and_sees_the_faults() {
    let sim = SimHandle::start(
        SimOptions {
            devices: 48,
            sites: 4,
            offline: 4,
            slow: vec!["cdg-1".into()],
            hot: vec!["ber-1".into()],
            errors: vec!["dub-1".into()],
            ..SimOptions::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .expect("sim starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = dir.path().join("fleet.json");
    sim.write_inventory(&inventory).expect("inventory");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n\
             scrape_configs:\n  - job_name: fleet\n    file_sd_configs:\n      - files: ['{}']\n        refresh_interval: 1s\n",
            inventory.display()
        ),
    )
    .expect("config");
    let port = free_port();
    let mut prometheus = tokio::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect(
            "prometheus is not on PATH: apt-get install prometheus (scripts/test.sh does this)",
        );
    let prom = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");

    let p95_q =
        "histogram_quantile(0.95, sum by (site, le) (rate(inference_latency_seconds_bucket[8s])))";
    let err_q = "sum by (site) (rate(inference_errors_total[8s])) / sum by (site) (rate(inference_requests_total[8s]))";
    let deadline = Instant::now() + Duration::from_secs(40);
    let (mut p95, mut errors) = (HashMap::new(), HashMap::new());
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        p95 = query(&c, &prom, p95_q, "site").await;
        errors = query(&c, &prom, err_q, "site").await;
        // Wait for a full window of samples, not just the first two.
        let samples = query(&c, &prom, "min(count_over_time(up[8s]))", "").await;
        if p95.len() == 4 && errors.len() == 4 && samples.get("").is_some_and(|n| *n >= 6.0) {
            break;
        }
    }
    let up = query(&c, &prom, "sum by (group) (up)", "group").await;
    let up_total: f64 = up.values().sum();
    let scraped = query(&c, &prom, "count(up)", "").await;
    let temps = query(&c, &prom, "max by (site) (node_thermal_zone_temp)", "site").await;
    let throttled = query(&c, &prom, "max by (site) (rpi_throttled)", "site").await;
    let _ = prometheus.kill().await;
    eprintln!("p95 {p95:?}\nerror share {errors:?}\ntemps {temps:?}\nup {up:?}");
    sim.shutdown().await;

    assert_eq!(
        scraped.get(""),
        Some(&48.0),
        "every inventory target is scraped"
    );
    assert_eq!(
        up_total, 44.0,
        "the 4 offline devices are down, the rest up: {up:?}"
    );
    assert!(up.contains_key("canary"), "{up:?}");
    assert_eq!(p95.len(), 4, "p95 per site: {p95:?}");
    for (site, v) in &p95 {
        if site == "cdg-1" {
            assert!((0.40..=0.50).contains(v), "slow site p95 {v}");
        } else {
            assert!((0.12..=0.25).contains(v), "{site} p95 {v}");
        }
    }
    for (site, v) in &errors {
        if site == "dub-1" {
            assert!((0.06..=0.10).contains(v), "faulty site error share {v}");
        } else {
            assert!(*v < 0.015, "{site} error share {v}");
        }
    }
    assert!(temps["ber-1"] > 80.0, "{temps:?}");
    assert!(temps["ams-1"] < 75.0, "{temps:?}");
    assert_eq!(throttled["ber-1"], f64::from(0xE000E_u32));
    assert_eq!(throttled["ams-1"], 0.0);
}
