//! The rollout plan: one TOML file per rollout under `rollouts/NAME.toml` in the
//! GitOps repository. It names the new release and the one it replaces, the
//! ordered waves, the health gates, and the state (current wave, status).
//!
//! Errors name the file, line:column and the key, like the config's.

use crate::diag::{ConfigError, Dur, locate};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// An image or model reference pinned by digest: `REPO@sha256:<64 hex>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DigestRef {
    /// `registry/repo` (a tag may precede the digest: `repo:tag@sha256:…`).
    pub repository: String,
    /// `sha256:<64 lowercase hex>`.
    pub digest: String,
}

impl DigestRef {
    /// Parses a pinned reference by the OCI reference grammar of
    /// [`crate::signature::registry::Reference::parse`] (lowercase repository
    /// path, optional `host[:port]` and tag) and requires the digest.
    pub fn parse(s: &str) -> Result<DigestRef, String> {
        let parsed = crate::signature::registry::Reference::parse(s).map_err(|e| e.to_string())?;
        let (Some(_), Some((repo, digest))) = (parsed.digest, s.rsplit_once('@')) else {
            return Err(format!(
                "'{}' has no digest; pin it as REPO@sha256:<64 hex digits>",
                crate::text::echo(s)
            ));
        };
        Ok(DigestRef {
            repository: repo.to_string(),
            digest: digest.to_string(),
        })
    }
}

/// Longest version string.
pub const MAX_VERSION_LEN: usize = 128;

/// A release version: one printable word, like `1.5.0` or `2026.11-hotfix.2`.
/// Non-empty, at most [`MAX_VERSION_LEN`] characters, no whitespace, no
/// control, escape, bidi or zero-width character (it is shown in every view,
/// compared with the devices' `version` label and written into commits).
pub fn check_version(v: &str) -> Result<(), String> {
    let shown = crate::text::echo(v);
    if v.is_empty() {
        return Err("the version is empty".into());
    }
    if v.chars().count() > MAX_VERSION_LEN {
        return Err(format!(
            "the version '{shown}' is longer than {MAX_VERSION_LEN} characters"
        ));
    }
    if v.chars().any(crate::text::is_unsafe) {
        return Err(format!(
            "the version '{shown}' contains control, escape or invisible characters (shown escaped)"
        ));
    }
    if v.chars().any(char::is_whitespace) {
        return Err(format!(
            "the version '{shown}' contains spaces or line breaks"
        ));
    }
    Ok(())
}

/// One line of free text from a plan (a wave name, a site, a reason): no
/// control, escape, bidi or zero-width character, at most `max` characters.
fn check_text(v: &str, max: usize, multiline: bool) -> Result<(), String> {
    let shown = crate::text::echo(v);
    if v.chars().count() > max {
        return Err(format!("'{shown}' is longer than {max} characters"));
    }
    let bad = |c: char| crate::text::is_unsafe(c) && !(multiline && matches!(c, '\n' | '\t'));
    if v.chars().any(bad) {
        return Err(format!(
            "'{shown}' contains control, escape or invisible characters (shown escaped)"
        ));
    }
    Ok(())
}

/// Longest wave name, site or group name in a plan.
pub const MAX_LABEL_LEN: usize = 128;
/// Longest `updated_by`.
pub const MAX_BY_LEN: usize = 256;
/// Longest recorded reason (a forced promote names every check it overrode).
pub const MAX_REASON_LEN: usize = 4096;
/// Longest description.
pub const MAX_DESCRIPTION_LEN: usize = 8192;

impl fmt::Display for DigestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.repository, self.digest)
    }
}

impl Serialize for DigestRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DigestRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DigestRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What is rolled out (or rolled back to).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSpec {
    pub version: String,
    pub image: DigestRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<DigestRef>,
    /// Where the SBOM lives (any reference; optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<String>,
}

/// One wave: which devices it releases to and how long it must soak.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Cumulative share of the whole fleet, by stable hash of the device id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Minimum time the wave runs before the next may be promoted.
    #[serde(default = "default_soak", with = "dur_text")]
    pub soak: Duration,
}

fn default_soak() -> Duration {
    Duration::from_secs(600)
}

impl Wave {
    /// "canary", "25%", "sites ams-1,ber-1".
    pub fn label(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let mut parts = Vec::new();
        if !self.groups.is_empty() {
            parts.push(self.groups.join(","));
        }
        if !self.sites.is_empty() {
            parts.push(format!("sites {}", self.sites.join(",")));
        }
        if let Some(p) = self.percent {
            parts.push(format!("{p}%"));
        }
        parts.join(" + ")
    }
}

/// Health gates, Argo Rollouts / Flagger style.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Gates {
    /// How often the gates are evaluated.
    #[serde(with = "dur_text")]
    pub interval: Duration,
    /// Failed evaluations tolerated in a wave; the verdict is Failed when reached.
    pub failure_limit: u32,
    /// Median p95 latency of the devices on the new release must stay under this.
    #[serde(with = "dur_text")]
    pub latency_p95: Duration,
    /// … and no more than this much worse than the baseline (0.2 = +20 %).
    pub latency_p95_regression: f64,
    /// Error share of the devices on the new release must stay under this.
    pub error_rate: f64,
    /// … and no more than this much above the baseline's, in share points (0.01 = +1 point).
    pub error_rate_regression: f64,
    /// Median CPU temperature (°C) of the devices on the new release.
    pub cpu_temp: f64,
    /// Share of targeted devices that must be up (answering).
    pub min_up: f64,
    /// Fewer devices than this on the new release: inconclusive, not pass.
    /// With `scope` "site" or "group", a site (group) counts only when it has
    /// at least this many devices on the new release.
    pub min_devices: usize,
    /// Where a breach fails the evaluation: in any one site, any one group,
    /// or only over the whole targeted population (see [`Scope`]).
    pub scope: Scope,
}

/// `[gates] scope`: which breach fails an evaluation. Every scope also fails
/// when the whole targeted population breaches; "site" and "group" add the
/// same checks per site (group) with at least `min_devices` devices on the
/// new release (docs/ARCHITECTURE.md, "Contracts").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One breaching site fails the evaluation (the default).
    #[default]
    Site,
    /// One breaching group fails the evaluation.
    Group,
    /// Only the fleet-wide figures of the targeted devices count.
    Fleet,
}

impl Scope {
    pub fn key(self) -> &'static str {
        match self {
            Scope::Site => "site",
            Scope::Group => "group",
            Scope::Fleet => "fleet",
        }
    }
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            interval: Duration::from_secs(60),
            failure_limit: 3,
            latency_p95: Duration::from_millis(300),
            latency_p95_regression: 0.2,
            error_rate: 0.03,
            error_rate_regression: 0.01,
            cpu_temp: 80.0,
            min_up: 0.9,
            min_devices: 1,
            scope: Scope::Site,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waves are being released; promote moves to the next.
    Progressing,
    /// Halted: nobody new gets the release until resumed.
    Paused,
    /// Rolled back: every targeted device returns to the previous release.
    Aborted,
    /// Every wave released.
    Complete,
}

impl Status {
    pub fn key(self) -> &'static str {
        match self {
            Status::Progressing => "progressing",
            Status::Paused => "paused",
            Status::Aborted => "aborted",
            Status::Complete => "complete",
        }
    }
}

/// Where the rollout is. Changed only by actions, each one commit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub status: Status,
    /// How many waves are released (0: none yet; `waves.len()`: all).
    pub wave: usize,
    /// When the current wave was released (RFC 3339 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub wave_started: Option<SystemTime>,
    /// Who made the last change, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A whole rollout plan file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Must match the file name (`rollouts/<name>.toml`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub release: ReleaseSpec,
    pub previous: ReleaseSpec,
    pub waves: Vec<Wave>,
    #[serde(default)]
    pub gates: Gates,
    pub state: State,
}

impl Plan {
    /// A plan with the default waves: the `canary` group, then 25 %, 50 %, 100 %.
    pub fn new(name: &str, release: ReleaseSpec, previous: ReleaseSpec) -> Plan {
        let wave = |name: &str, groups: &[&str], percent: Option<f64>, soak: u64| Wave {
            name: Some(name.to_string()),
            sites: Vec::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            percent,
            soak: Duration::from_secs(soak),
        };
        Plan {
            name: name.to_string(),
            description: None,
            release,
            previous,
            waves: vec![
                wave("canary", &["canary"], None, 1800),
                wave("25%", &[], Some(25.0), 3600),
                wave("50%", &[], Some(50.0), 3600),
                wave("100%", &[], Some(100.0), 0),
            ],
            gates: Gates::default(),
            state: State {
                status: Status::Progressing,
                wave: 0,
                wave_started: None,
                updated_by: None,
                reason: None,
            },
        }
    }

    /// Parses and validates a plan file's text. `file` is used in messages and
    /// its stem must equal the plan's name.
    ///
    /// Every text field is checked (versions: [`check_version`]; references:
    /// the OCI grammar; wave names, sites, groups, `updated_by`, `reason`,
    /// `description`: no control, escape, bidi or zero-width character, a
    /// bounded length), so a plan that loads is safe to show and to commit;
    /// one that does not is listed with its error and cannot be acted on.
    /// The error's fields are sanitised: a hostile file cannot put an escape
    /// into the message that reports it.
    pub fn parse(text: &str, file: &Path) -> Result<Plan, ConfigError> {
        let file_name = crate::text::sanitize(&file.to_string_lossy()).into_owned();
        let result = crate::diag::deserialize::<Plan>(text, &file_name)
            .and_then(|plan| plan.validate(text, &file_name, file).map(|()| plan));
        result.map_err(safe_error)
    }

    fn validate(&self, text: &str, file_name: &str, file: &Path) -> Result<(), ConfigError> {
        let err = |key: String, message: String, hint: &str| {
            let (line, column) = locate(text, &key).unwrap_or((0, 0));
            ConfigError {
                file: file_name.to_string(),
                line,
                column,
                key,
                message,
                hint: hint.to_string(),
            }
        };
        if let Some(stem) = file.file_stem().and_then(|s| s.to_str())
            && stem != self.name
        {
            return Err(err(
                "name".into(),
                format!(
                    "the plan is named '{}' but its file is '{}.toml'",
                    crate::text::echo(&self.name),
                    crate::text::echo(stem)
                ),
                "rename the file or the plan so they match",
            ));
        }
        if !valid_name(&self.name) {
            return Err(err(
                "name".into(),
                format!("'{}' is not a rollout name", crate::text::echo(&self.name)),
                "use letters, digits, '.', '_' and '-' (it is also the file name)",
            ));
        }
        for (key, v) in [
            ("release.version", &self.release.version),
            ("previous.version", &self.previous.version),
        ] {
            check_version(v).map_err(|m| {
                err(
                    key.into(),
                    m,
                    "write one printable word, like 1.5.0 or 2026.11-hotfix.2",
                )
            })?;
        }
        let texts = [
            (
                "description",
                self.description.as_deref(),
                MAX_DESCRIPTION_LEN,
                true,
            ),
            (
                "release.sbom",
                self.release.sbom.as_deref(),
                crate::signature::registry::MAX_REFERENCE_LEN,
                false,
            ),
            (
                "previous.sbom",
                self.previous.sbom.as_deref(),
                crate::signature::registry::MAX_REFERENCE_LEN,
                false,
            ),
            (
                "state.updated_by",
                self.state.updated_by.as_deref(),
                MAX_BY_LEN,
                false,
            ),
            (
                "state.reason",
                self.state.reason.as_deref(),
                MAX_REASON_LEN,
                false,
            ),
        ];
        for (key, v, max, multiline) in texts {
            if let Some(v) = v {
                check_text(v, max, multiline).map_err(|m| {
                    err(
                        key.into(),
                        m,
                        "remove the control or invisible characters (a plan is shown in terminals and commit messages)",
                    )
                })?;
            }
        }
        if self.waves.is_empty() {
            return Err(err(
                "waves".into(),
                "a rollout needs at least one wave".into(),
                "add [[waves]] tables",
            ));
        }
        let mut last_percent = 0.0f64;
        for (i, w) in self.waves.iter().enumerate() {
            // Waves are an array of tables: point at the i-th [[waves]] header.
            let key = format!("waves[{i}]");
            // Located only on error: finding the spans for every wave made
            // loading a plan quadratic in its size.
            let located = |message: String, hint: &str| {
                let (line, column) = locate(text, &key).unwrap_or((0, 0));
                ConfigError {
                    file: file_name.to_string(),
                    line,
                    column,
                    key: key.clone(),
                    message,
                    hint: hint.to_string(),
                }
            };
            // At the field's key in this wave, else at the wave's header.
            let field_err = |field: String, message: String| {
                let key = format!("waves[{i}].{field}");
                let (line, column) = locate(text, &key).unwrap_or((0, 0));
                ConfigError {
                    file: file_name.to_string(),
                    line,
                    column,
                    key,
                    message,
                    hint: "wave names, sites and groups are one line of printable text, at most 128 characters".into(),
                }
            };
            if let Some(n) = &w.name {
                if n.trim().is_empty() {
                    return Err(field_err("name".into(), "the wave name is empty".into()));
                }
                check_text(n, MAX_LABEL_LEN, false).map_err(|m| field_err("name".into(), m))?;
            }
            for (what, list) in [("sites", &w.sites), ("groups", &w.groups)] {
                for (j, v) in list.iter().enumerate() {
                    if v.is_empty() {
                        return Err(field_err(format!("{what}[{j}]"), "empty name".into()));
                    }
                    check_text(v, MAX_LABEL_LEN, false)
                        .map_err(|m| field_err(format!("{what}[{j}]"), m))?;
                }
            }
            if w.sites.is_empty() && w.groups.is_empty() && w.percent.is_none() {
                return Err(located(
                    format!("wave {} selects no device", i + 1),
                    "give it sites = [...], groups = [...] or percent = N",
                ));
            }
            if let Some(p) = w.percent {
                if !(p > 0.0 && p <= 100.0) {
                    return Err(located(
                        format!("percent {p} is not in (0, 100]"),
                        "percentages are cumulative shares of the fleet, e.g. 25, 50, 100",
                    ));
                }
                if p < last_percent {
                    return Err(located(
                        format!("percent goes down from {last_percent} to {p}"),
                        "percentages are cumulative: each wave's is at least the previous one's",
                    ));
                }
                last_percent = p;
            }
        }
        if self.state.wave > self.waves.len() {
            return Err(err(
                "state.wave".into(),
                format!(
                    "wave {} but the plan has {} waves",
                    self.state.wave,
                    self.waves.len()
                ),
                "state.wave counts released waves: 0 to the number of waves",
            ));
        }
        let g = &self.gates;
        if g.failure_limit == 0 {
            return Err(err(
                "gates.failure_limit".into(),
                "0 would fail on nothing".into(),
                "use 1 or more",
            ));
        }
        for (k, v) in [
            ("gates.latency_p95_regression", g.latency_p95_regression),
            ("gates.error_rate_regression", g.error_rate_regression),
            ("gates.cpu_temp", g.cpu_temp),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(err(
                    k.into(),
                    format!("'{v}' is not a finite, non-negative number"),
                    "e.g. 0.2 for +20 %",
                ));
            }
        }
        for (k, v) in [
            ("gates.min_up", g.min_up),
            ("gates.error_rate", g.error_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(err(
                    k.into(),
                    format!("'{v}' is not a share between 0 and 1"),
                    "write 90 % as 0.9",
                ));
            }
        }
        Ok(())
    }

    /// The plan as TOML, as committed.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot serialise plan: {e}\n"))
    }

    /// The waves released so far (the first `state.wave`).
    pub fn released(&self) -> &[Wave] {
        &self.waves[..self.state.wave.min(self.waves.len())]
    }

    /// The wave a promote would release next, if any.
    pub fn next_wave(&self) -> Option<(usize, &Wave)> {
        self.waves
            .get(self.state.wave)
            .map(|w| (self.state.wave + 1, w))
    }
}

/// `[A-Za-z0-9._-]+`, not starting with '.' (it becomes a file name).
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The error with every field shown safely: a plan file is outside text, and
/// the parser's message may quote it.
fn safe_error(e: ConfigError) -> ConfigError {
    ConfigError {
        file: crate::text::sanitize(&e.file).into_owned(),
        key: crate::text::echo(&e.key).into_owned(),
        message: crate::text::sanitize_max(&e.message, 1024).into_owned(),
        hint: crate::text::sanitize_max(&e.hint, 1024).into_owned(),
        ..e
    }
}

/// Durations as "30m" in the file.
mod dur_text {
    use super::Dur;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Exact to the millisecond, so a plan reads back as it was written
    /// (`format_duration` drops the milliseconds of durations over a second:
    /// a soak of "1.5s" became "1s" at the next commit).
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        let text = super::format_duration(*d);
        match d.subsec_millis() {
            ms if ms > 0 && d.as_secs() > 0 => s.collect_str(&format_args!("{text}{ms}ms")),
            _ => s.collect_str(&text),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Dur::deserialize(d).map(|d| d.0)
    }
}

/// Times as RFC 3339 UTC strings in the file.
mod opt_time {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(&crate::format::utc(*t)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| super::parse_utc(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// "1h30m", "45s", "0s".
pub fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return if d.subsec_millis() > 0 {
            format!("{}ms", d.subsec_millis())
        } else {
            "0s".into()
        };
    }
    let mut out = String::new();
    for (unit, n) in [("h", 3600), ("m", 60), ("s", 1)] {
        if s >= n {
            out.push_str(&format!("{}{unit}", s / n));
            s %= n;
        }
    }
    out
}

/// Parses `2026-11-23T20:00:00Z`.
pub fn parse_utc(s: &str) -> Result<SystemTime, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("'{s}' is not an RFC 3339 time like 2026-11-23T20:00:00Z: {e}"))?;
    let secs = t.unix_timestamp();
    if secs < 0 {
        return Err(format!("'{s}' is before 1970"));
    }
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn spec(v: &str, d: &str) -> ReleaseSpec {
        ReleaseSpec {
            version: v.into(),
            image: DigestRef::parse(&format!("registry.local/vision@{d}")).expect("ref"),
            model: None,
            sbom: None,
        }
    }

    #[test]
    fn digest_refs() {
        assert!(DigestRef::parse(&format!("r/x@{D1}")).is_ok());
        assert!(DigestRef::parse(&format!("r/x:1.5@{D1}")).is_ok());
        assert!(
            DigestRef::parse("r/x:1.5")
                .unwrap_err()
                .contains("no digest")
        );
        assert!(
            DigestRef::parse("r/x@sha256:abc")
                .unwrap_err()
                .contains("64")
        );
        assert!(
            DigestRef::parse(&format!("r/x@sha256:{}", "AB".repeat(32))).is_err(),
            "upper-case hex"
        );
        assert!(DigestRef::parse(&format!("r/x@sha256:{}", "ab".repeat(32))).is_ok());
        assert!(DigestRef::parse(&format!("@{D1}")).is_err());
    }

    #[test]
    fn default_plan_round_trips() {
        let mut p = Plan::new("vision-1.5.0", spec("1.5.0", D2), spec("1.4.0", D1));
        p.state.wave_started = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000));
        let text = p.to_toml();
        let back = Plan::parse(&text, Path::new("rollouts/vision-1.5.0.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, p);
        assert_eq!(p.waves.len(), 4);
        assert_eq!(
            p.next_wave().map(|(n, w)| (n, w.label())),
            Some((1, "canary".to_string()))
        );
    }

    #[test]
    fn malformed_plans_name_file_line_and_key() {
        let p = Plan::new("r", spec("1.5.0", D2), spec("1.4.0", D1));
        let good = p.to_toml();
        let file = Path::new("rollouts/r.toml");
        let bad_digest = good.replacen(D2, "sha256:abc", 1);
        let e = Plan::parse(&bad_digest, file).expect_err("bad digest");
        assert_eq!(e.key, "release.image");
        assert!(e.line > 0 && e.message.contains("64"), "{e}");
        let unknown = good.replacen("[state]", "[state]\nwaev = 2", 1);
        let e = Plan::parse(&unknown, file).expect_err("unknown key");
        assert_eq!(e.key, "state.waev", "{e}");
        let no_selector = good.replacen("groups = [\"canary\"]", "", 1);
        let e = Plan::parse(&no_selector, file).expect_err("no selector");
        assert_eq!(e.key, "waves[0]");
        assert!(e.message.contains("selects no device"), "{e}");
        let down = good.replacen("percent = 50.0", "percent = 20.0", 1);
        let e = Plan::parse(&down, file).expect_err("percent down");
        assert!(e.message.contains("goes down from 25 to 20"), "{e}");
        assert_eq!(e.key, "waves[2]");
        let e = Plan::parse(&good, Path::new("rollouts/other.toml")).expect_err("name mismatch");
        assert_eq!(e.key, "name");
        let nan = good.replacen(
            "latency_p95_regression = 0.2",
            "latency_p95_regression = nan",
            1,
        );
        let e = Plan::parse(&nan, file).expect_err("nan limit");
        assert_eq!(e.key, "gates.latency_p95_regression", "{e}");
        let e = Plan::parse("name = ", file).expect_err("syntax");
        assert_eq!(e.line, 1);
    }

    /// Issue 9, case 7: versions are one printable word of sane length.
    #[test]
    fn version_table() {
        for good in [
            "1.5.0",
            "2026.11-hotfix.2",
            "v1",
            "1.4.0-hotpatch",
            "東京-1",
            &"9".repeat(128),
        ] {
            assert!(
                check_version(good).is_ok(),
                "{good}: {:?}",
                check_version(good)
            );
        }
        let long = "9".repeat(129);
        for bad in [
            "",
            " ",
            "1.5.0\n",
            "1.5.0\n1.6.0",
            "1.5 .0",
            " 1.5.0",
            "1.5.0\t",
            "1.5.0\u{1b}[2J",
            "1.5.0\u{7}",
            "1.5.0\u{9b}",
            "1.5.0\u{200b}",
            "1.5.0\u{202e}",
            "1.5.0\u{2028}",
            "1.5.0\u{a0}",
            long.as_str(),
        ] {
            let e = check_version(bad).expect_err(bad);
            assert!(!e.chars().any(crate::text::is_unsafe), "{e:?}");
        }
    }

    /// Issue 9, case 7: a plan whose text fields carry control, escape or
    /// invisible characters does not load; the error names the key and shows
    /// the value escaped.
    #[test]
    fn hostile_text_fields_do_not_load() {
        let p = Plan::new("r", spec("1.5.0", D2), spec("1.4.0", D1));
        let good = p.to_toml();
        let file = Path::new("rollouts/r.toml");
        let cases = [
            (
                "name = \"canary\"",
                "name = \"WAVE\\u001b]2;PWNED\\u0007\\u001b[2J\"",
                "waves[0].name",
            ),
            (
                "groups = [\"canary\"]",
                "groups = [\"can\\nary\"]",
                "waves[0].groups[0]",
            ),
            (
                "groups = [\"canary\"]",
                "groups = [\"canary\", \"x\\u200by\"]",
                "waves[0].groups[1]",
            ),
            (
                "groups = [\"canary\"]",
                "groups = [\"canary\"]\nsites = [\"ams\\u202e1\"]",
                "waves[0].sites[0]",
            ),
            (
                "version = \"1.5.0\"",
                "version = \"1.5.0\\n1.6.0\"",
                "release.version",
            ),
            ("version = \"1.4.0\"", "version = \"\"", "previous.version"),
            (
                "name = \"r\"",
                "name = \"r\"\ndescription = \"a\\u001b[31m\"",
                "description",
            ),
            (
                "[state]",
                "[state]\nreason = \"ok\\nForced: yes\"",
                "state.reason",
            ),
            (
                "[state]",
                "[state]\nupdated_by = \"eve\\u0007\"",
                "state.updated_by",
            ),
        ];
        for (from, to, key) in cases {
            let text = good.replacen(from, to, 1);
            assert_ne!(text, good, "{from} not found");
            let e = Plan::parse(&text, file).expect_err(to);
            assert_eq!(e.key, key, "{e}");
            let shown = e.to_string();
            assert!(
                !shown
                    .chars()
                    .any(|c| c != '\n' && crate::text::is_unsafe(c)),
                "{shown:?}"
            );
            assert!(shown.contains("rollouts/r.toml"), "{shown}");
        }
        // A multi-line description is fine.
        let text = good.replacen(
            "name = \"r\"",
            "name = \"r\"\ndescription = \"line 1\\nline 2\"",
            1,
        );
        Plan::parse(&text, file).unwrap_or_else(|e| panic!("{e}\n{text}"));
        // A reference that is not the OCI grammar does not load either.
        let text = good.replacen(
            "registry.local/vision@",
            "docker://registry.local/vision@",
            1,
        );
        let e = Plan::parse(&text, file).expect_err("scheme");
        assert_eq!(e.key, "release.image", "{e}");
    }

    /// Issue 11: `[gates] scope`, "site" when absent, written back as read.
    #[test]
    fn gate_scope_parses_defaults_and_round_trips() {
        let p = Plan::new("r", spec("1.5.0", D2), spec("1.4.0", D1));
        let file = Path::new("rollouts/r.toml");
        let good = p.to_toml();
        assert!(good.contains("scope = \"site\""), "{good}");
        let without = good.replacen("scope = \"site\"\n", "", 1);
        assert_ne!(without, good);
        assert_eq!(
            Plan::parse(&without, file).expect("no scope").gates.scope,
            Scope::Site
        );
        for (text, scope) in [
            ("group", Scope::Group),
            ("fleet", Scope::Fleet),
            ("site", Scope::Site),
        ] {
            let t = good.replacen("scope = \"site\"", &format!("scope = \"{text}\""), 1);
            let back = Plan::parse(&t, file).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back.gates.scope, scope);
            assert_eq!(back.to_toml(), t, "byte-stable");
            assert_eq!(scope.key(), text);
        }
        let bad = good.replacen("scope = \"site\"", "scope = \"sites\"", 1);
        let e = Plan::parse(&bad, file).expect_err("unknown scope");
        assert_eq!(e.key, "gates.scope", "{e}");
        assert!(e.line > 0, "{e}");
        assert!(e.to_string().contains("fleet"), "says what is allowed: {e}");
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(0)), "0s");
        assert_eq!(format_duration(Duration::from_secs(61)), "1m1s");
        let t = parse_utc("2026-11-23T20:00:00Z").expect("time");
        assert_eq!(crate::format::utc(t), "2026-11-23T20:00:00Z");
        assert!(parse_utc("yesterday").is_err());
    }
}
