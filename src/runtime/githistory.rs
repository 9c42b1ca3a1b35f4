//! The git-history worker: reads the commits that changed one rollout's plan
//! (`git log` of `rollouts/NAME.toml`, bounded by `[rollout] git_timeout`
//! like every git command of the store) and posts [`Event::RolloutHistory`].
//! Not to be confused with [`super::history`], the metric history of a device.

use super::{Inbox, Requests, serve_distinct};
use crate::app::Event;
use crate::rollout::store::Store;
use std::sync::Arc;

/// Newest commits read for the console's history view.
pub const LIMIT: usize = 500;

/// Handle to the worker: send a rollout name; dropping it stops the worker.
pub type GitHistoryWorker = Requests<String>;

/// Starts the worker on `store`. It reads the local branch as the rollout
/// worker last synced it: no fetch of its own.
pub fn spawn(store: Arc<Store>) -> (GitHistoryWorker, Inbox) {
    serve_distinct(move |rollout: String| {
        let store = Arc::clone(&store);
        async move {
            let result = store
                .history(&rollout, Some(LIMIT))
                .await
                .map_err(|e| e.to_string());
            Event::RolloutHistory { rollout, result }
        }
    })
}
