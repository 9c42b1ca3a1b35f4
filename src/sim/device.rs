//! One simulated device's dynamics: a persistent personality from the seed,
//! slow random drifts, a diurnal load, and counters integrated over the time
//! between two scrapes so they are strictly consistent and monotonic.

use std::sync::Arc;

use super::release::{AgentState, Release};
use super::rng::{SplitMix64, derive, hash_str, normal_cdf, ou_step};

/// Upper bounds of `inference_latency_seconds` (the +Inf bucket is implicit).
pub(crate) const LATENCY_BOUNDS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
];
/// Upper bounds of `inference_confidence` (the +Inf bucket is implicit).
pub(crate) const CONFIDENCE_BOUNDS: [f64; 10] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

pub(crate) const LAT_BUCKETS: usize = LATENCY_BOUNDS.len() + 1;
pub(crate) const CONF_BUCKETS: usize = CONFIDENCE_BOUNDS.len() + 1;

/// What `MemTotal` reads on an 8 GB Raspberry Pi 5 (the firmware keeps a little).
pub(crate) const MEM_TOTAL_BYTES: u64 = 8_443_088_896;
/// Root partition sizes of the SD cards seen in the field (32, 64, 128 GB).
const DISK_SIZES: [u64; 3] = [30_937_186_304, 62_277_025_792, 124_554_051_584];

/// vcgencmd `get_throttled` while overheating: arm frequency capped,
/// currently throttled and soft temperature limit, now (bits 1–3) and
/// "has occurred" (bits 17–19).
pub(crate) const THROTTLED_HOT: u64 = 0xE_000E;

/// Median latency (seconds) and log-normal sigma in normal operation: p95 ≈ 2.28 × median.
const NORMAL_MEDIAN_S: f64 = 0.075;
const NORMAL_SIGMA: f64 = 0.5;
/// With the Slow fault: p95 = median × e^(1.645 × 0.45) ≈ 0.45 s.
const SLOW_MEDIAN_S: f64 = 0.2155;
const SLOW_SIGMA: f64 = 0.45;
/// Error share with the Errors fault.
const FAULT_ERROR_SHARE: f64 = 0.08;
/// Temperature reached under the Hot fault, °C.
const HOT_TEMP_C: f64 = 84.5;
/// Logit-normal confidence: median 0.85.
const CONFIDENCE_SIGMA: f64 = 0.7;

/// The faults that apply to a device at one scrape (from its site).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Faults {
    pub(crate) hot: bool,
    pub(crate) slow: bool,
    pub(crate) errors: bool,
}

/// Persistent traits of one board, drawn once from the seed: real fleets have
/// boards that run hotter (case, airflow), slower (SD card) or busier.
#[derive(Debug, Clone)]
struct Personality {
    temp_offset_c: f64,
    latency_scale: f64,
    rate_scale: f64,
    error_share: f64,
    fault_error_scale: f64,
    confidence_shift: f64,
    /// Local time offset of the board's site plus a little, in hours.
    tz_hours: f64,
    mem_used_share: f64,
    disk_size: u64,
    disk_used_share: f64,
}

/// The conditions that hold during one integration step.
#[derive(Debug, Clone, Copy)]
struct Conditions {
    rate: f64,
    median_s: f64,
    sigma: f64,
    error_share: f64,
    cpu_busy: f64,
}

/// Mutable per-device state. Guarded by its own mutex in the fleet.
#[derive(Debug)]
pub(crate) struct DeviceState {
    p: Personality,
    rng: SplitMix64,
    /// Unix seconds of the last advance; counters are integrated from here.
    last_t: f64,
    /// Slow drifts (Ornstein–Uhlenbeck), so neighbouring scrapes look alike.
    load_noise: f64,
    temp_drift: f64,
    latency_jitter: f64,
    /// Fractional counts per bucket (not cumulative; last is +Inf), rendered
    /// floored and cumulated: exact, unbiased and monotonic.
    latency: [f64; LAT_BUCKETS],
    latency_sum: f64,
    errors: f64,
    confidence: [f64; CONF_BUCKETS],
    confidence_sum: f64,
    /// [cpu][idle, user, system, iowait] seconds.
    cpu: [[f64; 4]; 4],
    pub(crate) release: Arc<Release>,
    pub(crate) agent: AgentState,
}

/// Everything one exposition needs, copied out so the lock is held only for
/// the arithmetic, never for the formatting or the network.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// Cumulative, last is +Inf (= request count).
    pub(crate) latency_cum: [u64; LAT_BUCKETS],
    pub(crate) latency_sum: f64,
    pub(crate) errors: u64,
    pub(crate) confidence_cum: [u64; CONF_BUCKETS],
    pub(crate) confidence_sum: f64,
    pub(crate) temp_c: f64,
    pub(crate) throttled: u64,
    pub(crate) cpu: [[f64; 4]; 4],
    pub(crate) mem_available: u64,
    pub(crate) disk_size: u64,
    pub(crate) disk_avail: u64,
    pub(crate) npu: f64,
    pub(crate) release: Arc<Release>,
    pub(crate) agent: AgentState,
}

impl DeviceState {
    /// A board that booted `uptime` ago (drawn from the seed) and has been
    /// serving ever since, so counters start at plausible non-zero values.
    pub(crate) fn new(seed: u64, id: &str, site: &str, now: f64) -> Self {
        let mut rng = SplitMix64::new(derive(seed, id));
        let site_tz = (hash_str(site) % 400) as f64 / 100.0;
        let p = Personality {
            temp_offset_c: rng.range(-2.0, 3.5),
            latency_scale: rng.range(0.9, 1.12),
            rate_scale: rng.range(0.8, 1.1),
            error_share: rng.range(0.0025, 0.006),
            fault_error_scale: rng.range(0.95, 1.05),
            confidence_shift: rng.range(-0.15, 0.15),
            tz_hours: site_tz + rng.range(-0.3, 0.3),
            mem_used_share: rng.range(0.25, 0.45),
            disk_size: DISK_SIZES[(rng.next_u64() % DISK_SIZES.len() as u64) as usize],
            disk_used_share: rng.range(0.2, 0.7),
        };
        let uptime = rng.range(86_400.0, 40.0 * 86_400.0);
        let mut s = Self {
            p,
            rng,
            last_t: now,
            load_noise: 0.0,
            temp_drift: 0.0,
            latency_jitter: 0.0,
            latency: [0.0; LAT_BUCKETS],
            latency_sum: 0.0,
            errors: 0.0,
            confidence: [0.0; CONF_BUCKETS],
            confidence_sum: 0.0,
            cpu: [[0.0; 4]; 4],
            release: Arc::new(Release::stable()),
            agent: AgentState::Idle,
        };
        s.temp_drift = 1.2 * s.rng.normal();
        let average = s.conditions(0.5, Faults::default());
        s.integrate(uptime, uptime * average.rate, &average);
        s
    }

    /// Moves the device to time `t` (Unix seconds) under `faults` and returns
    /// what it exports now. An earlier `t` (a concurrent scrape that lost the
    /// race) adds nothing, so counters never go back.
    pub(crate) fn advance(&mut self, t: f64, faults: Faults) -> Snapshot {
        let dt = (t - self.last_t).max(0.0);
        if dt > 0.0 {
            self.last_t = t;
            self.load_noise = ou_step(self.load_noise, dt, 120.0, 0.06, &mut self.rng);
            self.temp_drift = ou_step(self.temp_drift, dt, 300.0, 1.2, &mut self.rng);
            self.latency_jitter = ou_step(self.latency_jitter, dt, 60.0, 0.04, &mut self.rng);
        }
        let load = (diurnal_load(self.last_t, self.p.tz_hours) + self.load_noise).clamp(0.05, 1.0);
        let c = self.conditions(load, faults);
        if dt > 0.0 {
            let expected = c.rate * dt;
            let n = (expected + expected.sqrt() * self.rng.normal()).max(0.0);
            self.integrate(dt, n, &c);
        }
        self.snapshot(load, faults)
    }

    fn conditions(&self, load: f64, faults: Faults) -> Conditions {
        let scale = self.p.latency_scale * (0.93 + 0.14 * load) * self.latency_jitter.exp();
        let (median_s, sigma) = if faults.slow {
            // Mostly the fault, barely the board: the slow site must read ~450 ms.
            (SLOW_MEDIAN_S * scale.powf(0.3), SLOW_SIGMA)
        } else {
            (NORMAL_MEDIAN_S * scale, NORMAL_SIGMA)
        };
        let error_share = if faults.errors {
            FAULT_ERROR_SHARE * self.p.fault_error_scale
        } else {
            self.p.error_share * (0.8 + 0.4 * load)
        };
        Conditions {
            rate: ((5.0 + 25.0 * load) * self.p.rate_scale).clamp(5.0, 30.0),
            median_s,
            sigma,
            error_share,
            cpu_busy: 0.08 + 0.62 * load,
        }
    }

    /// Adds `n` requests and `dt` seconds of CPU time under conditions `c`.
    fn integrate(&mut self, dt: f64, n: f64, c: &Conditions) {
        let ln_median = c.median_s.ln();
        let mut prev = 0.0;
        for (bucket, le) in self.latency.iter_mut().zip(LATENCY_BOUNDS) {
            let f = normal_cdf((le.ln() - ln_median) / c.sigma);
            *bucket += n * (f - prev).max(0.0);
            prev = f;
        }
        self.latency[LAT_BUCKETS - 1] += n * (1.0 - prev).max(0.0);
        // Mean of a log-normal.
        self.latency_sum += n * c.median_s * (c.sigma * c.sigma / 2.0).exp();
        self.errors += n * c.error_share;

        let ok = n * (1.0 - c.error_share);
        let mu = logit(0.85) + self.p.confidence_shift;
        let mut prev = 0.0;
        let mut mean = 0.0;
        for (bucket, le) in self.confidence.iter_mut().zip(CONFIDENCE_BOUNDS) {
            let f = if le >= 1.0 {
                1.0
            } else {
                normal_cdf((logit(le) - mu) / CONFIDENCE_SIGMA)
            };
            let share = (f - prev).max(0.0);
            *bucket += ok * share;
            mean += share * (le - 0.05);
            prev = f;
        }
        self.confidence_sum += ok * mean;

        for (core, modes) in self.cpu.iter_mut().enumerate() {
            // Core 0 takes the interrupts.
            let busy = (c.cpu_busy * if core == 0 { 1.15 } else { 0.95 }).clamp(0.0, 0.98);
            modes[0] += dt * (1.0 - busy);
            modes[1] += dt * busy * 0.76;
            modes[2] += dt * busy * 0.17;
            modes[3] += dt * busy * 0.07;
        }
    }

    fn snapshot(&mut self, load: f64, faults: Faults) -> Snapshot {
        let mut latency_cum = [0u64; LAT_BUCKETS];
        let mut acc = 0.0;
        for (out, b) in latency_cum.iter_mut().zip(self.latency) {
            acc += b;
            *out = acc as u64;
        }
        let requests = latency_cum[LAT_BUCKETS - 1];
        let mut confidence_cum = [0u64; CONF_BUCKETS];
        let mut acc = 0.0;
        for (out, b) in confidence_cum.iter_mut().zip(self.confidence) {
            acc += b;
            *out = acc as u64;
        }
        let temp_c = if faults.hot {
            HOT_TEMP_C + 0.3 * self.p.temp_offset_c + 0.3 * self.temp_drift
        } else {
            44.0 + 18.0 * load + self.p.temp_offset_c + self.temp_drift
        };
        let mem_used = self.p.mem_used_share + 0.12 * load + 0.01 * self.rng.normal();
        // Logs fill the card during the day and are rotated at midnight (UTC).
        let disk_used = self.p.disk_used_share + 0.005 * (self.last_t / 86_400.0).fract();
        Snapshot {
            latency_cum,
            latency_sum: self.latency_sum,
            errors: (self.errors as u64).min(requests),
            confidence_cum,
            confidence_sum: self.confidence_sum,
            temp_c,
            throttled: if faults.hot { THROTTLED_HOT } else { 0 },
            cpu: self.cpu,
            mem_available: (MEM_TOTAL_BYTES as f64 * (1.0 - mem_used).clamp(0.02, 0.98)) as u64,
            disk_size: self.p.disk_size,
            disk_avail: (self.p.disk_size as f64 * (1.0 - disk_used).clamp(0.01, 0.99)) as u64,
            npu: (0.92 * load + 0.03 * self.rng.normal()).clamp(0.0, 1.0),
            release: Arc::clone(&self.release),
            agent: self.agent,
        }
    }
}

/// Fleet load over the day in the site's local time: low at night, peak
/// mid-afternoon, between 0.15 and 0.85.
fn diurnal_load(t: f64, tz_hours: f64) -> f64 {
    let hour = (t / 3600.0 + tz_hours).rem_euclid(24.0);
    0.5 + 0.35 * (std::f64::consts::TAU * (hour - 9.0) / 24.0).sin()
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}
