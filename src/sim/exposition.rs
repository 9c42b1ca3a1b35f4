//! Prometheus text exposition (format 0.0.4) of one device's [`Snapshot`].
//! Written into one pre-sized `String` with `write!`: no per-line allocation.

use std::fmt::Write;

use super::device::{
    CONF_BUCKETS, CONFIDENCE_BOUNDS, LAT_BUCKETS, LATENCY_BOUNDS, MEM_TOTAL_BYTES, Snapshot,
};
use super::release::AgentState;

/// Content-Type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Roughly what one exposition takes, so the buffer is allocated once.
pub(crate) const TYPICAL_LEN: usize = 6 * 1024;

const CPU_MODES: [&str; 4] = ["idle", "user", "system", "iowait"];
const ROOT_FS: &str = r#"device="/dev/mmcblk0p2",fstype="ext4",mountpoint="/""#;

/// Appends the exposition of `s` to `out`.
pub(crate) fn render(s: &Snapshot, out: &mut String) {
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let requests = s.latency_cum[LAT_BUCKETS - 1];

    header(
        out,
        "inference_latency_seconds",
        "histogram",
        "Time to run one inference request, end to end.",
    );
    for (le, count) in LATENCY_BOUNDS.iter().zip(&s.latency_cum) {
        let _ = writeln!(
            out,
            "inference_latency_seconds_bucket{{le=\"{le}\"}} {count}"
        );
    }
    let _ = writeln!(
        out,
        "inference_latency_seconds_bucket{{le=\"+Inf\"}} {requests}"
    );
    let _ = writeln!(out, "inference_latency_seconds_sum {:.6}", s.latency_sum);
    let _ = writeln!(out, "inference_latency_seconds_count {requests}");

    header(
        out,
        "inference_requests_total",
        "counter",
        "Inference requests served, failed ones included.",
    );
    let _ = writeln!(out, "inference_requests_total {requests}");
    header(
        out,
        "inference_errors_total",
        "counter",
        "Inference requests that failed.",
    );
    let _ = writeln!(out, "inference_errors_total {}", s.errors);

    let answered = s.confidence_cum[CONF_BUCKETS - 1];
    header(
        out,
        "inference_confidence",
        "histogram",
        "Top-1 confidence of each successful inference.",
    );
    for (le, count) in CONFIDENCE_BOUNDS.iter().zip(&s.confidence_cum) {
        let _ = writeln!(out, "inference_confidence_bucket{{le=\"{le}\"}} {count}");
    }
    let _ = writeln!(out, "inference_confidence_bucket{{le=\"+Inf\"}} {answered}");
    let _ = writeln!(out, "inference_confidence_sum {:.6}", s.confidence_sum);
    let _ = writeln!(out, "inference_confidence_count {answered}");

    header(
        out,
        "node_thermal_zone_temp",
        "gauge",
        "Zone temperature in Celsius",
    );
    let _ = writeln!(
        out,
        "node_thermal_zone_temp{{type=\"cpu-thermal\",zone=\"0\"}} {:.3}",
        s.temp_c
    );
    header(
        out,
        "rpi_throttled",
        "gauge",
        "Throttling state bit flags, as vcgencmd get_throttled reports them.",
    );
    let _ = writeln!(out, "rpi_throttled {}", s.throttled);

    header(
        out,
        "node_cpu_seconds_total",
        "counter",
        "Seconds the CPUs spent in each mode.",
    );
    for (cpu, modes) in s.cpu.iter().enumerate() {
        for (mode, seconds) in CPU_MODES.iter().zip(modes) {
            let _ = writeln!(
                out,
                "node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{mode}\"}} {seconds:.2}"
            );
        }
    }

    header(
        out,
        "node_memory_MemAvailable_bytes",
        "gauge",
        "Memory information field MemAvailable_bytes.",
    );
    let _ = writeln!(out, "node_memory_MemAvailable_bytes {}", s.mem_available);
    header(
        out,
        "node_memory_MemTotal_bytes",
        "gauge",
        "Memory information field MemTotal_bytes.",
    );
    let _ = writeln!(out, "node_memory_MemTotal_bytes {MEM_TOTAL_BYTES}");

    header(
        out,
        "node_filesystem_avail_bytes",
        "gauge",
        "Filesystem space available to non-root users in bytes.",
    );
    let _ = writeln!(
        out,
        "node_filesystem_avail_bytes{{{ROOT_FS}}} {}",
        s.disk_avail
    );
    header(
        out,
        "node_filesystem_size_bytes",
        "gauge",
        "Filesystem size in bytes.",
    );
    let _ = writeln!(
        out,
        "node_filesystem_size_bytes{{{ROOT_FS}}} {}",
        s.disk_size
    );

    header(
        out,
        "npu_utilization_ratio",
        "gauge",
        "Share of time the AI accelerator was busy (0..1).",
    );
    let _ = writeln!(out, "npu_utilization_ratio {:.4}", s.npu);

    header(
        out,
        "fleet_release_info",
        "gauge",
        "Release the device runs; always 1.",
    );
    out.push_str("fleet_release_info{release=\"");
    escape_label(out, &s.release.release);
    out.push_str("\",version=\"");
    escape_label(out, &s.release.version);
    out.push_str("\",image_digest=\"");
    escape_label(out, &s.release.image_digest);
    out.push_str("\",model_digest=\"");
    escape_label(out, &s.release.model_digest);
    out.push_str("\"} 1\n");

    header(
        out,
        "fleet_agent_state",
        "gauge",
        "Update agent state: 1 for the current one, 0 for the others.",
    );
    for state in AgentState::ALL {
        let _ = writeln!(
            out,
            "fleet_agent_state{{state=\"{}\"}} {}",
            state.as_str(),
            u8::from(state == s.agent)
        );
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Label values per the exposition format: backslash, double quote and line
/// feed are escaped. Release names are set at runtime, so they may hold any of
/// them.
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        escape_label(&mut s, "a\"b\\c\nd");
        assert_eq!(s, r#"a\"b\\c\nd"#);
    }
}
