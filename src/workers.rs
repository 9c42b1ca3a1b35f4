//! Tasks that do the I/O. They own the metric source, build the fleet model off
//! the UI thread, and post owned results to the app loop, tagged with a
//! generation number. The app loop never awaits the network.

use crate::app::Event;
use crate::fleet::{Fleet, Thresholds};
use crate::metrics::prometheus::PrometheusSource;
use crate::metrics::{HistoryRange, Source};
use crate::rollout::action::{ActionRequest, PromoteChecks};
use crate::rollout::plan::Plan;
use crate::rollout::store::Store;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

/// Handle to the refresh task: ask for a refresh now, or stop it.
///
/// At most one refresh result is in flight: the worker waits until the app
/// loop has taken the last one in ([`RefreshAck::taken`]) before it refreshes
/// again, so results never pile up while the loop is away (an SSH session
/// holds the terminal for an hour: no hour of 10,000-device fleets queued).
pub struct Refresher {
    pub now: Arc<Notify>,
    ack: RefreshAck,
    task: JoinHandle<()>,
}

/// Tells the refresh worker the app took its last result in.
#[derive(Clone)]
pub struct RefreshAck {
    pending: Arc<std::sync::atomic::AtomicBool>,
    skipped: Arc<std::sync::atomic::AtomicBool>,
    now: Arc<Notify>,
}

impl RefreshAck {
    /// The app loop took an [`Event::Fleet`] in. A refresh that was due
    /// meanwhile starts at once.
    pub fn taken(&self) {
        use std::sync::atomic::Ordering;
        self.pending.store(false, Ordering::SeqCst);
        if self.skipped.swap(false, Ordering::SeqCst) {
            self.now.notify_one();
        }
    }
}

impl Refresher {
    pub fn ack(&self) -> RefreshAck {
        self.ack.clone()
    }

    /// See [`RefreshAck::taken`].
    pub fn taken(&self) {
        self.ack.taken();
    }
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

/// Refreshes `source` every `every` (and on demand) and posts [`Event::Fleet`].
pub fn spawn_refresh(
    mut source: Source,
    thresholds: Thresholds,
    every: Duration,
    deadline: Duration,
    tx: mpsc::UnboundedSender<Event>,
) -> Refresher {
    use std::sync::atomic::{AtomicBool, Ordering};
    let now = Arc::new(Notify::new());
    let wake = Arc::clone(&now);
    let ack = RefreshAck {
        pending: Arc::new(AtomicBool::new(false)),
        skipped: Arc::new(AtomicBool::new(false)),
        now: Arc::clone(&now),
    };
    let worker_ack = ack.clone();
    let task = tokio::spawn(async move {
        let ack = worker_ack;
        let mut previous: Option<Arc<Fleet>> = None;
        let mut generation = 0u64;
        loop {
            if ack.pending.load(Ordering::SeqCst) {
                // The app has not taken the last result in: skip this one;
                // `taken` wakes us when it does.
                ack.skipped.store(true, Ordering::SeqCst);
                if !ack.pending.load(Ordering::SeqCst) {
                    ack.skipped.store(false, Ordering::SeqCst);
                    continue;
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = wake.notified() => {}
                }
                continue;
            }
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
            ack.pending.store(true, Ordering::SeqCst);
            if tx
                .send(Event::Fleet {
                    generation,
                    result,
                    warnings,
                })
                .is_err()
            {
                return; // the app is gone
            }
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
    Refresher { now, ack, task }
}

/// Fetches one device's history with range queries (Prometheus) and posts
/// [`Event::History`]. Fire and forget: a slow answer never blocks anything.
pub fn spawn_history(
    client: &PrometheusSource,
    device: String,
    span: Duration,
    tx: mpsc::UnboundedSender<Event>,
) {
    let client = client.clone();
    tokio::spawn(async move {
        let range = HistoryRange {
            end: SystemTime::now(),
            span,
            step: (span / 120).max(Duration::from_secs(1)),
        };
        let result = client
            .history(&device, range)
            .await
            .map_err(|e| e.to_string());
        let _ = tx.send(Event::History { device, result });
    });
}

/// Handle to the rollout-repository task.
pub struct RolloutWorker {
    /// Re-read the repository now.
    pub reload: Arc<Notify>,
    pub store: Arc<Store>,
    task: JoinHandle<()>,
}

impl Drop for RolloutWorker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Syncs the rollout repository and reads every plan, every `every` and on
/// demand; posts [`Event::Rollouts`].
pub fn spawn_rollouts(
    store: Arc<Store>,
    every: Duration,
    tx: mpsc::UnboundedSender<Event>,
) -> RolloutWorker {
    let reload = Arc::new(Notify::new());
    let wake = Arc::clone(&reload);
    let s = Arc::clone(&store);
    let task = tokio::spawn(async move {
        loop {
            let result = read_plans(&s).await;
            if tx.send(Event::Rollouts { result }).is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = wake.notified() => {}
            }
        }
    });
    RolloutWorker {
        reload,
        store,
        task,
    }
}

/// Sync, then every plan of the repository (each parsed on its own).
pub async fn read_plans(store: &Store) -> Result<Vec<Result<Plan, String>>, String> {
    // A failed sync (remote down) still shows the local copy, with the error.
    let synced = store.sync().await.map_err(|e| e.to_string());
    let plans = store.list().await.map_err(|e| e.to_string())?;
    let plans: Vec<Result<Plan, String>> = plans
        .into_iter()
        .map(|p| p.map_err(|e| e.to_string()))
        .collect();
    match synced {
        Ok(()) => Ok(plans),
        Err(e) if plans.is_empty() => Err(e),
        Err(_) => Ok(plans),
    }
}

/// Carries out one confirmed action (one commit, pushed) and posts
/// [`Event::ActionDone`].
pub fn spawn_action(
    store: Arc<Store>,
    request: ActionRequest,
    checks: PromoteChecks,
    tx: mpsc::UnboundedSender<Event>,
) {
    tokio::spawn(async move {
        let rollout = request.rollout.clone();
        let result = match store.act(&request, &checks).await {
            Ok((plan, commit)) => Ok((
                Box::new(plan),
                format!(
                    "{} {}: commit {} {}",
                    request.kind.key(),
                    rollout,
                    commit.id.chars().take(10).collect::<String>(),
                    if commit.pushed {
                        "pushed"
                    } else {
                        "(local repository, nothing to push)"
                    }
                ),
            )),
            Err(e) => Err(e.to_string()),
        };
        let _ = tx.send(Event::ActionDone { rollout, result });
    });
}

/// Verifies image references (signatures, attestations, SBOMs) and posts one
/// [`Event::Signature`] per reference as each finishes. The verifier caches
/// verdicts by digest, so asking again costs nothing for a verified release.
pub fn spawn_verify(
    verifier: Arc<crate::signature::policy::ReleaseVerifier>,
    references: Vec<String>,
    tx: mpsc::UnboundedSender<Event>,
) {
    for reference in references {
        let verifier = Arc::clone(&verifier);
        let tx = tx.clone();
        tokio::spawn(async move {
            let result = verifier
                .verify_ref(&reference)
                .await
                .map_err(|e| e.to_string());
            let _ = tx.send(Event::Signature { reference, result });
        });
    }
}
