//! The refresh worker: owns the metric source, builds the fleet model off the
//! UI thread and posts [`Event::Fleet`], tagged with a generation number. The
//! app loop never awaits the network.

use super::{Inbox, outbox};
use crate::app::Event;
use crate::fleet::{Fleet, Thresholds};
use crate::metrics::Source;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Handle to the refresh task: ask for a refresh now, or stop it (drop).
///
/// At most one refresh result is in flight (the rule of
/// [`super::outbox`]): the worker waits until the app loop has taken the
/// last one in before it refreshes again, so results never pile up while the
/// loop is away (an SSH session holds the terminal for an hour: no hour of
/// 10,000-device fleets queued). A refresh that fell due meanwhile starts as
/// soon as the last one is taken in.
pub struct Refresher {
    pub now: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for Refresher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The longest a whole refresh may take before it is reported as failed, even
/// if the source's own per-request timeouts somehow do not fire. Direct scrape
/// publishes within its own, shorter budget
/// ([`crate::metrics::scrape::refresh_budget`], at most 2 × timeout + 250 ms),
/// hung exporters or not, so this fires only on a bug.
pub fn refresh_deadline(timeout: Duration, refresh: Duration) -> Duration {
    (timeout * 3).max(refresh).max(Duration::from_secs(2))
}

/// Refreshes `source` every `every` (and on demand) and posts [`Event::Fleet`]
/// to the returned inbox.
pub fn spawn(
    mut source: Source,
    thresholds: Thresholds,
    every: Duration,
    deadline: Duration,
) -> (Refresher, Inbox) {
    let now = Arc::new(Notify::new());
    let wake = Arc::clone(&now);
    let (out, inbox) = outbox();
    let task = tokio::spawn(async move {
        let mut previous: Option<Arc<Fleet>> = None;
        let mut generation = 0u64;
        loop {
            // Wait until the last result was taken in. A request for a
            // refresh meanwhile adds nothing: one starts as soon as it was.
            let permit = loop {
                tokio::select! {
                    permit = out.reserve() => match permit {
                        Some(p) => break p,
                        None => return, // the app is gone
                    },
                    _ = wake.notified() => {}
                }
            };
            generation += 1;
            let started = tokio::time::Instant::now();
            let outcome = tokio::time::timeout(deadline, source.refresh()).await;
            let warnings = source.warnings();
            let result = match outcome {
                Ok(Ok(snapshot)) => {
                    let fleet = Arc::new(Fleet::build(snapshot, previous.as_deref(), &thresholds));
                    previous = Some(Arc::clone(&fleet));
                    Ok(fleet)
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!(
                    "{} did not finish a refresh within {:?}",
                    source.describe(),
                    deadline
                )),
            };
            permit.send(Event::Fleet {
                generation,
                result,
                warnings,
            });
            // Direct scrape needs two scrapes for rates: take the second one soon.
            let period = if generation == 1 && source.needs_warmup() {
                every.min(Duration::from_secs(1))
            } else {
                every
            };
            // Refreshes start every `period`, however long one took (hung
            // exporters make a direct scrape last about a timeout): the devices
            // that answer are updated on schedule, not a timeout later.
            tokio::select! {
                _ = tokio::time::sleep_until(started + period) => {}
                _ = wake.notified() => {}
            }
        }
    });
    (Refresher { now, task }, inbox)
}
