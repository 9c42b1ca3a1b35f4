//! The history worker: fetches one device's history with range queries
//! (Prometheus) and posts [`Event::History`].

use super::{Inbox, Requests, serve_distinct};
use crate::app::Event;
use crate::metrics::HistoryRange;
use crate::metrics::prometheus::PrometheusSource;
use std::time::{Duration, SystemTime};

/// Handle to the history worker: send `(device, span)`; dropping it stops
/// the worker.
pub type HistoryWorker = Requests<(String, Duration)>;

/// Starts the worker with `client`.
pub fn spawn(client: PrometheusSource) -> (HistoryWorker, Inbox) {
    serve_distinct(move |(device, span): (String, Duration)| {
        let client = client.clone();
        async move {
            let range = HistoryRange {
                end: SystemTime::now(),
                span,
                step: (span / 120).max(Duration::from_secs(1)),
            };
            let result = client
                .history(&device, range)
                .await
                .map_err(|e| e.to_string());
            Event::History { device, result }
        }
    })
}
