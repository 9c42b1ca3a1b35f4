//! Headless rollout commands: `rollout init|list|show [--watch]|history|promote|halt|resume|abort|retry`
//! and `gate`. Same backend as the console: plans from the git store, progress
//! and gates from one refresh of the configured metric source.
//!
//! Exits ([`super::exit`]): 0 done / gates pass and the release verifies;
//! 1 error / gates failed / the release's signature does not verify; 2 bad
//! config or usage (an unreadable trust key included); 3 gates or signature
//! inconclusive; 4 action refused (read-only, gates, soak, signature,
//! conflict with another operator, not confirmed).
//!
//! The signature check is [`ReleaseVerifier::verify_release`] on the plan's
//! new release (image, and model when it is an OCI reference), the same
//! policy the console applies.

use super::setup::{load_config, open_source, operator, refresh_once};
use super::{ActionArgs, Cli, CliError, Exit, RolloutCommand};
use crate::config::Config;
use crate::fleet::Fleet;
use crate::format;
use crate::metrics::SourceConfig;
use crate::rollout::action::{ActionKind, ActionRequest, Check, PromoteChecks};
use crate::rollout::gate::{Evaluation, GateHistory, Outcome, UnitEvaluation, Verdict};
use crate::rollout::history::HistoryEntry;
use crate::rollout::plan::{DigestRef, Plan, ReleaseSpec, format_duration};
use crate::rollout::progress::progress;
use crate::rollout::store::Store;
use crate::signature::SignatureError;
use crate::signature::policy::{ReleaseVerdict, ReleaseVerifier};
use crate::text::sanitize;
use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal};
use std::time::{Duration, SystemTime};

async fn open_store(cfg: &Config) -> Result<Store, CliError> {
    if cfg.rollout.repo.is_none() {
        return Err(Exit::Usage.with(
            "no rollout repository configured: add [rollout] repo = \"PATH or URL\" to the config (see config.example.toml)",
        ));
    }
    // Any failure to open it is exit 1, whatever the store error says
    // (unlike the other store operations, see `From<StoreError>`).
    Store::open(&cfg.rollout)
        .await
        .map_err(|e| Exit::Failed.with(e))
}

/// One look at the fleet, when a metric source is configured.
async fn observe(cfg: &Config) -> Result<Option<Fleet>, CliError> {
    if matches!(cfg.source, SourceConfig::Unset) {
        return Ok(None);
    }
    let mut source = open_source(cfg)?;
    let (fleet, _) = refresh_once(cfg, &mut source, Duration::from_secs(3)).await?;
    Ok(Some(fleet))
}

/// The trust config and registry client, or a config error (exit 2) naming
/// the file and the key: a typo must not silently weaken the check.
pub(crate) fn release_verifier(cfg: &Config) -> Result<ReleaseVerifier, CliError> {
    ReleaseVerifier::from_config(&cfg.signing, &cfg.registry).map_err(|e| {
        let key = match &e {
            SignatureError::Read { what, .. } | SignatureError::BadFile { what, .. } => match *what
            {
                "trust root" => "signing.roots",
                "Rekor key" => "signing.rekor_keys",
                _ => "signing.keys",
            },
            SignatureError::BadIdentity { .. } => "signing.identities",
            SignatureError::Registry(_) => "registry",
        };
        let hint = "fix the path or the file; `fleetdeck check-config` checks the rest".to_string();
        Exit::Usage.with(cfg.error_at(key, sanitize(&e.to_string()).into_owned(), hint))
    })
}

/// `verified: image + model` / `does not verify: …`, sanitised, plus what
/// was not checked.
fn signature_line(v: &ReleaseVerdict) -> String {
    let mut line = sanitize_long(&v.summary());
    for s in &v.skipped {
        line.push_str(&format!(" ({})", sanitize(s)));
    }
    line
}

/// Sanitised, but long enough for a verdict naming two artifacts and where
/// their signatures live (the reason comes last and must not be cut off).
fn sanitize_long(s: &str) -> String {
    crate::text::sanitize_max(s, 2048).into_owned()
}

fn check_key(c: &Check) -> &'static str {
    match c {
        Check::Pass => "pass",
        Check::Fail(_) => "fail",
        Check::Inconclusive(_) => "inconclusive",
        Check::NotApplicable => "not_applicable",
    }
}

fn signature_json(v: &ReleaseVerdict) -> Value {
    let check = v.check();
    json!({
        "check": check_key(&check),
        "summary": v.summary(),
        "skipped": v.skipped,
        "artifacts": v.artifacts.iter().map(|a| match &a.result {
            Ok(r) => json!({
                "part": a.part,
                "reference": a.reference,
                "digest": r.digest,
                "verified": r.verified,
                "signatures": r.signatures.len(),
                "signatures_verified": r.signatures.iter().filter(|s| s.verified).count(),
                "attestations": r.attestations.iter().map(|t| json!({"predicate_type": t.predicate_type, "verified": t.verified})).collect::<Vec<_>>(),
                "sboms": r.sboms.iter().map(|s| json!({"format": s.format, "components": s.components})).collect::<Vec<_>>(),
                "reasons": r.reasons,
            }),
            Err(e) => json!({"part": a.part, "reference": a.reference, "error": e}),
        }).collect::<Vec<_>>(),
    })
}

pub async fn run(cli: &Cli, cmd: &RolloutCommand) -> Result<Exit, CliError> {
    let cfg = load_config(cli)?;
    match cmd {
        RolloutCommand::Init {
            name,
            version,
            image,
            previous,
            previous_version,
            model,
        } => {
            // Everything is checked before anything is written: a bad value
            // is exit 2 with the option, the value (shown safely) and why.
            if !crate::rollout::plan::valid_name(name) {
                return Err(Exit::Usage.with(format!(
                    "'{}' is not a rollout name: use letters, digits, '.', '_' and '-'",
                    crate::text::echo(name)
                )));
            }
            let parse = |what: &str, s: &str| {
                DigestRef::parse(s).map_err(|e| {
                    Exit::Usage.with(format!("--{what}: {e}\n  hint: write REGISTRY/REPOSITORY@sha256:<64 lowercase hex digits>, e.g. registry.local/vision@sha256:…"))
                })
            };
            for (what, v) in [("version", version), ("previous-version", previous_version)] {
                crate::rollout::plan::check_version(v).map_err(|e| {
                    Exit::Usage.with(format!(
                        "--{what}: {e}\n  hint: one printable word, like 1.5.0"
                    ))
                })?;
            }
            let release = ReleaseSpec {
                version: version.clone(),
                image: parse("image", image)?,
                model: model.as_deref().map(|m| parse("model", m)).transpose()?,
                sbom: None,
            };
            let prev = ReleaseSpec {
                version: previous_version.clone(),
                image: parse("previous", previous)?,
                model: None,
                sbom: None,
            };
            if cfg.read_only {
                return Err(Exit::Refused.with(
                    "read-only mode: rollout init is disabled (--read-only / read_only = true)",
                ));
            }
            let store = open_store(&cfg).await?;
            let plan = Plan::new(name, release, prev);
            let commit = store.init(&plan, &operator(&cfg)).await?;
            crate::outln!(
                "created rollouts/{name}.toml ({} waves: {}) — commit {}{}",
                plan.waves.len(),
                plan.waves
                    .iter()
                    .map(|w| w.label())
                    .collect::<Vec<_>>()
                    .join(", "),
                short_id(&commit.id),
                if commit.pushed { ", pushed" } else { "" }
            );
            Ok(Exit::Ok)
        }
        RolloutCommand::List { json } => {
            let store = open_store(&cfg).await?;
            let _ = store.sync().await;
            let plans = store.list().await?;
            let loaded: Vec<Plan> = plans.iter().flatten().cloned().collect();
            // Overlaps need the fleet (which devices each wave selects): looked
            // at only when two rollouts are in progress.
            let live = loaded
                .iter()
                .filter(|p| crate::rollout::overlap::in_progress(p))
                .count();
            let fleet = if live >= 2 {
                observe(&cfg).await?
            } else {
                None
            };
            let overlaps = |p: &Plan| Overlaps::of(p, &loaded, fleet.as_ref());
            if *json {
                let v: Vec<Value> = plans
                    .iter()
                    .map(|p| match p {
                        Ok(p) => {
                            let mut v = plan_summary(p);
                            overlaps(p).to_json(&mut v);
                            v
                        }
                        Err(e) => json!({
                            "name": invalid_name(e),
                            "status": "invalid",
                            "file": e.file,
                            "line": e.line,
                            "column": e.column,
                            "key": e.key,
                            "error": e.to_string(),
                        }),
                    })
                    .collect();
                crate::out::json(&v)?;
            } else {
                crate::outln!(
                    "{:<28} {:<24} {:<12} {:<20}",
                    "ROLLOUT",
                    "RELEASE",
                    "STATUS",
                    "WAVE"
                );
                for p in &plans {
                    match p {
                        Ok(p) => {
                            crate::outln!(
                                "{:<28} {:<24} {:<12} {:<20}",
                                sanitize(&p.name),
                                format!(
                                    "{} → {}",
                                    sanitize(&p.previous.version),
                                    sanitize(&p.release.version)
                                ),
                                p.state.status.key(),
                                wave_label(p)
                            );
                            overlaps(p).print();
                        }
                        Err(e) => {
                            // Listed, with why: it cannot be acted on until fixed.
                            crate::outln!(
                                "{:<28} {:<24} {:<12} {:<20}",
                                invalid_name(e),
                                "?",
                                "invalid",
                                "-"
                            );
                            crate::outln!("  {}", e.to_string().replace('\n', "\n  "));
                        }
                    }
                }
            }
            Ok(Exit::Ok)
        }
        RolloutCommand::Show {
            name,
            json,
            watch,
            interval,
        } => {
            if *watch {
                return watch_show(&cfg, name, *interval).await;
            }
            let store = open_store(&cfg).await?;
            let _ = store.sync().await;
            let plan = store.read(name).await?;
            let verifier = release_verifier(&cfg)?;
            let fleet = observe(&cfg).await?;
            let signature = verifier.verify_release(&plan.release).await;
            let others: Vec<Plan> = store.list().await?.into_iter().flatten().collect();
            let overlaps = Overlaps::of(&plan, &others, fleet.as_ref());
            if *json {
                let mut v = show_json(&plan, fleet.as_ref());
                v["signature"] = signature_json(&signature);
                overlaps.to_json(&mut v);
                crate::out::json(&v)?;
            } else {
                crate::out!("{}", show_text(&plan, fleet.as_ref(), &signature));
                overlaps.print();
            }
            Ok(Exit::Ok)
        }
        RolloutCommand::History { name, json, limit } => {
            let store = open_store(&cfg).await?;
            // A remote that cannot be reached still shows the local history.
            let _ = store.sync().await;
            let log = store.history(name, *limit).await?;
            if *json {
                crate::out::json(&json!({ "rollout": name, "commits": log }))?;
            } else {
                crate::out!("{}", history_text(&log, store.has_remote()));
            }
            Ok(Exit::Ok)
        }
        RolloutCommand::Promote(a) => act(&cfg, ActionKind::Promote, a).await,
        RolloutCommand::Halt(a) => act(&cfg, ActionKind::Halt, a).await,
        RolloutCommand::Resume(a) => act(&cfg, ActionKind::Resume, a).await,
        RolloutCommand::Abort(a) => act(&cfg, ActionKind::Abort, a).await,
        RolloutCommand::Retry(a) => act(&cfg, ActionKind::Retry, a).await,
    }
}

/// Other in-progress rollouts sharing devices with one plan, and the devices
/// they took (docs/ARCHITECTURE.md, "Overlapping rollouts").
struct Overlaps {
    shared: Vec<crate::rollout::overlap::Shared>,
    taken: Vec<crate::rollout::overlap::Shared>,
}

impl Overlaps {
    fn of(plan: &Plan, plans: &[Plan], fleet: Option<&Fleet>) -> Overlaps {
        use crate::rollout::overlap;
        let Some(f) = fleet else {
            return Overlaps {
                shared: Vec::new(),
                taken: Vec::new(),
            };
        };
        let devices = overlap::devices(f);
        let all: Vec<&Plan> = plans.iter().collect();
        Overlaps {
            shared: overlap::detect(plan, &all, &devices),
            taken: overlap::taken(plan, &all, &devices),
        }
    }

    /// `overlaps: [{rollout, version, devices, taken}]`.
    fn to_json(&self, v: &mut Value) {
        v["overlaps"] = self
            .shared
            .iter()
            .map(|s| {
                let taken = self
                    .taken
                    .iter()
                    .find(|t| t.other == s.other)
                    .map_or(0, |t| t.devices);
                json!({"rollout": s.other, "version": s.version, "devices": s.devices, "taken": taken})
            })
            .collect();
    }

    /// "  ▲ overlaps vision-1.5.1 (1.5.1): 6 shared devices, 6 taken" per other rollout.
    fn print(&self) {
        for s in &self.shared {
            let taken = self
                .taken
                .iter()
                .find(|t| t.other == s.other)
                .map(|t| format!(", {} taken", t.devices))
                .unwrap_or_default();
            crate::outln!(
                "  ▲ overlaps {} ({}): {} shared devices{taken}",
                sanitize(&s.other),
                sanitize(&s.version),
                s.devices
            );
        }
    }
}

/// The rollout name of a plan file that did not load: its file stem, shown safely.
fn invalid_name(e: &crate::diag::ConfigError) -> String {
    let stem = std::path::Path::new(&e.file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| e.file.clone());
    sanitize(&stem).into_owned()
}

fn short_id(id: &str) -> String {
    id.chars().take(10).collect()
}

fn wave_label(p: &Plan) -> String {
    let m = p.waves.len();
    match p.state.wave.checked_sub(1).and_then(|i| p.waves.get(i)) {
        Some(w) => format!("{}/{m} ({})", p.state.wave, w.label()),
        None => format!("0/{m} (not started)"),
    }
}

fn plan_summary(p: &Plan) -> Value {
    json!({
        "name": p.name,
        "status": p.state.status,
        "wave": p.state.wave,
        "waves": p.waves.len(),
        "wave_label": p.state.wave.checked_sub(1).and_then(|i| p.waves.get(i)).map(|w| w.label()),
        "wave_started": p.state.wave_started.map(format::utc),
        "release": { "version": p.release.version, "image": p.release.image.to_string() },
        "previous": { "version": p.previous.version, "image": p.previous.image.to_string() },
        "updated_by": p.state.updated_by,
        "reason": p.state.reason,
    })
}

fn gate_checks(plan: &Plan, fleet: Option<&Fleet>, now: SystemTime) -> (Check, Option<Verdict>) {
    let Some(fleet) = fleet else {
        return (
            Check::Inconclusive(
                "no metric source configured: the gates cannot be evaluated".into(),
            ),
            None,
        );
    };
    let mut h = GateHistory::new();
    h.observe(plan, fleet, now);
    let v = h.verdict(plan);
    (Check::from(&v), Some(v))
}

fn show_json(plan: &Plan, fleet: Option<&Fleet>) -> Value {
    let mut v = plan_summary(plan);
    v["plan"] = serde_json::to_value(plan).unwrap_or(Value::Null);
    if let Some(f) = fleet {
        let pr = progress(plan, f);
        let wave_cells = |cells: &[crate::rollout::progress::Cell]| {
            serde_json::to_value(cells).unwrap_or(Value::Null)
        };
        v["progress"] = json!({
            "total": serde_json::to_value(&pr.total).unwrap_or(Value::Null),
            "per_wave": wave_cells(&pr.per_wave),
            "sites": pr.sites.iter().zip(&pr.by_site).map(|(s, c)| json!({"name": s, "waves": wave_cells(c)})).collect::<Vec<_>>(),
            "groups": pr.groups.iter().zip(&pr.by_group).map(|(g, c)| json!({"name": g, "waves": wave_cells(c)})).collect::<Vec<_>>(),
            "fleet_on_new": pr.fleet_on_new,
            "fleet_devices": pr.fleet_devices,
            "drift": pr.drift,
        });
        let (ev, verdict) = judge(plan, f, SystemTime::now());
        // The evaluation (whole population, per site, per group, each check's
        // value and outcome) and the verdict it gives under the plan's scope.
        v["gates"] = serde_json::to_value(&ev).unwrap_or(Value::Null);
        v["verdict"] = serde_json::to_value(&verdict).unwrap_or(Value::Null);
    }
    v
}

/// One evaluation now and the verdict it gives (the console's and `gate`'s
/// rules: one [`GateHistory`] observation).
fn judge(plan: &Plan, fleet: &Fleet, now: SystemTime) -> (Evaluation, Verdict) {
    let mut h = GateHistory::new();
    let ev = h.observe(plan, fleet, now).cloned();
    let ev = ev.unwrap_or_else(|| crate::rollout::gate::evaluate(plan, fleet, now));
    (ev, h.verdict(plan))
}

/// "ber-1   3 on 1.5.0  ✖ CPU 85.0°C > 80.0°C" lines, one per site or group.
fn unit_lines(o: &mut String, what: &str, units: &[UnitEvaluation], version: &str) {
    use std::fmt::Write as _;
    for u in units {
        let shown: Vec<String> = match u.outcome {
            Outcome::Pass => u
                .checks
                .iter()
                .map(|c| sanitize(&c.detail).into_owned())
                .collect(),
            o => u
                .checks
                .iter()
                .filter(|c| c.outcome == o)
                .map(|c| sanitize(&c.detail).into_owned())
                .collect(),
        };
        let note = if u.counts {
            ""
        } else if !u.eligible {
            " (too few devices to count)"
        } else {
            " (not counted: scope)"
        };
        let _ = writeln!(
            o,
            "  {} {what} {:<12} {:>3} on {}{note}  {}",
            u.outcome.symbol(),
            sanitize(&u.name),
            u.canary_devices,
            sanitize(version),
            shown.join("; ")
        );
    }
}

fn show_text(plan: &Plan, fleet: Option<&Fleet>, signature: &ReleaseVerdict) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let p = plan;
    let _ = writeln!(o, "rollout   {}", sanitize(&p.name));
    let _ = writeln!(
        o,
        "status    {}  wave {}",
        p.state.status.key(),
        wave_label(p)
    );
    let _ = writeln!(
        o,
        "stable    {} {}",
        sanitize(&p.previous.version),
        p.previous.image
    );
    let _ = writeln!(
        o,
        "new       {} {}",
        sanitize(&p.release.version),
        p.release.image
    );
    let _ = writeln!(o, "signature {}", signature_line(signature));
    if let (Some(b), r) = (&p.state.updated_by, &p.state.reason) {
        let _ = writeln!(
            o,
            "last      by {} {}",
            sanitize(b),
            r.as_deref().map(sanitize).unwrap_or_default()
        );
    }
    for (i, w) in p.waves.iter().enumerate() {
        let mark = if i < p.state.wave { "●" } else { "○" };
        let _ = writeln!(
            o,
            "wave {} {mark} {:<20} soak {}",
            i + 1,
            w.label(),
            format_duration(w.soak)
        );
    }
    match fleet {
        None => {
            let _ = writeln!(
                o,
                "\n(no metric source configured: progress and gates need one)"
            );
        }
        Some(f) => {
            let pr = progress(p, f);
            let t = &pr.total;
            let _ = writeln!(
                o,
                "\ntargeted {}: {} on {} ({} healthy), {} updating, {} failed, {} offline; fleet on new {}/{}",
                t.devices,
                t.on_new,
                sanitize(&p.release.version),
                t.healthy_on_new,
                t.updating,
                t.failed,
                t.offline,
                pr.fleet_on_new,
                pr.fleet_devices
            );
            let _ = write!(o, "{:<12}", "SITE");
            for i in 0..p.waves.len() {
                let _ = write!(o, " {:>14}", format!("wave {}", i + 1));
            }
            let _ = writeln!(o);
            for (s, cells) in pr.sites.iter().zip(&pr.by_site) {
                let _ = write!(o, "{:<12}", sanitize(s));
                for c in cells {
                    let _ = write!(
                        o,
                        " {:>14}",
                        if c.devices == 0 {
                            "·".to_string()
                        } else {
                            format!("{}/{}", c.on_new, c.devices)
                        }
                    );
                }
                let _ = writeln!(o);
            }
            let (ev, verdict) = judge(p, f, SystemTime::now());
            let _ = writeln!(
                o,
                "\ngates     {verdict} (scope {}){}",
                ev.scope.key(),
                match &verdict {
                    Verdict::Failing { reasons, .. } | Verdict::Failed { reasons, .. } => {
                        format!(" — {}", sanitize_long(&reasons.join("; ")))
                    }
                    _ => String::new(),
                }
            );
            for c in &ev.checks {
                let _ = writeln!(
                    o,
                    "  {} {:<12} {}",
                    c.outcome.symbol(),
                    c.name,
                    sanitize(&c.detail)
                );
            }
            unit_lines(&mut o, "site ", &ev.sites, &p.release.version);
            unit_lines(&mut o, "group", &ev.groups, &p.release.version);
        }
    }
    o
}

/// `rollout history` as text: one block per commit, newest first. Every
/// field is outside text (commit messages, identities): each is one
/// sanitised line, cut.
fn history_text(log: &[HistoryEntry], has_remote: bool) -> String {
    use std::fmt::Write as _;
    let one = |s: &str| crate::text::sanitize_max(s, 2048).into_owned();
    let mut o = String::new();
    if log.is_empty() {
        let _ = writeln!(o, "no commits");
    }
    for (i, e) in log.iter().enumerate() {
        if i > 0 {
            let _ = writeln!(o);
        }
        let what = if e.is_action() {
            let mut w = e.action.clone();
            if let Some(wave) = &e.wave {
                w.push_str(&format!("  wave {}", one(wave)));
            }
            if e.forced {
                w.push_str("  FORCED");
            }
            w
        } else {
            format!("edit  \"{}\"", one(&e.subject))
        };
        let unpushed = if has_remote && !e.pushed {
            "  (not on origin)"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "{}  {what}  commit {}{unpushed}",
            format::utc(e.time),
            one(&e.short_id())
        );
        let by =
            e.by.as_deref()
                .map(|b| format!("  (by {})", one(b)))
                .unwrap_or_default();
        let _ = writeln!(o, "  author    {}{by}", one(&e.author));
        if let Some(s) = &e.status {
            let _ = writeln!(o, "  status    {}", one(s));
        }
        if let Some(r) = &e.reason {
            let _ = writeln!(o, "  reason    {}", one(r));
        }
        for v in &e.overrode {
            let _ = writeln!(o, "  overrode  {}", one(v));
        }
    }
    o
}

/// `rollout show NAME --watch`: the text of `show`, again every `interval`
/// (default: the source's refresh), until the rollout completes (exit 0) or
/// is aborted (exit 1). On a terminal the screen is cleared before each
/// redraw; piped, each new state is printed after a blank line. ctrl-c
/// exits 130.
async fn watch_show(
    cfg: &Config,
    name: &str,
    interval: Option<Duration>,
) -> Result<Exit, CliError> {
    use crate::rollout::plan::Status;
    let store = open_store(cfg).await?;
    let verifier = release_verifier(cfg)?;
    let mut source = if matches!(cfg.source, SourceConfig::Unset) {
        None
    } else {
        Some(open_source(cfg)?)
    };
    let every = interval
        .unwrap_or(cfg.refresh)
        .max(Duration::from_millis(200));
    let tty = std::io::stdout().is_terminal();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut last: Option<String> = None;
    loop {
        let round = async {
            let _ = store.sync().await;
            let plan = store.read(name).await?;
            let mut note = String::new();
            let fleet = match &mut source {
                None => None,
                Some(src) => match refresh_once(cfg, src, Duration::from_secs(3)).await {
                    Ok((f, _)) => Some(f),
                    Err(e) => {
                        note = format!("\n(metrics: {})\n", sanitize(&e.to_string()));
                        None
                    }
                },
            };
            let signature = verifier.verify_release(&plan.release).await;
            let text = format!("{}{note}", show_text(&plan, fleet.as_ref(), &signature));
            Ok::<_, CliError>((text, plan.state.status))
        };
        let (text, status) = tokio::select! {
            r = round => r?,
            _ = &mut interrupted => return Ok(Exit::Passthrough(130)),
        };
        let header = format!(
            "{} · every {} · ctrl-c to stop\n\n",
            format::utc(SystemTime::now()),
            format_duration(every)
        );
        if tty {
            // Home and clear: written raw, it is our own escape sequence
            // (everything else goes through crate::out, sanitised).
            use std::io::Write as _;
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(b"\x1b[H\x1b[2J");
            let _ = o.flush();
            crate::out!("{header}{text}");
        } else if last.as_deref() != Some(text.as_str()) {
            if last.is_some() {
                crate::outln!();
            }
            crate::out!("{header}{text}");
        }
        last = Some(text);
        match status {
            Status::Complete => return Ok(Exit::Ok),
            Status::Aborted => return Ok(Exit::Failed),
            Status::Progressing | Status::Paused => {}
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = &mut interrupted => return Ok(Exit::Passthrough(130)),
        }
    }
}

/// Asks on the terminal; refuses when there is none and --yes was not given.
fn confirm(question: &str) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(Exit::Usage.with("not a terminal: confirm with --yes"));
    }
    crate::out::stderr_str(&format!("{question}\nType 'yes' to continue: "));
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Exit::Failed.with(e))?;
    Ok(line.trim() == "yes")
}

async fn act(cfg: &Config, kind: ActionKind, a: &ActionArgs) -> Result<Exit, CliError> {
    if cfg.read_only {
        return Err(Exit::Refused.with(format!(
            "read-only mode: rollout {} is disabled (--read-only / read_only = true)",
            kind.key()
        )));
    }
    if a.force && a.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(
            Exit::Usage.with("--force needs --reason TEXT: the reason is recorded in the commit")
        );
    }
    let verifier = if kind == ActionKind::Promote {
        Some(release_verifier(cfg)?)
    } else {
        None
    };
    let store = open_store(cfg).await?;
    // An action says who acted: no identity is a config error (exit 2),
    // before anything is asked or checked.
    let by = store.author()?.0.to_string();
    store.sync().await?;
    let plan = store.read(&a.name).await?;
    let now = SystemTime::now();
    // Other rollouts in progress: the promote must not take their devices
    // (docs/ARCHITECTURE.md, "Overlapping rollouts").
    let others: Vec<Plan> = if kind == ActionKind::Promote {
        store
            .list()
            .await?
            .into_iter()
            .flatten()
            .filter(|p| p.name != plan.name && crate::rollout::overlap::in_progress(p))
            .collect()
    } else {
        Vec::new()
    };
    let needs_fleet = kind == ActionKind::Promote && (plan.state.wave > 0 || !others.is_empty());
    let fleet = if needs_fleet {
        observe(cfg).await?
    } else {
        None
    };
    let (gates, _) = if kind == ActionKind::Promote && plan.state.wave > 0 {
        gate_checks(&plan, fleet.as_ref(), now)
    } else {
        (Check::NotApplicable, None)
    };
    let overlap = match (&fleet, others.is_empty()) {
        (_, true) => Check::NotApplicable,
        (Some(f), false) => {
            let all: Vec<&Plan> = others.iter().chain(std::iter::once(&plan)).collect();
            crate::rollout::overlap::promote_check(
                &plan,
                &all,
                &crate::rollout::overlap::devices(f),
            )
        }
        (None, false) => Check::Inconclusive(format!(
            "{} in progress, and no [source] to tell which devices the next wave takes from {}",
            others
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if others.len() == 1 { "it" } else { "them" }
        )),
    };
    let verdict = match &verifier {
        Some(v) => Some(v.verify_release(&plan.release).await),
        None => None,
    };
    let checks = PromoteChecks {
        gates,
        signature: verdict
            .as_ref()
            .map_or(Check::NotApplicable, ReleaseVerdict::check),
        overlap,
    };
    let signature = verdict
        .as_ref()
        .map(|v| {
            format!(
                "\nsignature of {} {}: {}",
                sanitize(&plan.name),
                sanitize(&plan.release.version),
                signature_line(v)
            )
        })
        .unwrap_or_default();
    let request = ActionRequest {
        kind,
        rollout: a.name.clone(),
        reason: a.reason.clone(),
        force: a.force,
        by,
        now,
        expected: Some((plan.state.status, plan.state.wave)),
    };
    // Say what would happen (or why not) before asking.
    let after = crate::rollout::action::apply(&plan, &request, &checks).map_err(|r| {
        let hint = if r.forceable() {
            "\n  (--force --reason TEXT overrides it; both are recorded in the commit)"
        } else {
            ""
        };
        // A signature refusal already says what the verdict is.
        let signature = if r.check_name() == "signature" {
            ""
        } else {
            signature.as_str()
        };
        Exit::Refused.with(format!(
            "refused: {}{signature}{hint}",
            sanitize_long(&r.to_string())
        ))
    })?;
    let what = format!(
        "{} {}: {} wave {} → {} wave {}{signature}",
        kind.key(),
        sanitize(&plan.name),
        plan.state.status.key(),
        wave_label(&plan),
        after.state.status.key(),
        wave_label(&after)
    );
    if !a.yes && !confirm(&what)? {
        crate::errln!("cancelled");
        return Ok(Exit::Refused);
    }
    let (plan, commit) = store.act(&request, &checks).await?;
    crate::outln!(
        "{what} — commit {}{}",
        short_id(&commit.id),
        if commit.pushed {
            ", pushed"
        } else {
            " (no remote)"
        }
    );
    let _ = plan;
    Ok(Exit::Ok)
}

/// `fleetdeck gate NAME [--watch] [--auto-abort]`.
pub async fn gate(cli: &Cli, name: &str, watch: bool, auto_abort: bool) -> Result<Exit, CliError> {
    let cfg = load_config(cli)?;
    if auto_abort && cfg.read_only {
        return Err(Exit::Refused.with("read-only mode: --auto-abort is disabled"));
    }
    if matches!(cfg.source, SourceConfig::Unset) {
        return Err(
            Exit::Usage.with("gates need a metric source: add a [source] table to the config")
        );
    }
    let verifier = release_verifier(&cfg)?;
    let store = open_store(&cfg).await?;
    let mut source = open_source(&cfg)?;
    let mut history = GateHistory::new();
    loop {
        let _ = store.sync().await;
        let plan = store.read(name).await?;
        let (fleet, _) = refresh_once(&cfg, &mut source, Duration::from_secs(3)).await?;
        // Cached by digest: a verified release is not re-verified on every round.
        let signature = verifier.verify_release(&plan.release).await;
        let now = SystemTime::now();
        if let Some(ev) = history.observe(&plan, &fleet, now) {
            crate::outln!(
                "{} {} wave {} — {} canary, {} baseline devices; scope {}",
                format::utc(now),
                sanitize(&plan.name),
                wave_label(&plan),
                ev.canary_devices,
                ev.baseline_devices,
                ev.scope.key()
            );
            for c in &ev.checks {
                crate::outln!(
                    "  {} {:<12} {}",
                    c.outcome.symbol(),
                    c.name,
                    sanitize(&c.detail)
                );
            }
            // Where it breaches: the sites (groups) that fail the evaluation.
            for b in ev.breaches() {
                crate::outln!("  ✖ {}", sanitize_long(&b));
            }
        }
        let verdict = history.verdict(&plan);
        match &verdict {
            Verdict::Failing { reasons, .. } | Verdict::Failed { reasons, .. } => {
                crate::outln!(
                    "verdict: {} — {}",
                    verdict,
                    sanitize_long(&reasons.join("; "))
                )
            }
            _ => crate::outln!("verdict: {}", verdict),
        }
        crate::outln!("signature: {}", signature_line(&signature));
        let failed = matches!(verdict, Verdict::Failed { .. });
        if failed && auto_abort {
            let reasons = match &verdict {
                Verdict::Failed { reasons, .. } => reasons.join("; "),
                _ => String::new(),
            };
            let request = ActionRequest {
                kind: ActionKind::Abort,
                rollout: plan.name.clone(),
                reason: Some(format!("automatic rollback: gates failed: {reasons}")),
                force: false,
                by: format!("fleetdeck gate ({})", operator(&cfg)),
                now,
                expected: Some((plan.state.status, plan.state.wave)),
            };
            let checks = PromoteChecks {
                gates: Check::NotApplicable,
                signature: Check::NotApplicable,
                overlap: Check::NotApplicable,
            };
            match store.act(&request, &checks).await {
                Ok((_, commit)) => {
                    crate::outln!("aborted {} — commit {}", plan.name, short_id(&commit.id))
                }
                Err(e) => crate::errln!("fleetdeck: automatic abort of {} failed: {e}", plan.name),
            }
            return Ok(Exit::Failed);
        }
        if !watch || plan.state.status != crate::rollout::plan::Status::Progressing {
            return Ok(gate_exit(&verdict, &signature.check()));
        }
        // Without data yet, look again soon: an inconclusive evaluation is
        // replaced by the data at hand (GateHistory::observe), not one
        // interval later.
        let wait = match latest_outcome(&history) {
            Some(Outcome::Inconclusive) => plan.gates.interval.min(Duration::from_secs(5)),
            _ => plan.gates.interval,
        };
        tokio::time::sleep(wait.min(Duration::from_secs(3600))).await;
    }
}

/// 0 only when the gates pass and the release verifies; a failure of either
/// is 1; otherwise an inconclusive one is 3.
fn gate_exit(verdict: &Verdict, signature: &Check) -> Exit {
    let gates_failed = matches!(verdict, Verdict::Failed { .. } | Verdict::Failing { .. });
    let gates_unknown = matches!(verdict, Verdict::Inconclusive { .. } | Verdict::Pending);
    match signature {
        _ if gates_failed => Exit::Failed,
        Check::Fail(_) => Exit::Failed,
        _ if gates_unknown => Exit::Inconclusive,
        Check::Inconclusive(_) | Check::NotApplicable => Exit::Inconclusive,
        Check::Pass => Exit::Ok,
    }
}

fn latest_outcome(h: &GateHistory) -> Option<Outcome> {
    h.latest().map(|e| e.outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_exit_needs_both_gates_and_signature() {
        let fail = Verdict::Failed {
            reasons: vec!["p95".into()],
            failures: 3,
            limit: 3,
        };
        let cases = [
            (Verdict::Pass, Check::Pass, 0),
            (Verdict::Pass, Check::Fail("unsigned".into()), 1),
            (Verdict::Pass, Check::Inconclusive("unreachable".into()), 3),
            (fail.clone(), Check::Pass, 1),
            (fail, Check::Inconclusive("unreachable".into()), 1),
            (Verdict::Pending, Check::Pass, 3),
            (Verdict::Pending, Check::Fail("unsigned".into()), 1),
        ];
        for (v, c, want) in cases {
            assert_eq!(gate_exit(&v, &c).code(), want, "{v:?} {c:?}");
        }
    }
}
