//! `fleetdeck sim`'s entry point: inventory on disk, then a clean exit on SIGTERM.
//! Its own test binary, because it signals its own process.

#![cfg(unix)]

use std::net::SocketAddr;
use std::time::Duration;

use fleetdeck::sim::{SimOptions, run_until_signal};

#[tokio::test]
async fn run_until_signal_writes_inventory_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = dir.path().join("fleet.json");
    let path = inventory.clone();
    let sim = tokio::spawn(async move {
        run_until_signal(
            SimOptions {
                devices: 30,
                sites: 3,
                ..SimOptions::default()
            },
            SocketAddr::from(([127, 0, 0, 1], 0)),
            &path,
            None,
        )
        .await
    });

    let mut groups = None;
    for _ in 0..100 {
        if let Ok(bytes) = std::fs::read(&inventory) {
            groups = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let groups = groups.expect("inventory written");
    let first = &groups[0];
    let url = format!(
        "http://{}{}",
        first["targets"][0].as_str().expect("target"),
        first["labels"]["__metrics_path__"].as_str().expect("path")
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let resp = client.get(&url).send().await.expect("device answers");
    assert_eq!(resp.status(), 200);

    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let result = tokio::time::timeout(Duration::from_secs(5), sim)
        .await
        .expect("stops within 5 s of SIGTERM")
        .expect("task did not panic");
    assert!(result.is_ok(), "{result:?}");
    assert!(
        client.get(&url).send().await.is_err(),
        "still serving after SIGTERM"
    );
}
