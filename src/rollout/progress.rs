//! Rollout progress, observed rather than assumed: what each device reports in
//! `fleet_release_info` (and `fleet_agent_state`), counted per wave, per site
//! × wave and per group × wave — the matrix the rollout view draws.
//!
//! Counting rules, so the matrix never calls an unreachable device broken:
//!
//! - `on_new` / `on_previous`: the reported image digest equals the rollout's
//!   new / previous image digest. A fact about the release, whatever the health.
//! - `offline`: health down or stale. Offline is never failed.
//! - `failed`: online (up or degraded) and either the agent says `failed`, or
//!   the device runs neither release (another digest, or none reported) while
//!   its agent is not busy updating.
//! - `updating`: online and the agent is downloading, verifying or installing.
//!
//! `offline`, `failed` and `updating` exclude each other. A device is
//! *targeted* when its wave has been released (`wave ≤ state.wave`). While the
//! rollout is aborted the same devices are targeted, but they are done when
//! they are back on the previous release ([`Cell::done`]).

use super::plan::{Plan, Status};
use super::wave;
use crate::fleet::{Device, Fleet, Health};
use serde::Serialize;
use std::collections::HashMap;

/// Counts for one set of devices (a site or group in one wave, a wave, the targeted total).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Cell {
    /// Members of this wave in this site/group.
    pub devices: usize,
    /// Report the new release's image digest.
    pub on_new: usize,
    /// On the new release and health up (not degraded): what "done and fine" means.
    pub healthy_on_new: usize,
    /// Online, agent downloading, verifying or installing.
    pub updating: usize,
    /// Online, and the agent failed or the device runs neither release.
    pub failed: usize,
    /// Down or stale: we cannot tell how it is doing, which is not a failure.
    pub offline: usize,
    /// Report the previous release's image digest.
    pub on_previous: usize,
}

impl Cell {
    fn add(&mut self, d: &Device, running: Running) {
        self.devices += 1;
        match running {
            Running::New => {
                self.on_new += 1;
                if d.health == Health::Up {
                    self.healthy_on_new += 1;
                }
            }
            Running::Previous => self.on_previous += 1,
            Running::Other | Running::Unknown => {}
        }
        match state(d, running) {
            DeviceState::Offline => self.offline += 1,
            DeviceState::Failed => self.failed += 1,
            DeviceState::Updating => self.updating += 1,
            DeviceState::Settled => {}
        }
    }

    fn merge(&mut self, o: &Cell) {
        self.devices += o.devices;
        self.on_new += o.on_new;
        self.healthy_on_new += o.healthy_on_new;
        self.updating += o.updating;
        self.failed += o.failed;
        self.offline += o.offline;
        self.on_previous += o.on_previous;
    }

    /// Devices that reached the release they should run: the new one while the
    /// rollout goes forward, the previous one once it is aborted.
    pub fn done(&self, status: Status) -> usize {
        if status == Status::Aborted {
            self.on_previous
        } else {
            self.on_new
        }
    }

    /// `done / devices` in 0..=1; `None` for an empty cell (nothing to show, not 0 %).
    pub fn share_done(&self, status: Status) -> Option<f64> {
        (self.devices > 0).then(|| self.done(status) as f64 / self.devices as f64)
    }
}

/// Progress of one rollout over the fleet at one refresh.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Progress {
    /// Number of waves in the plan (the matrix's columns).
    pub waves: usize,
    /// Every site of the fleet, sorted (rows of `by_site`).
    pub sites: Vec<String>,
    /// Every group of the fleet, sorted (rows of `by_group`).
    pub groups: Vec<String>,
    /// `[site][wave - 1]`.
    pub by_site: Vec<Vec<Cell>>,
    /// `[group][wave - 1]`.
    pub by_group: Vec<Vec<Cell>>,
    /// `[wave - 1]`, released or not.
    pub per_wave: Vec<Cell>,
    /// The targeted devices only (released waves).
    pub total: Cell,
    /// Devices of the whole fleet on the new release, targeted or not.
    pub fleet_on_new: usize,
    pub fleet_devices: usize,
    /// Ids of devices on neither release (another digest; or online and
    /// reporting none), anywhere in the fleet, sorted.
    pub drift: Vec<String>,
}

/// Which of the rollout's releases a device reports running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Running {
    New,
    Previous,
    /// Another image digest: drift.
    Other,
    /// No `fleet_release_info` from this device.
    Unknown,
}

/// Which release `d` runs, by image digest (versions can be re-tagged; digests cannot).
pub fn running(plan: &Plan, d: &Device) -> Running {
    match &d.sample.release {
        None => Running::Unknown,
        Some(r) if r.image_digest == plan.release.image.digest => Running::New,
        Some(r) if r.image_digest == plan.previous.image.digest => Running::Previous,
        Some(_) => Running::Other,
    }
}

/// Whether `d` is in a released wave.
pub fn targeted(plan: &Plan, d: &Device) -> bool {
    in_released_wave(plan, wave::wave_of(plan, d.id(), d.site(), d.group()))
}

pub(crate) fn in_released_wave(plan: &Plan, wave: Option<usize>) -> bool {
    wave.is_some_and(|w| w <= plan.state.wave)
}

/// Up or degraded: the source reads it, so its figures and reports are fresh.
pub(crate) fn online(h: Health) -> bool {
    matches!(h, Health::Up | Health::Degraded)
}

enum DeviceState {
    Offline,
    Failed,
    Updating,
    Settled,
}

fn state(d: &Device, running: Running) -> DeviceState {
    if !online(d.health) {
        return DeviceState::Offline;
    }
    match d.sample.agent_state.as_deref() {
        Some("failed") => DeviceState::Failed,
        Some("downloading" | "verifying" | "installing") => DeviceState::Updating,
        _ if matches!(running, Running::Other | Running::Unknown) => DeviceState::Failed,
        _ => DeviceState::Settled,
    }
}

/// Counts the fleet against `plan`. One pass over the devices; each device's
/// wave is computed once.
pub fn progress(plan: &Plan, fleet: &Fleet) -> Progress {
    let waves = plan.waves.len();
    let sites: Vec<String> = fleet.sites.iter().map(|r| r.name.clone()).collect();
    let groups: Vec<String> = fleet.groups.iter().map(|r| r.name.clone()).collect();
    let site_ix: HashMap<&str, usize> = sites
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let group_ix: HashMap<&str, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.as_str(), i))
        .collect();
    let mut by_site = vec![vec![Cell::default(); waves]; sites.len()];
    let mut by_group = vec![vec![Cell::default(); waves]; groups.len()];
    let mut per_wave = vec![Cell::default(); waves];
    let mut fleet_on_new = 0;
    let mut drift = Vec::new();

    for d in &fleet.devices {
        let run = running(plan, d);
        if run == Running::New {
            fleet_on_new += 1;
        }
        if run == Running::Other || (run == Running::Unknown && online(d.health)) {
            drift.push(d.id().to_string());
        }
        let Some(w) = wave::wave_of(plan, d.id(), d.site(), d.group()) else {
            continue;
        };
        per_wave[w - 1].add(d, run);
        // The fleet's roll-ups come from the same devices, so these lookups only
        // miss on a hand-built Fleet; such a device still counts per wave.
        if let Some(&s) = site_ix.get(d.site()) {
            by_site[s][w - 1].add(d, run);
        }
        if let Some(&g) = group_ix.get(d.group()) {
            by_group[g][w - 1].add(d, run);
        }
    }

    let mut total = Cell::default();
    for c in per_wave.iter().take(plan.state.wave.min(waves)) {
        total.merge(c);
    }
    drift.sort_unstable();

    Progress {
        waves,
        sites,
        groups,
        by_site,
        by_group,
        per_wave,
        total,
        fleet_on_new,
        fleet_devices: fleet.devices.len(),
        drift,
    }
}

impl Progress {
    /// Share of the whole fleet on the new release (0..=1; `None` with no devices).
    pub fn fleet_share_on_new(&self) -> Option<f64> {
        (self.fleet_devices > 0).then(|| self.fleet_on_new as f64 / self.fleet_devices as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{DeviceSample, Reach, Release, Snapshot, Thresholds};
    use crate::rollout::plan::{DigestRef, ReleaseSpec, Wave};
    use std::time::{Duration, SystemTime};

    fn spec(v: &str, c: char) -> ReleaseSpec {
        ReleaseSpec {
            version: v.into(),
            image: DigestRef::parse(&format!("r/x@sha256:{}", c.to_string().repeat(64)))
                .expect("ref"),
            model: None,
            sbom: None,
        }
    }

    fn release(c: char) -> Release {
        Release {
            version: "?".into(),
            release: "r".into(),
            image_digest: format!("sha256:{}", c.to_string().repeat(64)),
            model_digest: String::new(),
        }
    }

    /// Waves by site: a, then b, then c.
    fn plan(wave: usize) -> Plan {
        let mut p = Plan::new("p", spec("2", 'b'), spec("1", 'a'));
        p.waves = ["a", "b", "c"]
            .iter()
            .map(|s| Wave {
                name: None,
                sites: vec![s.to_string()],
                groups: vec![],
                percent: None,
                soak: Duration::ZERO,
            })
            .collect();
        p.state.wave = wave;
        p
    }

    fn dev(id: &str, site: &str, rel: Option<char>, agent: Option<&str>, up: bool) -> DeviceSample {
        let mut s = DeviceSample::new(id, site, "g");
        s.release = rel.map(release);
        s.agent_state = agent.map(str::to_string);
        if !up {
            s.reach = Reach::Down(None);
        }
        s
    }

    fn fleet(devices: Vec<DeviceSample>) -> Fleet {
        Fleet::build(
            Snapshot {
                source: "t".into(),
                taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
                devices,
            },
            None,
            &Thresholds::default(),
        )
    }

    #[test]
    fn states_are_exclusive_and_offline_is_not_failed() {
        let f = fleet(vec![
            dev("1", "a", Some('b'), Some("idle"), true),
            dev("2", "a", Some('a'), Some("installing"), true),
            dev("3", "a", Some('a'), Some("failed"), true),
            dev("4", "a", Some('a'), Some("failed"), false),
            dev("5", "a", Some('z'), None, true),
            dev("6", "a", None, None, false),
            dev("7", "d", Some('a'), None, true),
        ]);
        let p = progress(&plan(1), &f);
        let a = &p.by_site[0][0];
        assert_eq!(
            (
                a.devices,
                a.on_new,
                a.healthy_on_new,
                a.updating,
                a.failed,
                a.offline,
                a.on_previous
            ),
            (6, 1, 1, 1, 2, 2, 3)
        );
        assert_eq!(p.total, *a, "only wave 1 released");
        assert_eq!(
            p.drift,
            vec!["5".to_string()],
            "a down device reporting nothing is offline, not drift"
        );
        assert_eq!(p.sites, ["a", "d"]);
        assert_eq!(p.by_site[1], vec![Cell::default(); 3], "d is in no wave");
        assert_eq!((p.fleet_on_new, p.fleet_devices), (1, 7));
        assert_eq!(a.done(Status::Aborted), 3);
    }
}
