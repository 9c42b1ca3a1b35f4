//! The simulated fleet's shared state: layout, per-device state, faults.
//! Shared by every connection task; each device has its own lock, held only
//! for arithmetic, so scrapes of different devices never wait on each other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::device::{DeviceState, Faults};
use super::exposition;
use super::layout::{SimDevice, layout};
use super::release::{AgentState, DRIFT_VERSION, Release};
use super::{SimError, SimOptions, SiteFault};

/// What a scrape of one device yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScrapeOutcome {
    /// The exposition was appended to the buffer.
    Rendered,
    /// The device is offline: a real one would not answer at all.
    Offline,
    /// No device has this id.
    Unknown,
}

/// The simulated fleet without its HTTP front: usable directly by benchmarks
/// and tests that do not need sockets.
pub struct SimFleet {
    devices: Vec<SimDevice>,
    sites: Vec<String>,
    by_id: HashMap<String, usize>,
    by_site: HashMap<String, usize>,
    states: Vec<Mutex<DeviceState>>,
    offline: Vec<AtomicBool>,
    /// Bit set of [`SiteFault`] per site.
    site_faults: Vec<AtomicU8>,
    /// `--bad-release`: (version, site index or every site).
    bad_releases: Vec<(String, Option<usize>)>,
    /// Devices whose installs fail.
    stuck: Vec<bool>,
    drifted: Vec<bool>,
    clock: Clock,
}

/// Wall-clock time that never goes backwards: Unix time at start plus a
/// monotonic elapsed time. Wall time drives the diurnal load; monotonic time
/// keeps counters monotonic if NTP steps the clock.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
    start_unix: f64,
}

impl Clock {
    fn new(start_unix: Option<f64>) -> Self {
        let start_unix = start_unix.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        });
        Self {
            start: Instant::now(),
            start_unix,
        }
    }

    fn now(&self) -> f64 {
        self.start_unix + self.start.elapsed().as_secs_f64()
    }
}

impl SiteFault {
    fn bit(self) -> u8 {
        match self {
            SiteFault::Hot => 1,
            SiteFault::Slow => 2,
            SiteFault::Errors => 4,
        }
    }
}

fn lock(m: &Mutex<DeviceState>) -> MutexGuard<'_, DeviceState> {
    // A panic while holding a device lock leaves plain numbers behind; keep serving.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimFleet {
    /// Builds the fleet for `opts`; unknown fault sites and impossible counts
    /// are errors.
    pub fn new(opts: &SimOptions) -> Result<Self, SimError> {
        Self::build(opts, None)
    }

    /// A fleet whose clock starts at `start_unix` (Unix seconds) instead of
    /// now: tests get the same diurnal phase, hence the same figures, every run.
    pub fn new_at(opts: &SimOptions, start_unix: f64) -> Result<Self, SimError> {
        Self::build(opts, Some(start_unix))
    }

    fn build(opts: &SimOptions, start_unix: Option<f64>) -> Result<Self, SimError> {
        let l = layout(opts)?;
        let clock = Clock::new(start_unix);
        // The clock's start, not now: a fleet built with `new_at` is then
        // exactly reproducible whatever time the construction itself takes.
        let now = clock.start_unix;
        let by_id = l
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.clone(), i))
            .collect();
        let by_site: HashMap<String, usize> = l
            .sites
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i))
            .collect();
        let site_faults: Vec<AtomicU8> = l.sites.iter().map(|_| AtomicU8::new(0)).collect();
        for (names, fault, flag) in [
            (&opts.hot, SiteFault::Hot, "--hot"),
            (&opts.slow, SiteFault::Slow, "--slow"),
            (&opts.errors, SiteFault::Errors, "--errors"),
        ] {
            for name in names {
                let Some(&s) = by_site.get(name) else {
                    return Err(SimError::UnknownSite {
                        site: name.clone(),
                        option: flag,
                        known: l
                            .sites
                            .iter()
                            .take(5)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                };
                site_faults[s].fetch_or(fault.bit(), Ordering::Relaxed);
            }
        }
        let mut bad_releases = Vec::with_capacity(opts.bad_release.len());
        for bad in &opts.bad_release {
            let site = match &bad.site {
                None => None,
                Some(name) => match by_site.get(name) {
                    Some(&s) => Some(s),
                    None => {
                        return Err(SimError::UnknownSite {
                            site: name.clone(),
                            option: "--bad-release",
                            known: l
                                .sites
                                .iter()
                                .take(5)
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", "),
                        });
                    }
                },
            };
            bad_releases.push((bad.version.clone(), site));
        }
        let mut stuck = vec![false; l.devices.len()];
        for &i in &l.stuck {
            stuck[i] = true;
        }
        let mut drifted = vec![false; l.devices.len()];
        for &i in &l.drifted {
            drifted[i] = true;
        }
        let states = l
            .devices
            .iter()
            .map(|d| Mutex::new(DeviceState::new(opts.seed, &d.id, &d.site, now)))
            .collect();
        let offline: Vec<AtomicBool> = l.devices.iter().map(|_| AtomicBool::new(false)).collect();
        for &i in &l.offline {
            offline[i].store(true, Ordering::Relaxed);
        }
        Ok(Self {
            devices: l.devices,
            sites: l.sites,
            by_id,
            by_site,
            states,
            offline,
            site_faults,
            bad_releases,
            stuck,
            drifted,
            clock,
        })
        .inspect(|f: &Self| {
            let hotpatch = Arc::new(Release::new("hotpatch", DRIFT_VERSION));
            for i in (0..f.devices.len()).filter(|&i| f.drifted[i]) {
                f.set_release_at(i, Arc::clone(&hotpatch));
            }
        })
    }

    /// Every device, in id order.
    pub fn devices(&self) -> &[SimDevice] {
        &self.devices
    }

    /// Every site name, in layout order.
    pub fn sites(&self) -> &[String] {
        &self.sites
    }

    /// The device with this id.
    pub fn device(&self, id: &str) -> Option<&SimDevice> {
        self.by_id.get(id).map(|&i| &self.devices[i])
    }

    /// Appends the device's current exposition to `out` (unless it is offline
    /// or unknown). Advances its counters to now.
    pub fn scrape(&self, id: &str, out: &mut String) -> ScrapeOutcome {
        self.scrape_at(id, self.clock.now(), out)
    }

    /// [`SimFleet::scrape`] at an explicit Unix time, for tests that need
    /// minutes to pass in microseconds.
    pub fn scrape_at(&self, id: &str, unix_seconds: f64, out: &mut String) -> ScrapeOutcome {
        let Some(&i) = self.by_id.get(id) else {
            return ScrapeOutcome::Unknown;
        };
        if self.offline[i].load(Ordering::Relaxed) {
            return ScrapeOutcome::Offline;
        }
        let site = self.devices[i].site_index;
        let mut faults = self.faults(site);
        let mut state = lock(&self.states[i]);
        if self.is_bad(&state.release.version, site) {
            faults.slow = true;
            faults.errors = true;
        }
        let snapshot = state.advance(unix_seconds, faults);
        drop(state);
        out.reserve(exposition::TYPICAL_LEN);
        exposition::render(&snapshot, out);
        ScrapeOutcome::Rendered
    }

    fn faults(&self, site: usize) -> Faults {
        let bits = self.site_faults[site].load(Ordering::Relaxed);
        Faults {
            hot: bits & SiteFault::Hot.bit() != 0,
            slow: bits & SiteFault::Slow.bit() != 0,
            errors: bits & SiteFault::Errors.bit() != 0,
        }
    }

    /// Whether `version` misbehaves on site index `site` (`--bad-release`).
    fn is_bad(&self, version: &str, site: usize) -> bool {
        self.bad_releases
            .iter()
            .any(|(v, s)| v == version && s.is_none_or(|s| s == site))
    }

    /// Takes a device off the network (or brings it back). Unknown ids are ignored.
    pub fn set_offline(&self, id: &str, offline: bool) {
        if let Some(&i) = self.by_id.get(id) {
            self.offline[i].store(offline, Ordering::Relaxed);
        }
    }

    /// Whether the device is offline; `None` for an unknown id.
    pub fn is_offline(&self, id: &str) -> Option<bool> {
        self.by_id
            .get(id)
            .map(|&i| self.offline[i].load(Ordering::Relaxed))
    }

    /// Ids of the devices that are offline now, in id order.
    pub fn offline_devices(&self) -> Vec<String> {
        self.devices
            .iter()
            .zip(&self.offline)
            .filter(|(_, o)| o.load(Ordering::Relaxed))
            .map(|(d, _)| d.id.clone())
            .collect()
    }

    /// Turns a fault on or off for every device of a site. Unknown sites are ignored.
    pub fn set_site_fault(&self, site: &str, fault: SiteFault, on: bool) {
        if let Some(&s) = self.by_site.get(site) {
            if on {
                self.site_faults[s].fetch_or(fault.bit(), Ordering::Relaxed);
            } else {
                self.site_faults[s].fetch_and(!fault.bit(), Ordering::Relaxed);
            }
        }
    }

    /// Whether a fault is on for a site; `None` for an unknown site.
    pub fn site_fault(&self, site: &str, fault: SiteFault) -> Option<bool> {
        self.by_site
            .get(site)
            .map(|&s| self.site_faults[s].load(Ordering::Relaxed) & fault.bit() != 0)
    }

    /// Switches the release a device reports (what an update agent does at the
    /// end of an install). Returns false for an unknown id.
    pub fn set_release(&self, id: &str, release: Release) -> bool {
        let Some(&i) = self.by_id.get(id) else {
            return false;
        };
        lock(&self.states[i]).release = Arc::new(release);
        true
    }

    /// The release a device reports; `None` for an unknown id.
    pub fn release(&self, id: &str) -> Option<Release> {
        let i = *self.by_id.get(id)?;
        let release = Arc::clone(&lock(&self.states[i]).release);
        Some((*release).clone())
    }

    /// Sets the state the device's update agent reports. Returns false for an unknown id.
    pub fn set_agent_state(&self, id: &str, state: AgentState) -> bool {
        let Some(&i) = self.by_id.get(id) else {
            return false;
        };
        lock(&self.states[i]).agent = state;
        true
    }

    /// The state the device's update agent reports; `None` for an unknown id.
    pub fn agent_state(&self, id: &str) -> Option<AgentState> {
        let i = *self.by_id.get(id)?;
        Some(lock(&self.states[i]).agent)
    }

    /// Whether the device fails every install ([`SimOptions::stuck`]); `None`
    /// for an unknown id.
    pub fn is_stuck(&self, id: &str) -> Option<bool> {
        self.by_id.get(id).map(|&i| self.stuck[i])
    }

    /// Ids of the devices that fail every install, in id order.
    pub fn stuck_devices(&self) -> Vec<String> {
        self.devices
            .iter()
            .zip(&self.stuck)
            .filter(|(_, s)| **s)
            .map(|(d, _)| d.id.clone())
            .collect()
    }

    // By index, for the update agents: no id lookup, no string clones.

    pub(crate) fn stuck_at(&self, i: usize) -> bool {
        self.stuck[i]
    }

    /// Whether the device runs a hand-installed build with its agent off
    /// ([`SimOptions::drifted`](super::SimOptions::drifted)).
    pub(crate) fn drifted_at(&self, i: usize) -> bool {
        self.drifted[i]
    }

    /// Ids of the drifted devices.
    pub fn drifted_devices(&self) -> Vec<String> {
        self.devices
            .iter()
            .zip(&self.drifted)
            .filter(|(_, d)| **d)
            .map(|(dev, _)| dev.id.clone())
            .collect()
    }

    pub(crate) fn offline_at(&self, i: usize) -> bool {
        self.offline[i].load(Ordering::Relaxed)
    }

    pub(crate) fn release_at(&self, i: usize) -> Arc<Release> {
        Arc::clone(&lock(&self.states[i]).release)
    }

    pub(crate) fn set_release_at(&self, i: usize, release: Arc<Release>) {
        lock(&self.states[i]).release = release;
    }

    pub(crate) fn set_agent_state_at(&self, i: usize, state: AgentState) {
        lock(&self.states[i]).agent = state;
    }
}
