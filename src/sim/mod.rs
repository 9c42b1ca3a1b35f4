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
//!
//! Everything is deterministic from [`SimOptions::seed`] except wall-clock time.

mod device;
mod exposition;
pub mod fleet;
pub mod layout;
mod release;
mod rng;
mod server;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use exposition::CONTENT_TYPE;
pub use fleet::{ScrapeOutcome, SimFleet};
pub use layout::{CANARY_GROUP, SimDevice, site_names};
pub use release::{AgentState, Release, fake_digest};

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
}

impl SimHandle {
    /// Builds the fleet and starts serving it on `listen` (port 0 picks a free one).
    pub async fn start(opts: SimOptions, listen: SocketAddr) -> std::io::Result<SimHandle> {
        let fleet = Arc::new(SimFleet::new(&opts)?);
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, Arc::clone(&fleet), stopped));
        Ok(SimHandle {
            addr,
            fleet,
            stop,
            task,
        })
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
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

    /// HTTP path of a device's metrics: "/devices/<id>/metrics".
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

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// `fleetdeck sim`: start, write the inventory, print a one-line summary to
/// stderr, and serve until SIGINT or SIGTERM.
pub async fn run_until_signal(
    opts: SimOptions,
    listen: SocketAddr,
    inventory: &Path,
) -> std::io::Result<()> {
    let sites = opts.sites;
    let handle = SimHandle::start(opts, listen).await?;
    // Handlers are installed before the inventory appears, so whoever waits
    // for the file may signal us right away without killing the process.
    let stop = shutdown_signal()?;
    handle.write_inventory(inventory)?;
    eprintln!(
        "fleetdeck sim: serving {} devices over {} sites on http://{}, inventory {} (ctrl-c to stop)",
        handle.devices().len(),
        sites,
        handle.addr(),
        inventory.display()
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
