//! Rollout actions — promote, halt, resume, abort, retry — as pure state
//! transitions on a [`Plan`], with Argo Rollouts semantics, and the commit
//! message that records each one. No I/O: the git store ([`super::store`])
//! reads the plan, calls [`apply`], and commits what it returns.
//!
//! The transitions:
//!
//! | action  | from                  | to                                            |
//! |---------|-----------------------|-----------------------------------------------|
//! | promote | progressing           | next wave released (`wave + 1`, `wave_started = now`); complete after the last |
//! | halt    | progressing           | paused (nobody new gets the release)          |
//! | resume  | paused                | progressing (`wave_started` unchanged: the soak clock keeps running) |
//! | abort   | progressing, paused   | aborted (everyone back to the previous release; `wave` kept so people see how far it got) |
//! | retry   | aborted               | progressing at wave 0: nothing released, the next promote releases the canary again |
//!
//! Promote checks, in order: the soak time of the current wave, the gates
//! (both only once a wave is released), and the release's signature (always).
//! Any of them failing or inconclusive refuses the promote unless it is forced
//! with a reason; a status that does not allow the action is never forceable.

use super::plan::{Plan, Status, format_duration};
use crate::text::Clean;
use std::fmt;
use std::time::{Duration, SystemTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    Promote,
    Halt,
    Resume,
    Abort,
    Retry,
}

impl ActionKind {
    pub const ALL: [ActionKind; 5] = [
        ActionKind::Promote,
        ActionKind::Halt,
        ActionKind::Resume,
        ActionKind::Abort,
        ActionKind::Retry,
    ];

    /// The word used on the command line, in keymaps and in commit messages.
    pub fn key(self) -> &'static str {
        match self {
            ActionKind::Promote => "promote",
            ActionKind::Halt => "halt",
            ActionKind::Resume => "resume",
            ActionKind::Abort => "abort",
            ActionKind::Retry => "retry",
        }
    }

    pub fn from_key(key: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.key() == key)
    }
}

/// The outcome of a pre-promotion check computed elsewhere (gates, signatures).
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    Pass,
    /// Why it failed, for a person: "p95 latency 452ms > 300ms".
    Fail(String),
    /// Why no verdict is possible: "no device runs 1.5.0 yet". Never a pass.
    Inconclusive(String),
    /// The check does not exist yet or is not configured.
    NotApplicable,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PromoteChecks {
    pub gates: Check,
    pub signature: Check,
    /// Whether the next wave takes devices from another in-progress rollout
    /// ([`super::overlap::promote_check`]).
    pub overlap: Check,
}

impl PromoteChecks {
    /// For actions other than promote, which consult no check.
    pub fn none() -> PromoteChecks {
        PromoteChecks {
            gates: Check::NotApplicable,
            signature: Check::NotApplicable,
            overlap: Check::NotApplicable,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ActionRequest {
    pub kind: ActionKind,
    pub rollout: String,
    pub reason: Option<String>,
    /// Override the soak, gate and signature checks of a promote (needs a reason).
    pub force: bool,
    /// Who acts (recorded as `state.updated_by` and in the commit message).
    pub by: String,
    pub now: SystemTime,
    /// The state the operator saw when deciding (status, wave): the action is refused if the plan changed since.
    pub expected: Option<(Status, usize)>,
}

/// Why an action was not applied, written for the operator.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("this request is for rollout '{requested}' but the plan read is '{plan}'")]
    WrongRollout { requested: String, plan: String },
    #[error("the rollout changed since you looked: now {now}")]
    Changed {
        /// "wave 2/4 progressing (by bob: canary healthy)".
        now: String,
        status: Status,
        wave: usize,
    },
    #[error("--force needs --reason: say why the checks may be skipped")]
    ForceWithoutReason,
    #[error("{}", wrong_status(.rollout, *.action, *.status))]
    WrongStatus {
        rollout: String,
        action: ActionKind,
        status: Status,
    },
    #[error(
        "soak time not over: {} of {} left in wave {wave} ({label})",
        format_duration(*.left),
        format_duration(*.soak)
    )]
    Soaking {
        wave: usize,
        label: String,
        left: Duration,
        soak: Duration,
    },
    #[error(
        "soak time unknown: wave {wave} ({label}) has no start time — use --force with a reason"
    )]
    SoakUnknown { wave: usize, label: String },
    #[error("gates failing: {0}")]
    GatesFailing(String),
    #[error("gates inconclusive: {0} — use --force with a reason")]
    GatesInconclusive(String),
    #[error("signature does not verify: {0}")]
    SignatureFailing(String),
    #[error("signature not verified: {0} — use --force with a reason")]
    SignatureInconclusive(String),
    #[error("overlapping rollouts: {0}")]
    Overlap(String),
}

impl Refusal {
    /// The check a forceable refusal comes from: "soak", "gates", "signature"
    /// ("status" and the like for the others).
    pub fn check_name(&self) -> &'static str {
        match self {
            Refusal::Soaking { .. } | Refusal::SoakUnknown { .. } => "soak",
            Refusal::GatesFailing(_) | Refusal::GatesInconclusive(_) => "gates",
            Refusal::SignatureFailing(_) | Refusal::SignatureInconclusive(_) => "signature",
            Refusal::Overlap(_) => "overlap",
            Refusal::WrongStatus { .. } => "status",
            Refusal::Changed { .. } => "concurrent change",
            Refusal::WrongRollout { .. } => "rollout",
            Refusal::ForceWithoutReason => "reason",
        }
    }

    /// Whether `--force` with a reason would override this refusal.
    pub fn forceable(&self) -> bool {
        matches!(
            self,
            Refusal::Soaking { .. }
                | Refusal::SoakUnknown { .. }
                | Refusal::GatesFailing(_)
                | Refusal::GatesInconclusive(_)
                | Refusal::SignatureFailing(_)
                | Refusal::SignatureInconclusive(_)
                | Refusal::Overlap(_)
        )
    }
}

fn wrong_status(rollout: &str, action: ActionKind, status: Status) -> String {
    use ActionKind::*;
    use Status::*;
    match (action, status) {
        (Promote, Paused) => format!("{rollout} is paused: resume it before promoting"),
        (Promote, Aborted) => {
            format!("{rollout} is aborted: retry it to start again from the canary")
        }
        (Promote, Complete) => format!("{rollout} is already complete: every wave is released"),
        (Halt, Paused) => format!("{rollout} is already paused"),
        (Halt, Aborted) => format!("{rollout} is aborted: nothing to halt"),
        (Halt, Complete) => format!("{rollout} is complete: nothing to halt"),
        (Resume, _) => format!(
            "nothing to resume: {rollout} is not paused ({})",
            status.key()
        ),
        (Abort, Aborted) => format!("{rollout} is already aborted"),
        (Abort, Complete) => format!(
            "{rollout} is complete: every wave is released; to go back, roll out the previous release"
        ),
        (Retry, _) => format!(
            "nothing to retry: {rollout} is not aborted ({})",
            status.key()
        ),
        // Not refused by `apply`; worded anyway so no pair is left without a message.
        (_, Progressing) | (Abort, Paused) => {
            format!("{rollout} is {}: cannot {}", status.key(), action.key())
        }
    }
}

/// "wave 2/4 (25%)", or "wave 0/4 (none released)".
pub fn wave_position(plan: &Plan, wave: usize) -> String {
    let label = match wave.checked_sub(1).and_then(|i| plan.waves.get(i)) {
        Some(w) => w.label(),
        None => "none released".to_string(),
    };
    format!("wave {wave}/{} ({label})", plan.waves.len())
}

/// "wave 2/4 (25%) progressing (by bob: canary healthy)": where the rollout is
/// and who put it there, for conflict and refusal messages.
pub fn describe_state(plan: &Plan) -> String {
    let mut s = format!(
        "{} {}",
        wave_position(plan, plan.state.wave),
        plan.state.status.key()
    );
    match (&plan.state.updated_by, &plan.state.reason) {
        (Some(by), Some(reason)) => s.push_str(&format!(" (by {by}: {reason})")),
        (Some(by), None) => s.push_str(&format!(" (by {by})")),
        (None, Some(reason)) => s.push_str(&format!(" ({reason})")),
        (None, None) => {}
    }
    s
}

/// The request's reason, trimmed and made one safe line; empty counts as none.
fn reason_of(req: &ActionRequest) -> Option<String> {
    req.reason
        .as_deref()
        .map(|r| one_line(r).into_string())
        .filter(|r| !r.is_empty())
}

/// Free text on one line, safe for a plan file and a commit message: every
/// control, escape, bidi, separator and zero-width character (newlines
/// included) is shown escaped (`\n`, `\u{1b}`), so a reason or an operator
/// name can neither forge lines of the commit message nor carry an escape
/// sequence; trimmed; cut at [`MAX_FIELD`] characters.
pub(crate) fn one_line(s: &str) -> Clean {
    Clean::with_max(s.trim(), MAX_FIELD)
}

/// Longest field of a commit message (a forced promote's reason names every
/// check it overrode, with the verdict's words).
pub const MAX_FIELD: usize = 2048;

/// A commit message made only of [`Clean`] one-line parts:
///
/// ```text
/// SUBJECT
///
/// Key: value
/// Key: value
/// ```
///
/// The subject is one `Clean` line and every body line is a fixed key and a
/// `Clean` value, so no field of a plan, reason or operator name can add a
/// line, split the subject or carry an escape sequence into git. The store
/// commits only a `CommitMessage` (never a `String`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitMessage {
    subject: Clean,
    fields: Vec<(&'static str, Clean)>,
}

impl CommitMessage {
    pub fn new(subject: Clean) -> CommitMessage {
        CommitMessage {
            subject,
            fields: Vec::new(),
        }
    }

    /// Appends `Key: value`.
    pub fn field(mut self, key: &'static str, value: Clean) -> CommitMessage {
        self.push(key, value);
        self
    }

    pub fn push(&mut self, key: &'static str, value: Clean) {
        debug_assert!(crate::text::is_clean(key) && !key.contains(':'));
        self.fields.push((key, value));
    }

    pub fn subject(&self) -> &str {
        self.subject.as_str()
    }
}

impl fmt::Display for CommitMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n\n", self.subject.as_str())?;
        for (k, v) in &self.fields {
            writeln!(f, "{k}: {}", v.as_str())?;
        }
        Ok(())
    }
}

/// The checks a promote must pass, as the refusals they would cause.
fn promote_blockers(plan: &Plan, req: &ActionRequest, checks: &PromoteChecks) -> Vec<Refusal> {
    let mut out = Vec::new();
    let current = plan.state.wave;
    // From wave 0 nothing is released: there is nothing to soak or to gate.
    if let Some(wave) = current.checked_sub(1).and_then(|i| plan.waves.get(i)) {
        let label = wave.label();
        match plan.state.wave_started {
            None => out.push(Refusal::SoakUnknown {
                wave: current,
                label,
            }),
            Some(started) => {
                // A start in the future (clock skew) counts as just started.
                let elapsed = req.now.duration_since(started).unwrap_or(Duration::ZERO);
                if elapsed < wave.soak {
                    out.push(Refusal::Soaking {
                        wave: current,
                        label,
                        left: wave.soak - elapsed,
                        soak: wave.soak,
                    });
                }
            }
        }
        match &checks.gates {
            Check::Fail(why) => out.push(Refusal::GatesFailing(why.clone())),
            Check::Inconclusive(why) => out.push(Refusal::GatesInconclusive(why.clone())),
            Check::Pass | Check::NotApplicable => {}
        }
    }
    match &checks.signature {
        Check::Fail(why) => out.push(Refusal::SignatureFailing(why.clone())),
        Check::Inconclusive(why) => out.push(Refusal::SignatureInconclusive(why.clone())),
        Check::Pass | Check::NotApplicable => {}
    }
    // Another rollout's devices: from any wave, the canary's included.
    if let Check::Fail(why) | Check::Inconclusive(why) = &checks.overlap {
        out.push(Refusal::Overlap(why.clone()));
    }
    out
}

/// Applies one action to a plan: the plan to commit, or why not.
///
/// Every successful action sets `updated_by` and `reason` (a forced promote
/// records "FORCED: <reason> (overrode: …)" so the file itself says so).
pub fn apply(plan: &Plan, req: &ActionRequest, checks: &PromoteChecks) -> Result<Plan, Refusal> {
    if req.rollout != plan.name {
        return Err(Refusal::WrongRollout {
            requested: req.rollout.clone(),
            plan: plan.name.clone(),
        });
    }
    let state = &plan.state;
    if let Some((status, wave)) = req.expected
        && (status, wave) != (state.status, state.wave)
    {
        return Err(Refusal::Changed {
            now: describe_state(plan),
            status: state.status,
            wave: state.wave,
        });
    }
    let reason = reason_of(req);
    if req.force && reason.is_none() {
        return Err(Refusal::ForceWithoutReason);
    }
    let wrong = || {
        Err(Refusal::WrongStatus {
            rollout: plan.name.clone(),
            action: req.kind,
            status: state.status,
        })
    };
    let mut next = plan.clone();
    let mut recorded_reason = reason.clone();
    match req.kind {
        ActionKind::Promote => {
            if state.status != Status::Progressing {
                return wrong();
            }
            if state.wave >= plan.waves.len() {
                // A hand-edited "progressing" with every wave out: nothing to release.
                return Err(Refusal::WrongStatus {
                    rollout: plan.name.clone(),
                    action: req.kind,
                    status: Status::Complete,
                });
            }
            let blockers = promote_blockers(plan, req, checks);
            if let Some(first) = blockers.first()
                && !req.force
            {
                return Err(first.clone());
            }
            if !blockers.is_empty() {
                let overrode: Vec<String> = blockers.iter().map(|b| b.to_string()).collect();
                recorded_reason = Some(format!(
                    "FORCED: {} (overrode: {})",
                    reason.clone().unwrap_or_default(),
                    overrode.join("; ")
                ));
            } else if req.force {
                recorded_reason = Some(format!("FORCED: {}", reason.clone().unwrap_or_default()));
            }
            next.state.wave = state.wave + 1;
            next.state.wave_started = Some(req.now);
            if next.state.wave == plan.waves.len() {
                next.state.status = Status::Complete;
            }
        }
        ActionKind::Halt => {
            if state.status != Status::Progressing {
                return wrong();
            }
            next.state.status = Status::Paused;
        }
        ActionKind::Resume => {
            if state.status != Status::Paused {
                return wrong();
            }
            next.state.status = Status::Progressing;
        }
        ActionKind::Abort => {
            if !matches!(state.status, Status::Progressing | Status::Paused) {
                return wrong();
            }
            next.state.status = Status::Aborted;
        }
        ActionKind::Retry => {
            if state.status != Status::Aborted {
                return wrong();
            }
            next.state.status = Status::Progressing;
            next.state.wave = 0;
            next.state.wave_started = None;
        }
    }
    next.state.updated_by = Some(one_line(&req.by).into_string()).filter(|b| !b.is_empty());
    // Recorded in the plan file: one safe line of bounded length, so the plan
    // still loads (and shows safely) everywhere.
    next.state.reason = recorded_reason.map(|r| one_line(&r).into_string());
    Ok(next)
}

/// The commit message of one action:
///
/// ```text
/// rollout vision-1.5.0: promote — wave 2/4 (25%) progressing
///
/// Action: promote
/// Rollout: vision-1.5.0
/// Wave: 1/4 (canary) → 2/4 (25%)
/// Status: progressing → progressing
/// By: alice
/// Reason: canary healthy for 30m
/// Forced: no
/// ```
///
/// A forced action ends its first line with `[FORCED]`, and its `Reason:` line
/// is the recorded one (which names what was overridden); a forced promote
/// then has one line per check it overrode:
///
/// ```text
/// Overrode: signature check forced: signature does not verify: image …: no signatures found at …
/// ```
pub fn commit_message(
    before: &Plan,
    after: &Plan,
    req: &ActionRequest,
    checks: &PromoteChecks,
) -> CommitMessage {
    let pos = |p: &Plan| one_line(wave_position(p, p.state.wave).trim_start_matches("wave "));
    let forced = req.force && req.kind == ActionKind::Promote;
    let subject = format!(
        "rollout {}: {} — {} {}{}",
        after.name,
        req.kind.key(),
        wave_position(after, after.state.wave),
        after.state.status.key(),
        if forced { " [FORCED]" } else { "" }
    );
    let reason = after
        .state
        .reason
        .clone()
        .or_else(|| reason_of(req))
        .unwrap_or_else(|| "(none given)".to_string());
    let mut msg = CommitMessage::new(Clean::new(subject.trim()))
        .field("Action", one_line(req.kind.key()))
        .field("Rollout", one_line(&after.name))
        .field(
            "Wave",
            one_line(&format!("{} → {}", pos(before), pos(after))),
        )
        .field(
            "Status",
            one_line(&format!(
                "{} → {}",
                before.state.status.key(),
                after.state.status.key()
            )),
        )
        .field("By", one_line(&req.by))
        .field("Reason", one_line(&reason))
        .field("Forced", one_line(if forced { "yes" } else { "no" }));
    if forced {
        for b in promote_blockers(before, req, checks) {
            msg.push(
                "Overrode",
                one_line(&format!("{} check forced: {}", b.check_name(), b)),
            );
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::plan::{DigestRef, ReleaseSpec};
    use proptest::prelude::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn spec(v: &str, d: &str) -> ReleaseSpec {
        ReleaseSpec {
            version: v.into(),
            image: DigestRef::parse(&format!("registry.local/vision@{d}")).expect("ref"),
            model: None,
            sbom: None,
        }
    }

    /// The default plan (canary 30m, 25% 1h, 50% 1h, 100% 0s) in a given state.
    fn plan(status: Status, wave: usize, started: Option<u64>) -> Plan {
        let mut p = Plan::new("vision-1.5.0", spec("1.5.0", D2), spec("1.4.0", D1));
        p.state.status = status;
        p.state.wave = wave;
        p.state.wave_started = started.map(t);
        p.state.updated_by = Some("carol".into());
        p
    }

    fn req(kind: ActionKind, now: u64) -> ActionRequest {
        ActionRequest {
            kind,
            rollout: "vision-1.5.0".into(),
            reason: Some("looks good".into()),
            force: false,
            by: "alice".into(),
            now: t(now),
            expected: None,
        }
    }

    fn pass() -> PromoteChecks {
        PromoteChecks {
            gates: Check::Pass,
            signature: Check::Pass,
            overlap: Check::NotApplicable,
        }
    }

    use ActionKind::*;
    use Status::*;

    #[test]
    fn keys_round_trip() {
        for k in ActionKind::ALL {
            assert_eq!(ActionKind::from_key(k.key()), Some(k));
        }
        assert_eq!(ActionKind::from_key("rollback"), None);
    }

    #[test]
    fn transitions() {
        // (status, wave, wave_started)
        type At = (Status, usize, Option<u64>);
        // (action, before, now, after)
        let cases: &[(ActionKind, At, u64, At)] = &[
            (
                Promote,
                (Progressing, 0, None),
                5,
                (Progressing, 1, Some(5)),
            ),
            (
                Promote,
                (Progressing, 1, Some(0)),
                1800,
                (Progressing, 2, Some(1800)),
            ),
            (
                Promote,
                (Progressing, 2, Some(0)),
                3600,
                (Progressing, 3, Some(3600)),
            ),
            (
                Promote,
                (Progressing, 3, Some(0)),
                3600,
                (Complete, 4, Some(3600)),
            ),
            (Halt, (Progressing, 2, Some(7)), 9, (Paused, 2, Some(7))),
            (Halt, (Progressing, 0, None), 9, (Paused, 0, None)),
            (Resume, (Paused, 2, Some(7)), 9, (Progressing, 2, Some(7))),
            (Abort, (Progressing, 2, Some(7)), 9, (Aborted, 2, Some(7))),
            (Abort, (Paused, 3, Some(7)), 9, (Aborted, 3, Some(7))),
            (Retry, (Aborted, 3, Some(7)), 9, (Progressing, 0, None)),
        ];
        for (kind, (s, w, st), now, (s2, w2, st2)) in cases {
            let before = plan(*s, *w, *st);
            let after = apply(&before, &req(*kind, *now), &pass())
                .unwrap_or_else(|e| panic!("{kind:?} from {s:?} {w}: {e}"));
            assert_eq!(
                (
                    after.state.status,
                    after.state.wave,
                    after.state.wave_started
                ),
                (*s2, *w2, st2.map(t)),
                "{kind:?} from {s:?} wave {w}"
            );
            assert_eq!(after.state.updated_by.as_deref(), Some("alice"));
            assert_eq!(after.state.reason.as_deref(), Some("looks good"));
            // Nothing but the state changes.
            assert_eq!(
                (&after.waves, &after.release),
                (&before.waves, &before.release)
            );
        }
    }

    #[test]
    fn refusals() {
        let fail = |s: &str| Check::Fail(s.into());
        let inc = |s: &str| Check::Inconclusive(s.into());
        let checks = |gates: Check, signature: Check| PromoteChecks {
            gates,
            signature,
            overlap: Check::NotApplicable,
        };
        // (action, before, now, checks, expected message)
        let cases: Vec<(ActionKind, Plan, u64, PromoteChecks, &str)> = vec![
            (
                Promote,
                plan(Paused, 1, Some(0)),
                9999,
                pass(),
                "vision-1.5.0 is paused: resume it before promoting",
            ),
            (
                Promote,
                plan(Aborted, 1, Some(0)),
                9999,
                pass(),
                "vision-1.5.0 is aborted: retry it to start again from the canary",
            ),
            (
                Promote,
                plan(Complete, 4, Some(0)),
                9999,
                pass(),
                "vision-1.5.0 is already complete: every wave is released",
            ),
            (
                Promote,
                plan(Progressing, 4, Some(0)),
                9999,
                pass(),
                "vision-1.5.0 is already complete: every wave is released",
            ),
            (
                Promote,
                plan(Progressing, 1, Some(0)),
                1080,
                pass(),
                "soak time not over: 12m of 30m left in wave 1 (canary)",
            ),
            (
                Promote,
                plan(Progressing, 1, None),
                1080,
                pass(),
                "soak time unknown: wave 1 (canary) has no start time — use --force with a reason",
            ),
            (
                Promote,
                plan(Progressing, 1, Some(0)),
                9999,
                checks(fail("p95 latency 452ms > 300ms"), Check::Pass),
                "gates failing: p95 latency 452ms > 300ms",
            ),
            (
                Promote,
                plan(Progressing, 1, Some(0)),
                9999,
                checks(inc("no device runs 1.5.0 yet"), Check::Pass),
                "gates inconclusive: no device runs 1.5.0 yet — use --force with a reason",
            ),
            (
                Promote,
                plan(Progressing, 1, Some(0)),
                9999,
                checks(Check::Pass, fail("no signature by a trusted key")),
                "signature does not verify: no signature by a trusted key",
            ),
            (
                Promote,
                plan(Progressing, 0, None),
                0,
                checks(Check::NotApplicable, fail("bad payload digest")),
                "signature does not verify: bad payload digest",
            ),
            (
                Promote,
                plan(Progressing, 0, None),
                0,
                checks(Check::NotApplicable, inc("registry unreachable")),
                "signature not verified: registry unreachable — use --force with a reason",
            ),
            (
                Halt,
                plan(Paused, 1, Some(0)),
                0,
                pass(),
                "vision-1.5.0 is already paused",
            ),
            (
                Halt,
                plan(Aborted, 1, Some(0)),
                0,
                pass(),
                "vision-1.5.0 is aborted: nothing to halt",
            ),
            (
                Halt,
                plan(Complete, 4, Some(0)),
                0,
                pass(),
                "vision-1.5.0 is complete: nothing to halt",
            ),
            (
                Resume,
                plan(Progressing, 1, Some(0)),
                0,
                pass(),
                "nothing to resume: vision-1.5.0 is not paused (progressing)",
            ),
            (
                Resume,
                plan(Aborted, 1, Some(0)),
                0,
                pass(),
                "nothing to resume: vision-1.5.0 is not paused (aborted)",
            ),
            (
                Abort,
                plan(Aborted, 1, Some(0)),
                0,
                pass(),
                "vision-1.5.0 is already aborted",
            ),
            (
                Abort,
                plan(Complete, 4, Some(0)),
                0,
                pass(),
                "vision-1.5.0 is complete: every wave is released; to go back, roll out the previous release",
            ),
            (
                Retry,
                plan(Progressing, 1, Some(0)),
                0,
                pass(),
                "nothing to retry: vision-1.5.0 is not aborted (progressing)",
            ),
            (
                Retry,
                plan(Paused, 1, Some(0)),
                0,
                pass(),
                "nothing to retry: vision-1.5.0 is not aborted (paused)",
            ),
            (
                Retry,
                plan(Complete, 4, Some(0)),
                0,
                pass(),
                "nothing to retry: vision-1.5.0 is not aborted (complete)",
            ),
        ];
        for (kind, before, now, checks, want) in cases {
            let e = apply(&before, &req(kind, now), &checks).expect_err(want);
            assert_eq!(e.to_string(), want, "{kind:?} {:?}", before.state);
        }
    }

    #[test]
    fn checks_are_ignored_from_wave_zero_but_not_the_signature() {
        let failing = PromoteChecks {
            gates: Check::Fail("p95".into()),
            signature: Check::Pass,
            overlap: Check::NotApplicable,
        };
        let p = apply(&plan(Progressing, 0, None), &req(Promote, 0), &failing)
            .expect("no gates at wave 0");
        assert_eq!(p.state.wave, 1);
        // The soak of the 100% wave (0s) never blocks; completion is reached.
        let p = apply(&plan(Progressing, 3, Some(0)), &req(Promote, 3600), &pass()).expect("last");
        assert_eq!(p.state.status, Complete);
    }

    #[test]
    fn force() {
        let before = plan(Progressing, 1, Some(0));
        let failing = PromoteChecks {
            gates: Check::Fail("p95 latency 452ms > 300ms".into()),
            signature: Check::Pass,
            overlap: Check::NotApplicable,
        };
        let mut r = req(Promote, 60);
        r.force = true;
        r.reason = Some("   ".into());
        assert_eq!(
            apply(&before, &r, &failing),
            Err(Refusal::ForceWithoutReason)
        );
        assert_eq!(
            Refusal::ForceWithoutReason.to_string(),
            "--force needs --reason: say why the checks may be skipped"
        );
        r.reason = None;
        assert_eq!(
            apply(&before, &r, &failing),
            Err(Refusal::ForceWithoutReason)
        );
        r.reason = Some("hotfix for\nthe fire".into());
        let after = apply(&before, &r, &failing).expect("forced");
        assert_eq!(after.state.wave, 2);
        let recorded = after.state.reason.clone().unwrap_or_default();
        assert!(
            recorded.starts_with(
                "FORCED: hotfix for\\nthe fire (overrode: soak time not over: 29m of 30m left"
            ),
            "{recorded}"
        );
        assert!(
            recorded.contains("gates failing: p95 latency 452ms > 300ms"),
            "{recorded}"
        );
        let msg = commit_message(&before, &after, &r, &failing).to_string();
        assert!(
            msg.lines().next().unwrap_or("").ends_with("[FORCED]"),
            "{msg}"
        );
        assert!(msg.contains("\nForced: yes\n"), "{msg}");
        // The line break in the reason is shown, not obeyed.
        assert!(
            msg.contains("Reason: FORCED: hotfix for\\nthe fire"),
            "{msg}"
        );
        assert!(
            msg.contains("\nOverrode: soak check forced: soak time not over: 29m of 30m left")
                && msg.contains(
                    "\nOverrode: gates check forced: gates failing: p95 latency 452ms > 300ms\n"
                ),
            "{msg}"
        );
        assert!(!msg.contains("signature check forced"), "{msg}");
        // Force never overrides a status.
        let paused = plan(Paused, 1, Some(0));
        assert!(matches!(
            apply(&paused, &r, &failing),
            Err(Refusal::WrongStatus { .. })
        ));
        assert!(
            !Refusal::WrongStatus {
                rollout: "x".into(),
                action: Promote,
                status: Paused
            }
            .forceable()
        );
        assert!(Refusal::GatesFailing("x".into()).forceable());
    }

    #[test]
    fn stale_view_and_wrong_rollout() {
        let mut now = plan(Progressing, 2, Some(0));
        now.state.updated_by = Some("bob".into());
        now.state.reason = Some("canary healthy".into());
        let mut r = req(Halt, 10);
        r.expected = Some((Progressing, 1));
        let e = apply(&now, &r, &pass()).expect_err("stale");
        assert_eq!(
            e.to_string(),
            "the rollout changed since you looked: now wave 2/4 (25%) progressing (by bob: canary healthy)"
        );
        r.expected = Some((Progressing, 2));
        assert!(apply(&now, &r, &pass()).is_ok());
        r.rollout = "other".into();
        assert!(matches!(
            apply(&now, &r, &pass()),
            Err(Refusal::WrongRollout { .. })
        ));
    }

    #[test]
    fn a_forced_unsigned_promote_records_the_reason_and_the_signature_override() {
        let before = plan(Progressing, 0, None);
        let unsigned = PromoteChecks {
            gates: Check::NotApplicable,
            signature: Check::Fail(
                "image registry.local/fleet/vision:1.5.1@sha256:aaaa: no signatures found".into(),
            ),
            overlap: Check::NotApplicable,
        };
        let mut r = req(Promote, 0);
        assert_eq!(
            apply(&before, &r, &unsigned),
            Err(Refusal::SignatureFailing(
                "image registry.local/fleet/vision:1.5.1@sha256:aaaa: no signatures found".into()
            ))
        );
        r.force = true;
        r.reason = Some("hotfix, signed later".into());
        let after = apply(&before, &r, &unsigned).expect("forced");
        let msg = commit_message(&before, &after, &r, &unsigned).to_string();
        assert!(
            msg.contains(
                "Reason: FORCED: hotfix, signed later (overrode: signature does not verify: image"
            ),
            "{msg}"
        );
        assert!(
            msg.ends_with("\nOverrode: signature check forced: signature does not verify: image registry.local/fleet/vision:1.5.1@sha256:aaaa: no signatures found\n"),
            "{msg}"
        );
        // An inconclusive signature (registry unreachable) is overridden the same way.
        let unknown = PromoteChecks {
            gates: Check::NotApplicable,
            signature: Check::Inconclusive("registry unreachable".into()),
            overlap: Check::NotApplicable,
        };
        let after = apply(&before, &r, &unknown).expect("forced");
        let msg = commit_message(&before, &after, &r, &unknown).to_string();
        assert!(
            msg.contains(
                "Overrode: signature check forced: signature not verified: registry unreachable"
            ),
            "{msg}"
        );
    }

    #[test]
    fn a_promote_taking_anothers_devices_is_refused_unless_forced() {
        let before = plan(Progressing, 0, None);
        let why =
            "wave 1 of vision-1.5.0 would take 4 devices of vision-1.4.9 (1.4.9, in progress)";
        let taking = PromoteChecks {
            gates: Check::NotApplicable,
            signature: Check::Pass,
            overlap: Check::Fail(why.into()),
        };
        let mut r = req(Promote, 0);
        let refused = apply(&before, &r, &taking).expect_err("refused");
        assert_eq!(refused, Refusal::Overlap(why.into()));
        assert!(refused.forceable());
        assert_eq!(refused.check_name(), "overlap");
        r.force = true;
        r.reason = Some("1.4.9 is abandoned".into());
        let after = apply(&before, &r, &taking).expect("forced");
        assert_eq!(after.state.wave, 1);
        let msg = commit_message(&before, &after, &r, &taking).to_string();
        assert!(msg.contains("[FORCED]"), "{msg}");
        assert!(
            msg.contains(&format!(
                "Overrode: overlap check forced: overlapping rollouts: {why}"
            )),
            "{msg}"
        );
    }

    /// Issue 9, case 2: a wave name, a reason and an operator name with
    /// escape sequences and line breaks cannot add a line to the commit
    /// message or carry an escape into it (the plan is built directly here,
    /// past the loader's checks, to prove the message holds on its own).
    #[test]
    fn hostile_fields_cannot_reach_the_commit_message() {
        let mut before = plan(Progressing, 1, Some(0));
        before.waves[0].name = Some("WAVE\u{1b}]2;PWNED\u{7}\u{1b}[2J".into());
        let mut r = req(Halt, 0);
        r.reason = Some("ok\nForced: yes\r\n\u{9b}31m\u{202e}\u{2028}x".into());
        r.by = "eve\n\nBy: root\u{1b}[2J".into();
        let after = apply(&before, &r, &pass()).expect("halt");
        let msg = commit_message(&before, &after, &r, &pass()).to_string();
        assert!(
            !msg.chars().any(|c| c != '\n' && crate::text::is_unsafe(c)),
            "{msg:?}"
        );
        let lines: Vec<&str> = msg.lines().collect();
        assert_eq!(
            lines[0],
            "rollout vision-1.5.0: halt — wave 1/4 (WAVE\\u{1b}]2;PWNED\\u{7}\\u{1b}[2J) paused"
        );
        assert_eq!(lines.len(), 9, "{msg}");
        assert_eq!(lines.iter().filter(|l| l.starts_with("By: ")).count(), 1);
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("Forced: ")).count(),
            1
        );
        assert_eq!(
            after.state.reason.as_deref(),
            Some("ok\\nForced: yes\\r\\n\\u{9b}31m\\u{202e}\\u{2028}x")
        );
    }

    #[test]
    fn commit_message_format() {
        let before = plan(Progressing, 1, Some(0));
        let r = req(Promote, 1800);
        let after = apply(&before, &r, &pass()).expect("promote");
        assert_eq!(
            commit_message(&before, &after, &r, &pass()).to_string(),
            "rollout vision-1.5.0: promote — wave 2/4 (25%) progressing\n\n\
             Action: promote\nRollout: vision-1.5.0\nWave: 1/4 (canary) → 2/4 (25%)\n\
             Status: progressing → progressing\nBy: alice\nReason: looks good\nForced: no\n"
        );
        let mut r = req(Retry, 0);
        r.reason = None;
        let before = plan(Aborted, 2, Some(0));
        let after = apply(&before, &r, &pass()).expect("retry");
        let msg = commit_message(&before, &after, &r, &pass()).to_string();
        assert!(
            msg.starts_with(
                "rollout vision-1.5.0: retry — wave 0/4 (none released) progressing\n\n"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("Wave: 2/4 (25%) → 0/4 (none released)\nStatus: aborted → progressing\n"),
            "{msg}"
        );
        assert!(msg.contains("Reason: (none given)\n"), "{msg}");
    }

    fn any_status() -> impl Strategy<Value = Status> {
        prop_oneof![
            Just(Progressing),
            Just(Paused),
            Just(Aborted),
            Just(Complete)
        ]
    }

    fn any_check() -> impl Strategy<Value = Check> {
        prop_oneof![
            Just(Check::Pass),
            Just(Check::NotApplicable),
            ".{0,8}".prop_map(Check::Fail),
            ".{0,8}".prop_map(Check::Inconclusive),
        ]
    }

    proptest! {
        #[test]
        fn apply_never_panics_and_only_retry_goes_back(
            kind in 0usize..5,
            status in any_status(),
            wave in 0usize..7,
            started in proptest::option::of(0u64..10_000),
            now in 0u64..10_000,
            force in any::<bool>(),
            reason in proptest::option::of(".{0,12}"),
            gates in any_check(),
            signature in any_check(),
            expected in proptest::option::of((any_status(), 0usize..7)),
        ) {
            // `wave` may exceed the number of waves: apply must cope with hand edits.
            let before = plan(status, wave, started);
            let r = ActionRequest {
                kind: ActionKind::ALL[kind],
                rollout: "vision-1.5.0".into(),
                reason,
                force,
                by: "prop".into(),
                now: t(now),
                expected,
            };
            let checks = PromoteChecks { gates, signature, overlap: Check::NotApplicable };
            if let Ok(after) = apply(&before, &r, &checks) {
                if r.kind != Retry {
                    prop_assert!(after.state.wave >= before.state.wave);
                }
                if r.kind == Promote {
                    prop_assert!(after.state.wave <= after.waves.len());
                }
                prop_assert_eq!(after.state.updated_by.as_deref(), Some("prop"));
                let msg = commit_message(&before, &after, &r, &checks).to_string();
                let overrode = msg.lines().filter(|l| l.starts_with("Overrode: ")).count();
                prop_assert!(msg.lines().count() == 9 + overrode, "{}", msg);
                prop_assert!(overrode == 0 || (r.force && r.kind == Promote), "{}", msg);
            }
        }
    }
}
