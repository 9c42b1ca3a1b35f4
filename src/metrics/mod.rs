//! Metric sources: the Prometheus HTTP API ([`prometheus`]) and direct scrape of
//! each device's exporter ([`scrape`]), behind one [`Source`] enum.
//!
//! Both turn the typed [`def::MetricDefs`] into per-device figures: Prometheus by
//! generating PromQL aggregated server-side ([`promql`]), direct scrape by
//! computing the same figures from two consecutive scrapes ([`compute`]).
//! No terminal code here: the CLI, the TUI workers and the tests all use it.

pub mod compute;
pub mod def;
pub mod exposition;
pub mod prometheus;
pub mod promql;
pub mod scrape;

use crate::fleet::Snapshot;
use def::{Figure, MetricDefs};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Largest response body fleetdeck accepts from a source (a 10,000-device
/// per-device query is ~1.5 MB of JSON; a scrape of one device a few KB).
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// Largest body accepted from a single device's exporter.
pub const MAX_SCRAPE_BODY: usize = 4 * 1024 * 1024;

/// Names of the labels that identify a device and place it in the fleet.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LabelNames {
    pub device: String,
    pub site: String,
    pub group: String,
}

impl Default for LabelNames {
    fn default() -> Self {
        LabelNames {
            device: "device".into(),
            site: "site".into(),
            group: "group".into(),
        }
    }
}

/// Credentials for basic auth.
#[derive(Clone, Debug, PartialEq)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

/// Everything needed to talk to a Prometheus-compatible API (Prometheus, Thanos, Cortex, Mimir).
#[derive(Clone, Debug, PartialEq)]
pub struct PrometheusOptions {
    /// Base URL, e.g. `http://127.0.0.1:9090` or `https://mimir.example/prometheus`.
    pub url: String,
    /// Restrict every selector to `job="…"`; `None` selects every job.
    pub job: Option<String>,
    pub bearer_token: Option<String>,
    pub basic_auth: Option<BasicAuth>,
    /// Sent as `X-Scope-OrgID` (Cortex/Mimir/Thanos tenants).
    pub tenant: Option<String>,
    /// PEM file of an extra CA to trust.
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    pub labels: LabelNames,
    pub defs: MetricDefs,
    /// Read the series recorded by `fleetdeck rules` (`fleetdeck:<figure>:by_device`)
    /// instead of computing every figure at each refresh: cheaper for the server
    /// at fleet scale.
    pub recording_rules: bool,
}

/// Everything needed to scrape devices directly.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeOptions {
    /// A Prometheus `file_sd` JSON file.
    pub inventory: PathBuf,
    pub timeout: Duration,
    /// How many scrapes run at once.
    pub concurrency: usize,
    pub labels: LabelNames,
    pub defs: MetricDefs,
}

/// Where metrics come from: built by `config` from `[source]`, `[labels]`
/// and `[metrics]`.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceConfig {
    Prometheus(PrometheusOptions),
    Scrape(ScrapeOptions),
    /// No `[source]` table: only the demo and the simulator can run.
    Unset,
}

/// Why a refresh failed. Texts are written for the operator.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} did not answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("{url} answered HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url} sent a response larger than {limit} bytes; refusing to read it")]
    TooLarge { url: String, limit: usize },
    #[error("{url} sent a response fleetdeck cannot read: {reason}")]
    BadResponse { url: String, reason: String },
    #[error("Prometheus rejected the query `{query}`: {error}")]
    Query { query: String, error: String },
    #[error("inventory {path}: {reason}")]
    Inventory { path: String, reason: String },
    #[error("{what}: {reason}")]
    Setup { what: String, reason: String },
}

/// One point of a figure's history: (unix seconds, value).
pub type Point = (f64, f64);

/// A configured metric source.
pub enum Source {
    Prometheus(prometheus::PrometheusSource),
    /// Boxed: it holds the inventory and per-device scrapes, far larger than
    /// the Prometheus client handle.
    Scrape(Box<scrape::ScrapeSource>),
}

impl Source {
    /// The source the config describes.
    pub fn from_config(cfg: &SourceConfig) -> Result<Source, SourceError> {
        match cfg {
            SourceConfig::Prometheus(o) => Ok(Source::Prometheus(prometheus::PrometheusSource::new(o.clone())?)),
            SourceConfig::Scrape(o) => Ok(Source::Scrape(Box::new(scrape::ScrapeSource::new(o.clone())?))),
            SourceConfig::Unset => Err(SourceError::Setup {
                what: "no metric source configured".into(),
                reason: "add a [source] table to the config (see config.example.toml), pass --config PATH, or try `fleetdeck demo`".into(),
            }),
        }
    }

    /// One refresh: every device with every figure.
    pub async fn refresh(&mut self) -> Result<Snapshot, SourceError> {
        match self {
            Source::Prometheus(p) => p.refresh().await,
            Source::Scrape(s) => s.refresh().await,
        }
    }

    /// `prometheus http://…` / `scrape inventory.json`, for the status bar.
    pub fn describe(&self) -> String {
        match self {
            Source::Prometheus(p) => p.describe(),
            Source::Scrape(s) => s.describe(),
        }
    }

    /// Problems of the last refresh that did not fail it (one figure's query failed…).
    pub fn warnings(&self) -> Vec<String> {
        match self {
            Source::Prometheus(p) => p.last_warnings().to_vec(),
            Source::Scrape(s) => s.last_warnings().to_vec(),
        }
    }

    /// Whether figures that are rates need a second refresh before they exist.
    pub fn needs_warmup(&self) -> bool {
        matches!(self, Source::Scrape(_))
    }

    /// A history handle that can run while refreshes continue (Prometheus only:
    /// direct scrape keeps its own samples, see [`crate::history`]).
    pub fn history_client(&self) -> Option<prometheus::PrometheusSource> {
        match self {
            Source::Prometheus(p) => Some(p.clone()),
            Source::Scrape(_) => None,
        }
    }
}

/// Range of a history request.
#[derive(Clone, Copy, Debug)]
pub struct HistoryRange {
    pub end: SystemTime,
    pub span: Duration,
    pub step: Duration,
}

/// History of one device's figures, as returned by a range query.
#[derive(Clone, Debug, Default)]
pub struct DeviceHistory {
    pub device: String,
    pub series: Vec<(Figure, Vec<Point>)>,
}
