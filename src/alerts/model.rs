//! Alertmanager API v2 objects as fleetdeck reads and writes them. Every
//! string in them came from outside (docs/ARCHITECTURE.md, "Text from
//! outside"): printed through `crate::text` / `crate::out`, never raw.

use crate::metrics::LabelNames;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An alert's state as Alertmanager reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Active,
    /// Silenced or inhibited.
    Suppressed,
    Unprocessed,
    #[serde(other)]
    Unknown,
}

/// `status` of a gettable alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    pub state: AlertState,
    #[serde(default)]
    pub silenced_by: Vec<String>,
    #[serde(default)]
    pub inhibited_by: Vec<String>,
}

/// One alert of `GET /api/v2/alerts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default)]
    pub fingerprint: String,
    pub status: AlertStatus,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
}

impl Alert {
    pub fn name(&self) -> &str {
        self.label("alertname").unwrap_or("")
    }

    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    pub fn severity(&self) -> &str {
        self.label("severity").unwrap_or("")
    }

    /// `summary`, else `description`, else `message` annotation.
    pub fn summary(&self) -> &str {
        ["summary", "description", "message"]
            .iter()
            .find_map(|k| self.annotations.get(*k))
            .map_or("", String::as_str)
    }

    /// The device the alert is about (the `[labels] device` label).
    pub fn device<'a>(&'a self, names: &LabelNames) -> Option<&'a str> {
        self.label(&names.device).filter(|s| !s.is_empty())
    }

    pub fn site<'a>(&'a self, names: &LabelNames) -> Option<&'a str> {
        self.label(&names.site).filter(|s| !s.is_empty())
    }

    pub fn group<'a>(&'a self, names: &LabelNames) -> Option<&'a str> {
        self.label(&names.group).filter(|s| !s.is_empty())
    }

    /// How the operator sees it: silenced (by a silence), suppressed
    /// (inhibited), active.
    pub fn shown_state(&self) -> &'static str {
        match self.status.state {
            AlertState::Suppressed if !self.status.silenced_by.is_empty() => "silenced",
            AlertState::Suppressed => "suppressed",
            AlertState::Active => "active",
            AlertState::Unprocessed => "unprocessed",
            AlertState::Unknown => "unknown",
        }
    }

    /// When it started firing.
    pub fn started(&self) -> Option<SystemTime> {
        self.starts_at.as_deref().and_then(parse_time)
    }

    /// Whether `m` (all of them) select this alert.
    pub fn matches(&self, ms: &[Matcher]) -> bool {
        ms.iter()
            .all(|m| m.matches(self.label(&m.name).unwrap_or("")))
    }
}

/// A silence matcher, as the API writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl Matcher {
    /// `name="value"`.
    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            name: name.to_string(),
            value: value.to_string(),
            is_regex: false,
            is_equal: true,
        }
    }

    /// Parses `k=v`, `k!=v`, `k=~re`, `k!~re` (the value may be quoted).
    pub fn parse(s: &str) -> Result<Matcher, String> {
        let ops = ["!=", "=~", "!~", "="];
        let (pos, op) = ops
            .iter()
            .filter_map(|op| s.find(op).map(|i| (i, *op)))
            .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())))
            .ok_or_else(|| format!("'{}' is not name=value", crate::text::echo(s)))?;
        let name = s[..pos].trim();
        let mut value = s[pos + op.len()..].trim();
        if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            value = &value[1..value.len() - 1];
        }
        if !crate::metrics::def::is_label_name(name) {
            return Err(format!(
                "'{}' is not a valid label name",
                crate::text::echo(name)
            ));
        }
        let is_regex = op.contains('~');
        if is_regex {
            regex::Regex::new(&format!("^(?:{value})$"))
                .map_err(|e| format!("'{}' is not a regex: {e}", crate::text::echo(value)))?;
        }
        Ok(Matcher {
            name: name.to_string(),
            value: value.to_string(),
            is_regex,
            is_equal: !op.starts_with('!'),
        })
    }

    pub fn matches(&self, v: &str) -> bool {
        let hit = if self.is_regex {
            regex::Regex::new(&format!("^(?:{})$", self.value)).is_ok_and(|r| r.is_match(v))
        } else {
            v == self.value
        };
        hit == self.is_equal
    }
}

impl std::fmt::Display for Matcher {
    /// `name="value"` with the value quoted like PromQL (escapes visible).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match (self.is_equal, self.is_regex) {
            (true, false) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (false, true) => "!~",
        };
        let v = serde_json::to_string(&self.value).unwrap_or_default();
        write!(f, "{}{op}{v}", self.name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Active,
    Pending,
    Expired,
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SilenceStatus {
    pub state: SilenceState,
}

/// One silence of `GET /api/v2/silences`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub id: String,
    pub status: SilenceStatus,
    #[serde(default)]
    pub matchers: Vec<Matcher>,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

impl Silence {
    pub fn ends(&self) -> Option<SystemTime> {
        self.ends_at.as_deref().and_then(parse_time)
    }
}

/// What `POST /api/v2/silences` takes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    pub starts_at: String,
    pub ends_at: String,
    pub created_by: String,
    pub comment: String,
}

impl NewSilence {
    /// From now for `duration`.
    pub fn new(matchers: Vec<Matcher>, duration: Duration, by: &str, comment: &str) -> NewSilence {
        let now = SystemTime::now();
        NewSilence {
            matchers,
            starts_at: format_time(now),
            ends_at: format_time(now + duration),
            created_by: by.to_string(),
            comment: comment.to_string(),
        }
    }
}

/// RFC 3339 → time; `None` when Alertmanager sent something else.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    let nanos = t.unix_timestamp_nanos();
    if nanos < 0 {
        return None;
    }
    let nanos = u64::try_from(nanos).ok()?;
    Some(UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// Time → RFC 3339 (UTC, milliseconds).
pub fn format_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let odt = time::OffsetDateTime::from_unix_timestamp(d.as_secs() as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        + time::Duration::milliseconds(i64::from(d.subsec_millis()));
    odt.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_parse_and_print() {
        let m = Matcher::parse("site=lab").unwrap();
        assert_eq!(m, Matcher::equal("site", "lab"));
        assert_eq!(m.to_string(), "site=\"lab\"");
        let m = Matcher::parse("device!~\"pi-0.*\"").unwrap();
        assert!(m.is_regex && !m.is_equal);
        assert!(m.matches("pi-9") && !m.matches("pi-01"));
        assert!(Matcher::parse("nothing").is_err());
        assert!(Matcher::parse("1x=y").is_err());
        assert!(Matcher::parse("x=~(").is_err());
        let m = Matcher::parse("a=b=c").unwrap();
        assert_eq!((m.name.as_str(), m.value.as_str()), ("a", "b=c"));
    }

    #[test]
    fn times_round_trip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let s = format_time(t);
        assert_eq!(s, "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_time(&s), Some(t));
        assert_eq!(parse_time("garbage"), None);
    }
}
