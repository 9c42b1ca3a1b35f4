//! The simulated fleet: N Raspberry Pi 5 inference boards over M sites, each
//! exporting Prometheus metrics over HTTP on loopback, with faults on demand.
//! It feeds `fleetdeck demo`, the integration tests (a real Prometheus scrapes
//! it through the file_sd inventory) and the benchmarks.
//!
//! - [`layout`]: site names, device ids, groups, initially offline devices.
//! - `device`: per-board dynamics (diurnal load, drifts, counters).
//! - `exposition`: the text format, rendered without per-line allocations.
//! - [`fleet`]: shared state and fault switches, usable without sockets.
//! - `server`: the HTTP front.
//! - `agent`: the update agents that follow the rollout repository
//!   ([`SimOptions::rollout_repo`]).
//! - [`registry`]: the read-only OCI registry serving every release's image
//!   and model, with cosign signatures, an SBOM and an attestation, on its own
//!   loopback port ([`SimHandle::registry_addr`]).
//!
//! Everything is deterministic from [`SimOptions::seed`] except wall-clock time
//! and the registry's signing key (random per start; release digests are not).

mod agent;
mod device;
mod exposition;
pub mod fleet;
pub mod layout;
pub mod registry;
mod release;
mod rng;
mod server;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use exposition::CONTENT_TYPE;
pub use fleet::{ScrapeOutcome, SimFleet};
pub use layout::{CANARY_GROUP, SimDevice, site_names};
pub use registry::{KNOWN_VERSIONS, REGISTRY_HOST};
pub use release::{
    AgentState, Release, fake_digest, release_digests, release_for, release_spec_for,
};

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOptions {
    /// Number of devices.
    pub devices: usize,
    /// Number of sites the devices are spread over.
    pub sites: usize,
    /// Seed of the layout and of every board's personality and noise.
    pub seed: u64,
    /// How many devices stop answering from the start (spread over sites).
    pub offline: usize,
    /// Sites whose boards overheat: CPU ~85 °C, throttling bits set.
    pub hot: Vec<String>,
    /// Sites where inference is slow: p95 latency ~450 ms.
    pub slow: Vec<String>,
    /// Sites where ~8 % of inference requests fail.
    pub errors: Vec<String>,
    /// A git repository (bare or with a work tree) holding `rollouts/*.toml`:
    /// when set, every device runs an update agent that follows the
    /// committed HEAD (never the work tree). See the `agent` module for the
    /// rule that picks the active rollout.
    pub rollout_repo: Option<PathBuf>,
    /// Releases that misbehave: devices running that version (optionally only
    /// on one site) are slow (p95 ~450 ms) and fail ~8 % of requests.
    pub bad_release: Vec<BadRelease>,
    /// How many devices fail every install (downloading → verifying →
    /// installing → failed, staying on their release). Spread over sites,
    /// canaries first, never the offline ones.
    pub stuck: usize,
    /// How many devices run a hand-installed build ("1.4.0-hotpatch", a digest
    /// no rollout names and the registry does not have) with their update
    /// agent switched off: what the console flags as drift. Never offline or
    /// stuck ones.
    pub drifted: usize,
    /// How often the update agents read the rollout repository.
    pub agent_poll: Duration,
    /// Typical time from "downloading" to the switch (per-device jitter ±50 %):
    /// 50 % downloading, 15 % verifying, 35 % installing.
    pub install_time: Duration,
    /// Versions the simulated registry serves without any signature,
    /// attestation or SBOM (e.g. a hotfix pushed outside the pipeline).
    /// The registry serves [`KNOWN_VERSIONS`], these, and the bad releases.
    pub unsigned: Vec<String>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            devices: 300,
            sites: 12,
            seed: 1,
            offline: 0,
            hot: Vec::new(),
            slow: Vec::new(),
            errors: Vec::new(),
            rollout_repo: None,
            bad_release: Vec::new(),
            stuck: 0,
            drifted: 0,
            agent_poll: Duration::from_secs(2),
            install_time: Duration::from_secs(4),
            unsigned: Vec::new(),
        }
    }
}

/// `--bad-release VERSION[@SITE]`: devices running `version` (only on `site`,
/// when given) are slow and error-prone, like the Slow + Errors site faults.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BadRelease {
    /// The `version` of the release, as in `fleet_release_info{version}`.
    pub version: String,
    /// Only on this site; every site when `None`.
    pub site: Option<String>,
}

impl FromStr for BadRelease {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FORM: &str = "write VERSION or VERSION@SITE, e.g. 1.5.0 or 1.5.0@ams-1";
        let (version, site) = match s.split_once('@') {
            Some((v, site)) => (v, Some(site)),
            None => (s, None),
        };
        if s.chars().any(char::is_whitespace) {
            return Err(format!("bad release '{s}' contains spaces: {FORM}"));
        }
        if version.is_empty() {
            return Err(format!("bad release '{s}' names no version: {FORM}"));
        }
        match site {
            Some("") => Err(format!(
                "bad release '{s}' has an '@' but no site after it: {FORM}"
            )),
            Some(site) if site.contains('@') => {
                Err(format!("bad release '{s}' has more than one '@': {FORM}"))
            }
            _ => Ok(BadRelease {
                version: version.to_owned(),
                site: site.map(str::to_owned),
            }),
        }
    }
}

impl fmt::Display for BadRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.site {
            Some(site) => write!(f, "{}@{site}", self.version),
            None => f.write_str(&self.version),
        }
    }
}

/// A fault that applies to every device of a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SiteFault {
    /// CPU ~85 °C and `rpi_throttled` bits set.
    Hot,
    /// p95 inference latency ~450 ms.
    Slow,
    /// ~8 % of inference requests fail.
    Errors,
}

/// Options that cannot be simulated, written for the person who typed them.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot place devices on 0 sites: use --sites 1 or more")]
    NoSites,
    #[error(
        "cannot take {offline} devices offline out of {devices}: use --offline {devices} or fewer"
    )]
    TooManyOffline { offline: usize, devices: usize },
    #[error(
        "unknown site '{site}' in {option}: the simulated sites are {known}, ... (see site_names)"
    )]
    UnknownSite {
        site: String,
        option: &'static str,
        known: String,
    },
    #[error(
        "cannot make {stuck} devices fail their installs: only {online} are online; use --stuck {online} or fewer"
    )]
    TooManyStuck { stuck: usize, online: usize },
    #[error("--rollout-repo {path}: {reason}")]
    RolloutRepo { path: String, reason: String },
}

impl From<SimError> for std::io::Error {
    fn from(e: SimError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

/// A running simulator. Dropping it or calling [`SimHandle::shutdown`] stops
/// the server task and every connection.
pub struct SimHandle {
    addr: SocketAddr,
    fleet: Arc<SimFleet>,
    /// Dropping the sender is enough to stop the server: `Drop` comes for free.
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    /// The update agents, when following a rollout repository; dropping it
    /// stops them.
    agent: Option<agent::AgentHandle>,
    registry_addr: SocketAddr,
    registry: Arc<registry::SimRegistry>,
    registry_stop: oneshot::Sender<()>,
    registry_task: JoinHandle<()>,
}

impl SimHandle {
    /// Builds the fleet and starts serving it on `listen` (port 0 picks a free one).
    pub async fn start(opts: SimOptions, listen: SocketAddr) -> std::io::Result<SimHandle> {
        let fleet = Arc::new(SimFleet::new(&opts)?);
        if let Some(repo) = &opts.rollout_repo {
            agent::check_repo(repo).await?;
        }
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, Arc::clone(&fleet), stopped));
        let mut versions: Vec<String> = KNOWN_VERSIONS.iter().map(|v| (*v).to_owned()).collect();
        versions.extend(opts.unsigned.iter().cloned());
        versions.extend(opts.bad_release.iter().map(|b| b.version.clone()));
        versions.sort();
        versions.dedup();
        let registry = Arc::new(registry::SimRegistry::build(
            &versions,
            &opts.unsigned,
            &registry::generate_key(),
        ));
        let registry_listener = registry::bind(listen).await?;
        let registry_addr = registry_listener.local_addr()?;
        let (registry_stop, registry_stopped) = oneshot::channel();
        let registry_task = tokio::spawn(registry::serve(
            registry_listener,
            Arc::clone(&registry),
            registry_stopped,
        ));
        let agent = opts.rollout_repo.as_ref().map(|repo| {
            agent::AgentHandle::start(
                Arc::clone(&fleet),
                agent::AgentOptions {
                    repo: repo.clone(),
                    poll: opts.agent_poll,
                    install_time: opts.install_time,
                    seed: opts.seed,
                },
            )
        });
        Ok(SimHandle {
            addr,
            fleet,
            stop,
            task,
            agent,
            registry_addr,
            registry,
            registry_stop,
            registry_task,
        })
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the simulated OCI registry listens (plain HTTP, loopback). Plans
    /// name it `registry.local`: configure `[registry] mirrors =
    /// { "registry.local" = "<this>" }` and `insecure = ["<this>"]`.
    pub fn registry_addr(&self) -> SocketAddr {
        self.registry_addr
    }

    /// The PEM public key (ECDSA P-256, SubjectPublicKeyInfo) every signed
    /// release is signed with; generated at start. For `[signing] keys`.
    pub fn signing_public_key_pem(&self) -> &str {
        self.registry.public_key_pem()
    }

    /// The fleet behind the server, for direct scrapes and fault control.
    pub fn fleet(&self) -> &Arc<SimFleet> {
        &self.fleet
    }

    /// Every device, in id order.
    pub fn devices(&self) -> &[SimDevice] {
        self.fleet.devices()
    }

    /// Every site name.
    pub fn sites(&self) -> &[String] {
        self.fleet.sites()
    }

    /// HTTP path of a device's metrics: `/devices/<id>/metrics`.
    pub fn metrics_path(&self, device_id: &str) -> String {
        format!("/devices/{device_id}/metrics")
    }

    /// Full URL of a device's metrics.
    pub fn metrics_url(&self, device_id: &str) -> String {
        format!("http://{}{}", self.target(), self.metrics_path(device_id))
    }

    /// The address scrapers should dial: a wildcard listen address is reached on loopback.
    fn target(&self) -> SocketAddr {
        let ip = match self.addr.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.addr.port())
    }

    /// Prometheus file_sd JSON: one target group per device, because each has
    /// its own `__metrics_path__`.
    pub fn inventory(&self) -> serde_json::Value {
        let target = self.target().to_string();
        serde_json::Value::Array(
            self.devices()
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "targets": [target],
                        "labels": {
                            "__metrics_path__": self.metrics_path(&d.id),
                            "device": d.id,
                            "site": d.site,
                            "group": d.group,
                        }
                    })
                })
                .collect(),
        )
    }

    /// Writes [`SimHandle::inventory`] to `path` atomically (temporary file in
    /// the same directory, then rename), so a watching Prometheus never reads
    /// half a file.
    pub fn write_inventory(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(&self.inventory())?;
        let name = path.file_name().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("inventory path '{}' has no file name", path.display()),
            )
        })?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// Takes a device off the network or brings it back. Unknown ids are ignored.
    pub fn set_offline(&self, device_id: &str, offline: bool) {
        self.fleet.set_offline(device_id, offline);
    }

    /// Turns a site-wide fault on or off. Unknown sites are ignored.
    pub fn set_site_fault(&self, site: &str, fault: SiteFault, on: bool) {
        self.fleet.set_site_fault(site, fault, on);
    }

    /// Ids of the devices that are offline now.
    pub fn offline_devices(&self) -> Vec<String> {
        self.fleet.offline_devices()
    }

    /// Switches the release a device reports. Returns false for an unknown id.
    pub fn set_release(&self, device_id: &str, release: Release) -> bool {
        self.fleet.set_release(device_id, release)
    }

    /// Sets the state a device's update agent reports. Returns false for an unknown id.
    pub fn set_agent_state(&self, device_id: &str, state: AgentState) -> bool {
        self.fleet.set_agent_state(device_id, state)
    }

    /// The release a device runs now; `None` for an unknown id.
    pub fn release_of(&self, device_id: &str) -> Option<Release> {
        self.fleet.release(device_id)
    }

    /// The state a device's update agent reports now; `None` for an unknown id.
    pub fn agent_state_of(&self, device_id: &str) -> Option<AgentState> {
        self.fleet.agent_state(device_id)
    }

    /// Ids of the devices whose installs always fail ([`SimOptions::stuck`]), in id order.
    pub fn stuck_devices(&self) -> Vec<String> {
        self.fleet.stuck_devices()
    }

    /// What went wrong at the update agents' last read of the rollout
    /// repository: git failing or timing out, or malformed plan files (each
    /// named with file, line and key; one per line). `None` when the last
    /// read was clean or no repository is followed.
    pub fn agent_error(&self) -> Option<String> {
        self.agent.as_ref().and_then(agent::AgentHandle::last_error)
    }

    /// The highest-ranked rollout the update agents follow now (the one with
    /// the latest released wave; see the `agent` module for the rules);
    /// `None` without a repository or a followed plan.
    pub fn active_rollout(&self) -> Option<String> {
        self.agent
            .as_ref()
            .and_then(agent::AgentHandle::active_rollout)
    }

    /// Every rollout the update agents follow, highest rank first: each
    /// device follows the first that releases to it, else the first it is
    /// part of. Empty when frozen by a malformed latest change.
    pub fn followed_rollouts(&self) -> Vec<String> {
        self.agent
            .as_ref()
            .map(agent::AgentHandle::followed)
            .unwrap_or_default()
    }

    /// Stops the update agents, stops accepting, closes every connection and
    /// waits for the server task.
    pub async fn shutdown(self) {
        if let Some(agent) = self.agent {
            agent.shutdown().await;
        }
        let _ = self.stop.send(());
        let _ = self.registry_stop.send(());
        let _ = self.task.await;
        let _ = self.registry_task.await;
    }
}

static DEMO_DIR_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Where `fleetdeck demo` keeps its rollout repository, inventory and keys:
/// `$TMPDIR/fleetdeck-demo-PID`.
pub fn demo_dir() -> PathBuf {
    std::env::temp_dir().join(format!("fleetdeck-demo-{}", std::process::id()))
}

/// This process is `fleetdeck demo`: [`remove_demo_dir`] removes its
/// directory on every way out (normal end, error, signals, a main-thread panic).
pub fn arm_demo_dir_cleanup() {
    DEMO_DIR_ARMED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Removes [`demo_dir`] when this process is the demo; idempotent, never panics.
pub fn remove_demo_dir() {
    if DEMO_DIR_ARMED.load(std::sync::atomic::Ordering::SeqCst) {
        let _ = std::fs::remove_dir_all(demo_dir());
    }
}

/// [`remove_demo_dir`] for a signal during the demo's setup: a git child
/// started by the setup may still be writing into the directory (and `git
/// init` recreates it), so remove until it has stayed gone for 200 ms, at
/// most 2 s. Never panics.
pub fn remove_demo_dir_settled() {
    use std::time::{Duration, Instant};
    if !DEMO_DIR_ARMED.load(std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let dir = demo_dir();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut gone_since: Option<Instant> = None;
    while Instant::now() < deadline {
        let _ = std::fs::remove_dir_all(&dir);
        if dir.exists() {
            gone_since = None;
        } else if gone_since.get_or_insert_with(Instant::now).elapsed()
            >= Duration::from_millis(200)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `fleetdeck sim`: start, write the inventory (and the registry's signing
/// public key when asked), print a one-line summary to stderr, and serve
/// until SIGINT or SIGTERM.
pub async fn run_until_signal(
    opts: SimOptions,
    listen: SocketAddr,
    inventory: &Path,
    public_key: Option<&Path>,
) -> std::io::Result<()> {
    let sites = opts.sites;
    let handle = SimHandle::start(opts, listen).await?;
    // Handlers are installed before the inventory appears, so whoever waits
    // for the file may signal us right away without killing the process.
    let stop = shutdown_signal()?;
    handle.write_inventory(inventory)?;
    if let Some(path) = public_key {
        std::fs::write(path, handle.signing_public_key_pem())?;
    }
    crate::errln!(
        "fleetdeck sim: serving {} devices over {} sites on http://{}, inventory {}, OCI registry http://{} (as {REGISTRY_HOST}) (ctrl-c to stop)",
        handle.devices().len(),
        sites,
        handle.addr(),
        inventory.display(),
        handle.registry_addr(),
    );
    stop.await;
    handle.shutdown().await;
    Ok(())
}

#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        // If ctrl-c cannot be watched, waiting forever is what the user asked for anyway.
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests;
