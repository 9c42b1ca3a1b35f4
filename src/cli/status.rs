//! `fleetdeck status`: one refresh of the configured source, then the fleet
//! summary as a table or JSON.

use super::setup::{load_config, open_source, refresh_once};
use super::{Cli, CliError, Exit};
use crate::fleet::{Device, Fleet, Rollup};
use crate::format;
use crate::metrics::def::Figure;
use crate::text::sanitize;
use serde_json::{Value, json};
use std::time::Duration;

/// `fleetdeck status [--json]`: a source that cannot be read is exit 1.
pub(crate) async fn status(cli: &Cli, as_json: bool, sample: Duration) -> Result<Exit, CliError> {
    let cfg = load_config(cli)?;
    let mut source = open_source(&cfg)?;
    let (fleet, warnings) = refresh_once(&cfg, &mut source, sample).await?;
    if as_json {
        let v = status_json(&fleet, &warnings);
        crate::out::json(&v)?;
    } else {
        crate::out!("{}", status_text(&fleet, &warnings));
    }
    Ok(Exit::Ok)
}

/// A number for JSON: non-finite values become the strings "NaN", "+Inf", "-Inf"
/// (JSON has no such numbers, and null already means "not exported").
fn num(v: Option<f64>) -> Value {
    match v {
        None => Value::Null,
        Some(x) if x.is_nan() => json!("NaN"),
        Some(x) if x == f64::INFINITY => json!("+Inf"),
        Some(x) if x == f64::NEG_INFINITY => json!("-Inf"),
        Some(x) => json!(x),
    }
}

fn rollup_json(r: &Rollup) -> Value {
    json!({
        "name": r.name,
        "devices": r.devices,
        "up": r.up,
        "degraded": r.degraded,
        "down": r.down,
        "stale": r.stale,
        "p95_latency_seconds": num(r.p95_latency),
        "p95_latency_max_seconds": num(r.p95_latency_max),
        "error_rate": num(r.error_rate),
        "max_temp_celsius": num(r.max_temp),
        "releases": r.releases,
    })
}

fn device_json(d: &Device) -> Value {
    let figures: serde_json::Map<String, Value> = Figure::ALL
        .iter()
        .map(|f| (f.key().to_string(), num(d.figure(*f))))
        .collect();
    json!({
        "id": d.id(),
        "site": d.site(),
        "group": d.group(),
        "health": d.health,
        "breaches": d.breaches,
        "reason": match &d.sample.reach {
            crate::fleet::Reach::Down(why) => json!(why),
            crate::fleet::Reach::Up => Value::Null,
        },
        "version": d.version(),
        "release": d.sample.release,
        "agent_state": d.sample.agent_state,
        "target": d.sample.target,
        "labels": d.sample.labels,
        "figures": figures,
    })
}

pub fn status_json(fleet: &Fleet, warnings: &[String]) -> Value {
    json!({
        "source": fleet.source,
        "taken_at": fleet.taken_at.map(format::utc),
        "total": rollup_json(&fleet.total),
        "sites": fleet.sites.iter().map(rollup_json).collect::<Vec<_>>(),
        "groups": fleet.groups.iter().map(rollup_json).collect::<Vec<_>>(),
        "devices": fleet.devices.iter().map(device_json).collect::<Vec<_>>(),
        "warnings": warnings,
    })
}

pub fn status_text(fleet: &Fleet, warnings: &[String]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let t = &fleet.total;
    let _ = writeln!(
        out,
        "{}  at {}\n{} devices: {} up, {} degraded, {} down, {} stale\n",
        sanitize(&fleet.source),
        fleet.taken_at.map(format::utc).unwrap_or_default(),
        t.devices,
        t.up,
        t.degraded,
        t.down,
        t.stale
    );
    let _ = writeln!(
        out,
        "{:<16} {:>7} {:>5} {:>8} {:>5} {:>5} {:>7} {:>7} {:>8}",
        "SITE", "DEVICES", "UP", "DEGRADED", "DOWN", "STALE", "P95", "ERRORS", "MAX TEMP"
    );
    let mut sites: Vec<&Rollup> = fleet.sites.iter().collect();
    sites.sort_by(|a, b| b.attention().cmp(&a.attention()).then(a.name.cmp(&b.name)));
    for s in sites {
        let _ = writeln!(
            out,
            "{:<16} {:>7} {:>5} {:>8} {:>5} {:>5} {:>7} {:>7} {:>8}",
            sanitize(&s.name),
            s.devices,
            s.up,
            s.degraded,
            s.down,
            s.stale,
            format::figure(Figure::LatencyP95, s.p95_latency),
            format::figure(Figure::ErrorRate, s.error_rate),
            format::figure(Figure::CpuTemp, s.max_temp),
        );
    }
    for w in warnings {
        let _ = writeln!(out, "warning: {}", sanitize(w));
    }
    out
}
