//! What the benches share: a fleet that looks like a real one, and the
//! measuring loop.
//!
//! The fleet: most devices healthy (latency p95 70–200 ms, error rate
//! 0–1.5 %, CPU 40–72 °C), one in twelve degraded by one breach (slow: p95
//! 300–700 ms; erroring: 3.5–5 %; hot: 80.5–85 °C and the soft temperature
//! limit flag), one in fifty down (no figures). Values are deterministic
//! (a hash of the device number), so runs compare.
//!
//! Quick mode: `cargo bench` passes `--bench`; `cargo test --benches` (CI,
//! scripts/test.sh) does not, and then every measurement runs once on a
//! smaller fleet — the asserts execute, nothing is timed against a target.

#![allow(dead_code)] // each bench uses a different part

use fleetdeck::fleet::{DeviceSample, Reach, Release, Snapshot};
use fleetdeck::metrics::def::Figure;
use std::time::{Duration, SystemTime};

/// Run by `cargo test --benches` rather than `cargo bench`.
pub fn quick() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// `full` devices for `cargo bench`, 1,000 in quick mode.
pub fn devices(full: usize) -> usize {
    if quick() { full.min(1_000) } else { full }
}

/// Sites for `n` devices: 50 devices a site, as in the 10,000 / 200.
pub fn sites(n: usize) -> usize {
    (n / 50).max(1)
}

/// Prints the median and the worst of `runs` runs (one in quick mode).
pub fn measure(name: &str, runs: usize, mut f: impl FnMut() -> Duration) {
    let runs = if quick() { 1 } else { runs };
    let mut v: Vec<Duration> = (0..runs).map(|_| f()).collect();
    v.sort();
    println!(
        "{name:<62} median {:>9.3} ms   worst {:>9.3} ms   ({runs} runs)",
        v[v.len() / 2].as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3
    );
}

/// How a device is doing.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    Healthy,
    Slow,
    Erroring,
    Hot,
    Down,
}

pub fn condition(i: usize) -> Condition {
    if i % 50 == 7 {
        Condition::Down
    } else if i % 12 == 5 {
        [Condition::Slow, Condition::Erroring, Condition::Hot][(i / 12) % 3]
    } else {
        Condition::Healthy
    }
}

/// A uniform number in [0, 1) for (device, what): splitmix64.
fn unit(i: usize, what: u64) -> f64 {
    let mut z = (i as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(what.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn between(i: usize, what: u64, lo: f64, hi: f64) -> f64 {
    lo + unit(i, what) * (hi - lo)
}

/// Every figure of device `i`, in the units fleetdeck reads them (seconds,
/// fractions, °C, inferences per second, the Pi's throttling bits). Empty
/// for a down device.
pub fn figures(i: usize) -> Vec<(Figure, f64)> {
    let c = condition(i);
    if c == Condition::Down {
        return Vec::new();
    }
    let p50 = match c {
        Condition::Slow => between(i, 1, 0.180, 0.400),
        _ => between(i, 1, 0.035, 0.090),
    };
    let p95 = p50 * between(i, 2, 1.6, 2.2);
    let p99 = p95 * between(i, 3, 1.2, 1.6);
    let errors = match c {
        Condition::Erroring => between(i, 4, 0.035, 0.050),
        _ => between(i, 4, 0.0, 0.015),
    };
    let temp = match c {
        Condition::Hot => between(i, 5, 80.5, 85.0),
        _ => between(i, 5, 40.0, 72.0),
    };
    // Bit 3: soft temperature limit now; bits 16+: has happened since boot.
    let throttled = match c {
        Condition::Hot => f64::from(0x8 | 0x8_0000),
        _ if i % 17 == 3 => f64::from(0x5_0000),
        _ => 0.0,
    };
    vec![
        (Figure::LatencyP50, p50),
        (Figure::LatencyP95, p95),
        (Figure::LatencyP99, p99),
        (Figure::Throughput, between(i, 6, 8.0, 30.0)),
        (Figure::ErrorRate, errors),
        (Figure::ConfidenceMedian, between(i, 7, 0.78, 0.95)),
        (Figure::LowConfidence, between(i, 8, 0.0, 0.08)),
        (Figure::CpuTemp, temp),
        (Figure::Throttled, throttled),
        (Figure::Cpu, between(i, 9, 0.15, 0.85)),
        (Figure::Memory, between(i, 10, 0.30, 0.75)),
        (Figure::Disk, between(i, 11, 0.20, 0.70)),
        (Figure::Npu, between(i, 12, 0.30, 0.90)),
    ]
}

pub const GROUPS: [&str; 4] = ["canary", "vision", "kiosk", "gate"];

pub fn device_id(i: usize) -> String {
    format!("pi-{:05}", i + 1)
}

pub fn site(i: usize, sites: usize) -> String {
    format!("site-{:03}", i % sites)
}

/// One in ten devices already runs 1.5.0.
pub fn release(i: usize) -> Release {
    let new = i.is_multiple_of(10);
    Release {
        version: if new { "1.5.0" } else { "1.4.0" }.into(),
        release: if new { "r42" } else { "r41" }.into(),
        image_digest: format!("sha256:{}", if new { "ef" } else { "ab" }.repeat(32)),
        model_digest: format!("sha256:{}", if new { "cd" } else { "12" }.repeat(32)),
    }
}

/// The fleet as a source would return it.
pub fn snapshot(n: usize, sites: usize, at: SystemTime) -> Snapshot {
    let devices = (0..n)
        .map(|i| {
            let mut s = DeviceSample::new(&device_id(i), &site(i, sites), GROUPS[i % 4]);
            s.labels.insert("device".into(), s.id.clone());
            s.labels.insert("site".into(), s.site.clone());
            s.labels.insert("group".into(), s.group.clone());
            if condition(i) == Condition::Down {
                s.reach = Reach::Down(None);
            } else {
                for (f, v) in figures(i) {
                    s.figures.set(f, Some(v));
                }
                s.release = Some(release(i));
                s.agent_state = Some("idle".into());
            }
            s
        })
        .collect();
    Snapshot {
        source: "bench".into(),
        taken_at: at,
        devices,
    }
}
