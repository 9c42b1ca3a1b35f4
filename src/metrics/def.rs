//! Typed metric definitions: what each figure fleetdeck shows is computed from.
//!
//! One [`MetricDef`] drives both sources: the Prometheus source turns it into
//! PromQL ([`super::promql`]), the direct-scrape source computes the same figure
//! from two consecutive scrapes ([`super::compute`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A numeric per-device figure. The set is fixed (it is what the views show);
/// how each one is obtained is configurable with a [`MetricDef`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    LatencyP50,
    LatencyP95,
    LatencyP99,
    Throughput,
    ErrorRate,
    ConfidenceMedian,
    LowConfidence,
    CpuTemp,
    Throttled,
    Cpu,
    Memory,
    Disk,
    Npu,
}

impl Figure {
    pub const COUNT: usize = 13;
    pub const ALL: [Figure; Figure::COUNT] = [
        Figure::LatencyP50,
        Figure::LatencyP95,
        Figure::LatencyP99,
        Figure::Throughput,
        Figure::ErrorRate,
        Figure::ConfidenceMedian,
        Figure::LowConfidence,
        Figure::CpuTemp,
        Figure::Throttled,
        Figure::Cpu,
        Figure::Memory,
        Figure::Disk,
        Figure::Npu,
    ];

    /// The config key and JSON field name.
    pub fn key(self) -> &'static str {
        match self {
            Figure::LatencyP50 => "latency_p50",
            Figure::LatencyP95 => "latency_p95",
            Figure::LatencyP99 => "latency_p99",
            Figure::Throughput => "throughput",
            Figure::ErrorRate => "error_rate",
            Figure::ConfidenceMedian => "confidence_median",
            Figure::LowConfidence => "low_confidence",
            Figure::CpuTemp => "cpu_temp",
            Figure::Throttled => "throttled",
            Figure::Cpu => "cpu",
            Figure::Memory => "memory",
            Figure::Disk => "disk",
            Figure::Npu => "npu",
        }
    }

    /// What an SRE reads in a column header or a detail line.
    pub fn label(self) -> &'static str {
        match self {
            Figure::LatencyP50 => "latency p50",
            Figure::LatencyP95 => "latency p95",
            Figure::LatencyP99 => "latency p99",
            Figure::Throughput => "throughput",
            Figure::ErrorRate => "error rate",
            Figure::ConfidenceMedian => "confidence median",
            Figure::LowConfidence => "low-confidence share",
            Figure::CpuTemp => "CPU temperature",
            Figure::Throttled => "throttling flags",
            Figure::Cpu => "CPU busy",
            Figure::Memory => "memory used",
            Figure::Disk => "disk used",
            Figure::Npu => "NPU busy",
        }
    }

    pub fn from_key(key: &str) -> Option<Figure> {
        Figure::ALL.into_iter().find(|f| f.key() == key)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// How a figure is computed from raw series.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// The value of a gauge, aggregated over the device's series with `agg`.
    Gauge,
    /// `sum(numerator) / sum(denominator)` of two gauges (e.g. memory available / total).
    GaugeRatio,
    /// Per-second rate of a counter over `window`, aggregated with `agg` (default sum).
    CounterRate,
    /// `rate(numerator) / rate(denominator)` (e.g. errors / requests).
    CounterRatio,
    /// `histogram_quantile(quantile, rate(metric_bucket[window]))`.
    HistogramQuantile,
    /// Share of observations at or below `le`: `rate(bucket{le}) / rate(count)`.
    HistogramFraction,
}

/// How several series of one device are folded into one value.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    #[default]
    Sum,
    Max,
    Min,
    Avg,
}

impl Agg {
    pub fn promql(self) -> &'static str {
        match self {
            Agg::Sum => "sum",
            Agg::Max => "max",
            Agg::Min => "min",
            Agg::Avg => "avg",
        }
    }

    /// Folds values the way PromQL's aggregation operator does. `None` when empty.
    pub fn fold(self, values: impl IntoIterator<Item = f64>) -> Option<f64> {
        let mut n = 0usize;
        let mut acc = 0.0f64;
        for v in values {
            acc = if n == 0 {
                v
            } else {
                match self {
                    Agg::Sum | Agg::Avg => acc + v,
                    Agg::Max => {
                        if v > acc || acc.is_nan() {
                            v
                        } else {
                            acc
                        }
                    }
                    Agg::Min => {
                        if v < acc || acc.is_nan() {
                            v
                        } else {
                            acc
                        }
                    }
                }
            };
            n += 1;
        }
        match (n, self) {
            (0, _) => None,
            (n, Agg::Avg) => Some(acc / n as f64),
            _ => Some(acc),
        }
    }
}

/// A fully resolved definition of one figure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricDef {
    pub kind: MetricKind,
    /// The metric (numerator for ratios; base name without `_bucket` for histograms).
    pub metric: String,
    /// Label matchers on `metric` (exact match).
    pub labels: BTreeMap<String, String>,
    /// Denominator metric for the ratio kinds.
    pub denominator: Option<String>,
    /// Label matchers on the denominator; default: the same as `labels`.
    pub denominator_labels: Option<BTreeMap<String, String>>,
    pub quantile: Option<f64>,
    pub le: Option<f64>,
    /// Rate window for counters and histograms.
    pub window: Duration,
    pub agg: Agg,
    /// Show `1 - value` (idle → busy, available → used).
    pub one_minus: bool,
    /// A raw PromQL expression that replaces the generated one (Prometheus source only).
    /// It must return one series per device, labelled with the device label.
    pub promql: Option<String>,
}

const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

impl MetricDef {
    fn new(kind: MetricKind, metric: &str) -> Self {
        MetricDef {
            kind,
            metric: metric.to_string(),
            labels: BTreeMap::new(),
            denominator: None,
            denominator_labels: None,
            quantile: None,
            le: None,
            window: DEFAULT_WINDOW,
            agg: Agg::Sum,
            one_minus: false,
            promql: None,
        }
    }

    fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.insert(k.to_string(), v.to_string());
        self
    }

    /// The built-in definition of a figure, matching the simulator (docs/ARCHITECTURE.md, "Contracts").
    pub fn default_for(figure: Figure) -> MetricDef {
        use MetricKind::*;
        let quantile = |q: f64, m: &str| MetricDef {
            quantile: Some(q),
            ..MetricDef::new(HistogramQuantile, m)
        };
        match figure {
            Figure::LatencyP50 => quantile(0.5, "inference_latency_seconds"),
            Figure::LatencyP95 => quantile(0.95, "inference_latency_seconds"),
            Figure::LatencyP99 => quantile(0.99, "inference_latency_seconds"),
            Figure::Throughput => MetricDef::new(CounterRate, "inference_requests_total"),
            Figure::ErrorRate => MetricDef {
                denominator: Some("inference_requests_total".into()),
                ..MetricDef::new(CounterRatio, "inference_errors_total")
            },
            Figure::ConfidenceMedian => quantile(0.5, "inference_confidence"),
            Figure::LowConfidence => MetricDef {
                le: Some(0.5),
                ..MetricDef::new(HistogramFraction, "inference_confidence")
            },
            Figure::CpuTemp => MetricDef {
                agg: Agg::Max,
                ..MetricDef::new(Gauge, "node_thermal_zone_temp").label("type", "cpu-thermal")
            },
            Figure::Throttled => MetricDef {
                agg: Agg::Max,
                ..MetricDef::new(Gauge, "rpi_throttled")
            },
            Figure::Cpu => MetricDef {
                agg: Agg::Avg,
                one_minus: true,
                ..MetricDef::new(CounterRate, "node_cpu_seconds_total").label("mode", "idle")
            },
            Figure::Memory => MetricDef {
                denominator: Some("node_memory_MemTotal_bytes".into()),
                one_minus: true,
                ..MetricDef::new(GaugeRatio, "node_memory_MemAvailable_bytes")
            },
            Figure::Disk => MetricDef {
                denominator: Some("node_filesystem_size_bytes".into()),
                one_minus: true,
                ..MetricDef::new(GaugeRatio, "node_filesystem_avail_bytes").label("mountpoint", "/")
            },
            Figure::Npu => MetricDef {
                agg: Agg::Max,
                ..MetricDef::new(Gauge, "npu_utilization_ratio")
            },
        }
    }

    pub fn denominator_labels(&self) -> &BTreeMap<String, String> {
        self.denominator_labels.as_ref().unwrap_or(&self.labels)
    }

    /// Whether computing this figure needs two samples in time (rates).
    pub fn needs_rate(&self) -> bool {
        !matches!(self.kind, MetricKind::Gauge | MetricKind::GaugeRatio)
    }

    /// A definition is usable only with the fields its kind needs.
    /// Returns the name of the missing or misplaced key and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        use MetricKind::*;
        if self.metric.is_empty() {
            return Err(("metric", "must name a metric".into()));
        }
        if !is_metric_name(&self.metric) {
            return Err((
                "metric",
                format!("'{}' is not a valid Prometheus metric name", self.metric),
            ));
        }
        match self.kind {
            GaugeRatio | CounterRatio => match &self.denominator {
                None => return Err(("denominator", "a ratio needs a denominator metric".into())),
                Some(d) if !is_metric_name(d) => {
                    return Err((
                        "denominator",
                        format!("'{d}' is not a valid Prometheus metric name"),
                    ));
                }
                _ => {}
            },
            HistogramQuantile => match self.quantile {
                Some(q) if (0.0..=1.0).contains(&q) => {}
                Some(q) => return Err(("quantile", format!("'{q}' is not between 0 and 1"))),
                None => return Err(("quantile", "histogram_quantile needs a quantile".into())),
            },
            HistogramFraction => match self.le {
                Some(le) if le.is_finite() => {}
                _ => {
                    return Err((
                        "le",
                        "histogram_fraction needs a finite bucket bound `le`".into(),
                    ));
                }
            },
            Gauge | CounterRate => {}
        }
        for k in self.labels.keys().chain(self.denominator_labels().keys()) {
            if !is_label_name(k) {
                return Err(("labels", format!("'{k}' is not a valid label name")));
            }
        }
        if self.window < Duration::from_secs(1) {
            return Err(("window", "must be at least 1s".into()));
        }
        Ok(())
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The set of figure definitions in force, one per [`Figure`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricDefs {
    pub defs: Vec<MetricDef>,
    /// Info metric carrying the running release as labels
    /// (`version`, `release`, `image_digest`, `model_digest`).
    pub release_info: String,
    /// State-set metric of the update agent: the series with value 1 names the state.
    pub agent_state: String,
    /// The label of `agent_state` that holds the state name.
    pub agent_state_label: String,
}

impl Default for MetricDefs {
    fn default() -> Self {
        MetricDefs {
            defs: Figure::ALL
                .into_iter()
                .map(MetricDef::default_for)
                .collect(),
            release_info: "fleet_release_info".into(),
            agent_state: "fleet_agent_state".into(),
            agent_state_label: "state".into(),
        }
    }
}

impl MetricDefs {
    pub fn get(&self, f: Figure) -> &MetricDef {
        &self.defs[f.index()]
    }
    pub fn get_mut(&mut self, f: Figure) -> &mut MetricDef {
        &mut self.defs[f.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        for f in Figure::ALL {
            assert_eq!(MetricDef::default_for(f).validate(), Ok(()), "{f:?}");
            assert_eq!(Figure::from_key(f.key()), Some(f));
        }
        assert_eq!(Figure::ALL.len(), Figure::COUNT);
        for (i, f) in Figure::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
        }
    }

    #[test]
    fn agg_folds_like_promql() {
        assert_eq!(Agg::Sum.fold([1.0, 2.0, 3.0]), Some(6.0));
        assert_eq!(Agg::Avg.fold([1.0, 2.0, 3.0]), Some(2.0));
        assert_eq!(Agg::Max.fold([1.0, 5.0, 3.0]), Some(5.0));
        assert_eq!(Agg::Min.fold([4.0, 2.0, 3.0]), Some(2.0));
        assert_eq!(Agg::Sum.fold(std::iter::empty()), None);
    }

    #[test]
    fn invalid_defs_name_the_key() {
        let mut d = MetricDef::default_for(Figure::LatencyP95);
        d.quantile = Some(1.5);
        assert_eq!(d.validate().unwrap_err().0, "quantile");
        let mut d = MetricDef::default_for(Figure::ErrorRate);
        d.denominator = None;
        assert_eq!(d.validate().unwrap_err().0, "denominator");
        let mut d = MetricDef::default_for(Figure::CpuTemp);
        d.metric = "bad-name".into();
        assert_eq!(d.validate().unwrap_err().0, "metric");
    }
}
