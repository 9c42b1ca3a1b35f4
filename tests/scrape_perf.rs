//! Rough cost of parsing and computing a 1,000-device refresh. Prints a figure,
//! asserts nothing about time: `cargo test --release --test scrape_perf -- --ignored --nocapture`.

use fleetdeck::metrics::compute::{Needed, ScrapeData, agent_state, compute, release};
use fleetdeck::metrics::def::MetricDefs;
use std::time::{Duration, Instant};

/// About what a Pi 5 with node_exporter's usual collectors and the inference
/// exporter sends: ~250 samples.
fn device(n: u64) -> String {
    let mut s = String::new();
    s += "# TYPE node_cpu_seconds_total counter\n";
    for cpu in 0..4 {
        for mode in [
            "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
        ] {
            s += &format!(
                "node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{mode}\"}} {}\n",
                n * 7 + cpu
            );
        }
    }
    for h in ["inference_latency_seconds", "inference_confidence"] {
        s += &format!("# TYPE {h} histogram\n");
        for model in ["yolo", "ssd", "pose"] {
            for (i, le) in [
                "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
                "+Inf",
            ]
            .iter()
            .enumerate()
            {
                s += &format!(
                    "{h}_bucket{{model=\"{model}\",le=\"{le}\"}} {}\n",
                    n * (i as u64 + 1)
                );
            }
            s += &format!(
                "{h}_sum{{model=\"{model}\"}} {}\n{h}_count{{model=\"{model}\"}} {}\n",
                n,
                n * 12
            );
        }
    }
    for model in ["yolo", "ssd", "pose"] {
        s += &format!("inference_requests_total{{model=\"{model}\"}} {}\n", n * 12);
        s += &format!("inference_errors_total{{model=\"{model}\"}} {}\n", n / 10);
    }
    for i in 0..400 {
        s += &format!(
            "# HELP node_misc_{i} Something else node_exporter sends.\n# TYPE node_misc_{i} gauge\nnode_misc_{i}{{device=\"mmcblk0\"}} {i}\n"
        );
    }
    s += "node_thermal_zone_temp{type=\"cpu-thermal\",zone=\"0\"} 55.2\n";
    s += "node_memory_MemAvailable_bytes 2e9\nnode_memory_MemTotal_bytes 8e9\n";
    s += "node_filesystem_avail_bytes{mountpoint=\"/\"} 1e10\nnode_filesystem_size_bytes{mountpoint=\"/\"} 3e10\n";
    s += "npu_utilization_ratio 0.4\nrpi_throttled 0\n";
    s += "fleet_release_info{version=\"1.2.3\",release=\"r1\",image_digest=\"sha256:a\",model_digest=\"sha256:b\"} 1\n";
    s += "fleet_agent_state{state=\"idle\"} 1\n";
    s
}

#[test]
#[ignore = "prints a rough timing; run by hand"]
fn thousand_devices() {
    let defs = MetricDefs::default();
    let bodies0: Vec<String> = (0..1000).map(|i| device(1000 + i)).collect();
    let bodies1: Vec<String> = (0..1000).map(|i| device(2000 + i)).collect();
    let t0 = Instant::now();
    let prev: Vec<ScrapeData> = bodies0.iter().map(|b| ScrapeData::parse(b, t0)).collect();
    let needed = Needed::from_defs(&defs);
    let start = Instant::now();
    let at = t0 + Duration::from_secs(10);
    let mut n = 0;
    for (b, p) in bodies1.iter().zip(&prev) {
        let cur = ScrapeData::parse_needed(b, at, &needed);
        let f = compute(&defs, Some(p), &cur);
        n += f.0.iter().filter(|v| v.is_some()).count();
        let _ = (release(&defs, &cur), agent_state(&defs, &cur));
    }
    let took = start.elapsed();
    println!(
        "1000 devices × {} bytes: parse + compute {took:?} on one core ({n} figures)",
        bodies1[0].len()
    );
}
