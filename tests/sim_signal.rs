//! `fleetdeck sim`'s entry point: inventory on disk, then a clean exit on SIGTERM.
//! Its own test binary (not in tests/it.rs), because it signals its own process.
#![cfg(unix)]

use std::net::SocketAddr;
use std::time::Duration;

use fleetdeck::sim::{SimOptions, run_until_signal};

#[tokio::test]
async fn run_until_signal_writes_inventory_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = dir.path().join("fleet.json");
    let path = inventory.clone();
    let key = dir.path().join("cosign.pub");
    let key_path = key.clone();
    let sim = tokio::spawn(async move {
        run_until_signal(
            SimOptions {
                devices: 30,
                sites: 3,
                ..SimOptions::default()
            },
            SocketAddr::from(([127, 0, 0, 1], 0)),
            &path,
            Some(&key_path),
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
    // The registry's signing key was written before the inventory.
    let pem = std::fs::read_to_string(&key).expect("public key written");
    use p256::pkcs8::DecodePublicKey as _;
    p256::ecdsa::VerifyingKey::from_public_key_pem(pem.trim()).expect("a P-256 public key");
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

    // SAFETY: kill(2) on our own pid; no memory is involved.
    let rc = unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    assert_eq!(rc, 0, "kill(self, SIGTERM)");
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
