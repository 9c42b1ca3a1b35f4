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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RolloutConfig;
    use crate::rollout::plan::{DigestRef, Plan, ReleaseSpec};
    use std::time::Duration;

    fn spec(v: &str, hex: &str) -> ReleaseSpec {
        ReleaseSpec {
            version: v.into(),
            image: DigestRef::parse(&format!("registry.local/vision@sha256:{}", hex.repeat(32)))
                .expect("ref"),
            model: None,
            sbom: None,
        }
    }

    /// Against a real repository: the worker answers each request with the
    /// rollout's commits, and an unknown rollout with the store's error.
    #[tokio::test]
    async fn the_worker_reads_the_commits_of_a_plan() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ok = std::process::Command::new("git")
            .args(["init", "-q", "-b", "main"])
            .current_dir(tmp.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .expect("git runs")
            .success();
        assert!(ok);
        let store = Store::open(&RolloutConfig {
            repo: Some(tmp.path().display().to_string()),
            author_name: Some("Carol".into()),
            author_email: Some("carol@example.com".into()),
            git_timeout: Duration::from_secs(30),
            ..RolloutConfig::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let plan = Plan::new("v", spec("1.5.0", "ef"), spec("1.4.0", "ab"));
        store.init(&plan, "carol").await.expect("init");
        let (worker, mut inbox) = spawn(Arc::new(store));
        worker.send("v".into());
        match inbox.recv().await {
            Some(Event::RolloutHistory { rollout, result }) => {
                assert_eq!(rollout, "v");
                let log = result.expect("history");
                assert_eq!(log.len(), 1);
                assert_eq!(log[0].action, "init");
                assert_eq!(log[0].author, "Carol <carol@example.com>");
            }
            other => panic!("{other:?}"),
        }
        worker.send("nope".into());
        match inbox.recv().await {
            Some(Event::RolloutHistory { rollout, result }) => {
                assert_eq!(rollout, "nope");
                let e = result.expect_err("no such rollout");
                assert!(e.contains("no rollout 'nope'"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
}
