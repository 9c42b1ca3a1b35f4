//! `fleetdeck rules --alerts` loaded into a real Prometheus scraping the
//! simulator with one hot site: FleetDeviceHot is raised (pending, then
//! firing) for exactly that site's devices, with their device, site and
//! group labels.

use crate::support::prometheus::PrometheusProcess;
use crate::support::run::{CHILD_LIMIT, Deadline};
use fleetdeck::sim::{SimHandle, SimOptions};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hot_alert_fires_for_the_hot_site_with_its_labels() {
    let sim = SimHandle::start(
        SimOptions {
            devices: 12,
            sites: 3,
            hot: vec!["ber-1".into()],
            ..SimOptions::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .expect("sim starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let sd = dir.path().join("fleet.json");
    sim.write_inventory(&sd).expect("inventory");

    // The rules exactly as the binary prints them.
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[source]\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:9\"\njob = \"fleet\"\n",
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("--config")
        .arg(&cfg)
        .args(["rules", "--alerts"])
        .env("HOME", dir.path())
        .output_within(CHILD_LIMIT)
        .expect("run fleetdeck");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rules = dir.path().join("fleetdeck.rules.yml");
    std::fs::write(&rules, &out.stdout).expect("rules");
    if let Some(promtool) = crate::support::prometheus::promtool_bin() {
        let check = Command::new(promtool)
            .args(["check", "rules"])
            .arg(&rules)
            .output_within(CHILD_LIMIT)
            .expect("promtool");
        assert!(
            check.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }

    let hot: BTreeSet<String> = sim
        .devices()
        .iter()
        .filter(|d| d.site == "ber-1")
        .map(|d| d.id.clone())
        .collect();
    assert!(!hot.is_empty(), "ber-1 has devices");
    let prom = PrometheusProcess::start_with_rules("fleet", &sd, &[&rules]);
    let q = "ALERTS{alertname=\"FleetDeviceHot\"}";
    prom.wait_for(q, hot.len(), Duration::from_secs(60)).await;

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v: serde_json::Value = client
            .post(format!("{}/api/v1/query", prom.url))
            .form(&[("query", q)])
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("JSON");
        let rows = v["data"]["result"].as_array().cloned().unwrap_or_default();
        let devices: BTreeSet<String> = rows
            .iter()
            .filter_map(|r| r["metric"]["device"].as_str().map(str::to_string))
            .collect();
        let sites: BTreeSet<&str> = rows
            .iter()
            .filter_map(|r| r["metric"]["site"].as_str())
            .collect();
        let grouped = rows
            .iter()
            .all(|r| r["metric"]["group"].as_str().is_some_and(|g| !g.is_empty()));
        if devices == hot && sites == BTreeSet::from(["ber-1"]) && grouped {
            assert!(
                rows.iter().all(|r| r["metric"]["severity"] == "warning"),
                "{v}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "FleetDeviceHot should be raised for exactly {hot:?} at ber-1 with a group: {v}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sim.shutdown().await;
}

/// The alerting rules `rules --alerts` adds, with renamed labels and
/// thresholds from the config (the recording rules before them are
/// tests/cli's snapshot).
#[test]
fn alerting_rules_follow_labels_and_thresholds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[source]\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:9\"\njob = \"fleet\"\n\n\
         [labels]\ndevice = \"node\"\nsite = \"dc\"\ngroup = \"ring\"\n\n\
         [thresholds]\ncpu_temp = 75\nlatency_p95 = \"250ms\"\nerror_rate = 0.05\nthrottled_mask = 5\n",
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("--config")
        .arg(&cfg)
        .args(["rules", "--alerts"])
        .env("HOME", dir.path())
        .output_within(CHILD_LIMIT)
        .expect("run fleetdeck");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let alerting = text
        .find("# Alerting rules")
        .map(|i| text[i..].to_string())
        .expect("alerting rules follow the recording rules");
    insta::assert_snapshot!(alerting);
}
