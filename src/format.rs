//! How figures are written for people: one place, so the TUI, the `status`
//! table and the tests agree. Missing values are "n/a", absurd ones are shown
//! as they are ("NaN", "+Inf"), never as zero.

use crate::metrics::def::Figure;
use std::time::Duration;

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v == f64::INFINITY {
        Some("+Inf".into())
    } else if v == f64::NEG_INFINITY {
        Some("-Inf".into())
    } else {
        None
    }
}

/// A figure with its unit, compact enough for a table cell.
pub fn figure(f: Figure, v: Option<f64>) -> String {
    let Some(v) = v else { return "n/a".into() };
    if let Some(s) = special(v) {
        return s;
    }
    match f {
        Figure::LatencyP50 | Figure::LatencyP95 | Figure::LatencyP99 => latency(v),
        Figure::Throughput => format!("{}/s", compact(v)),
        Figure::ErrorRate | Figure::LowConfidence => percent(v, 1),
        Figure::ConfidenceMedian => format!("{v:.2}"),
        Figure::CpuTemp => format!("{v:.1}°C"),
        Figure::Throttled => {
            if v >= 0.0 && v <= u32::MAX as f64 && v.fract() == 0.0 {
                format!("{:#x}", v as u64)
            } else {
                compact(v)
            }
        }
        Figure::Cpu | Figure::Memory | Figure::Disk | Figure::Npu => percent(v, 0),
    }
}

/// Seconds → "84ms", "1.2s", "2m".
pub fn latency(secs: f64) -> String {
    if let Some(s) = special(secs) {
        return s;
    }
    let a = secs.abs();
    if a < 1.0 {
        format!("{:.0}ms", secs * 1000.0)
    } else if a < 100.0 {
        format!("{secs:.2}s")
    } else if a < 1e7 {
        format!("{:.0}m", secs / 60.0)
    } else {
        format!("{secs:.1e}s")
    }
}

/// 0.0342 → "3.4%".
pub fn percent(share: f64, decimals: usize) -> String {
    if let Some(s) = special(share) {
        return s;
    }
    let p = share * 100.0;
    if p.abs() >= 1e6 {
        format!("{p:.1e}%")
    } else {
        format!("{p:.decimals$}%")
    }
}

/// 12345 → "12.3k", huge values in exponent form so cells never overflow.
pub fn compact(v: f64) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let a = v.abs();
    if a >= 1e12 {
        format!("{v:.1e}")
    } else if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// "4s", "3m", "2h", "5d": the age of data.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else if s < 172_800 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86400)
    }
}

/// RFC 3339 UTC, to the second.
pub fn utc(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// `812 B`, `4.2 KiB`, `1.3 MiB`, `2.0 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// `sha256:0123456789ab…`: enough of a digest to recognise it. Digests come
/// from devices and registries: cut by characters, never inside one.
pub fn short_digest(d: &str) -> String {
    match d.strip_prefix("sha256:") {
        Some(hex) if hex.chars().nth(12).is_some() => {
            format!("sha256:{}…", hex.chars().take(12).collect::<String>())
        }
        _ => d.to_string(),
    }
}

/// `repo@sha256:0123456789ab…`: a reference with its digest shortened.
pub fn short_reference(reference: &str) -> String {
    match reference.split_once('@') {
        Some((repo, digest)) => format!("{repo}@{}", short_digest(digest)),
        None => reference.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_have_units_and_never_fake_zero() {
        assert_eq!(figure(Figure::LatencyP95, Some(0.0844)), "84ms");
        assert_eq!(figure(Figure::LatencyP95, Some(1.5)), "1.50s");
        assert_eq!(figure(Figure::LatencyP95, None), "n/a");
        assert_eq!(figure(Figure::LatencyP95, Some(f64::NAN)), "NaN");
        assert_eq!(figure(Figure::CpuTemp, Some(f64::INFINITY)), "+Inf");
        assert_eq!(figure(Figure::ErrorRate, Some(0.0342)), "3.4%");
        assert_eq!(figure(Figure::CpuTemp, Some(64.44)), "64.4°C");
        assert_eq!(
            figure(Figure::Throttled, Some(f64::from(0xE000E))),
            "0xe000e"
        );
        assert_eq!(figure(Figure::Throttled, Some(-3.0)), "-3");
        assert_eq!(figure(Figure::Memory, Some(0.456)), "46%");
        assert_eq!(figure(Figure::Throughput, Some(12.34)), "12.3/s");
        assert_eq!(figure(Figure::Throughput, Some(1e300)), "1.0e300/s");
        assert_eq!(figure(Figure::LatencyP95, Some(1e300)), "1.0e300s");
    }

    #[test]
    fn ages() {
        assert_eq!(age(Duration::from_secs(4)), "4s");
        assert_eq!(age(Duration::from_secs(300)), "5m");
        assert_eq!(age(Duration::from_secs(3 * 3600)), "3h");
        assert_eq!(age(Duration::from_secs(3 * 86400)), "3d");
    }

    #[test]
    fn utc_format() {
        assert_eq!(
            utc(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(4300), "4.2 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(bytes(u64::MAX), "16777216.0 TiB");
    }

    #[test]
    fn digests_are_shortened_safely() {
        assert_eq!(
            short_digest("sha256:0123456789abcdef0123"),
            "sha256:0123456789ab…"
        );
        assert_eq!(short_digest("sha256:é"), "sha256:é");
        // A multi-byte character across byte 12 used to panic the draw.
        assert_eq!(
            short_digest("sha256:abcdefghijké\u{2028}xyz"),
            "sha256:abcdefghijké…"
        );
        assert_eq!(
            short_reference("r.local/x@sha256:0123456789abcdef0123"),
            "r.local/x@sha256:0123456789ab…"
        );
        // Byte slicing here used to panic on a multi-byte character.
        assert_eq!(
            short_reference("r.local/x@sha256:ééééééééééééé"),
            "r.local/x@sha256:éééééééééééé…"
        );
        assert_eq!(short_reference("r.local/x:1.0"), "r.local/x:1.0");
    }
}
