//! Alerts and silences from Alertmanager's API v2: the client
//! ([`client`]), its model ([`model`]) and how alerts are matched to devices
//! through the `[labels]` names. No terminal code here.

pub mod client;
pub mod index;
pub mod model;
pub mod options;
pub mod rules;

pub use client::{AlertmanagerClient, AlertsError};
pub use index::AlertIndex;
pub use model::{Alert, AlertState, Matcher, Silence, SilenceState};
pub use options::AlertmanagerConfig;
