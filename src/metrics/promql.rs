//! PromQL generation and escaping.
//!
//! Every query fleetdeck sends is built here from the typed [`MetricDef`]s, so
//! the math lives in one place (the direct-scrape source reproduces it in
//! [`super::compute`]). Queries aggregate server-side `by (<device label>)`: the
//! number of queries per refresh is fixed, whatever the size of the fleet.
//!
//! Label values come from outside (inventories, exporters, the operator's
//! selection) and are escaped with [`escape_label_value`], never pasted.

use super::LabelNames;
use super::def::{Figure, MetricDef, MetricDefs, MetricKind};
use std::fmt::Write as _;
use std::time::Duration;

/// Escapes `s` for use inside a double-quoted PromQL string (`"…"`).
///
/// PromQL strings follow Go's `strconv.Unquote` rules: `\\`, `\"`, `\n`, `\r`,
/// `\t` are written as such; other ASCII control characters (C0 and DEL) as
/// `\xNN`; C1 controls (U+0080..U+009F) as `\u00NN` (a `\x` escape would be a
/// raw byte there, not a character); U+FFFD as `\ufffd`, because Prometheus'
/// lexer takes a literal replacement character for invalid UTF-8 and rejects
/// the query. Everything else, wide Unicode included, passes unchanged.
pub fn escape_label_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if ('\u{80}'..='\u{9f}').contains(&c) || c == '\u{fffd}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Escapes `s` so that a PromQL regex matcher (`=~`) matches it literally.
/// The result still needs [`escape_label_value`] to go inside quotes.
pub fn escape_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `metric{a="x",b="y"}` with every value escaped; just `metric` without matchers.
pub fn selector(metric: &str, matchers: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(metric.len() + matchers.len() * 24);
    out.push_str(metric);
    if matchers.is_empty() {
        return out;
    }
    out.push('{');
    for (i, (name, value)) in matchers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(&escape_label_value(value));
        out.push('"');
    }
    out.push('}');
    out
}

/// A PromQL duration: `60s` for whole seconds, `1500ms` otherwise.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A float as PromQL reads it (`0.95`, `1`, `1e-07`).
fn number(v: f64) -> String {
    format!("{v}")
}

/// The ways an exporter may have written the bucket bound `le` as a label value:
/// Rust/`{}` style (`0.5`, `1`), with a trailing `.0` (Python client: `1.0`),
/// and Go's `%g`-like shortest form with an exponent (`1e-05`, `1e+06`).
/// Prometheus 2.x compares label values as strings, so the regex lists them all.
pub fn le_spellings(le: f64) -> Vec<String> {
    let mut out = vec![number(le)];
    if le.is_finite() && le.fract() == 0.0 && le.abs() < 1e21 {
        out.push(format!("{le:.1}"));
    }
    if let Some(g) = go_shortest_g(le) {
        out.push(g);
    }
    out.dedup();
    let mut uniq: Vec<String> = Vec::with_capacity(out.len());
    for s in out {
        if !uniq.contains(&s) {
            uniq.push(s);
        }
    }
    uniq
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)` as client_golang writes `le`:
/// shortest digits, exponent form when the decimal exponent is < -4 or >= 6
/// (the Python client mimics it).
fn go_shortest_g(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    if v == 0.0 {
        return Some("0".into());
    }
    // `{:e}` gives the shortest round-trip digits: "1.5e-7", "1e6".
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        Some(format!("{mantissa}e{sign}{:02}", exp.abs()))
    } else {
        Some(number(v))
    }
}

/// The `job` matcher (when configured), the definition's own matchers, then `extra`.
fn matchers<'a>(
    job: Option<&'a str>,
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut m: Vec<(&str, &str)> = Vec::new();
    if let Some(job) = job {
        m.push(("job", job));
    }
    m.extend(labels.into_iter().map(|(k, v)| (k.as_str(), v.as_str())));
    m.extend_from_slice(extra);
    m
}

/// The aggregated query for one figure, one series per device labelled with the
/// device label. `extra` matchers (e.g. `device="pi-00007"` for a device's
/// history) are added to every selector.
pub fn figure_query(
    def: &MetricDef,
    job: Option<&str>,
    labels: &LabelNames,
    extra: &[(&str, &str)],
) -> String {
    let dev = labels.device.as_str();
    if let Some(raw) = &def.promql {
        if extra.is_empty() {
            return raw.clone();
        }
        let up = selector("up", &matchers(job, [], extra));
        return format!("({raw}) and on ({dev}) {up}");
    }
    let num = selector(&def.metric, &matchers(job, &def.labels, extra));
    let den = || {
        let name = def.denominator.as_deref().unwrap_or_default();
        selector(name, &matchers(job, def.denominator_labels(), extra))
    };
    let w = duration(def.window);
    let agg = def.agg.promql();
    let expr = match def.kind {
        MetricKind::Gauge => format!("{agg} by ({dev}) ({num})"),
        MetricKind::GaugeRatio => {
            format!("sum by ({dev}) ({num}) / sum by ({dev}) ({})", den())
        }
        MetricKind::CounterRate => format!("{agg} by ({dev}) (rate({num}[{w}]))"),
        MetricKind::CounterRatio => format!(
            "sum by ({dev}) (rate({num}[{w}])) / sum by ({dev}) (rate({}[{w}]))",
            den()
        ),
        MetricKind::HistogramQuantile => {
            let bucket = selector(
                &format!("{}_bucket", def.metric),
                &matchers(job, &def.labels, extra),
            );
            let q = number(def.quantile.unwrap_or(0.5));
            format!("histogram_quantile({q}, sum by ({dev}, le) (rate({bucket}[{w}])))")
        }
        MetricKind::HistogramFraction => {
            let le_re = le_spellings(def.le.unwrap_or(f64::INFINITY))
                .iter()
                .map(|s| escape_regex(s))
                .collect::<Vec<_>>()
                .join("|");
            let bucket_name = format!("{}_bucket", def.metric);
            let mut bucket = selector(&bucket_name, &matchers(job, &def.labels, extra));
            // Append the regex matcher by hand: `selector` only writes `=`.
            let le_matcher = format!("le=~\"{}\"", escape_label_value(&le_re));
            if bucket.ends_with('}') {
                bucket.pop();
                bucket.push(',');
            } else {
                bucket.push('{');
            }
            bucket.push_str(&le_matcher);
            bucket.push('}');
            let count = selector(
                &format!("{}_count", def.metric),
                &matchers(job, &def.labels, extra),
            );
            format!("sum by ({dev}) (rate({bucket}[{w}])) / sum by ({dev}) (rate({count}[{w}]))")
        }
    };
    if def.one_minus {
        format!("1 - ({expr})")
    } else {
        expr
    }
}

/// The labels of `fleet_release_info` that describe a release.
pub const RELEASE_LABELS: [&str; 4] = ["version", "release", "image_digest", "model_digest"];

/// The running release of every device: one series per (device, release).
pub fn release_query(defs: &MetricDefs, job: Option<&str>, labels: &LabelNames) -> String {
    let sel = selector(&defs.release_info, &matchers(job, [], &[]));
    format!(
        "max by ({}, {}) ({sel})",
        labels.device,
        RELEASE_LABELS.join(", ")
    )
}

/// The update agent's current state per device: the state-set series equal to 1.
pub fn agent_state_query(defs: &MetricDefs, job: Option<&str>, labels: &LabelNames) -> String {
    let sel = selector(&defs.agent_state, &matchers(job, [], &[]));
    format!(
        "max by ({}, {}) ({sel}) == 1",
        labels.device, defs.agent_state_label
    )
}

/// The inventory: every target of the fleet job, with its identity labels.
pub fn inventory_query(job: Option<&str>) -> String {
    selector("up", &matchers(job, [], &[]))
}

/// Name of the recording rule that precomputes `figure` per device.
pub fn recording_rule_name(figure: Figure) -> String {
    format!("fleetdeck:{}:by_device", figure.key())
}

/// The query of a figure when its recording rule is loaded in Prometheus
/// (see [`recording_rules`]): a plain selector on the recorded series.
pub fn recorded_query(figure: Figure, extra: &[(&str, &str)]) -> String {
    selector(&recording_rule_name(figure), extra)
}

/// A Prometheus rules file with one recording rule per figure
/// (`fleetdeck:<figure>:by_device`), for `fleetdeck rules`. At fleet scale the
/// per-device queries cost the server seconds per refresh; recorded, they cost a
/// lookup.
pub fn recording_rules(defs: &MetricDefs, job: Option<&str>, labels: &LabelNames) -> String {
    let mut out = String::new();
    out.push_str("# Recording rules for fleetdeck's per-device figures (`fleetdeck rules`).\n");
    out.push_str("# Load them with `rule_files:` in prometheus.yml.\n");
    out.push_str("groups:\n  - name: fleetdeck\n    rules:\n");
    for figure in Figure::ALL {
        let Some(def) = defs.defs.get(figure.index()) else {
            continue;
        };
        let expr = figure_query(def, job, labels, &[]);
        // YAML is a superset of JSON: a JSON string is a safely quoted YAML scalar.
        let expr = serde_json::to_string(&expr).unwrap_or_else(|_| "\"\"".into());
        let _ = writeln!(out, "      - record: {}", recording_rule_name(figure));
        let _ = writeln!(out, "        expr: {expr}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::def::{Agg, MetricDef};
    use proptest::prelude::*;

    fn labels() -> LabelNames {
        LabelNames::default()
    }

    fn q(f: Figure) -> String {
        figure_query(&MetricDef::default_for(f), Some("fleet"), &labels(), &[])
    }

    #[test]
    fn gauge() {
        assert_eq!(
            q(Figure::CpuTemp),
            r#"max by (device) (node_thermal_zone_temp{job="fleet",type="cpu-thermal"})"#
        );
        assert_eq!(
            q(Figure::Npu),
            r#"max by (device) (npu_utilization_ratio{job="fleet"})"#
        );
    }

    #[test]
    fn gauge_ratio_one_minus() {
        assert_eq!(
            q(Figure::Memory),
            r#"1 - (sum by (device) (node_memory_MemAvailable_bytes{job="fleet"}) / sum by (device) (node_memory_MemTotal_bytes{job="fleet"}))"#
        );
        assert_eq!(
            q(Figure::Disk),
            r#"1 - (sum by (device) (node_filesystem_avail_bytes{job="fleet",mountpoint="/"}) / sum by (device) (node_filesystem_size_bytes{job="fleet",mountpoint="/"}))"#
        );
    }

    #[test]
    fn counter_rate_and_ratio() {
        assert_eq!(
            q(Figure::Throughput),
            r#"sum by (device) (rate(inference_requests_total{job="fleet"}[60s]))"#
        );
        assert_eq!(
            q(Figure::Cpu),
            r#"1 - (avg by (device) (rate(node_cpu_seconds_total{job="fleet",mode="idle"}[60s])))"#
        );
        assert_eq!(
            q(Figure::ErrorRate),
            r#"sum by (device) (rate(inference_errors_total{job="fleet"}[60s])) / sum by (device) (rate(inference_requests_total{job="fleet"}[60s]))"#
        );
    }

    #[test]
    fn histograms() {
        assert_eq!(
            q(Figure::LatencyP95),
            r#"histogram_quantile(0.95, sum by (device, le) (rate(inference_latency_seconds_bucket{job="fleet"}[60s])))"#
        );
        assert_eq!(
            q(Figure::LowConfidence),
            r#"sum by (device) (rate(inference_confidence_bucket{job="fleet",le=~"0\\.5"}[60s])) / sum by (device) (rate(inference_confidence_count{job="fleet"}[60s]))"#
        );
        let mut d = MetricDef::default_for(Figure::LowConfidence);
        d.le = Some(1.0);
        d.window = Duration::from_millis(1500);
        assert_eq!(
            figure_query(&d, None, &labels(), &[]),
            r#"sum by (device) (rate(inference_confidence_bucket{le=~"1|1\\.0"}[1500ms])) / sum by (device) (rate(inference_confidence_count[1500ms]))"#
        );
    }

    #[test]
    fn le_spellings_cover_exporters() {
        assert_eq!(le_spellings(0.5), ["0.5"]);
        assert_eq!(le_spellings(1.0), ["1", "1.0"]);
        assert_eq!(le_spellings(0.00001), ["0.00001", "1e-05"]);
        assert_eq!(le_spellings(2.5e21), ["2500000000000000000000", "2.5e+21"]);
        assert_eq!(le_spellings(0.0001), ["0.0001"]);
        assert_eq!(le_spellings(1e6), ["1000000", "1000000.0", "1e+06"]);
        assert_eq!(le_spellings(250000.0), ["250000", "250000.0"]);
    }

    #[test]
    fn custom_device_label_and_extra() {
        let l = LabelNames {
            device: "hostname".into(),
            ..LabelNames::default()
        };
        let d = MetricDef {
            agg: Agg::Min,
            ..MetricDef::default_for(Figure::CpuTemp)
        };
        assert_eq!(
            figure_query(&d, Some("fleet"), &l, &[("hostname", "pi-7")]),
            r#"min by (hostname) (node_thermal_zone_temp{job="fleet",type="cpu-thermal",hostname="pi-7"})"#
        );
        assert_eq!(
            figure_query(
                &MetricDef::default_for(Figure::ErrorRate),
                None,
                &labels(),
                &[("device", "a\"b")]
            ),
            r#"sum by (device) (rate(inference_errors_total{device="a\"b"}[60s])) / sum by (device) (rate(inference_requests_total{device="a\"b"}[60s]))"#
        );
    }

    #[test]
    fn raw_promql() {
        let d = MetricDef {
            promql: Some("max by (device) (x)".into()),
            ..MetricDef::default_for(Figure::Npu)
        };
        assert_eq!(
            figure_query(&d, Some("fleet"), &labels(), &[]),
            "max by (device) (x)"
        );
        assert_eq!(
            figure_query(&d, Some("fleet"), &labels(), &[("device", "pi-1")]),
            r#"(max by (device) (x)) and on (device) up{job="fleet",device="pi-1"}"#
        );
    }

    #[test]
    fn release_agent_inventory() {
        let defs = MetricDefs::default();
        assert_eq!(
            release_query(&defs, Some("fleet"), &labels()),
            r#"max by (device, version, release, image_digest, model_digest) (fleet_release_info{job="fleet"})"#
        );
        assert_eq!(
            agent_state_query(&defs, Some("fleet"), &labels()),
            r#"max by (device, state) (fleet_agent_state{job="fleet"}) == 1"#
        );
        assert_eq!(inventory_query(Some("fleet")), r#"up{job="fleet"}"#);
        assert_eq!(inventory_query(None), "up");
        assert_eq!(
            recorded_query(Figure::LatencyP95, &[("device", "x")]),
            r#"fleetdeck:latency_p95:by_device{device="x"}"#
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_secs(60)), "60s");
        assert_eq!(duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration(Duration::from_secs(3600)), "3600s");
    }

    #[test]
    fn escapes() {
        assert_eq!(escape_label_value(r#"a"b"#), r#"a\"b"#);
        assert_eq!(escape_label_value(r"a\b"), r"a\\b");
        assert_eq!(escape_label_value("a\nb\r\tc"), r"a\nb\r\tc");
        assert_eq!(escape_label_value("\x1b[31mred"), r"\x1b[31mred");
        assert_eq!(escape_label_value("\0\x7f"), r"\x00\x7f");
        assert_eq!(escape_label_value("\u{85}"), r"\u0085");
        assert_eq!(escape_label_value("a\u{fffd}b"), r"a\ufffdb");
        assert_eq!(escape_label_value("推理🚀é"), "推理🚀é");
        let big = "x\"".repeat(5 * 1024);
        let e = escape_label_value(&big);
        assert_eq!(e.len(), 15 * 1024);
        assert_eq!(unescape(&e).as_deref(), Some(big.as_str()));
        assert_eq!(escape_regex("1.0+x"), r"1\.0\+x");
    }

    #[test]
    fn recording_rules_structure() {
        let text = recording_rules(&MetricDefs::default(), Some("fleet"), &labels());
        assert!(text.contains("groups:\n  - name: fleetdeck\n    rules:\n"));
        assert_eq!(text.matches("- record: fleetdeck:").count(), Figure::COUNT);
        assert!(text.contains(
            "      - record: fleetdeck:npu:by_device\n        expr: \"max by (device) (npu_utilization_ratio{job=\\\"fleet\\\"})\"\n"
        ));
    }

    /// A PromQL/Go double-quoted string body decoder, written independently of
    /// the escaper, for the round-trip property.
    fn unescape(s: &str) -> Option<String> {
        let mut out = String::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            match c {
                '"' | '\n' => return None, // must never appear unescaped
                '\\' => match it.next()? {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'x' => {
                        let h: String = it.by_ref().take(2).collect();
                        let b = u8::from_str_radix(&h, 16).ok()?;
                        if b >= 0x80 {
                            return None; // a raw byte, not a char: never emitted
                        }
                        out.push(b as char);
                    }
                    'u' => {
                        let h: String = it.by_ref().take(4).collect();
                        out.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
                    }
                    _ => return None,
                },
                c => out.push(c),
            }
        }
        Some(out)
    }

    proptest! {
        #[test]
        fn escape_round_trips(s in any::<String>()) {
            let e = escape_label_value(&s);
            prop_assert!(!e.chars().any(|c| c.is_control()), "{e:?}");
            prop_assert_eq!(unescape(&e), Some(s));
        }

        #[test]
        fn selector_never_breaks_out(v in "[\"\\\\\n\r\t\x1b\u{85}a-z推]{0,40}") {
            let s = selector("up", &[("device", &v)]);
            let body = s.strip_prefix("up{device=\"").and_then(|r| r.strip_suffix("\"}"));
            prop_assert_eq!(body.and_then(unescape), Some(v));
        }
    }
}
