//! `[metrics]`: how each figure is obtained, merged over the defaults.

use super::Ctx;
use crate::diag::{ConfigError, Dur, tame};
use crate::metrics::def::{Agg, Figure, MetricDef, MetricDefs, MetricKind};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileMetrics {
    release_info: Option<String>,
    agent_state: Option<String>,
    agent_state_label: Option<String>,
    latency_p50: Option<MetricPatch>,
    latency_p95: Option<MetricPatch>,
    latency_p99: Option<MetricPatch>,
    throughput: Option<MetricPatch>,
    error_rate: Option<MetricPatch>,
    confidence_median: Option<MetricPatch>,
    low_confidence: Option<MetricPatch>,
    cpu_temp: Option<MetricPatch>,
    throttled: Option<MetricPatch>,
    cpu: Option<MetricPatch>,
    memory: Option<MetricPatch>,
    disk: Option<MetricPatch>,
    npu: Option<MetricPatch>,
}

impl FileMetrics {
    fn patch(&self, f: Figure) -> Option<&MetricPatch> {
        match f {
            Figure::LatencyP50 => self.latency_p50.as_ref(),
            Figure::LatencyP95 => self.latency_p95.as_ref(),
            Figure::LatencyP99 => self.latency_p99.as_ref(),
            Figure::Throughput => self.throughput.as_ref(),
            Figure::ErrorRate => self.error_rate.as_ref(),
            Figure::ConfidenceMedian => self.confidence_median.as_ref(),
            Figure::LowConfidence => self.low_confidence.as_ref(),
            Figure::CpuTemp => self.cpu_temp.as_ref(),
            Figure::Throttled => self.throttled.as_ref(),
            Figure::Cpu => self.cpu.as_ref(),
            Figure::Memory => self.memory.as_ref(),
            Figure::Disk => self.disk.as_ref(),
            Figure::Npu => self.npu.as_ref(),
        }
    }
}

/// A figure's definition as written: every field optional, merged over the default.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MetricPatch {
    kind: Option<MetricKind>,
    metric: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    denominator: Option<String>,
    denominator_labels: Option<BTreeMap<String, String>>,
    quantile: Option<f64>,
    le: Option<f64>,
    window: Option<Dur>,
    agg: Option<Agg>,
    one_minus: Option<bool>,
    promql: Option<String>,
}

impl MetricPatch {
    fn apply(&self, mut d: MetricDef) -> MetricDef {
        if let Some(k) = self.kind {
            if k != d.kind {
                // A different kind starts from a clean slate of kind-specific fields.
                d.denominator = None;
                d.denominator_labels = None;
                d.quantile = None;
                d.le = None;
                d.one_minus = false;
                d.agg = Agg::Sum;
            }
            d.kind = k;
        }
        if let Some(m) = &self.metric {
            d.metric = m.clone();
        }
        if let Some(l) = &self.labels {
            d.labels = l.clone();
        }
        if let Some(x) = &self.denominator {
            d.denominator = Some(x.clone());
        }
        if let Some(x) = &self.denominator_labels {
            d.denominator_labels = Some(x.clone());
        }
        if let Some(q) = self.quantile {
            d.quantile = Some(q);
        }
        if let Some(le) = self.le {
            d.le = Some(le);
        }
        if let Some(w) = self.window {
            d.window = w.0;
        }
        if let Some(a) = self.agg {
            d.agg = a;
        }
        if let Some(o) = self.one_minus {
            d.one_minus = o;
        }
        if let Some(p) = &self.promql {
            d.promql = Some(p.clone());
        }
        d
    }
}

fn kind_name(k: MetricKind) -> &'static str {
    match k {
        MetricKind::Gauge => "gauge",
        MetricKind::GaugeRatio => "gauge_ratio",
        MetricKind::CounterRate => "counter_rate",
        MetricKind::CounterRatio => "counter_ratio",
        MetricKind::HistogramQuantile => "histogram_quantile",
        MetricKind::HistogramFraction => "histogram_fraction",
    }
}

/// The default definitions with the file's patches applied, each checked.
pub(super) fn resolve(m: &FileMetrics, ctx: &Ctx<'_>) -> Result<MetricDefs, ConfigError> {
    let mut defs = MetricDefs::default();
    if let Some(x) = &m.release_info {
        defs.release_info = x.clone();
    }
    if let Some(x) = &m.agent_state {
        defs.agent_state = x.clone();
    }
    if let Some(x) = &m.agent_state_label {
        defs.agent_state_label = x.clone();
    }
    for f in Figure::ALL {
        if let Some(p) = m.patch(f) {
            let def = p.apply(defs.get(f).clone());
            // A raw PromQL override needs no other field.
            if def.promql.is_none()
                && let Err((field, why)) = def.validate()
            {
                return Err(ctx.err(
                    &format!("metrics.{}.{field}", f.key()),
                    tame(&why),
                    format!(
                        "a '{}' metric needs the keys shown in config.example.toml",
                        kind_name(def.kind)
                    ),
                ));
            }
            *defs.get_mut(f) = def;
        }
    }
    Ok(defs)
}
