//! `fleetdeck rules --alerts`: Prometheus alerting rules for the fleet
//! (device down, hot, throttled, p95 latency and error rate over
//! `[thresholds]`). Each figure's query is the one the console uses
//! (`metrics::promql::figure_query`, one series per device); the device's
//! site and group labels are joined back from `up`, so every alert carries
//! the device, site and group labels fleetdeck matches alerts by.

use crate::fleet::Thresholds;
use crate::metrics::LabelNames;
use crate::metrics::def::{Figure, MetricDefs};
use crate::metrics::promql::{figure_query, inventory_query};
use std::fmt::Write as _;

/// One alerting rule before it is written out.
struct Rule {
    name: &'static str,
    expr: String,
    for_: &'static str,
    severity: &'static str,
    summary: String,
}

/// The alerting rules as a Prometheus rule file (YAML).
pub fn alerting_rules(
    defs: &MetricDefs,
    job: Option<&str>,
    labels: &LabelNames,
    th: &Thresholds,
) -> String {
    let (d, s, g) = (&labels.device, &labels.site, &labels.group);
    let up = inventory_query(job);
    // `group by (device, site, group) (up)` is 1 per device: multiplying by
    // it keeps the figure's value and adds the site and group labels.
    let placement = format!("on ({d}) group_left ({s}, {g}) group by ({d}, {s}, {g}) ({up})");
    let over = |figure: Figure, cmp: String| -> Option<String> {
        let def = defs.defs.get(figure.index())?;
        let q = figure_query(def, job, labels, &[]);
        Some(format!("(({q}) {cmp}) * {placement}"))
    };
    let mut rules = vec![Rule {
        name: "FleetDeviceDown",
        expr: format!("max by ({d}, {s}, {g}) ({up}) == 0"),
        for_: "1m",
        severity: "critical",
        summary: format!("{{{{ $labels.{d} }}}} at {{{{ $labels.{s} }}}} does not answer"),
    }];
    if let Some(expr) = over(Figure::CpuTemp, format!("> {}", th.cpu_temp)) {
        rules.push(Rule {
            name: "FleetDeviceHot",
            expr,
            for_: "1m",
            severity: "warning",
            summary: format!(
                "{{{{ $labels.{d} }}}} at {{{{ $labels.{s} }}}} runs at {{{{ $value }}}} °C (over {} °C)",
                th.cpu_temp
            ),
        });
    }
    // PromQL has no bitwise and: each bit of the mask is
    // floor(x / 2^b) % 2, summed; any set bit makes the sum positive.
    if let Some(def) = defs.defs.get(Figure::Throttled.index())
        && th.throttled_mask != 0
    {
        let q = figure_query(def, job, labels, &[]);
        let bits: Vec<String> = (0..64)
            .filter(|b| th.throttled_mask >> b & 1 == 1)
            .map(|b| format!("(floor(({q}) / {}) % 2)", 1u128 << b))
            .collect();
        rules.push(Rule {
            name: "FleetDeviceThrottled",
            expr: format!("(({}) > 0) * {placement}", bits.join(" + ")),
            for_: "1m",
            severity: "warning",
            summary: format!("{{{{ $labels.{d} }}}} at {{{{ $labels.{s} }}}} is throttled"),
        });
    }
    if let Some(expr) = over(Figure::LatencyP95, format!("> {}", th.latency_p95)) {
        rules.push(Rule {
            name: "FleetLatencyHigh",
            expr,
            for_: "2m",
            severity: "warning",
            summary: format!(
                "{{{{ $labels.{d} }}}} at {{{{ $labels.{s} }}}}: p95 latency {{{{ $value }}}} s (over {} s)",
                th.latency_p95
            ),
        });
    }
    if let Some(expr) = over(Figure::ErrorRate, format!("> {}", th.error_rate)) {
        rules.push(Rule {
            name: "FleetErrorRateHigh",
            expr,
            for_: "2m",
            severity: "warning",
            summary: format!(
                "{{{{ $labels.{d} }}}} at {{{{ $labels.{s} }}}}: error rate {{{{ $value }}}} (over {})",
                th.error_rate
            ),
        });
    }
    let mut out = String::new();
    out.push_str("# Alerting rules for the fleet (`fleetdeck rules --alerts`); every alert\n");
    out.push_str("# keeps the device, site and group labels. Load with `rule_files:`.\n");
    out.push_str("  - name: fleetdeck-alerts\n    rules:\n");
    // YAML is a superset of JSON: JSON strings are safely quoted scalars.
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    for r in rules {
        let _ = writeln!(out, "      - alert: {}", r.name);
        let _ = writeln!(out, "        expr: {}", q(&r.expr));
        let _ = writeln!(out, "        for: {}", r.for_);
        let _ = writeln!(out, "        labels:\n          severity: {}", r.severity);
        let _ = writeln!(
            out,
            "        annotations:\n          summary: {}",
            q(&r.summary)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_keeps_the_placement_labels() {
        let text = alerting_rules(
            &MetricDefs::default(),
            Some("fleet"),
            &LabelNames::default(),
            &Thresholds::default(),
        );
        for name in [
            "FleetDeviceDown",
            "FleetDeviceHot",
            "FleetDeviceThrottled",
            "FleetLatencyHigh",
            "FleetErrorRateHigh",
        ] {
            assert!(text.contains(&format!("- alert: {name}\n")), "{text}");
        }
        assert_eq!(
            text.matches("group by (device, site, group)").count(),
            4,
            "{text}"
        );
        assert!(
            text.contains("max by (device, site, group) (up{job=\\\"fleet\\\"}) == 0"),
            "{text}"
        );
        assert!(text.contains("> 80)"), "{text}");
        // mask 0xF: four bits.
        assert!(text.contains("/ 8) % 2)"), "{text}");
        assert!(!text.contains("/ 16) % 2)"), "{text}");
    }
}
