//! The whole data path against real servers: `fleetdeck sim` → a real
//! Prometheus (file_sd) → `fleetdeck status --json`, and the direct-scrape
//! source on the same simulator, which must agree. Then Prometheus is stopped
//! mid-session: the console's worker reports the failure and keeps the data.

use crate::support;
use crate::support::run::{CHILD_LIMIT, Deadline as _};

use fleetdeck::app::Event;
use fleetdeck::sim::{SimHandle, SimOptions};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::prometheus::PrometheusProcess;

fn status_json(config: &Path) -> Value {
    // A long sample between the two direct scrapes: quantiles over a few
    // seconds of integer bucket counts are noisy.
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(["status", "--json", "--sample", "8s", "--config"])
        .arg(config)
        .output_within(CHILD_LIMIT)
        .expect("run fleetdeck status");
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status --json prints JSON")
}

fn by_id(v: &Value) -> BTreeMap<String, Value> {
    v["devices"]
        .as_array()
        .expect("devices array")
        .iter()
        .map(|d| (d["id"].as_str().expect("id").to_string(), d.clone()))
        .collect()
}

fn names(v: &Value, key: &str) -> BTreeSet<String> {
    v[key]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["name"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_and_direct_scrape_agree_on_the_simulated_fleet() {
    let sites = fleetdeck::sim::site_names(5);
    let (hot, slow, errors) = (sites[1].clone(), sites[2].clone(), sites[3].clone());
    let sim = SimHandle::start(
        SimOptions {
            devices: 60,
            sites: 5,
            offline: 3,
            hot: vec![hot.clone()],
            slow: vec![slow.clone()],
            errors: vec![errors.clone()],
            ..Default::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = dir.path().join("inventory.json");
    sim.write_inventory(&inventory).expect("inventory");

    let prom = PrometheusProcess::start("fleet", &inventory);
    prom.wait_for(r#"up{job="fleet"}"#, 60, Duration::from_secs(60))
        .await;
    // Rates need two samples of every device.
    prom.wait_for(
        r#"count_over_time(up{job="fleet"}[1m]) >= 8"#,
        60,
        Duration::from_secs(60),
    )
    .await;

    let prom_cfg = dir.path().join("prometheus.toml");
    std::fs::write(
        &prom_cfg,
        format!(
            "[source]\nkind = \"prometheus\"\nurl = \"{}\"\njob = \"fleet\"\ntimeout = \"5s\"\n",
            prom.url
        ),
    )
    .expect("config");
    let scrape_cfg = dir.path().join("scrape.toml");
    std::fs::write(
        &scrape_cfg,
        format!(
            "[source]\nkind = \"scrape\"\ninventory = \"{}\"\ntimeout = \"2s\"\n",
            inventory.display()
        ),
    )
    .expect("config");

    let p = status_json(&prom_cfg);
    let s = status_json(&scrape_cfg);

    // Exactly the simulator's devices, sites and groups, from both sources.
    let sim_ids: BTreeSet<String> = sim.devices().iter().map(|d| d.id.clone()).collect();
    let sim_sites: BTreeSet<String> = sim.devices().iter().map(|d| d.site.clone()).collect();
    let sim_groups: BTreeSet<String> = sim.devices().iter().map(|d| d.group.clone()).collect();
    for (name, v) in [("prometheus", &p), ("scrape", &s)] {
        let devices = by_id(v);
        assert_eq!(
            devices.keys().cloned().collect::<BTreeSet<_>>(),
            sim_ids,
            "{name}"
        );
        assert_eq!(names(v, "sites"), sim_sites, "{name}");
        assert_eq!(names(v, "groups"), sim_groups, "{name}");
        assert!(v["taken_at"].is_string(), "{name}: data time");
        assert!(v["source"].as_str().is_some_and(|s| !s.is_empty()));
        let offline: BTreeSet<String> = sim.offline_devices().into_iter().collect();
        assert_eq!(offline.len(), 3);
        for (id, d) in &devices {
            let health = d["health"].as_str().expect("health");
            let site = d["site"].as_str().expect("site");
            if offline.contains(id) {
                assert_eq!(health, "down", "{name}: offline {id} is down");
                assert!(
                    d["figures"]["cpu_temp"].is_null(),
                    "{name}: no figures for a down device"
                );
            } else if [&hot, &slow, &errors].iter().any(|s| *s == site) {
                assert_eq!(
                    health, "degraded",
                    "{name}: {id} on faulty site {site}: {d}"
                );
            }
            if site == hot && !offline.contains(id) {
                let t = d["figures"]["cpu_temp"].as_f64().expect("temp");
                assert!(t > 80.0, "{name}: hot {id} at {t}");
                assert!(
                    d["breaches"]
                        .as_array()
                        .is_some_and(|b| b.contains(&Value::from("temperature")))
                );
            }
            if site == slow && !offline.contains(id) {
                let p95 = d["figures"]["latency_p95"].as_f64().expect("p95");
                // Quantiles over a few seconds of a simulated ~450 ms p95 land in
                // the 0.4–0.5 s bucket or next to it.
                let range = if name == "prometheus" {
                    0.33..0.75
                } else {
                    0.33..0.8
                };
                assert!(range.contains(&p95), "{name}: slow {id} p95 {p95}");
            }
            if site == errors && !offline.contains(id) {
                let e = d["figures"]["error_rate"].as_f64().expect("error rate");
                assert!((0.04..0.15).contains(&e), "{name}: {id} error rate {e}");
            }
            if !offline.contains(id) {
                assert_eq!(d["version"], "1.4.0", "{name}: {id} release");
                assert_eq!(d["agent_state"], "idle", "{name}: {id}");
            }
        }
        // Site roll-ups count what the devices say.
        for site in v["sites"].as_array().expect("sites") {
            let n: u64 = ["up", "degraded", "down", "stale"]
                .iter()
                .map(|k| site[k].as_u64().expect("count"))
                .sum();
            assert_eq!(site["devices"].as_u64(), Some(n));
        }
    }
    // The two sources agree device by device on health and (loosely) on figures.
    let (pd, sd) = (by_id(&p), by_id(&s));
    for (id, a) in &pd {
        let b = &sd[id];
        assert_eq!(
            a["health"], b["health"],
            "{id}: prometheus {a} vs scrape {b}"
        );
        for (fig, tol) in [
            ("cpu_temp", 3.0),
            ("memory", 0.05),
            ("disk", 0.05),
            ("latency_p95", 0.4),
        ] {
            if let (Some(x), Some(y)) = (a["figures"][fig].as_f64(), b["figures"][fig].as_f64()) {
                assert!(
                    (x - y).abs() <= tol,
                    "{id} {fig}: prometheus {x} vs scrape {y}"
                );
            } else {
                assert_eq!(
                    a["figures"][fig].is_null(),
                    b["figures"][fig].is_null(),
                    "{id} {fig}"
                );
            }
        }
    }

    // Prometheus stops mid-session: the refresh worker reports it, the app keeps
    // the last data marked stale with the error.
    let mut prom = prom;
    let options = prom.options(Some("fleet"));
    let source = fleetdeck::metrics::Source::Prometheus(
        fleetdeck::metrics::prometheus::PrometheusSource::new(options).expect("source"),
    );
    let (refresher, mut rx) = fleetdeck::runtime::refresh::spawn(
        source,
        Default::default(),
        Duration::from_millis(500),
        Duration::from_secs(5),
    );
    let mut app = fleetdeck::app::App::new(
        fleetdeck::app::Settings {
            read_only: false,
            stale_after: Duration::from_secs(30),
            sparkline: Duration::from_secs(1800),
            themes: vec![],
            remote_history: true,
            history_span: Duration::from_secs(3600),
            operator: "tester@test".into(),
            rollouts_configured: false,
            allow_shell_read_only: true,
        },
        Default::default(),
        "p".into(),
        "default".into(),
        std::time::SystemTime::now(),
    );
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a refresh within 10 s")
        .expect("worker alive");
    app.update(first);
    assert_eq!(app.fleet.devices.len(), 60);
    assert_eq!(app.data, fleetdeck::app::DataState::Loaded);
    prom.stop();
    refresher.now.notify_one();
    let failed = loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the failure is reported within 10 s")
            .expect("worker alive");
        if let Event::Fleet { result: Err(e), .. } = &ev {
            let e = e.clone();
            app.update(ev);
            break e;
        }
        app.update(ev);
    };
    assert!(failed.contains("cannot reach"), "{failed}");
    assert!(app.is_stale());
    assert_eq!(app.fleet.devices.len(), 60, "the last good data is kept");
    drop(refresher);

    // And the headless status fails with a non-zero exit and the reason.
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(["status", "--config"])
        .arg(&prom_cfg)
        .output_within(CHILD_LIMIT)
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach") && err.contains("127.0.0.1"),
        "{err}"
    );
    sim.shutdown().await;
}
