//! A rollout's audit trail: every commit that changed `rollouts/NAME.toml`,
//! read back from `git log --pretty=raw` and its commit messages.
//!
//! fleetdeck writes each action as a [`CommitMessage`](super::action::CommitMessage):
//! a subject line, a blank line and `Key: value` lines (`Action`, `Wave`,
//! `Status`, `By`, `Reason`, `Forced`, one `Overrode` per check a forced
//! promote overrode). This module parses them back. Anything else (a commit
//! from an older fleetdeck whose subject is only `rollout NAME: ACTION`, a
//! hand edit, a merge) is still listed: an unknown message is an `edit` with
//! its subject. Everything here is outside text, kept exactly as git gave it:
//! a printer sanitises it ([`crate::text`]), `--json` escapes it
//! ([`crate::out::json`]).
//!
//! `--pretty=raw` is used because it cannot be forged by a message: every
//! message line is indented by four spaces, so only git writes a `commit `
//! line at the start of a line.

use super::action::ActionKind;
use serde::Serialize;
use std::time::{Duration, SystemTime};

/// The `git log` arguments [`parse_raw_log`] reads (before the revision).
pub const LOG_ARGS: &[&str] = &[
    "log",
    "--pretty=raw",
    "--no-decorate",
    "--no-show-signature",
    "--no-notes",
    "--no-color",
    "--encoding=UTF-8",
];

/// One commit of a rollout's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The full commit id.
    pub id: String,
    /// The commit's author as git recorded it: "Name <email>".
    pub author: String,
    /// Author time.
    #[serde(serialize_with = "utc")]
    pub time: SystemTime,
    /// `init`, `promote`, `halt`, `resume`, `abort`, `retry`, or `edit` for
    /// a commit whose message fleetdeck did not write.
    pub action: String,
    /// Who acted (`By:`), when the message says.
    pub by: Option<String>,
    /// "1/4 (canary) → 2/4 (25%)" (`Wave:`).
    pub wave: Option<String>,
    /// The wave number after the action, when `Wave:` says it.
    pub wave_after: Option<usize>,
    /// "progressing → paused" (`Status:`).
    pub status: Option<String>,
    /// The reason the operator gave (a forced promote's recorded reason
    /// without its "FORCED: " and "(overrode: …)" decorations).
    pub reason: Option<String>,
    /// The `Reason:` line exactly as recorded.
    pub recorded_reason: Option<String>,
    pub forced: bool,
    /// One line per check a forced promote overrode.
    pub overrode: Vec<String>,
    /// The first line of the message.
    pub subject: String,
    /// Whether origin has it (always false without a remote).
    pub pushed: bool,
}

fn utc<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::format::utc(*t))
}

impl HistoryEntry {
    /// The first characters of the commit id.
    pub fn short_id(&self) -> String {
        self.id.chars().take(10).collect()
    }

    /// Whether fleetdeck wrote this commit's message (not an `edit`).
    pub fn is_action(&self) -> bool {
        self.action != "edit"
    }
}

/// One commit as `--pretty=raw` shows it.
struct Raw {
    id: String,
    author: String,
    time: SystemTime,
    message: Vec<String>,
}

/// Parses `git log --pretty=raw` output (see [`LOG_ARGS`]), newest first as
/// git gives it. `pushed` says whether origin has a commit.
pub fn parse_raw_log(text: &str, pushed: impl Fn(&str) -> bool) -> Vec<HistoryEntry> {
    let mut raws: Vec<Raw> = Vec::new();
    let mut in_message = false;
    for line in text.split('\n') {
        if let Some(id) = line.strip_prefix("commit ") {
            // `commit ID` (git may add ` (from …)` for merges with -m: ignored).
            let id = id.split_whitespace().next().unwrap_or("");
            raws.push(Raw {
                id: id.to_string(),
                author: String::new(),
                time: SystemTime::UNIX_EPOCH,
                message: Vec::new(),
            });
            in_message = false;
            continue;
        }
        let Some(raw) = raws.last_mut() else {
            continue;
        };
        if let Some(body) = line.strip_prefix("    ") {
            in_message = true;
            raw.message.push(body.to_string());
        } else if line.is_empty() {
            if in_message {
                raw.message.push(String::new());
            }
        } else if !in_message && let Some(author) = line.strip_prefix("author ") {
            let (who, time) = split_ident(author);
            raw.author = who;
            raw.time = time;
        }
        // Other header lines (tree, parent, committer, gpgsig and its
        // continuation lines, encoding) say nothing the history shows.
    }
    raws.into_iter()
        .filter(|r| !r.id.is_empty() && r.id.chars().all(|c| c.is_ascii_hexdigit()))
        .map(|r| {
            let pushed = pushed(&r.id);
            entry(r, pushed)
        })
        .collect()
}

/// `Name <email> 1700000000 +0000` → ("Name <email>", time).
fn split_ident(s: &str) -> (String, SystemTime) {
    let mut parts = s.rsplitn(3, ' ');
    let tz = parts.next().unwrap_or("");
    let secs = parts.next().unwrap_or("");
    let who = parts.next();
    match (who, secs.parse::<u64>()) {
        (Some(who), Ok(secs)) if tz.starts_with(['+', '-']) => (
            who.to_string(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        ),
        _ => (s.to_string(), SystemTime::UNIX_EPOCH),
    }
}

/// The fields of a message: its subject and the `Key: value` lines of its body.
fn entry(raw: Raw, pushed: bool) -> HistoryEntry {
    let mut lines = raw.message.iter();
    let subject = lines.next().cloned().unwrap_or_default();
    let mut fields: Vec<(&str, &str)> = Vec::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(": ")
            && !k.is_empty()
            && k.chars().all(|c| c.is_ascii_alphabetic())
        {
            fields.push((k, v));
        }
    }
    let field = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    };
    let known = |a: &str| a == "init" || ActionKind::from_key(a).is_some();
    // fleetdeck's subject: "rollout NAME: ACTION — …" (older ones: "rollout NAME: ACTION").
    let from_subject = subject
        .strip_prefix("rollout ")
        .and_then(|rest| rest.split_once(": "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .filter(|a| known(a))
        .map(str::to_string);
    let action = field("Action")
        .filter(|a| known(a))
        .or(from_subject)
        .unwrap_or_else(|| "edit".to_string());
    let is_action = action != "edit";
    let get = |key: &str| if is_action { field(key) } else { None };
    let forced = is_action
        && (get("Forced").is_some_and(|f| f.trim() == "yes")
            || subject.trim_end().ends_with("[FORCED]"));
    let overrode: Vec<String> = if is_action {
        fields
            .iter()
            .filter(|(k, _)| *k == "Overrode")
            .map(|(_, v)| v.to_string())
            .collect()
    } else {
        Vec::new()
    };
    let recorded_reason = get("Reason").filter(|r| r != "(none given)" && !r.is_empty());
    let reason = recorded_reason.as_deref().map(given_reason);
    let wave = get("Wave");
    let wave_after = wave.as_deref().and_then(|w| {
        let after = w.rsplit(" → ").next()?;
        after.split('/').next()?.trim().parse().ok()
    });
    HistoryEntry {
        id: raw.id,
        author: raw.author,
        time: raw.time,
        action,
        by: get("By").filter(|b| !b.is_empty()),
        wave,
        wave_after,
        status: get("Status"),
        reason,
        recorded_reason,
        forced,
        overrode,
        subject,
        pushed,
    }
}

/// A forced promote records "FORCED: <reason> (overrode: …)": the reason the
/// operator typed, without what the other fields say.
fn given_reason(recorded: &str) -> String {
    let r = recorded.strip_prefix("FORCED: ").unwrap_or(recorded);
    let r = match r.rfind(" (overrode: ") {
        Some(i) if r.ends_with(')') && recorded.starts_with("FORCED: ") => &r[..i],
        _ => r,
    };
    r.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID1: &str = "1111111111111111111111111111111111111111";
    const ID2: &str = "2222222222222222222222222222222222222222";

    fn raw_commit(id: &str, author: &str, message: &str) -> String {
        let mut s = format!(
            "commit {id}\ntree 3333333333333333333333333333333333333333\nauthor {author}\ncommitter {author}\n\n"
        );
        for l in message.lines() {
            s.push_str("    ");
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    #[test]
    fn fleetdeck_messages_parse_back() {
        let forced = "rollout v: promote — wave 2/4 (25%) progressing [FORCED]\n\nAction: promote\nRollout: v\nWave: 1/4 (canary) → 2/4 (25%)\nStatus: progressing → progressing\nBy: alice@host\nReason: FORCED: crash fix (overrode: soak time not over: 29m of 30m left in wave 1 (canary))\nForced: yes\nOverrode: soak check forced: soak time not over: 29m of 30m left in wave 1 (canary)\n";
        let halt = "rollout v: halt — wave 2/4 (25%) paused\n\nAction: halt\nRollout: v\nWave: 2/4 (25%) → 2/4 (25%)\nStatus: progressing → paused\nBy: bob\nReason: latency: spike\nForced: no\n";
        let text = raw_commit(ID1, "Bob <bob@x> 1700000100 +0100", halt)
            + "\n"
            + &raw_commit(ID2, "Alice <a@x> 1700000000 +0000", forced);
        let log = parse_raw_log(&text, |id| id == ID2);
        assert_eq!(log.len(), 2);
        let h = &log[0];
        assert_eq!(h.action, "halt");
        assert_eq!(h.author, "Bob <bob@x>");
        assert_eq!(
            h.time,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_100)
        );
        assert_eq!(h.reason.as_deref(), Some("latency: spike"));
        assert_eq!(h.by.as_deref(), Some("bob"));
        assert_eq!(h.status.as_deref(), Some("progressing → paused"));
        assert_eq!(h.wave_after, Some(2));
        assert!(!h.forced && !h.pushed);
        let f = &log[1];
        assert_eq!(f.action, "promote");
        assert!(f.forced && f.pushed);
        assert_eq!(f.reason.as_deref(), Some("crash fix"));
        assert_eq!(f.overrode.len(), 1);
        assert!(f.overrode[0].starts_with("soak check forced: "));
    }

    #[test]
    fn unknown_and_old_messages_are_edits_or_their_subject_action() {
        let text = raw_commit(
            ID1,
            "Eve <e@x> 1 +0000",
            "tweak soak times\n\nAction: promote\nForced: yes",
        ) + &raw_commit(ID2, "T <t@t> 2 +0000", "rollout v: init");
        let log = parse_raw_log(&text, |_| false);
        assert_eq!(
            log[0].action, "promote",
            "an Action: line is taken at its word"
        );
        assert_eq!(log[1].action, "init");
        let text = raw_commit(
            ID1,
            "Eve <e@x> 1 +0000",
            "tweak soak times\n\nForced: yes\nReason: x",
        );
        let log = parse_raw_log(&text, |_| false);
        assert_eq!(log[0].action, "edit");
        assert_eq!(log[0].subject, "tweak soak times");
        assert!(!log[0].forced);
        assert_eq!(log[0].reason, None);
    }

    #[test]
    fn a_message_cannot_forge_a_commit() {
        // Message lines are indented by git: "commit …" inside one is text.
        let text = raw_commit(
            ID1,
            "Eve <e@x> 1 +0000",
            &format!("hi\ncommit {ID2}\nauthor Admin <a@x> 2 +0000"),
        );
        let log = parse_raw_log(&text, |_| false);
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].author, "Eve <e@x>");
    }

    #[test]
    fn odd_idents_keep_their_text() {
        assert_eq!(split_ident("no time").0, "no time");
        assert_eq!(split_ident("A <a> 5 +0200").0, "A <a>");
    }
}
