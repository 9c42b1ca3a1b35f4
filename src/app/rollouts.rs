//! The rollout side of the app: plans read from the repository, their
//! observed progress and gate history, and the confirm-then-commit flow of
//! promote / halt / resume / abort / retry. Pure, like the rest of the app:
//! the commit itself is an [`Effect::Act`] carried out by a worker.

use super::keymap::{Key, KeyCode};
use super::{App, Effect, Level, Mode, ViewKind};
use crate::format;
use crate::rollout::action::{self, ActionKind, ActionRequest, Check, PromoteChecks};
use crate::rollout::gate::{GateHistory, Verdict};
use crate::rollout::overlap::{self, Shared};
use crate::rollout::plan::{Plan, Status};
use crate::rollout::progress::{Progress, progress};
use crate::rollout::wave;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

/// One rollout as the views see it.
pub struct RolloutEntry {
    pub plan: Plan,
    pub progress: Progress,
    /// Gate evaluations over time, kept across re-reads of the plan.
    pub gates: GateHistory,
    pub verdict: Verdict,
    /// Other in-progress rollouts holding some of the devices this one holds.
    pub overlaps: Vec<Shared>,
    /// Devices this one holds that run another overlapping rollout's release.
    pub taken: Vec<Shared>,
}

impl RolloutEntry {
    fn new(plan: Plan) -> RolloutEntry {
        RolloutEntry {
            plan,
            progress: Progress::default(),
            gates: GateHistory::new(),
            verdict: Verdict::Pending,
            overlaps: Vec::new(),
            taken: Vec::new(),
        }
    }

    /// Time left before the current wave's soak is over (zero when over or no wave yet).
    pub fn soak_left(&self, now: SystemTime) -> Option<Duration> {
        let p = &self.plan;
        let w = p.state.wave.checked_sub(1).and_then(|i| p.waves.get(i))?;
        let started = p.state.wave_started?;
        let elapsed = now.duration_since(started).unwrap_or_default();
        Some(w.soak.saturating_sub(elapsed))
    }

    /// What needs a decision, most urgent first (lower rank), and a phrase for
    /// it. The order (README "Keys", docs/ARCHITECTURE.md "Rollouts list
    /// order"): failing gates (0, 1), devices taken by another rollout (2),
    /// waiting for a promote (3, 4), soaking (5), paused (6), not started (7),
    /// aborted (8), complete (9). A paused, aborted or failing rollout never
    /// reads as healthy.
    pub fn needs(&self, now: SystemTime) -> (u8, String) {
        let p = &self.plan;
        match (&p.state.status, &self.verdict) {
            // The first reason says where (issue 11: the breaching site or
            // group comes first) and the figure.
            (
                Status::Progressing,
                Verdict::Failed {
                    failures,
                    limit,
                    reasons,
                },
            ) => (
                0,
                format!(
                    "gates FAILED ({failures}/{limit}){}: abort?",
                    first_reason(reasons)
                ),
            ),
            (
                Status::Progressing,
                Verdict::Failing {
                    failures,
                    limit,
                    reasons,
                },
            ) => (
                1,
                format!(
                    "gates failing ({failures}/{limit}){}",
                    first_reason(reasons)
                ),
            ),
            (Status::Progressing | Status::Paused, _) if !self.taken.is_empty() => {
                let who: Vec<String> = self
                    .taken
                    .iter()
                    .map(|t| format!("{} to {}", t.devices, t.other))
                    .collect();
                (2, format!("DEVICES TAKEN: {}", who.join(", ")))
            }
            (Status::Aborted, _) => {
                let back = self.progress.total.on_previous;
                let n = self.progress.total.devices;
                (
                    8,
                    format!("ABORTED: {back}/{n} back on {}", p.previous.version),
                )
            }
            (Status::Paused, _) => (6, "HALTED: resume or abort".into()),
            (Status::Progressing, _) if p.state.wave == 0 => {
                (7, "not started: promote to begin".into())
            }
            (Status::Progressing, v) => match self.soak_left(now) {
                Some(left) if !left.is_zero() => {
                    (5, format!("soaking, {} left", format::age(left)))
                }
                _ => match v {
                    Verdict::Pass => (3, "ready to promote".into()),
                    Verdict::Inconclusive { .. } => (4, "gates inconclusive".into()),
                    _ => (4, "waiting for gates".into()),
                },
            },
            (Status::Complete, _) => (9, "complete".into()),
        }
    }
}

/// ": ber-1: CPU 85.0°C > 80.0°C on 3 devices on 1.5.0", or nothing.
fn first_reason(reasons: &[String]) -> String {
    reasons
        .first()
        .map(|r| format!(": {r}"))
        .unwrap_or_default()
}

/// Every rollout of the repository.
#[derive(Default)]
pub struct Rollouts {
    pub entries: Vec<RolloutEntry>,
    /// Plan files that did not parse (their located messages).
    pub invalid: Vec<String>,
    pub loaded_at: Option<SystemTime>,
    /// Why the repository could not be read, when it could not.
    pub error: Option<String>,
    /// An action in flight ("promote vision-1.5.0").
    pub busy: Option<String>,
    /// The detail shows the group × wave matrix instead of site × wave.
    pub by_group: bool,
    /// The app's clock, for ordering by what needs a decision (soak ends).
    pub now: Option<SystemTime>,
    /// The commits of the rollout whose history is open (`H`).
    pub history: Option<super::PlanHistory>,
}

impl Rollouts {
    pub fn get(&self, name: &str) -> Option<&RolloutEntry> {
        self.entries.iter().find(|e| e.plan.name == name)
    }

    /// Entry indices matching `filter`, what needs a decision first.
    pub fn rows_at(&self, filter: &str, now: SystemTime) -> Vec<usize> {
        let f = filter.to_lowercase();
        let mut rows: Vec<(u8, usize)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                f.is_empty()
                    || e.plan.name.to_lowercase().contains(&f)
                    || e.plan.release.version.to_lowercase().contains(&f)
                    || e.plan.state.status.key().contains(&f)
            })
            .map(|(i, e)| (e.needs(now).0, i))
            .collect();
        rows.sort_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                self.entries[a.1]
                    .plan
                    .name
                    .cmp(&self.entries[b.1].plan.name)
            })
        });
        rows.into_iter().map(|(_, i)| i).collect()
    }

    pub fn rows(&self, filter: &str) -> Vec<usize> {
        self.rows_at(filter, self.now.unwrap_or(SystemTime::UNIX_EPOCH))
    }
}

/// A destructive action waiting for the operator's confirmation: exactly what
/// will happen, or why it is refused (and that `tab` forces it with a reason).
#[derive(Clone, Debug, PartialEq)]
pub struct Confirm {
    pub kind: ActionKind,
    pub rollout: String,
    /// What will happen, one line each.
    pub summary: Vec<String>,
    /// Why fleetdeck refuses, when it does (promote with failing gates…).
    pub refusal: Option<String>,
    pub reason: String,
    pub force: bool,
    /// The state the operator saw: the commit is refused if it changed meanwhile.
    pub expected: (Status, usize),
    pub checks: PromoteChecks,
}

impl Confirm {
    /// Halt and abort stop or reverse what the fleet runs, and a forced action
    /// overrides a check: each must say why, in the commit.
    pub fn reason_required(&self) -> bool {
        self.force || matches!(self.kind, ActionKind::Halt | ActionKind::Abort)
    }
}

impl App {
    /// Recomputes progress and gates of every rollout against the current fleet.
    pub(crate) fn refresh_rollout_views(&mut self) {
        let now = self.now.max(self.fleet.taken_at.unwrap_or(self.now));
        self.rollouts.now = Some(self.now);
        for e in &mut self.rollouts.entries {
            e.progress = progress(&e.plan, &self.fleet);
            e.gates.observe(&e.plan, &self.fleet, now);
            e.verdict = e.gates.verdict(&e.plan);
        }
        // Rollouts fighting over devices (docs/ARCHITECTURE.md, "Overlapping rollouts").
        let devices = overlap::devices(&self.fleet);
        let plans: Vec<Plan> = self
            .rollouts
            .entries
            .iter()
            .map(|e| e.plan.clone())
            .collect();
        let all: Vec<&Plan> = plans.iter().collect();
        for e in &mut self.rollouts.entries {
            e.overlaps = overlap::detect(&e.plan, &all, &devices);
            e.taken = overlap::taken(&e.plan, &all, &devices);
        }
    }

    pub(crate) fn on_rollouts(&mut self, result: Result<Vec<Result<Plan, String>>, String>) {
        match result {
            Err(e) => self.rollouts.error = Some(e),
            Ok(plans) => {
                let mut old: HashMap<String, RolloutEntry> =
                    std::mem::take(&mut self.rollouts.entries)
                        .into_iter()
                        .map(|e| (e.plan.name.clone(), e))
                        .collect();
                self.rollouts.invalid.clear();
                for p in plans {
                    match p {
                        Ok(plan) => {
                            let entry = match old.remove(&plan.name) {
                                Some(mut e) => {
                                    e.plan = plan;
                                    e
                                }
                                None => RolloutEntry::new(plan),
                            };
                            self.rollouts.entries.push(entry);
                        }
                        Err(e) => self.rollouts.invalid.push(e),
                    }
                }
                self.rollouts.error = None;
                self.rollouts.loaded_at = Some(self.now);
                self.refresh_rollout_views();
            }
        }
        self.rebuild_all_rows();
    }

    pub(crate) fn on_action_done(
        &mut self,
        rollout: String,
        result: Result<(Box<Plan>, String), String>,
    ) {
        self.rollouts.busy = None;
        match result {
            Ok((plan, commit)) => {
                let plan = *plan;
                self.set_flash(commit, Level::Info);
                match self
                    .rollouts
                    .entries
                    .iter_mut()
                    .find(|e| e.plan.name == rollout)
                {
                    Some(e) => e.plan = plan,
                    None => self.rollouts.entries.push(RolloutEntry::new(plan)),
                }
                self.refresh_rollout_views();
                self.rebuild_all_rows();
            }
            Err(e) => self.set_flash(format!("{rollout}: {e}"), Level::Error),
        }
    }

    /// The rollout the operator is looking at (detail view, or selected row).
    fn current_rollout(&self) -> Option<&RolloutEntry> {
        match &self.screen().kind {
            ViewKind::Rollout(name) => self.rollouts.get(name),
            ViewKind::Rollouts => {
                let s = self.screen();
                s.rows
                    .get(s.selected)
                    .and_then(|&i| self.rollouts.entries.get(i))
            }
            _ => None,
        }
    }

    pub(crate) fn begin_action(&mut self, kind: ActionKind) -> Vec<Effect> {
        if !matches!(
            self.screen().kind,
            ViewKind::Rollouts | ViewKind::Rollout(_)
        ) {
            return Vec::new();
        }
        if self.settings.read_only {
            self.set_flash(
                format!(
                    "read-only mode: {} is disabled (--read-only / read_only = true)",
                    kind.key()
                ),
                Level::Error,
            );
            return Vec::new();
        }
        if let Some(b) = &self.rollouts.busy {
            self.set_flash(format!("wait: {b} is still being committed"), Level::Error);
            return Vec::new();
        }
        let Some(entry) = self.current_rollout() else {
            self.set_flash("no rollout selected".into(), Level::Error);
            return Vec::new();
        };
        let checks = PromoteChecks {
            gates: Check::from(&entry.verdict),
            signature: if kind == ActionKind::Promote {
                self.release_check(&entry.plan.release)
            } else {
                Check::NotApplicable
            },
            overlap: if kind == ActionKind::Promote {
                let all: Vec<&Plan> = self.rollouts.entries.iter().map(|e| &e.plan).collect();
                overlap::promote_check(&entry.plan, &all, &overlap::devices(&self.fleet))
            } else {
                Check::NotApplicable
            },
        };
        let plan = &entry.plan;
        let req = self.request(kind, plan, String::new(), false);
        let refusal = action::apply(plan, &req, &checks)
            .err()
            .map(|r| r.to_string());
        let mut summary = self.summarize(kind, entry);
        if kind == ActionKind::Promote {
            let sig = match &checks.signature {
                Check::Pass => format!("✔ {}", self.release_verdict(&plan.release).summary()),
                Check::Fail(r) => format!("✖ does not verify: {r}"),
                Check::Inconclusive(r) => format!("? not verified: {r}"),
                Check::NotApplicable => "n/a".into(),
            };
            let at = summary.len().saturating_sub(1);
            summary.insert(at, format!("Signature of {}: {sig}", plan.release.version));
        }
        let c = Confirm {
            kind,
            rollout: plan.name.clone(),
            summary,
            refusal,
            reason: String::new(),
            force: false,
            expected: (plan.state.status, plan.state.wave),
            checks,
        };
        self.mode = Mode::Confirm(Box::new(c));
        Vec::new()
    }

    fn request(&self, kind: ActionKind, plan: &Plan, reason: String, force: bool) -> ActionRequest {
        ActionRequest {
            kind,
            rollout: plan.name.clone(),
            reason: (!reason.trim().is_empty()).then(|| reason.trim().to_string()),
            force,
            by: self.settings.operator.clone(),
            now: self.now,
            expected: Some((plan.state.status, plan.state.wave)),
        }
    }

    /// Exactly what an action will do, in the operator's terms.
    fn summarize(&self, kind: ActionKind, e: &RolloutEntry) -> Vec<String> {
        let p = &e.plan;
        let m = p.waves.len();
        let members = |wave_no: usize| {
            let mut n = 0usize;
            let mut sites = BTreeSet::new();
            for d in &self.fleet.devices {
                if wave::wave_of(p, d.id(), d.site(), d.group()) == Some(wave_no) {
                    n += 1;
                    sites.insert(d.site());
                }
            }
            // Name the sites when there are few, so the operator sees where.
            let names: Vec<&str> = sites.iter().take(4).copied().collect();
            let more = sites.len().saturating_sub(names.len());
            let list = if more > 0 {
                format!("{}, +{more}", names.join(", "))
            } else {
                names.join(", ")
            };
            (n, format!("{} ({list})", sites.len()))
        };
        let mut out = Vec::new();
        match kind {
            ActionKind::Promote => match p.next_wave() {
                Some((n, w)) => {
                    let (devices, sites) = members(n);
                    out.push(format!(
                        "Release wave {n}/{m} ({}) of {}: {devices} devices in {sites} sites get {} ({}).",
                        w.label(),
                        p.name,
                        p.release.version,
                        crate::format::short_reference(&p.release.image.to_string())
                    ));
                    if let Some(left) = e.soak_left(self.now).filter(|l| !l.is_zero()) {
                        out.push(format!("Soak of wave {}: {} left.", p.state.wave, format::age(left)));
                    }
                }
                None => out.push(format!("{} has no wave left to release.", p.name)),
            },
            ActionKind::Halt => out.push(format!(
                "Freeze {} at wave {}/{m}: no new device gets {}; the {} devices already on it keep it.",
                p.name, p.state.wave, p.release.version, e.progress.total.on_new
            )),
            ActionKind::Resume => out.push(format!(
                "Continue {} at wave {}/{m}: released waves keep updating to {}.",
                p.name, p.state.wave, p.release.version
            )),
            ActionKind::Abort => {
                let t = &e.progress.total;
                let sites = e.progress.by_site.iter().filter(|row| row.iter().take(p.state.wave).any(|c| c.devices > 0)).count();
                out.push(format!(
                    "Roll back {}: every targeted device ({} in {sites} sites, {} on {} now) returns to {} ({}).",
                    p.name, t.devices, t.on_new, p.release.version, p.previous.version, crate::format::short_reference(&p.previous.image.to_string())
                ));
            }
            ActionKind::Retry => out.push(format!(
                "Restart {} from the first wave ({}).",
                p.name,
                p.waves.first().map(|w| w.label()).unwrap_or_default()
            )),
        }
        if kind == ActionKind::Promote && p.state.wave > 0 {
            let gates = match Check::from(&e.verdict) {
                Check::Pass => "✔ pass".to_string(),
                Check::Fail(r) => format!("✖ {r}"),
                Check::Inconclusive(r) => format!("? {r}"),
                Check::NotApplicable => "n/a".into(),
            };
            out.push(format!("Gates: {gates}"));
        }
        out.push(
            "One commit (pushed when the repository has a remote), with your name and the reason."
                .into(),
        );
        out
    }

    pub(crate) fn on_confirm_key(&mut self, mut c: Confirm, key: Key) -> Vec<Effect> {
        // esc and ctrl-c are handled by the caller: they cancel, always.
        match key.code {
            KeyCode::Tab => c.force = !c.force,
            KeyCode::Backspace => {
                c.reason.pop();
            }
            KeyCode::Char(ch) if !key.ctrl && !key.alt => c.reason.push(ch),
            KeyCode::Enter => {
                if c.refusal.is_some() && !c.force {
                    self.set_flash(
                        "refused — fix the cause, or press tab to force it (needs a reason)".into(),
                        Level::Error,
                    );
                } else if c.force && c.reason.trim().is_empty() {
                    self.set_flash(
                        "forcing needs a reason: type it, then enter".into(),
                        Level::Error,
                    );
                } else if c.reason_required() && c.reason.trim().is_empty() {
                    self.set_flash(
                        format!("{} needs a reason: type it, then enter", c.kind.key()),
                        Level::Error,
                    );
                } else {
                    let Some(entry) = self.rollouts.get(&c.rollout) else {
                        self.mode = Mode::Normal;
                        self.set_flash(
                            format!("{} is gone from the repository", c.rollout),
                            Level::Error,
                        );
                        return Vec::new();
                    };
                    let mut request = self.request(c.kind, &entry.plan, c.reason.clone(), c.force);
                    request.expected = Some(c.expected);
                    self.rollouts.busy = Some(format!("{} {}", c.kind.key(), c.rollout));
                    self.mode = Mode::Normal;
                    return vec![Effect::Act {
                        request,
                        checks: c.checks,
                    }];
                }
            }
            _ => {}
        }
        self.mode = Mode::Confirm(Box::new(c));
        Vec::new()
    }
}
