//! Exposition text as exporters really write it, hostile values included
//! (issue 9, case 8): the format's escapes are decoded, quoted `=`, `,` and
//! `}` are part of the value, and lines that are not in the format are counted
//! and reported as a warning instead of vanishing. Served over HTTP by a real
//! exporter on loopback and read by the direct-scrape source.

use crate::support::exporter;

use exporter::{Exporter, Reply, inventory, options};
use fleetdeck::fleet::{Reach, Release};
use fleetdeck::metrics::Source;
use fleetdeck::metrics::def::Figure;
use fleetdeck::metrics::scrape::ScrapeSource;
use std::time::Duration;

/// `fleet_release_info` with every kind of value the old label splitting
/// broke, three garbage lines among good ones.
const HOSTILE: &str = r#"# HELP fleet_release_info The running release.
# TYPE fleet_release_info gauge
fleet_release_info{version="1.4.2\nINJECTED",release="r=17",image_digest="sha256:a,b}c",model_digest="say \"hi\" \\ done"} 1
<html><body>502 Bad Gateway</body></html>
# TYPE node_thermal_zone_temp gauge
node_thermal_zone_temp{type="cpu-thermal" 99
node_thermal_zone_temp{type="cpu-thermal",zone="{0}"} 61.5
node_memory_MemAvailable_bytes{} 1e+09
node_memory_MemTotal_bytes 4e+09
fleet_agent_state{state="idle",note="a=b,c=\"d\""} 1
some_other_metric{x="unterminated} 1
"#;

async fn source_for(text: &str) -> (Exporter, tempfile::TempDir, ScrapeSource) {
    let exporter = Exporter::start().await;
    exporter.set("/metrics", Reply::Text(text.to_string()));
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory.json");
    std::fs::write(&inv, inventory(&[(exporter.addr, "pi-1", "/metrics")])).unwrap();
    let source = ScrapeSource::new(options(&inv, Duration::from_secs(2), 4)).unwrap();
    (exporter, dir, source)
}

#[tokio::test]
async fn escapes_are_decoded_and_quoted_delimiters_kept() {
    let (_exporter, _dir, mut source) = source_for(HOSTILE).await;
    let snap = tokio::time::timeout(Duration::from_secs(10), source.refresh())
        .await
        .expect("refresh in time")
        .expect("refresh");
    let d = &snap.devices[0];
    assert_eq!(d.reach, Reach::Up);
    assert_eq!(
        d.release,
        Some(Release {
            version: "1.4.2\nINJECTED".into(),
            release: "r=17".into(),
            image_digest: "sha256:a,b}c".into(),
            model_digest: "say \"hi\" \\ done".into(),
        })
    );
    assert_eq!(d.agent_state.as_deref(), Some("idle"));
    // The good line after the broken one is read; the broken one is not.
    assert_eq!(d.figures.get(Figure::CpuTemp), Some(61.5));
    assert_eq!(d.figures.get(Figure::Memory), Some(0.75));
}

#[tokio::test]
async fn skipped_lines_are_counted_in_the_warnings() {
    let (_exporter, _dir, source) = source_for(HOSTILE).await;
    let mut source = Source::Scrape(Box::new(source));
    tokio::time::timeout(Duration::from_secs(10), source.refresh())
        .await
        .expect("refresh in time")
        .expect("refresh");
    let warnings = source.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(
        w.starts_with("3 exposition lines skipped as not in the Prometheus text format, on 1 device: pi-1 (3, line 4: no metric name: <html>"),
        "{w}"
    );
}

#[tokio::test]
async fn a_clean_exposition_has_no_warning() {
    let clean = "fleet_release_info{version=\"1.5.0\"} 1\nnode_thermal_zone_temp{type=\"cpu-thermal\"} 50\n";
    let (_exporter, _dir, source) = source_for(clean).await;
    let mut source = Source::Scrape(Box::new(source));
    source.refresh().await.expect("refresh");
    assert!(source.warnings().is_empty(), "{:?}", source.warnings());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_the_decoded_release_and_the_warning() {
    let (_exporter, dir, _source) = source_for(HOSTILE).await;
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[source]\nkind = \"scrape\"\ninventory = \"inventory.json\"\ntimeout = \"2s\"\n",
    )
    .unwrap();
    let run = |json: bool| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"));
        c.arg("--config")
            .arg(&config)
            .args(["status", "--sample", "100ms"]);
        if json {
            c.arg("--json");
        }
        c.stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
    };
    let out = tokio::time::timeout(Duration::from_secs(30), run(true))
        .await
        .expect("status finishes")
        .expect("status runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // --json is exact: the decoded newline is a JSON \n.
    assert_eq!(v["devices"][0]["release"]["version"], "1.4.2\nINJECTED");
    assert_eq!(v["devices"][0]["release"]["release"], "r=17");
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("3 exposition lines skipped"),
        "{}",
        v["warnings"]
    );
    let out = tokio::time::timeout(Duration::from_secs(30), run(false))
        .await
        .expect("status finishes")
        .expect("status runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning: 3 exposition lines skipped"),
        "{text}"
    );
}

/// An exporter whose every value is NaN (issue 9, case 9): the device answers,
/// but nothing it says is a number. It is degraded with the reason "no usable
/// figures", not up; a device that answers with numbers stays up.
#[tokio::test]
async fn a_device_exporting_only_nan_is_not_up() {
    use fleetdeck::fleet::{Breach, Fleet, Health};
    let nan = "\
# TYPE inference_requests_total counter
inference_requests_total{model=\"yolo\"} NaN
# TYPE inference_errors_total counter
inference_errors_total{model=\"yolo\"} NaN
# TYPE node_thermal_zone_temp gauge
node_thermal_zone_temp{type=\"cpu-thermal\"} NaN
rpi_throttled NaN
node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} NaN
node_memory_MemAvailable_bytes NaN
node_memory_MemTotal_bytes NaN
npu_utilization_ratio NaN
fleet_release_info{version=\"1.4.0\"} 1
";
    let fine = nan.replace("NaN", "0");
    let exporter = Exporter::start().await;
    exporter.set("/nan", Reply::Text(nan.to_string()));
    exporter.set("/fine", Reply::Text(fine));
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory.json");
    let a = exporter.addr;
    std::fs::write(
        &inv,
        inventory(&[(a, "pi-nan", "/nan"), (a, "pi-fine", "/fine")]),
    )
    .unwrap();
    let mut source = ScrapeSource::new(options(&inv, Duration::from_secs(2), 4)).unwrap();
    source.refresh().await.expect("first refresh");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let snap = source.refresh().await.expect("second refresh");
    let sample = snap.devices.iter().find(|d| d.id == "pi-nan").unwrap();
    assert!(sample.figures.0.iter().flatten().all(|v| v.is_nan()));
    assert!(sample.figures.get(Figure::Memory).is_some());
    let fleet = Fleet::build(snap, None, &Default::default());
    let nan_device = fleet.device("pi-nan").unwrap();
    assert_eq!(nan_device.health, Health::Degraded);
    assert_eq!(nan_device.breaches, vec![Breach::NoUsableFigures]);
    assert_eq!(Breach::NoUsableFigures.label(), "no usable figures");
    assert_eq!(fleet.device("pi-fine").unwrap().health, Health::Up);
    assert_eq!((fleet.total.up, fleet.total.degraded), (1, 1));
}
