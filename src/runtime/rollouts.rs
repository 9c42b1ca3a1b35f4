//! The rollout-repository worker: syncs the repository and reads every plan,
//! every `every` and on demand, and posts [`Event::Rollouts`].

use super::{Inbox, outbox};
use crate::app::Event;
use crate::rollout::plan::Plan;
use crate::rollout::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Handle to the rollout-repository task; dropping it stops it.
pub struct RolloutWorker {
    /// Re-read the repository now.
    pub reload: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for RolloutWorker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the worker. Like every worker it reads the repository only when
/// its last result was taken in (see [`super::outbox`]).
pub fn spawn(store: Arc<Store>, every: Duration) -> (RolloutWorker, Inbox) {
    let reload = Arc::new(Notify::new());
    let wake = Arc::clone(&reload);
    let (out, inbox) = outbox();
    let task = tokio::spawn(async move {
        loop {
            let Some(permit) = out.reserve().await else {
                return; // the app is gone
            };
            let result = read_plans(&store).await;
            permit.send(Event::Rollouts { result });
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = wake.notified() => {}
            }
        }
    });
    (RolloutWorker { reload, task }, inbox)
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
