//! `fleetdeck alerts [--json]` and `fleetdeck silence add|list|expire`
//! against `[alertmanager]`. Alertmanager down or slow fails within its
//! timeout, naming the URL (exit 1); a silence is shown, confirmed and
//! refused in read-only mode (exit 4) like every action
//! (docs/ARCHITECTURE.md, "Exit codes").

use super::args::{SilenceAddArgs, SilenceCommand};
use super::setup::load_config;
use super::{Cli, CliError, Exit};
use crate::alerts::model::NewSilence;
use crate::alerts::{Alert, AlertmanagerClient, Matcher, Silence};
use crate::config::Config;
use crate::metrics::LabelNames;
use crate::text::sanitize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal};
use std::time::{Duration, SystemTime};

fn client(cfg: &Config) -> Result<AlertmanagerClient, CliError> {
    let am = cfg.alertmanager.clone().ok_or_else(|| {
        Exit::Usage.with(
            "no [alertmanager] configured: add [alertmanager] url = \"http://127.0.0.1:9093\" to the config",
        )
    })?;
    AlertmanagerClient::new(am).map_err(|e| Exit::Usage.with(e))
}

fn failed(e: crate::alerts::AlertsError) -> CliError {
    Exit::Failed.with(e)
}

/// `fleetdeck alerts [--json]`.
pub async fn alerts(cli: &Cli, json: bool) -> Result<Exit, CliError> {
    let cfg = load_config(cli)?;
    let c = client(&cfg)?;
    let (alerts, silences) = tokio::try_join!(c.alerts(), c.silences()).map_err(failed)?;
    let names = &c.options().labels;
    let mut alerts = alerts;
    sort(&mut alerts, names);
    let by_id: HashMap<&str, &Silence> = silences.iter().map(|s| (s.id.as_str(), s)).collect();
    let now = SystemTime::now();
    if json {
        let list: Vec<Value> = alerts
            .iter()
            .map(|a| alert_json(a, names, &by_id, now))
            .collect();
        crate::out::json(&list)?;
        return Ok(Exit::Ok);
    }
    crate::out!("{}", alerts_text(&alerts, names, &by_id, now));
    Ok(Exit::Ok)
}

/// Site, then device, then alert name; alerts without a site or device last.
fn sort(alerts: &mut [Alert], names: &LabelNames) {
    alerts.sort_by(|a, b| {
        let key = |x: &Alert| {
            (
                x.site(names).is_none(),
                x.site(names).unwrap_or("").to_string(),
                x.device(names).is_none(),
                x.device(names).unwrap_or("").to_string(),
                x.name().to_string(),
                x.fingerprint.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
}

fn age(a: &Alert, now: SystemTime) -> Option<Duration> {
    a.started()
        .map(|t| now.duration_since(t).unwrap_or_default())
}

fn alert_json(
    a: &Alert,
    names: &LabelNames,
    silences: &HashMap<&str, &Silence>,
    now: SystemTime,
) -> Value {
    let silenced_by: Vec<Value> = a
        .status
        .silenced_by
        .iter()
        .map(|id| {
            json!({
                "id": id,
                "created_by": silences.get(id.as_str()).map(|s| s.created_by.as_str()),
                "comment": silences.get(id.as_str()).map(|s| s.comment.as_str()),
            })
        })
        .collect();
    json!({
        "alertname": a.name(),
        "severity": a.label("severity"),
        "state": a.shown_state(),
        "site": a.site(names),
        "device": a.device(names),
        "group": a.group(names),
        "starts_at": a.starts_at,
        "age_seconds": age(a, now).map(|d| d.as_secs()),
        "summary": a.summary(),
        "silenced_by": silenced_by,
        "inhibited_by": a.status.inhibited_by,
        "fingerprint": a.fingerprint,
        "labels": a.labels,
        "annotations": a.annotations,
    })
}

/// One block per site, one sub-block per device, one line per alert.
/// Every field is outside text: sanitised (one line each).
fn alerts_text(
    alerts: &[Alert],
    names: &LabelNames,
    silences: &HashMap<&str, &Silence>,
    now: SystemTime,
) -> String {
    use std::fmt::Write as _;
    if alerts.is_empty() {
        return "no alerts\n".into();
    }
    let mut out = String::new();
    let mut site: Option<Option<&str>> = None;
    let mut device: Option<Option<&str>> = None;
    for a in alerts {
        let s = a.site(names);
        if site != Some(s) {
            site = Some(s);
            device = None;
            let _ = writeln!(
                out,
                "{}",
                s.map_or("(no site)".into(), |s| format!("site {}", sanitize(s)))
            );
        }
        let d = a.device(names);
        if device != Some(d) {
            device = Some(d);
            let _ = writeln!(
                out,
                "  {}",
                d.map_or("(no device)".into(), |d| format!("device {}", sanitize(d)))
            );
        }
        let state = match a.shown_state() {
            "silenced" => {
                let who: Vec<String> = a
                    .status
                    .silenced_by
                    .iter()
                    .map(|id| {
                        let by = silences
                            .get(id.as_str())
                            .map_or("?".into(), |s| sanitize(&s.created_by).into_owned());
                        format!("{} by {by}", sanitize(id))
                    })
                    .collect();
                format!("silenced ({})", who.join(", "))
            }
            other => other.to_string(),
        };
        let sev = a.severity();
        let line = format!(
            "    {:<9} {:<22} {:>6}  {state}  {}",
            if sev.is_empty() {
                "-".into()
            } else {
                sanitize(sev)
            },
            sanitize(a.name()),
            age(a, now).map_or("-".into(), crate::format::age),
            sanitize(a.summary()),
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// `fleetdeck silence …`.
pub async fn silence(cli: &Cli, cmd: &SilenceCommand) -> Result<Exit, CliError> {
    let cfg = load_config(cli)?;
    match cmd {
        SilenceCommand::Add(a) => add(&cfg, a).await,
        SilenceCommand::List { json } => list(&cfg, *json).await,
        SilenceCommand::Expire { id, yes } => expire(&cfg, id, *yes).await,
    }
}

fn read_only(cfg: &Config, what: &str) -> Result<(), CliError> {
    if cfg.read_only {
        return Err(Exit::Refused.with(format!(
            "read-only mode: silence {what} is disabled (--read-only / read_only = true)"
        )));
    }
    Ok(())
}

async fn add(cfg: &Config, a: &SilenceAddArgs) -> Result<Exit, CliError> {
    read_only(cfg, "add")?;
    let c = client(cfg)?;
    let names = &c.options().labels;
    let mut matchers: Vec<Matcher> = Vec::new();
    matchers.extend(a.device.iter().map(|d| Matcher::equal(&names.device, d)));
    matchers.extend(a.site.iter().map(|s| Matcher::equal(&names.site, s)));
    matchers.extend(a.alertname.iter().map(|n| Matcher::equal("alertname", n)));
    for m in &a.matcher {
        matchers.push(Matcher::parse(m).map_err(|e| Exit::Usage.with(format!("--matcher: {e}")))?);
    }
    if matchers.is_empty() {
        return Err(Exit::Usage.with(
            "say what to silence: --device ID, --site NAME, --alertname NAME or --matcher 'k=v'",
        ));
    }
    if a.comment.trim().is_empty() {
        return Err(Exit::Usage.with("--comment TEXT is required: say why"));
    }
    if a.duration.is_zero() {
        return Err(Exit::Usage.with("--for must be longer than 0s"));
    }
    let by = author(cfg).await?;
    let current = c.alerts().await.map_err(failed)?;
    let hit = current.iter().filter(|al| al.matches(&matchers)).count();
    let shown: Vec<String> = matchers.iter().map(ToString::to_string).collect();
    let until = SystemTime::now() + a.duration;
    let what = format!(
        "silence {}\n  for {} (until {}), by {}\n  comment: {}\n  matches {hit} current alert{}",
        sanitize(&shown.join(", ")),
        crate::format::age(a.duration),
        crate::format::utc(until),
        sanitize(&by),
        sanitize(&a.comment),
        if hit == 1 { "" } else { "s" }
    );
    if !a.yes && !confirm(&what)? {
        crate::errln!("cancelled");
        return Ok(Exit::Refused);
    }
    let new = NewSilence::new(matchers, a.duration, &by, &a.comment);
    let id = c.create_silence(&new).await.map_err(failed)?;
    crate::outln!("{what}\ncreated silence {}", sanitize(&id));
    Ok(Exit::Ok)
}

async fn list(cfg: &Config, json: bool) -> Result<Exit, CliError> {
    let c = client(cfg)?;
    let mut silences = c.silences().await.map_err(failed)?;
    // Active first, then pending, then expired; latest end first.
    silences.sort_by(|a, b| {
        let rank = |s: &Silence| match s.status.state {
            crate::alerts::SilenceState::Active => 0,
            crate::alerts::SilenceState::Pending => 1,
            crate::alerts::SilenceState::Expired => 2,
            crate::alerts::SilenceState::Unknown => 3,
        };
        (rank(a), std::cmp::Reverse(a.ends()), &a.id).cmp(&(
            rank(b),
            std::cmp::Reverse(b.ends()),
            &b.id,
        ))
    });
    if json {
        crate::out::json(&silences)?;
        return Ok(Exit::Ok);
    }
    if silences.is_empty() {
        crate::outln!("no silences");
        return Ok(Exit::Ok);
    }
    let now = SystemTime::now();
    for s in &silences {
        let ends = match s.ends() {
            Some(t) if t > now => format!(
                "ends in {}",
                crate::format::age(t.duration_since(now).unwrap_or_default())
            ),
            Some(t) => format!(
                "ended {} ago",
                crate::format::age(now.duration_since(t).unwrap_or_default())
            ),
            None => "-".into(),
        };
        let m: Vec<String> = s.matchers.iter().map(ToString::to_string).collect();
        crate::outln!(
            "{}  {:<8} {ends}  by {}\n    {}\n    {}",
            sanitize(&s.id),
            state_key(s),
            sanitize(&s.created_by),
            sanitize(&m.join(", ")),
            sanitize(&s.comment)
        );
    }
    Ok(Exit::Ok)
}

fn state_key(s: &Silence) -> &'static str {
    match s.status.state {
        crate::alerts::SilenceState::Active => "active",
        crate::alerts::SilenceState::Pending => "pending",
        crate::alerts::SilenceState::Expired => "expired",
        crate::alerts::SilenceState::Unknown => "unknown",
    }
}

async fn expire(cfg: &Config, id: &str, yes: bool) -> Result<Exit, CliError> {
    read_only(cfg, "expire")?;
    let c = client(cfg)?;
    let silences = c.silences().await.map_err(failed)?;
    let Some(s) = silences.iter().find(|s| s.id == id) else {
        return Err(Exit::Failed.with(format!(
            "Alertmanager at {} has no silence '{}' (fleetdeck silence list shows them)",
            c.url(),
            crate::text::echo(id)
        )));
    };
    let m: Vec<String> = s.matchers.iter().map(ToString::to_string).collect();
    let what = format!(
        "expire silence {} ({}) by {}: {}\n  {}",
        sanitize(&s.id),
        state_key(s),
        sanitize(&s.created_by),
        sanitize(&m.join(", ")),
        sanitize(&s.comment)
    );
    if !yes && !confirm(&what)? {
        crate::errln!("cancelled");
        return Ok(Exit::Refused);
    }
    c.expire_silence(id).await.map_err(failed)?;
    crate::outln!("expired silence {}", sanitize(id));
    Ok(Exit::Ok)
}

/// `createdBy`: `[alertmanager] author`, else `[rollout] author_name` /
/// `author_email`, else git's `user.name` / `user.email`; none: refused,
/// saying what to set.
async fn author(cfg: &Config) -> Result<String, CliError> {
    if let Some(a) = cfg.alertmanager.as_ref().and_then(|a| a.author.clone()) {
        return Ok(a);
    }
    let r = &cfg.rollout;
    if let Some(who) = identity(r.author_name.clone(), r.author_email.clone()) {
        return Ok(who);
    }
    let name = git_config("user.name").await;
    let email = git_config("user.email").await;
    identity(name, email).ok_or_else(|| {
        Exit::Usage.with(
            "who is silencing? set [alertmanager] author (or [rollout] author_name / author_email, or git config user.name / user.email)",
        )
    })
}

fn identity(name: Option<String>, email: Option<String>) -> Option<String> {
    let clean = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    match (clean(name), clean(email)) {
        (Some(n), Some(e)) => Some(format!("{n} <{e}>")),
        (Some(n), None) => Some(n),
        (None, Some(e)) => Some(e),
        (None, None) => None,
    }
}

async fn git_config(key: &str) -> Option<String> {
    let run = tokio::process::Command::new("git")
        .args(["config", "--get", key])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .ok()?
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty() && s.chars().count() <= 200).then_some(s)
}

/// Asks on the terminal; refuses when there is none and --yes was not given.
fn confirm(question: &str) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(Exit::Usage.with(format!("{question}\nnot a terminal: confirm with --yes")));
    }
    crate::out::stderr_str(&format!("{question}\nType 'yes' to continue: "));
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Exit::Failed.with(e))?;
    Ok(line.trim() == "yes")
}
