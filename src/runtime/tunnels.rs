//! The tunnel worker: reads the fleet's WireGuard interface every few seconds
//! (`[remote] wireguard_interface`), matches every device of the latest fleet
//! to its peer, and posts [`Event::Tunnels`] to the app loop (one reading in
//! flight at most: the rule of [`super::outbox`]).
//!
//! All of it runs off the UI thread: the read is a blocking call (netlink or
//! the UAPI socket, bounded by [`wireguard::READ_TIMEOUT`]) and the matching
//! of 10,000 devices is done once per read here, so drawing a row is one hash
//! probe. A missing interface or a permission problem is posted as an error
//! message, never a crash.

use super::{Inbox, outbox};
use crate::app::{Event, TunnelReading};
use crate::fleet::Fleet;
use crate::remote::RemoteConfig;
use crate::remote::wireguard::{self, InterfaceStatus};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the interface is read.
pub const EVERY: Duration = Duration::from_secs(3);

/// Handle to the tunnel task: give it each new fleet; dropping it stops it.
pub struct TunnelWorker {
    fleet: watch::Sender<Arc<Fleet>>,
    task: JoinHandle<()>,
}

impl TunnelWorker {
    /// The devices to match from now on (cheap: an `Arc` clone).
    pub fn set_fleet(&self, fleet: Arc<Fleet>) {
        self.fleet.send_replace(fleet);
    }
}

impl Drop for TunnelWorker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Matches the fleet's devices to the interface's peers (the work the views
/// must not do per frame).
pub fn reading(
    iface: &InterfaceStatus,
    fleet: &Fleet,
    address_label: Option<&str>,
    now: SystemTime,
) -> TunnelReading {
    TunnelReading {
        interface: iface.name.clone(),
        read_at: iface.read_at,
        tunnels: wireguard::tunnels(iface, fleet, address_label, now)
            .into_iter()
            .collect(),
    }
}

/// Starts the worker when an interface is configured (`None` otherwise).
/// It reads every `every`, and re-matches as soon as a new fleet arrives
/// (re-reading only when the last read is older than `every`). While its
/// last reading is not taken in (the loop is busy with an SSH session, say)
/// it waits: readings of 10,000 devices never pile up.
pub fn spawn(remote: &RemoteConfig, every: Duration) -> Option<(TunnelWorker, Inbox)> {
    let name = remote.wireguard_interface.clone()?;
    let label = remote.address_label.clone();
    let (fleet_tx, mut fleet_rx) = watch::channel(Arc::new(Fleet::default()));
    let (out, inbox) = outbox();
    let task = tokio::spawn(async move {
        let mut last: Option<(Instant, Arc<InterfaceStatus>)> = None;
        loop {
            let Some(permit) = out.reserve().await else {
                return; // the app is gone
            };
            let fleet = Arc::clone(&fleet_rx.borrow_and_update());
            let cached = last
                .as_ref()
                .filter(|(at, _)| at.elapsed() < every)
                .map(|(_, s)| Arc::clone(s));
            let name = name.clone();
            let label = label.clone();
            let job = tokio::task::spawn_blocking(move || {
                let iface = match cached {
                    Some(s) => s,
                    None => Arc::new(wireguard::read_interface(&name).map_err(|e| e.to_string())?),
                };
                let r = reading(&iface, &fleet, label.as_deref(), SystemTime::now());
                Ok::<_, String>((iface, r))
            });
            let result = match job.await {
                Ok(Ok((iface, r))) => {
                    if !last.as_ref().is_some_and(|(_, s)| Arc::ptr_eq(s, &iface)) {
                        last = Some((Instant::now(), iface));
                    }
                    Ok(r)
                }
                Ok(Err(e)) => {
                    last = None;
                    Err(e)
                }
                Err(e) => {
                    last = None;
                    Err(format!("the tunnel reader failed: {e}"))
                }
            };
            permit.send(Event::Tunnels { result });
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                changed = fleet_rx.changed() => {
                    if changed.is_err() {
                        return; // the handle is gone
                    }
                }
            }
        }
    });
    Some((
        TunnelWorker {
            fleet: fleet_tx,
            task,
        },
        inbox,
    ))
}
