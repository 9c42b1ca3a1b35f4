//! Figures computed from two consecutive scrapes of one device, the same way the
//! PromQL that [`super::promql`] generates computes them inside Prometheus.
//!
//! For a definition with labels `L` the Prometheus source asks for
//! `agg by (device) (rate(metric{L}[W]))`; here `rate` is the increase between
//! the previous and the current scrape divided by the time between them (the
//! window `W` is the refresh interval), with Prometheus' counter-reset rule.
//! Everything else (aggregation, ratios, `histogram_quantile`) follows PromQL
//! exactly, NaN and ±Inf included. No I/O: [`super::scrape`] fetches the text.

use super::def::{Agg, MetricDef, MetricDefs, MetricKind};
use super::exposition;
use crate::fleet::{Figures, Release};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// A series' labels, sorted by name so equal label sets compare and hash equal.
type LabelSet = Vec<(String, String)>;

#[derive(Clone, Debug)]
struct Series {
    labels: LabelSet,
    value: f64,
}

/// One classic histogram series (all its `_bucket` samples).
#[derive(Clone, Debug)]
struct Histogram {
    /// Labels without `le`.
    labels: LabelSet,
    /// (upper bound, cumulative count), in exposition order. Always ends up
    /// holding a `+Inf` bucket when the exporter sent it or a matching `_count`.
    buckets: Vec<(f64, f64)>,
}

/// One device's scrape, indexed by metric name so that computing the figures of
/// a 1,000-device fleet costs a hash lookup per figure, not a scan.
#[derive(Clone, Debug)]
pub struct ScrapeData {
    /// When the scrape started (like Prometheus' sample timestamp); rates divide by
    /// the time between two of these.
    pub at: Instant,
    /// Plain series (counters, gauges, untyped, and histograms' `_sum`/`_count`).
    series: HashMap<String, Vec<Series>>,
    /// Histogram buckets by base name (without `_bucket`).
    histograms: HashMap<String, Vec<Histogram>>,
    /// Sample lines read (a histogram counts once), summaries and lines skipped
    /// as not needed included: zero means the body held nothing readable.
    samples: usize,
    /// Lines that are not in the text format, skipped.
    skipped: exposition::Skipped,
}

impl ScrapeData {
    /// Parses exposition text. Lines that are not in the text format are
    /// skipped and counted ([`ScrapeData::skipped`]).
    pub fn parse(text: &str, at: Instant) -> ScrapeData {
        Self::parse_with(text, at, None)
    }

    /// Like [`ScrapeData::parse`], but only the metrics that `needed` names reach
    /// the (regex-based, slow) parser: a node_exporter page is 1–2k lines of
    /// which the figures read a few dozen. The others are still checked, so a
    /// broken line is counted wherever it is.
    pub fn parse_needed(text: &str, at: Instant, needed: &Needed) -> ScrapeData {
        Self::parse_with(text, at, Some(needed))
    }

    /// Every sample line goes through [`exposition::parse_sample`] (the
    /// format's quoting and escapes); the lines that are needed are handed to
    /// prometheus-parse rewritten so that it cannot misread their labels.
    fn parse_with(text: &str, at: Instant, needed: Option<&Needed>) -> ScrapeData {
        let wanted = |name: &str| needed.is_none_or(|n| n.names.contains(name));
        let mut table = exposition::Interner::default();
        let mut skipped = exposition::Skipped::default();
        let mut other = 0usize;
        let lines: Vec<std::io::Result<String>> = text
            .lines()
            .enumerate()
            .filter_map(|(no, line)| {
                let l = line.trim_start_matches([' ', '\t']);
                if l.trim_end().is_empty() {
                    return None;
                }
                if let Some(comment) = l.strip_prefix('#') {
                    // Only `# TYPE` matters (histograms); HELP is never shown.
                    let mut words = comment.split_whitespace();
                    let keep = words.next() == Some("TYPE") && words.next().is_some_and(wanted);
                    return keep.then(|| Ok(l.to_owned()));
                }
                match exposition::check_sample(l) {
                    Err(why) => {
                        skipped.note(no + 1, line, why);
                        return None;
                    }
                    Ok(name) if !wanted(name) => {
                        other += 1;
                        return None;
                    }
                    Ok(_) => {}
                }
                match exposition::parse_sample(l) {
                    Err(why) => {
                        skipped.note(no + 1, line, why);
                        None
                    }
                    Ok(s) if s.name.contains(':') => {
                        // prometheus-parse reads names as `\w+`: a needed name
                        // with a colon (a recording rule's) cannot be read here.
                        skipped.note(
                            no + 1,
                            line,
                            "metric names with ':' are not read by direct scrape",
                        );
                        None
                    }
                    Ok(s) => Some(Ok(table.canonical(&s))),
                }
            })
            .collect();
        let scrape = prometheus_parse::Scrape::parse(lines.into_iter()).unwrap_or_else(|_| {
            // Only an I/O error from the line iterator fails the parse, and ours has none.
            prometheus_parse::Scrape {
                docs: HashMap::new(),
                samples: Vec::new(),
            }
        });
        let mut data = ScrapeData::index(scrape, at, &table);
        data.samples += other;
        data.skipped = skipped;
        data
    }

    /// Indexes a scrape parsed by prometheus-parse itself (its label
    /// handling as is).
    pub fn from_scrape(scrape: prometheus_parse::Scrape, at: Instant) -> ScrapeData {
        ScrapeData::index(scrape, at, &exposition::Interner::default())
    }

    /// Indexes a parsed scrape, putting back the label values `table` holds.
    fn index(
        scrape: prometheus_parse::Scrape,
        at: Instant,
        table: &exposition::Interner,
    ) -> ScrapeData {
        use prometheus_parse::Value;
        let mut data = ScrapeData {
            at,
            series: HashMap::new(),
            histograms: HashMap::new(),
            samples: scrape.samples.len(),
            skipped: exposition::Skipped::default(),
        };
        // Buckets of histograms without a `# TYPE` line arrive as untyped
        // `name_bucket{le=".."}` samples: regroup them by (base name, labels).
        let mut loose: HashMap<(String, LabelSet), usize> = HashMap::new();
        for s in scrape.samples {
            let mut labels: LabelSet = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), table.resolve(v).to_owned()))
                .collect();
            labels.sort_unstable();
            match s.value {
                Value::Histogram(counts) => {
                    let buckets = counts
                        .iter()
                        .filter(|c| !c.less_than.is_nan())
                        .map(|c| (c.less_than, c.count))
                        .collect();
                    data.histograms
                        .entry(s.metric)
                        .or_default()
                        .push(Histogram { labels, buckets });
                }
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => {
                    if let Some(base) = s.metric.strip_suffix("_bucket")
                        && let Ok(i) = labels.binary_search_by(|(k, _)| k.as_str().cmp("le"))
                        && let Ok(le) = parse_le(&labels[i].1)
                    {
                        let mut without_le = labels.clone();
                        without_le.remove(i);
                        let list = data.histograms.entry(base.to_string()).or_default();
                        let idx = *loose
                            .entry((base.to_string(), without_le.clone()))
                            .or_insert_with(|| {
                                list.push(Histogram {
                                    labels: without_le,
                                    buckets: Vec::new(),
                                });
                                list.len() - 1
                            });
                        list[idx].buckets.push((le, v));
                    }
                    data.series
                        .entry(s.metric)
                        .or_default()
                        .push(Series { labels, value: v });
                }
                // No figure kind reads summaries.
                Value::Summary(_) => {}
            }
        }
        // `_count` is the `+Inf` bucket; some exporters (and some inputs to
        // prometheus-parse) leave the bucket out.
        for (name, hists) in data.histograms.iter_mut() {
            let count_series = data.series.get(&format!("{name}_count"));
            for h in hists.iter_mut() {
                if h.buckets.iter().any(|(le, _)| *le == f64::INFINITY) {
                    continue;
                }
                if let Some(c) =
                    count_series.and_then(|cs| cs.iter().find(|c| c.labels == h.labels))
                {
                    h.buckets.push((f64::INFINITY, c.value));
                }
            }
        }
        data
    }

    /// How many samples the parser accepted. Zero for an empty exposition or a
    /// body that is not the text format at all.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Lines skipped because they are not in the text format.
    pub fn skipped(&self) -> &exposition::Skipped {
        &self.skipped
    }

    fn matching<'a>(
        &'a self,
        metric: &str,
        want: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'a Series> + 'a {
        self.series
            .get(metric)
            .into_iter()
            .flatten()
            .filter(move |s| matches(&s.labels, want))
    }
}

/// The metric names a set of definitions reads, so that a scrape can skip the rest.
#[derive(Clone, Debug, Default)]
pub struct Needed {
    names: std::collections::HashSet<String>,
}

impl Needed {
    pub fn from_defs(defs: &MetricDefs) -> Needed {
        let mut names = std::collections::HashSet::new();
        for d in &defs.defs {
            names.insert(d.metric.clone());
            if let Some(den) = &d.denominator {
                names.insert(den.clone());
            }
            if matches!(
                d.kind,
                MetricKind::HistogramQuantile | MetricKind::HistogramFraction
            ) {
                names.insert(format!("{}_bucket", d.metric));
                names.insert(format!("{}_count", d.metric));
            }
        }
        names.insert(defs.release_info.clone());
        names.insert(defs.agent_state.clone());
        Needed { names }
    }
}

/// `le` values as Prometheus parses them (`+Inf`, `1e-3`, `NaN`…).
fn parse_le(s: &str) -> Result<f64, std::num::ParseFloatError> {
    s.trim().parse::<f64>()
}

/// PromQL equality matchers: `{k="v"}` needs the label equal to `v`, and
/// `{k=""}` matches series without the label.
fn matches(labels: &LabelSet, want: &BTreeMap<String, String>) -> bool {
    want.iter().all(
        |(k, v)| match labels.binary_search_by(|(n, _)| n.as_str().cmp(k)) {
            Ok(i) => labels[i].1 == *v,
            Err(_) => v.is_empty(),
        },
    )
}

/// Increase of a counter between two samples; a decrease is a reset (the
/// process restarted and counted `cur` since), as in Prometheus' `rate`.
fn increase(prev: f64, cur: f64) -> f64 {
    if cur < prev { cur } else { cur - prev }
}

/// Per-series rates of `metric{want}` over the series present in both scrapes.
/// Empty when the metric is absent (PromQL returns no series then).
fn rates(
    prev: &ScrapeData,
    cur: &ScrapeData,
    metric: &str,
    want: &BTreeMap<String, String>,
    dt: f64,
) -> Vec<f64> {
    let before: HashMap<&LabelSet, f64> = prev
        .matching(metric, want)
        .map(|s| (&s.labels, s.value))
        .collect();
    if before.is_empty() {
        return Vec::new();
    }
    cur.matching(metric, want)
        .filter_map(|s| before.get(&s.labels).map(|p| increase(*p, s.value) / dt))
        .collect()
}

/// `sum by (le) (rate(metric_bucket{want}))`: (upper bound, rate) per distinct
/// bound. `None` when no histogram series exists in both scrapes.
fn bucket_rates(
    prev: &ScrapeData,
    cur: &ScrapeData,
    metric: &str,
    want: &BTreeMap<String, String>,
    dt: f64,
) -> Option<Vec<(f64, f64)>> {
    let before: HashMap<&LabelSet, &Histogram> = prev
        .histograms
        .get(metric)?
        .iter()
        .filter(|h| matches(&h.labels, want))
        .map(|h| (&h.labels, h))
        .collect();
    let mut sums: Vec<(f64, f64)> = Vec::new();
    let mut any = false;
    for h in cur.histograms.get(metric)?.iter() {
        if !matches(&h.labels, want) {
            continue;
        }
        let Some(p) = before.get(&h.labels) else {
            continue;
        };
        for (i, &(le, count)) in h.buckets.iter().enumerate() {
            // Same exposition order is the common case: try the same index first.
            let old = match p.buckets.get(i) {
                Some(&(ple, c)) if ple == le => Some(c),
                _ => p.buckets.iter().find(|(ple, _)| *ple == le).map(|b| b.1),
            };
            let Some(old) = old else { continue };
            any = true;
            let r = increase(old, count) / dt;
            match sums.iter_mut().find(|(b, _)| *b == le) {
                Some(slot) => slot.1 += r,
                None => sums.push((le, r)),
            }
        }
    }
    any.then_some(sums)
}

/// Prometheus' `bucketQuantile` (promql/quantile.go) for classic histograms:
/// `buckets` are (upper bound, cumulative count) in any order.
///
/// NaN without a `+Inf` bucket, with fewer than two buckets or with no
/// observations; `-Inf` for `q < 0`, `+Inf` for `q > 1`. Inside a bucket the
/// value is interpolated linearly, from 0 for the first bucket when its upper
/// bound is positive. When the rank falls into the `+Inf` bucket, the upper
/// bound of the highest finite bucket is returned.
pub fn bucket_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let mut b: Vec<(f64, f64)> = buckets.iter().filter(|x| !x.0.is_nan()).copied().collect();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    match b.last() {
        Some(&(le, _)) if le == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Merge buckets with the same bound (e.g. `le="1"` and `le="1.0"`).
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for (le, c) in b {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += c,
            _ => merged.push((le, c)),
        }
    }
    let mut b = merged;
    correct_precision_errors(&mut b, 1e-12);
    ensure_monotonic(&mut b);
    if b.len() < 2 {
        return f64::NAN;
    }
    let n = b.len();
    let observations = b[n - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let i = go_search(n - 1, |i| b[i].1 >= rank);
    if i == n - 1 {
        return b[n - 2].0;
    }
    if i == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let end = b[i].0;
    let mut count = b[i].1;
    let mut start = 0.0;
    if i > 0 {
        start = b[i - 1].0;
        count -= b[i - 1].1;
        rank -= b[i - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Go's `sort.Search`, step for step, so that odd inputs (NaN counts) pick the
/// same bucket as Prometheus does.
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = i + (j - i) / 2;
        if !f(h) {
            i = h + 1;
        } else {
            j = h;
        }
    }
    i
}

/// Float noise from summing rates can make cumulative counts dip by an ulp.
fn correct_precision_errors(b: &mut [(f64, f64)], tolerance: f64) {
    let Some(first) = b.first() else { return };
    let mut prev = first.1;
    for x in b.iter_mut().skip(1) {
        let curr = x.1;
        let delta = (curr - prev).abs();
        if delta == 0.0 {
            continue;
        }
        if delta / curr <= tolerance {
            x.1 = prev;
        } else {
            prev = curr;
        }
    }
}

/// Removes decreases between successive buckets (inconsistent exporters).
fn ensure_monotonic(b: &mut [(f64, f64)]) {
    let Some(first) = b.first() else { return };
    let mut max = first.1;
    for x in b.iter_mut().skip(1) {
        if x.1 > max {
            max = x.1;
        } else if x.1 < max {
            x.1 = max;
        }
    }
}

/// The time between two scrapes in seconds, when a rate can be taken over it.
fn interval<'a>(prev: Option<&'a ScrapeData>, cur: &ScrapeData) -> Option<(&'a ScrapeData, f64)> {
    let prev = prev?;
    let dt = cur.at.checked_duration_since(prev.at)?.as_secs_f64();
    (dt > 0.0).then_some((prev, dt))
}

/// One figure. `None` is "n/a": the device does not export the metric, or a rate
/// has no previous scrape to be taken against.
pub fn compute_one(def: &MetricDef, prev: Option<&ScrapeData>, cur: &ScrapeData) -> Option<f64> {
    let sum = |v: Vec<f64>| Agg::Sum.fold(v);
    let value = match def.kind {
        MetricKind::Gauge => def
            .agg
            .fold(cur.matching(&def.metric, &def.labels).map(|s| s.value))?,
        MetricKind::GaugeRatio => {
            let num = Agg::Sum.fold(cur.matching(&def.metric, &def.labels).map(|s| s.value))?;
            let den_metric = def.denominator.as_deref()?;
            let den = Agg::Sum.fold(
                cur.matching(den_metric, def.denominator_labels())
                    .map(|s| s.value),
            )?;
            num / den
        }
        MetricKind::CounterRate => {
            let (prev, dt) = interval(prev, cur)?;
            def.agg
                .fold(rates(prev, cur, &def.metric, &def.labels, dt))?
        }
        MetricKind::CounterRatio => {
            let (prev, dt) = interval(prev, cur)?;
            let den_metric = def.denominator.as_deref()?;
            let num = sum(rates(prev, cur, &def.metric, &def.labels, dt))?;
            let den = sum(rates(prev, cur, den_metric, def.denominator_labels(), dt))?;
            num / den
        }
        MetricKind::HistogramQuantile => {
            let q = def.quantile?;
            let (prev, dt) = interval(prev, cur)?;
            let buckets = bucket_rates(prev, cur, &def.metric, &def.labels, dt)?;
            bucket_quantile(q, &buckets)
        }
        MetricKind::HistogramFraction => {
            let le = def.le?;
            let (prev, dt) = interval(prev, cur)?;
            let buckets = bucket_rates(prev, cur, &def.metric, &def.labels, dt)?;
            let num = sum(buckets
                .iter()
                .filter(|(b, _)| *b == le)
                .map(|(_, r)| *r)
                .collect())?;
            let count = format!("{}_count", def.metric);
            let den = sum(rates(prev, cur, &count, &def.labels, dt))?;
            num / den
        }
    };
    Some(if def.one_minus { 1.0 - value } else { value })
}

/// Every figure of one device from its current scrape and, for rates, the
/// previous one.
pub fn compute(defs: &MetricDefs, prev: Option<&ScrapeData>, cur: &ScrapeData) -> Figures {
    let mut figures = Figures::default();
    for (slot, def) in figures.0.iter_mut().zip(&defs.defs) {
        *slot = compute_one(def, prev, cur);
    }
    figures
}

/// The series of a state-set or info metric that is "on" (value 1), else the first.
fn active<'a>(cur: &'a ScrapeData, metric: &str) -> Option<&'a Series> {
    let series = cur.series.get(metric)?;
    series.iter().find(|s| s.value == 1.0).or(series.first())
}

fn label<'a>(s: &'a Series, name: &str) -> Option<&'a str> {
    s.labels
        .binary_search_by(|(k, _)| k.as_str().cmp(name))
        .ok()
        .map(|i| s.labels[i].1.as_str())
}

/// The running release from the info metric (`defs.release_info`); missing
/// labels are empty strings.
pub fn release(defs: &MetricDefs, cur: &ScrapeData) -> Option<Release> {
    let s = active(cur, &defs.release_info)?;
    let get = |n: &str| label(s, n).unwrap_or_default().to_string();
    Some(Release {
        version: get("version"),
        release: get("release"),
        image_digest: get("image_digest"),
        model_digest: get("model_digest"),
    })
}

/// The update agent's state: the state label of the `defs.agent_state` series
/// whose value is 1. `None` when no state is on.
pub fn agent_state(defs: &MetricDefs, cur: &ScrapeData) -> Option<String> {
    cur.series
        .get(&defs.agent_state)?
        .iter()
        .find(|s| s.value == 1.0)
        .and_then(|s| label(s, &defs.agent_state_label))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::def::Figure;
    use std::time::Duration;

    fn at(secs: u64) -> Instant {
        // A fixed base keeps the arithmetic exact.
        thread_local!(static BASE: Instant = Instant::now());
        BASE.with(|b| *b + Duration::from_secs(secs))
    }

    fn data(text: &str, secs: u64) -> ScrapeData {
        ScrapeData::parse(text, at(secs))
    }

    fn def(kind: MetricKind, metric: &str) -> MetricDef {
        let mut d = MetricDef::default_for(Figure::Throughput);
        d.kind = kind;
        d.metric = metric.into();
        d
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    const GAUGES: &str = "\
# TYPE node_thermal_zone_temp gauge
node_thermal_zone_temp{type=\"cpu-thermal\",zone=\"0\"} 61.5
node_thermal_zone_temp{type=\"cpu-thermal\",zone=\"1\"} 64
node_thermal_zone_temp{type=\"gpu-thermal\",zone=\"2\"} 90
node_memory_MemAvailable_bytes 1e9
node_memory_MemTotal_bytes 4e9
weird NaN
inf_gauge +Inf
";

    #[test]
    fn gauge_folds_matching_series() {
        let cur = data(GAUGES, 0);
        let mut d = def(MetricKind::Gauge, "node_thermal_zone_temp");
        d.labels.insert("type".into(), "cpu-thermal".into());
        d.agg = Agg::Max;
        assert_eq!(compute_one(&d, None, &cur), Some(64.0));
        d.agg = Agg::Min;
        assert_eq!(compute_one(&d, None, &cur), Some(61.5));
        d.agg = Agg::Avg;
        assert_eq!(compute_one(&d, None, &cur), Some(62.75));
        d.agg = Agg::Sum;
        d.labels.clear();
        assert_eq!(compute_one(&d, None, &cur), Some(215.5));
        // No series matches → n/a, not 0.
        d.labels.insert("type".into(), "npu-thermal".into());
        assert_eq!(compute_one(&d, None, &cur), None);
        // `{k=""}` matches series without the label, as in PromQL.
        d.labels.clear();
        d.labels.insert("absent".into(), String::new());
        assert_eq!(compute_one(&d, None, &cur), Some(215.5));
    }

    #[test]
    fn missing_metric_is_none_and_nan_passes_through() {
        let cur = data(GAUGES, 0);
        assert_eq!(
            compute_one(&def(MetricKind::Gauge, "not_there"), None, &cur),
            None
        );
        let nan = compute_one(&def(MetricKind::Gauge, "weird"), None, &cur);
        assert!(nan.is_some_and(f64::is_nan));
        let inf = compute_one(&def(MetricKind::Gauge, "inf_gauge"), None, &cur);
        assert_eq!(inf, Some(f64::INFINITY));
        let figures = compute(&MetricDefs::default(), None, &data("", 0));
        assert_eq!(figures, Figures::default());
    }

    #[test]
    fn gauge_ratio_and_one_minus() {
        let cur = data(GAUGES, 0);
        let mut d = MetricDef::default_for(Figure::Memory);
        assert_eq!(compute_one(&d, None, &cur), Some(0.75));
        d.one_minus = false;
        assert_eq!(compute_one(&d, None, &cur), Some(0.25));
        d.denominator = Some("missing".into());
        assert_eq!(compute_one(&d, None, &cur), None);
    }

    const REQ0: &str = "\
# TYPE inference_requests_total counter
inference_requests_total{model=\"a\"} 100
inference_requests_total{model=\"b\"} 50
# TYPE inference_errors_total counter
inference_errors_total{model=\"a\"} 1
inference_errors_total{model=\"b\"} 0
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1000
node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"} 2000
node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 10
";
    const REQ1: &str = "\
# TYPE inference_requests_total counter
inference_requests_total{model=\"a\"} 300
inference_requests_total{model=\"b\"} 20
inference_requests_total{model=\"new\"} 7
# TYPE inference_errors_total counter
inference_errors_total{model=\"a\"} 5
inference_errors_total{model=\"b\"} 2
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1008
node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"} 2006
node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 12
";

    #[test]
    fn counter_rate_with_reset_and_new_series() {
        let (p, c) = (data(REQ0, 100), data(REQ1, 110));
        let d = MetricDef::default_for(Figure::Throughput);
        // a: +200; b: reset 50 → 20 counts as +20; "new" has no previous sample.
        assert!(close(compute_one(&d, Some(&p), &c), 22.0));
        // No previous scrape, or no time between them: n/a.
        assert_eq!(compute_one(&d, None, &c), None);
        assert_eq!(compute_one(&d, Some(&c), &c), None);
        assert_eq!(compute_one(&d, Some(&c), &p), None);
    }

    #[test]
    fn cpu_busy_is_one_minus_average_idle_rate() {
        let (p, c) = (data(REQ0, 100), data(REQ1, 110));
        let d = MetricDef::default_for(Figure::Cpu);
        // idle rates 0.8 and 0.6 → avg 0.7 → busy 0.3.
        assert!(close(compute_one(&d, Some(&p), &c), 0.3));
    }

    #[test]
    fn counter_ratio() {
        let (p, c) = (data(REQ0, 100), data(REQ1, 110));
        let d = MetricDef::default_for(Figure::ErrorRate);
        // errors +4 +2 = 6 over requests +200 +20 = 220.
        assert!(close(compute_one(&d, Some(&p), &c), 6.0 / 220.0));
        // 0/0 is NaN, like PromQL.
        let still = data(REQ1, 120);
        assert!(compute_one(&d, Some(&c), &still).is_some_and(f64::is_nan));
    }

    fn latency(buckets: [f64; 5], sum: f64, labels: &str) -> String {
        let les = ["0.1", "0.25", "0.5", "1", "+Inf"];
        let mut s = String::new();
        for (le, v) in les.iter().zip(buckets) {
            s += &format!("inference_latency_seconds_bucket{{{labels}le=\"{le}\"}} {v}\n");
        }
        s += &format!("inference_latency_seconds_sum{{{labels}}} {sum}\n");
        s += &format!(
            "inference_latency_seconds_count{{{labels}}} {}\n",
            buckets[4]
        );
        s
    }

    const TYPE_LINE: &str = "# TYPE inference_latency_seconds histogram\n";

    #[test]
    fn quantiles_by_hand() {
        // Deltas per bucket: 20, 60, 90, 100, 100 (cumulative), split over two models.
        let p = data(
            &format!(
                "{TYPE_LINE}{}{}",
                latency([5.0, 10.0, 15.0, 20.0, 20.0], 9.0, "model=\"a\","),
                latency([5.0, 10.0, 15.0, 20.0, 20.0], 9.0, "model=\"b\",")
            ),
            0,
        );
        let c = data(
            &format!(
                "{TYPE_LINE}{}{}",
                latency([15.0, 40.0, 60.0, 70.0, 70.0], 20.0, "model=\"a\","),
                latency([15.0, 40.0, 60.0, 70.0, 70.0], 20.0, "model=\"b\",")
            ),
            15,
        );
        let q = |f| compute_one(&MetricDef::default_for(f), Some(&p), &c);
        // p50: rank 50 of 100 in (0.1, 0.25] holding 20..60 → 0.1 + 0.15 × 30/40.
        assert!(close(q(Figure::LatencyP50), 0.2125));
        // p95: rank 95 in (0.5, 1] holding 90..100 → 0.5 + 0.5 × 5/10.
        assert!(close(q(Figure::LatencyP95), 0.75));
        assert!(close(q(Figure::LatencyP99), 0.95));
        // Label matchers narrow to one model: same shape, same quantiles.
        let mut d = MetricDef::default_for(Figure::LatencyP50);
        d.labels.insert("model".into(), "a".into());
        assert!(close(compute_one(&d, Some(&p), &c), 0.2125));
        d.labels.insert("model".into(), "zzz".into());
        assert_eq!(compute_one(&d, Some(&p), &c), None);
        // Share at or below 0.25: 60 of 100.
        let mut f = MetricDef::default_for(Figure::LowConfidence);
        f.metric = "inference_latency_seconds".into();
        f.le = Some(0.25);
        assert!(close(compute_one(&f, Some(&p), &c), 0.6));
        f.one_minus = true;
        assert!(close(compute_one(&f, Some(&p), &c), 0.4));
        f.le = Some(0.3);
        assert_eq!(compute_one(&f, Some(&p), &c), None);
    }

    #[test]
    fn histogram_without_type_or_inf_bucket() {
        // No `# TYPE` line (untyped buckets), and no +Inf bucket: `_count` stands in.
        let strip = |s: String| {
            s.lines()
                .filter(|l| !l.contains("+Inf"))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        };
        let p = data(&strip(latency([5.0, 10.0, 15.0, 20.0, 20.0], 9.0, "")), 0);
        let c = data(
            &strip(latency([25.0, 70.0, 105.0, 120.0, 120.0], 9.0, "")),
            5,
        );
        let d = MetricDef::default_for(Figure::LatencyP50);
        assert!(close(compute_one(&d, Some(&p), &c), 0.2125));
        // Typed but without +Inf.
        let p = data(
            &format!("{TYPE_LINE}{}", strip(latency([0.0; 5], 0.0, ""))),
            0,
        );
        let c = data(
            &format!(
                "{TYPE_LINE}{}",
                strip(latency([20.0, 60.0, 90.0, 100.0, 100.0], 1.0, ""))
            ),
            5,
        );
        assert!(close(compute_one(&d, Some(&p), &c), 0.2125));
        // Nothing observed between the scrapes: NaN, like Prometheus.
        assert!(
            compute_one(
                &d,
                Some(&c),
                &data(
                    &format!(
                        "{TYPE_LINE}{}",
                        strip(latency([20.0, 60.0, 90.0, 100.0, 100.0], 1.0, ""))
                    ),
                    9
                )
            )
            .is_some_and(f64::is_nan)
        );
    }

    #[test]
    fn histogram_counter_reset() {
        let p = data(
            &format!(
                "{TYPE_LINE}{}",
                latency([500.0, 900.0, 1000.0, 1000.0, 1000.0], 1.0, "")
            ),
            0,
        );
        // Restarted: every bucket is below its old value, so the increase is the new value.
        let c = data(
            &format!(
                "{TYPE_LINE}{}",
                latency([20.0, 60.0, 90.0, 100.0, 100.0], 1.0, "")
            ),
            5,
        );
        let d = MetricDef::default_for(Figure::LatencyP50);
        assert!(close(compute_one(&d, Some(&p), &c), 0.2125));
    }

    #[test]
    fn skipping_unneeded_metrics_changes_nothing() {
        let defs = MetricDefs::default();
        let needed = Needed::from_defs(&defs);
        let hist = |b| format!("{TYPE_LINE}{}", latency(b, 1.0, "model=\"a\","));
        let t0 = format!(
            "{REQ0}{GAUGES}{}# HELP x y\nother_metric{{a=\"b\"}} 3\n",
            hist([1.0; 5])
        );
        let t1 = format!("{REQ1}{GAUGES}{}", hist([20.0, 60.0, 90.0, 100.0, 100.0]));
        let full = compute(&defs, Some(&data(&t0, 0)), &data(&t1, 5));
        let p = ScrapeData::parse_needed(&t0, at(0), &needed);
        let c = ScrapeData::parse_needed(&t1, at(5), &needed);
        let fast = compute(&defs, Some(&p), &c);
        assert_eq!(format!("{full:?}"), format!("{fast:?}"));
        assert!(full.get(Figure::LatencyP50).is_some() && full.get(Figure::Cpu).is_some());
        // Skipped lines still count as samples: the body was readable.
        assert_eq!(
            ScrapeData::parse_needed("other 1\n", at(0), &needed).samples(),
            1
        );
        assert_eq!(
            ScrapeData::parse_needed("<html>\n", at(0), &needed).samples(),
            0
        );
    }

    #[test]
    fn bucket_quantile_edges() {
        let b = [(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 30.0)];
        assert_eq!(bucket_quantile(-0.1, &b), f64::NEG_INFINITY);
        assert_eq!(bucket_quantile(1.1, &b), f64::INFINITY);
        assert!(bucket_quantile(f64::NAN, &b).is_nan());
        // Rank in the +Inf bucket → highest finite bound.
        assert_eq!(bucket_quantile(0.9, &b), 2.0);
        assert_eq!(bucket_quantile(0.5, &b), 1.5);
        // Unsorted input and duplicate bounds are handled.
        let u = [(f64::INFINITY, 20.0), (2.0, 10.0), (1.0, 5.0), (1.0, 5.0)];
        assert_eq!(bucket_quantile(0.25, &u), 0.5);
        // No +Inf bucket, too few buckets, no observations → NaN.
        assert!(bucket_quantile(0.5, &[(1.0, 1.0), (2.0, 2.0)]).is_nan());
        assert!(bucket_quantile(0.5, &[(f64::INFINITY, 2.0)]).is_nan());
        assert!(bucket_quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]).is_nan());
        // First bucket with a non-positive bound returns that bound.
        assert_eq!(
            bucket_quantile(0.1, &[(-1.0, 5.0), (f64::INFINITY, 10.0)]),
            -1.0
        );
        // Non-monotonic counts are flattened before the search.
        let m = [(1.0, 10.0), (2.0, 5.0), (3.0, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(bucket_quantile(0.5, &m), 1.0);
    }

    #[test]
    fn release_and_agent_state() {
        let text = "\
fleet_release_info{version=\"1.4.2\",release=\"r-17\",image_digest=\"sha256:aa\",model_digest=\"sha256:bb\"} 1
fleet_agent_state{state=\"idle\"} 0
fleet_agent_state{state=\"downloading\"} 1
fleet_agent_state{state=\"failed\"} 0
";
        let cur = data(text, 0);
        let defs = MetricDefs::default();
        assert_eq!(
            release(&defs, &cur),
            Some(Release {
                version: "1.4.2".into(),
                release: "r-17".into(),
                image_digest: "sha256:aa".into(),
                model_digest: "sha256:bb".into(),
            })
        );
        assert_eq!(agent_state(&defs, &cur).as_deref(), Some("downloading"));
        let none = data("fleet_agent_state{state=\"idle\"} 0\n", 0);
        assert_eq!(agent_state(&defs, &none), None);
        assert_eq!(release(&defs, &none), None);
        // Without a series at 1 the first one is taken.
        let two = data(
            "fleet_release_info{version=\"2\"} 0\nfleet_release_info{version=\"3\"} 0\n",
            0,
        );
        assert_eq!(release(&defs, &two).map(|r| r.version), Some("2".into()));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Sorted distinct finite bounds with cumulative counts, then +Inf.
        fn histogram() -> impl Strategy<Value = Vec<(f64, f64)>> {
            prop::collection::vec((-100.0f64..1000.0, 0.0f64..1000.0), 1..12).prop_map(|raw| {
                let mut bounds: Vec<f64> = raw
                    .iter()
                    .map(|r| (r.0 * 1000.0).round() / 1000.0)
                    .collect();
                bounds.sort_by(f64::total_cmp);
                bounds.dedup();
                let mut total = 0.0;
                let mut out: Vec<(f64, f64)> = bounds
                    .into_iter()
                    .zip(raw.iter().map(|r| r.1))
                    .map(|(b, c)| {
                        total += c;
                        (b, total)
                    })
                    .collect();
                out.push((f64::INFINITY, total + 1.0));
                out
            })
        }

        proptest! {
            #[test]
            fn quantile_monotonic_and_bounded(h in histogram(), q1 in 0.001f64..=1.0, q2 in 0.001f64..=1.0) {
                let (lo, hi) = if q1 <= q2 { (q1, q2) } else { (q2, q1) };
                let a = bucket_quantile(lo, &h);
                let b = bucket_quantile(hi, &h);
                prop_assert!(!a.is_nan() && !b.is_nan());
                prop_assert!(a <= b + 1e-9 * b.abs().max(1.0), "q{lo} → {a} > q{hi} → {b}");
                let min = h[0].0.min(0.0);
                let max = h[h.len() - 2].0;
                for v in [a, b] {
                    prop_assert!(v >= min - 1e-9 && v <= max + 1e-9, "{v} outside [{min}, {max}]");
                }
            }

            /// Any label value, escaped as the format says, reads back as it was,
            /// whatever else is on the page (issue 9, case 8).
            #[test]
            fn label_values_round_trip(values in prop::collection::vec(prop_oneof![any::<String>(), "[a-z0-9=,{}\"\\\\\n\r\t #:.\u{E000}]{0,16}"], 4), noise in "[ -~]{0,30}") {
                let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                let text = format!(
                    "{noise}\nfleet_release_info{{version=\"{}\",release=\"{}\",image_digest=\"{}\",model_digest=\"{}\"}} 1\n{noise}\n",
                    esc(&values[0]), esc(&values[1]), esc(&values[2]), esc(&values[3])
                );
                let cur = data(&text, 0);
                let r = release(&MetricDefs::default(), &cur);
                prop_assert!(r.is_some(), "release lost: {:?}", text);
                let r = r.unwrap_or_default();
                prop_assert_eq!(&r.version, &values[0]);
                prop_assert_eq!(&r.release, &values[1]);
                prop_assert_eq!(&r.image_digest, &values[2]);
                prop_assert_eq!(&r.model_digest, &values[3]);
            }

            #[test]
            fn compute_never_panics(a in ".{0,400}", b in ".{0,400}", tail in prop::collection::vec("[a-z_]{1,8}(\\{[a-z]{1,3}=\"[^\"]{0,4}\"\\})? [-+0-9.eEaInNf]{1,6}", 0..20)) {
                let mut cur = b.clone();
                for line in &tail {
                    cur.push('\n');
                    cur.push_str(line);
                }
                let p = data(&a, 0);
                let c = data(&format!("# TYPE inference_latency_seconds histogram\n{cur}"), 3);
                let defs = MetricDefs::default();
                let _ = compute(&defs, Some(&p), &c);
                let _ = compute(&defs, Some(&c), &c);
                let _ = compute(&defs, None, &p);
                let _ = release(&defs, &c);
                let _ = agent_state(&defs, &c);
            }
        }
    }
}
