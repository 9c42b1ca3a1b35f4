//! `[alertmanager]` options: owned by the alerts module, filled in by
//! `config` (docs/ARCHITECTURE.md, "Module map").

use crate::metrics::{BasicAuth, LabelNames};
use std::path::PathBuf;
use std::time::Duration;

/// How to reach Alertmanager's API v2 (`[alertmanager]`). Absent from the
/// config: no alerts anywhere, nothing else changes.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertmanagerConfig {
    /// Base URL without a trailing `/`, e.g. `http://127.0.0.1:9093`.
    pub url: String,
    pub bearer_token: Option<String>,
    pub basic_auth: Option<BasicAuth>,
    /// Sent as `X-Scope-OrgID` (Mimir's, Cortex's multi-tenant Alertmanager).
    pub tenant: Option<String>,
    /// PEM file of an extra CA to trust.
    pub ca_file: Option<PathBuf>,
    /// Deadline of every request, connect to last byte.
    pub timeout: Duration,
    /// `createdBy` of the silences fleetdeck makes; default: the rollout
    /// author, else git's identity.
    pub author: Option<String>,
    /// The `[labels]` names: how an alert's labels name its device, site, group.
    pub labels: LabelNames,
}

/// Default request deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
