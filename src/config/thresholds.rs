//! `[thresholds]`: when a device is degraded, down or stale.

use super::Ctx;
use crate::diag::{ConfigError, Dur};
use crate::fleet::Thresholds;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileThresholds {
    latency_p95: Option<Dur>,
    error_rate: Option<f64>,
    cpu_temp: Option<f64>,
    throttled_mask: Option<u64>,
    stale_after: Option<Dur>,
}

pub(super) fn resolve(th: &FileThresholds, ctx: &Ctx<'_>) -> Result<Thresholds, ConfigError> {
    let mut t = Thresholds::default();
    if let Some(v) = th.latency_p95 {
        t.latency_p95 = v.0.as_secs_f64();
    }
    if let Some(v) = th.error_rate {
        if !(0.0..=1.0).contains(&v) {
            return Err(ctx.err(
                "thresholds.error_rate",
                format!("'{v}' is not a share between 0 and 1"),
                "write 3 % as 0.03",
            ));
        }
        t.error_rate = v;
    }
    if let Some(v) = th.cpu_temp {
        if !v.is_finite() {
            return Err(ctx.err(
                "thresholds.cpu_temp",
                format!("'{v}' is not a temperature"),
                "degrees Celsius, e.g. 80",
            ));
        }
        t.cpu_temp = v;
    }
    if let Some(v) = th.throttled_mask {
        t.throttled_mask = v;
    }
    if let Some(v) = th.stale_after {
        t.stale_after = v.0;
    }
    Ok(t)
}
