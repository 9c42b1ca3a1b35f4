//! The Prometheus HTTP API source (Prometheus, Thanos, Cortex, Mimir).
//! (stub: being written)

use super::{DeviceHistory, HistoryRange, PrometheusOptions, SourceError};
use crate::fleet::Snapshot;

#[derive(Clone)]
pub struct PrometheusSource {
    opts: PrometheusOptions,
}

impl PrometheusSource {
    pub fn new(opts: PrometheusOptions) -> Result<Self, SourceError> {
        Ok(PrometheusSource { opts })
    }

    pub async fn refresh(&mut self) -> Result<Snapshot, SourceError> {
        Err(SourceError::Setup {
            what: "prometheus".into(),
            reason: "not implemented yet".into(),
        })
    }

    pub async fn history(
        &self,
        device: &str,
        _range: HistoryRange,
    ) -> Result<DeviceHistory, SourceError> {
        Ok(DeviceHistory {
            device: device.to_string(),
            series: Vec::new(),
        })
    }

    pub fn describe(&self) -> String {
        format!("prometheus {}", self.opts.url)
    }
}
