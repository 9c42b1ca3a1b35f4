//! The fleet model: devices, their health, and the roll-ups per site and group
//! that every view reads. Built from a source's [`Snapshot`] on each refresh.

use crate::metrics::def::Figure;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

/// One figure per [`Figure`]; `None` is "n/a" (the device does not export it),
/// never zero.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Figures(pub [Option<f64>; Figure::COUNT]);

impl Figures {
    pub fn get(&self, f: Figure) -> Option<f64> {
        self.0[f.index()]
    }
    pub fn set(&mut self, f: Figure, v: Option<f64>) {
        self.0[f.index()] = v;
    }
}

/// The release a device reports running (`fleet_release_info` labels).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Release {
    pub version: String,
    pub release: String,
    pub image_digest: String,
    pub model_digest: String,
}

/// Whether the source could read the device at all.
#[derive(Clone, Debug, PartialEq)]
pub enum Reach {
    /// The last scrape succeeded (`up == 1`).
    Up,
    /// The scrape failed (`up == 0`, connection refused, timeout…), with the reason when known.
    Down(Option<String>),
}

/// What a source reports for one device in one refresh.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceSample {
    pub id: String,
    pub site: String,
    pub group: String,
    /// Every identifying label (target labels), for the detail view and filters.
    pub labels: BTreeMap<String, String>,
    /// The scrape address (`host:port`) when known.
    pub target: Option<String>,
    pub reach: Reach,
    pub figures: Figures,
    pub release: Option<Release>,
    pub agent_state: Option<String>,
}

impl DeviceSample {
    pub fn new(id: &str, site: &str, group: &str) -> Self {
        DeviceSample {
            id: id.into(),
            site: site.into(),
            group: group.into(),
            labels: BTreeMap::new(),
            target: None,
            reach: Reach::Up,
            figures: Figures::default(),
            release: None,
            agent_state: None,
        }
    }
}

/// The result of one successful refresh of a source.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Human description of where the data came from (`prometheus http://…`, `scrape inventory.json`).
    pub source: String,
    /// When the data was taken (evaluation time for Prometheus, end of scrape for direct).
    pub taken_at: SystemTime,
    pub devices: Vec<DeviceSample>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Up,
    Degraded,
    Down,
    Stale,
}

impl Health {
    pub const ALL: [Health; 4] = [Health::Up, Health::Degraded, Health::Down, Health::Stale];

    pub fn key(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Degraded => "degraded",
            Health::Down => "down",
            Health::Stale => "stale",
        }
    }

    /// A symbol so health is never told by colour alone.
    pub fn symbol(self) -> &'static str {
        match self {
            Health::Up => "●",
            Health::Degraded => "▲",
            Health::Down => "✖",
            Health::Stale => "◌",
        }
    }

    /// Higher is worse; used to sort "needs attention first".
    pub fn severity(self) -> u8 {
        match self {
            Health::Up => 0,
            Health::Stale => 1,
            Health::Degraded => 2,
            Health::Down => 3,
        }
    }

    pub fn from_key(s: &str) -> Option<Health> {
        Health::ALL.into_iter().find(|h| h.key() == s)
    }
}

/// Health thresholds (defaults: docs/ARCHITECTURE.md, "Contracts").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Thresholds {
    /// p95 latency above this (seconds) is degraded.
    pub latency_p95: f64,
    /// Error share above this (0..1) is degraded.
    pub error_rate: f64,
    /// CPU temperature above this (°C) is degraded.
    pub cpu_temp: f64,
    /// Any of these `rpi_throttled` bits set is degraded (default: the four "currently" bits).
    pub throttled_mask: u64,
    /// A device with no fresh data for this long is stale.
    pub stale_after: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            latency_p95: 0.300,
            error_rate: 0.03,
            cpu_temp: 80.0,
            throttled_mask: 0xF,
            stale_after: Duration::from_secs(60),
        }
    }
}

/// Why a device is degraded: which threshold it breached.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Breach {
    Latency,
    Errors,
    Temperature,
    Throttling,
    /// Up, exporting figures, but not one of them is a number (every one NaN
    /// or ±Inf): nothing says the device is healthy, so it is not shown as up.
    NoUsableFigures,
}

impl Breach {
    pub fn label(self) -> &'static str {
        match self {
            Breach::Latency => "p95 latency",
            Breach::Errors => "error rate",
            Breach::Temperature => "temperature",
            Breach::Throttling => "throttling",
            Breach::NoUsableFigures => "no usable figures",
        }
    }
}

impl Thresholds {
    /// How far a device's worst figure is past its threshold, as a share of
    /// the threshold (0 when none is past): p95 450 ms over 300 ms is 0.5,
    /// 86 °C over 80 °C is 0.075; throttling counts as 0.1. Each figure is
    /// capped at 1 so one absurd reading does not drown the rest.
    pub fn excess(&self, f: &Figures) -> f64 {
        let over = |v: Option<f64>, th: f64| {
            v.filter(|v| v.is_finite() && th > 0.0 && *v > th)
                .map_or(0.0, |v| ((v - th) / th).min(1.0))
        };
        let throttled = f
            .get(Figure::Throttled)
            .is_some_and(|v| v.is_finite() && v >= 0.0 && (v as u64) & self.throttled_mask != 0);
        over(f.get(Figure::LatencyP95), self.latency_p95)
            .max(over(f.get(Figure::ErrorRate), self.error_rate))
            .max(over(f.get(Figure::CpuTemp), self.cpu_temp))
            .max(if throttled { 0.1 } else { 0.0 })
    }

    /// Thresholds a device's figures breach. NaN compares false everywhere, so an
    /// absurd value is never a breach nor a pass by accident: it is shown as such.
    /// A device whose every exported figure is NaN or ±Inf breaches
    /// [`Breach::NoUsableFigures`]: it is degraded, never up.
    pub fn breaches(&self, f: &Figures) -> Vec<Breach> {
        let mut out = Vec::new();
        if f.get(Figure::LatencyP95)
            .is_some_and(|v| v > self.latency_p95)
        {
            out.push(Breach::Latency);
        }
        if f.get(Figure::ErrorRate)
            .is_some_and(|v| v > self.error_rate)
        {
            out.push(Breach::Errors);
        }
        if f.get(Figure::CpuTemp).is_some_and(|v| v > self.cpu_temp) {
            out.push(Breach::Temperature);
        }
        if f.get(Figure::Throttled)
            .is_some_and(|v| v.is_finite() && v >= 0.0 && (v as u64) & self.throttled_mask != 0)
        {
            out.push(Breach::Throttling);
        }
        // A device with nothing exported reads as n/a everywhere (a new
        // exporter, a first scrape): that is not a breach. One whose every
        // exported figure is NaN or infinite is broken.
        if f.0.iter().any(Option::is_some) && !f.0.iter().flatten().any(|v| v.is_finite()) {
            out.push(Breach::NoUsableFigures);
        }
        out
    }
}

/// A device as the views see it.
#[derive(Clone, Debug)]
pub struct Device {
    pub sample: DeviceSample,
    pub health: Health,
    pub breaches: Vec<Breach>,
    /// When fresh data for this device was last seen.
    pub last_seen: Option<SystemTime>,
}

impl Device {
    pub fn id(&self) -> &str {
        &self.sample.id
    }
    pub fn site(&self) -> &str {
        &self.sample.site
    }
    pub fn group(&self) -> &str {
        &self.sample.group
    }
    pub fn figure(&self, f: Figure) -> Option<f64> {
        self.sample.figures.get(f)
    }
    pub fn version(&self) -> Option<&str> {
        self.sample.release.as_ref().map(|r| r.version.as_str())
    }
}

/// Counts and worst figures of a set of devices (a site, a group, the fleet).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Rollup {
    pub name: String,
    pub devices: usize,
    pub up: usize,
    pub degraded: usize,
    pub down: usize,
    pub stale: usize,
    /// Median over the devices of their p95 latency (seconds).
    pub p95_latency: Option<f64>,
    /// Worst device p95 latency (seconds).
    pub p95_latency_max: Option<f64>,
    /// Requests-weighted error share.
    pub error_rate: Option<f64>,
    pub max_temp: Option<f64>,
    /// Release version → number of devices reporting it.
    pub releases: BTreeMap<String, usize>,
    /// The worst [`Thresholds::excess`] of its devices that answer.
    #[serde(skip)]
    pub excess: f64,
    /// Which of its own figures (median p95, error share, max temperature;
    /// throttling when any device is throttled) are past their thresholds:
    /// the views colour them like a device's.
    #[serde(skip)]
    pub breaches: Vec<Breach>,
}

impl Rollup {
    fn named(name: &str) -> Self {
        Rollup {
            name: name.to_string(),
            ..Default::default()
        }
    }

    pub fn count(&self, h: Health) -> usize {
        match h {
            Health::Up => self.up,
            Health::Degraded => self.degraded,
            Health::Down => self.down,
            Health::Stale => self.stale,
        }
    }

    /// 0 when all is well; larger means it needs attention sooner. Severity,
    /// not counts (docs/ARCHITECTURE.md, "Attention"): the share of its
    /// devices that are degraded or down, plus how far its worst figure is
    /// past its threshold ([`Thresholds::excess`], at most 1), plus a quarter
    /// of the share that is stale. A site whose every device runs hot ranks
    /// above a bigger one with a device offline.
    pub fn attention(&self) -> u64 {
        if self.devices == 0 {
            return 0;
        }
        let n = self.devices as f64;
        let bad = (self.degraded + self.down) as f64 / n;
        let stale = self.stale as f64 / n;
        let excess = if self.degraded > 0 {
            self.excess.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let score = bad + excess + stale / 4.0;
        if score <= 0.0 {
            return 0;
        }
        // Fixed point, at least 1 when anything is wrong.
        ((score * 1e6) as u64).max(1)
    }

    /// The worst health present.
    pub fn worst(&self) -> Health {
        if self.down > 0 {
            Health::Down
        } else if self.degraded > 0 {
            Health::Degraded
        } else if self.stale > 0 {
            Health::Stale
        } else {
            Health::Up
        }
    }
}

#[derive(Default)]
struct RollupAcc {
    r: Rollup,
    p95s: Vec<f64>,
    errors_weighted: f64,
    throughput: f64,
}

impl RollupAcc {
    fn add(&mut self, d: &Device, th: &Thresholds) {
        let r = &mut self.r;
        r.devices += 1;
        match d.health {
            Health::Up => r.up += 1,
            Health::Degraded => r.degraded += 1,
            Health::Down => r.down += 1,
            Health::Stale => r.stale += 1,
        }
        if d.health == Health::Down {
            return;
        }
        if d.health == Health::Degraded {
            r.excess = r.excess.max(th.excess(&d.sample.figures));
            if d.breaches.contains(&Breach::Throttling) && !r.breaches.contains(&Breach::Throttling)
            {
                r.breaches.push(Breach::Throttling);
            }
        }
        if let Some(p) = d.figure(Figure::LatencyP95).filter(|v| v.is_finite()) {
            self.p95s.push(p);
            r.p95_latency_max = Some(r.p95_latency_max.map_or(p, |m: f64| m.max(p)));
        }
        if let (Some(e), Some(t)) = (d.figure(Figure::ErrorRate), d.figure(Figure::Throughput))
            && e.is_finite()
            && t.is_finite()
            && t >= 0.0
        {
            self.errors_weighted += e * t;
            self.throughput += t;
        }
        if let Some(t) = d.figure(Figure::CpuTemp).filter(|v| v.is_finite()) {
            r.max_temp = Some(r.max_temp.map_or(t, |m: f64| m.max(t)));
        }
        if let Some(v) = d.version() {
            // Avoid allocating the key again for every device of the same version.
            if let Some(n) = r.releases.get_mut(v) {
                *n += 1;
            } else {
                r.releases.insert(v.to_string(), 1);
            }
        }
    }

    fn finish(mut self, th: &Thresholds) -> Rollup {
        if !self.p95s.is_empty() {
            let mid = self.p95s.len() / 2;
            let (_, m, _) = self.p95s.select_nth_unstable_by(mid, f64::total_cmp);
            self.r.p95_latency = Some(*m);
        }
        if self.throughput > 0.0 {
            self.r.error_rate = Some(self.errors_weighted / self.throughput);
        }
        let r = &mut self.r;
        let past = |v: Option<f64>, t: f64| v.is_some_and(|v| v > t);
        for (b, yes) in [
            (Breach::Latency, past(r.p95_latency, th.latency_p95)),
            (Breach::Errors, past(r.error_rate, th.error_rate)),
            (Breach::Temperature, past(r.max_temp, th.cpu_temp)),
        ] {
            if yes {
                r.breaches.push(b);
            }
        }
        self.r
    }
}

/// The whole fleet at one refresh: devices sorted by id, roll-ups per site and group.
#[derive(Clone, Debug, Default)]
pub struct Fleet {
    pub devices: Vec<Device>,
    pub sites: Vec<Rollup>,
    pub groups: Vec<Rollup>,
    pub total: Rollup,
    /// Device id → index in `devices`.
    pub index: HashMap<String, usize>,
    pub source: String,
    pub taken_at: Option<SystemTime>,
    /// The thresholds health was judged by (kept for re-rolling up).
    pub thresholds: Thresholds,
}

impl Fleet {
    /// Builds the model from a fresh snapshot. Devices that were in `previous`
    /// but are absent now are kept, marked stale, so a device never silently
    /// disappears from the screen.
    pub fn build(snapshot: Snapshot, previous: Option<&Fleet>, th: &Thresholds) -> Fleet {
        let now = snapshot.taken_at;
        let mut devices: Vec<Device> = snapshot
            .devices
            .into_iter()
            .map(|s| {
                let (health, breaches, last_seen) = match &s.reach {
                    Reach::Down(_) => (Health::Down, Vec::new(), None),
                    Reach::Up => {
                        let b = th.breaches(&s.figures);
                        let h = if b.is_empty() {
                            Health::Up
                        } else {
                            Health::Degraded
                        };
                        (h, b, Some(now))
                    }
                };
                Device {
                    sample: s,
                    health,
                    breaches,
                    last_seen,
                }
            })
            .collect();
        devices.sort_unstable_by(|a, b| a.sample.id.cmp(&b.sample.id));
        devices.dedup_by(|a, b| a.sample.id == b.sample.id);
        let mut index: HashMap<String, usize> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.sample.id.clone(), i))
            .collect();

        if let Some(prev) = previous {
            // Carry over last-seen times of devices that are down now, and keep
            // vanished devices as stale.
            for d in &mut devices {
                if d.last_seen.is_none()
                    && let Some(&i) = prev.index.get(&d.sample.id)
                {
                    d.last_seen = prev.devices[i].last_seen;
                }
            }
            let mut vanished = false;
            for p in &prev.devices {
                if !index.contains_key(&p.sample.id) {
                    let gone_for = p
                        .last_seen
                        .and_then(|t| now.duration_since(t).ok())
                        .unwrap_or_default();
                    if gone_for <= th.stale_after * 10 {
                        let mut d = p.clone();
                        d.health = Health::Stale;
                        devices.push(d);
                        vanished = true;
                    }
                }
            }
            if vanished {
                devices.sort_unstable_by(|a, b| a.sample.id.cmp(&b.sample.id));
                index = devices
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (d.sample.id.clone(), i))
                    .collect();
            }
        }
        Fleet::from_devices(devices, index, snapshot.source, Some(now), th.clone())
    }

    fn from_devices(
        devices: Vec<Device>,
        index: HashMap<String, usize>,
        source: String,
        taken_at: Option<SystemTime>,
        thresholds: Thresholds,
    ) -> Fleet {
        let mut sites: HashMap<&str, RollupAcc> = HashMap::new();
        let mut groups: HashMap<&str, RollupAcc> = HashMap::new();
        let mut total = RollupAcc {
            r: Rollup::named("fleet"),
            ..Default::default()
        };
        let th = &thresholds;
        for d in &devices {
            sites.entry(d.site()).or_default().add(d, th);
            groups.entry(d.group()).or_default().add(d, th);
            total.add(d, th);
        }
        let finish = |m: HashMap<&str, RollupAcc>| {
            let mut v: Vec<Rollup> = m
                .into_iter()
                .map(|(name, acc)| {
                    let mut r = acc.finish(th);
                    r.name = name.to_string();
                    r
                })
                .collect();
            v.sort_by(|a, b| a.name.cmp(&b.name));
            v
        };
        let sites = finish(sites);
        let groups = finish(groups);
        Fleet {
            devices,
            sites,
            groups,
            total: total.finish(th),
            index,
            source,
            taken_at,
            thresholds,
        }
    }

    /// Marks every device stale (the source failed; the data is kept, not dropped).
    pub fn mark_stale(&mut self) {
        let devices = std::mem::take(&mut self.devices);
        let devices = devices
            .into_iter()
            .map(|mut d| {
                if d.health != Health::Down {
                    d.health = Health::Stale;
                }
                d
            })
            .collect();
        let index = std::mem::take(&mut self.index);
        *self = Fleet::from_devices(
            devices,
            index,
            std::mem::take(&mut self.source),
            self.taken_at,
            std::mem::take(&mut self.thresholds),
        );
    }

    pub fn device(&self, id: &str) -> Option<&Device> {
        self.index.get(id).map(|&i| &self.devices[i])
    }

    pub fn site(&self, name: &str) -> Option<&Rollup> {
        self.sites.iter().find(|r| r.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&Rollup> {
        self.groups.iter().find(|r| r.name == name)
    }
}

/// Total order on optional figures for sorting: real numbers ascending, then
/// +Inf, then NaN, then n/a — so absurd and missing values sink to the end and
/// never break the sort.
pub fn cmp_figure(a: Option<f64>, b: Option<f64>) -> std::cmp::Ordering {
    missing_rank(a)
        .cmp(&missing_rank(b))
        .then_with(|| cmp_present(a, b))
}

/// 0 for a real number or ±Inf, 1 for NaN, 2 for n/a: what sinks to the end
/// of a table whichever way it is sorted.
pub fn missing_rank(v: Option<f64>) -> u8 {
    match v {
        None => 2,
        Some(x) if x.is_nan() => 1,
        Some(_) => 0,
    }
}

/// Orders two figures by value (NaN and n/a compare equal among themselves).
pub fn cmp_present(a: Option<f64>, b: Option<f64>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(x), Some(y)) if !x.is_nan() && !y.is_nan() => x.total_cmp(&y),
        _ => std::cmp::Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str, site: &str, p95: Option<f64>, temp: Option<f64>) -> DeviceSample {
        let mut s = DeviceSample::new(id, site, "vision");
        s.figures.set(Figure::LatencyP95, p95);
        s.figures.set(Figure::CpuTemp, temp);
        s
    }

    fn snap(devices: Vec<DeviceSample>) -> Snapshot {
        Snapshot {
            source: "test".into(),
            taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
            devices,
        }
    }

    /// Issue 11: 5,000 devices over 100 sites; one site of 80 devices all at
    /// 86 °C and throttled; 20 sites with one device offline each. The hot
    /// site needs attention first, and each offline site after it.
    #[test]
    fn attention_is_severity_not_counts() {
        let mut devices = Vec::new();
        for i in 0..80 {
            let mut s = sample(&format!("hot-{i:02}"), "hot-1", Some(0.1), Some(86.0));
            s.figures.set(Figure::Throttled, Some(4.0));
            devices.push(s);
        }
        // 4,920 more over 99 sites (49 or 50 each); the first 20 lose one device.
        for i in 0..4920 {
            let site = format!("s-{:02}", i % 99);
            let mut s = sample(&format!("pi-{i:04}"), &site, Some(0.1), Some(55.0));
            if i < 20 {
                s.reach = Reach::Down(Some("timeout".into()));
            }
            devices.push(s);
        }
        let fleet = Fleet::build(snap(devices), None, &Thresholds::default());
        assert_eq!((fleet.sites.len(), fleet.total.devices), (100, 5000));
        let mut ranked: Vec<&Rollup> = fleet.sites.iter().filter(|s| s.attention() > 0).collect();
        ranked.sort_by(|a, b| b.attention().cmp(&a.attention()).then(a.name.cmp(&b.name)));
        assert_eq!(ranked.len(), 21);
        assert_eq!(ranked[0].name, "hot-1", "the hot site first");
        assert!(ranked[1..].iter().all(|s| s.down == 1));
        let hot = fleet.site("hot-1").expect("hot site");
        // 86 °C is 7.5 % past 80 °C; throttling counts 0.1: the worst.
        assert!((hot.excess - 0.1).abs() < 1e-9, "{}", hot.excess);
        assert_eq!(hot.breaches, [Breach::Throttling, Breach::Temperature]);
        // An offline device is worse than nothing, a degraded share is worse
        // than a smaller one, and figures past their thresholds add.
        let one_down = fleet.site("s-00").expect("site");
        let quiet = fleet.site("s-98").expect("site");
        assert!(one_down.attention() > 0);
        assert_eq!(quiet.attention(), 0);
        assert!(quiet.breaches.is_empty());
    }

    #[test]
    fn health_follows_thresholds_and_reach() {
        let mut down = sample("c", "ams-1", None, None);
        down.reach = Reach::Down(Some("connection refused".into()));
        let fleet = Fleet::build(
            snap(vec![
                sample("a", "ams-1", Some(0.1), Some(50.0)),
                sample("b", "ams-1", Some(0.45), Some(50.0)),
                down,
                sample("d", "fra-1", Some(0.1), Some(85.0)),
            ]),
            None,
            &Thresholds::default(),
        );
        let h: Vec<Health> = fleet.devices.iter().map(|d| d.health).collect();
        assert_eq!(
            h,
            [Health::Up, Health::Degraded, Health::Down, Health::Degraded]
        );
        assert_eq!(
            fleet.device("b").map(|d| d.breaches.clone()),
            Some(vec![Breach::Latency])
        );
        let ams = fleet.site("ams-1").expect("site ams-1");
        assert_eq!((ams.devices, ams.up, ams.degraded, ams.down), (3, 1, 1, 1));
        assert_eq!(ams.p95_latency_max, Some(0.45));
        assert_eq!(fleet.site("fra-1").and_then(|r| r.max_temp), Some(85.0));
        assert_eq!(fleet.total.devices, 4);
        assert_eq!(fleet.total.worst(), Health::Down);
    }

    #[test]
    fn nan_and_infinite_values_do_not_breach_or_break_rollups() {
        let fleet = Fleet::build(
            snap(vec![
                sample("a", "s", Some(f64::NAN), Some(f64::INFINITY)),
                sample("b", "s", Some(0.1), Some(f64::NAN)),
            ]),
            None,
            &Thresholds::default(),
        );
        // +Inf is absurd but it is above the threshold: that is a breach.
        assert_eq!(fleet.devices[0].health, Health::Degraded);
        assert_eq!(fleet.devices[1].health, Health::Up);
        assert_eq!(fleet.total.p95_latency, Some(0.1));
    }

    #[test]
    fn every_figure_nan_is_degraded_not_up() {
        let mut all_nan = DeviceSample::new("nan", "s", "g");
        for f in Figure::ALL {
            all_nan.figures.set(f, Some(f64::NAN));
        }
        let mut some_nan = sample("mixed", "s", Some(f64::NAN), Some(50.0));
        some_nan.figures.set(Figure::ErrorRate, Some(f64::NAN));
        let fleet = Fleet::build(
            snap(vec![all_nan, some_nan, sample("blank", "s", None, None)]),
            None,
            &Thresholds::default(),
        );
        let nan = fleet.device("nan").unwrap();
        assert_eq!(nan.health, Health::Degraded);
        assert_eq!(nan.breaches, vec![Breach::NoUsableFigures]);
        // One real number is enough to be judged by it.
        assert_eq!(fleet.device("mixed").unwrap().health, Health::Up);
        // Nothing exported at all (a first scrape, an empty exporter) is not a breach.
        assert_eq!(fleet.device("blank").unwrap().health, Health::Up);
    }

    #[test]
    fn throttle_bits_use_the_mask() {
        let th = Thresholds::default();
        let mut f = Figures::default();
        f.set(Figure::Throttled, Some(f64::from(0x50000)));
        assert!(th.breaches(&f).is_empty(), "only 'has occurred' bits set");
        f.set(Figure::Throttled, Some(f64::from(0x4)));
        assert_eq!(th.breaches(&f), vec![Breach::Throttling]);
        f.set(Figure::Throttled, Some(-1.0));
        assert!(th.breaches(&f).is_empty());
    }

    #[test]
    fn vanished_devices_stay_as_stale() {
        let th = Thresholds::default();
        let first = Fleet::build(
            snap(vec![
                sample("a", "s", None, None),
                sample("b", "s", None, None),
            ]),
            None,
            &th,
        );
        let second = Fleet::build(snap(vec![sample("a", "s", None, None)]), Some(&first), &th);
        assert_eq!(second.devices.len(), 2);
        assert_eq!(second.device("b").map(|d| d.health), Some(Health::Stale));
        assert_eq!(second.total.stale, 1);
    }

    #[test]
    fn mark_stale_keeps_data() {
        let th = Thresholds::default();
        let mut fleet = Fleet::build(snap(vec![sample("a", "s", Some(0.1), None)]), None, &th);
        fleet.mark_stale();
        assert_eq!(fleet.devices[0].health, Health::Stale);
        assert_eq!(fleet.devices[0].figure(Figure::LatencyP95), Some(0.1));
        assert_eq!(fleet.total.stale, 1);
    }

    #[test]
    fn figure_order_puts_absurd_and_missing_last() {
        let mut v = [
            None,
            Some(f64::NAN),
            Some(3.0),
            Some(f64::INFINITY),
            Some(-1.0),
        ];
        v.sort_by(|a, b| cmp_figure(*a, *b));
        assert_eq!(v[0], Some(-1.0));
        assert_eq!(v[1], Some(3.0));
        assert_eq!(v[2], Some(f64::INFINITY));
        assert!(v[3].is_some_and(f64::is_nan));
        assert_eq!(v[4], None);
    }
}
