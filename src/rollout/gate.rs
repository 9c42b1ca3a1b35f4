//! Health gates, with Argo Rollouts / Flagger semantics: checks on the devices
//! that run the new release, against absolute thresholds and against the
//! baseline (the devices still on the previous release), evaluated once per
//! `gates.interval` (an inconclusive evaluation is replaced by the data at
//! hand meanwhile); `failure_limit` failed evaluations in a wave make the
//! verdict Failed. Missing data is Inconclusive, never Pass.
//!
//! Who counts:
//!
//! - **canary**: targeted (in a released wave), reporting the new image digest,
//!   and online (up or degraded). Figures of down or stale devices are not
//!   fresh, so they never count.
//! - **baseline**: anywhere in the fleet, reporting the previous image digest,
//!   and online.
//! - the `up` check looks at every targeted device, whatever it runs.
//!
//! Where (issue 11): the figure checks are evaluated over the whole targeted
//! population and again per site and per group; a site (group) is compared
//! with its own baseline when enough of its devices on the previous release
//! report the figure, else with the fleet's. `[gates] scope` decides which of
//! them fail the evaluation: the whole population always; with "site"
//! ("group") also any site (group) with at least `min_devices` devices on the
//! new release. The `up` check is fleet-wide only. See docs/ARCHITECTURE.md,
//! "Contracts".
//!
//! Absurd figures are left out rather than trusted: NaN everywhere; negative
//! latencies; error shares outside 0..=1; non-finite temperatures. A `+Inf`
//! p95 is kept: `histogram_quantile` returns it when requests are slower than
//! the largest bucket, which is the worst latency there is, not a missing one.

use super::action::Check;
use super::plan::{Plan, Scope, Status};
use super::progress::{Running, in_released_wave, online, running};
use super::wave;
use crate::fleet::{Device, Fleet};
use crate::format;
use crate::metrics::def::Figure;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::time::SystemTime;

/// Names of the checks, in the order an [`Evaluation`] lists them.
pub const CHECKS: [&str; 4] = ["latency_p95", "error_rate", "cpu_temp", "up"];

/// How many evaluations [`GateHistory`] keeps for the ✔ ✖ ? strip.
pub const HISTORY: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    /// Not enough data to tell: never a pass.
    Inconclusive,
}

impl Outcome {
    pub fn symbol(self) -> &'static str {
        match self {
            Outcome::Pass => "✔",
            Outcome::Fail => "✖",
            Outcome::Inconclusive => "?",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
        }
    }
}

/// One check of one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckResult {
    /// One of [`CHECKS`].
    pub name: &'static str,
    /// The canary's figure (seconds, share, °C, share up); `None` without data.
    pub value: Option<f64>,
    /// The absolute limit from the plan, in the same unit.
    pub threshold: f64,
    /// The same figure over the baseline, when there is one.
    pub baseline: Option<f64>,
    /// Whose baseline that is: "site" or "group" (the unit's own devices on
    /// the previous release) or "fleet" (every device on it, when the unit
    /// has too few of its own); `None` without a baseline.
    pub baseline_from: Option<&'static str>,
    pub outcome: Outcome,
    /// What an SRE reads: "p95 452ms > 300ms".
    pub detail: String,
}

/// All checks at one moment, over the whole targeted population and per
/// site and per group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    #[serde(serialize_with = "ser_utc")]
    pub at: SystemTime,
    /// The plan's `[gates] scope` this evaluation was judged under.
    pub scope: Scope,
    /// The checks over the whole targeted population.
    pub checks: Vec<CheckResult>,
    /// What the verdict counts: Fail if any of `checks` fails or any site
    /// (group) that [`UnitEvaluation::counts`] fails; else Inconclusive if any
    /// of `checks` is; else Pass.
    pub outcome: Outcome,
    /// The outcome of `checks` alone (what scope "fleet" judges).
    pub fleet_outcome: Outcome,
    /// Online targeted devices on the new release (whose figures count).
    pub canary_devices: usize,
    /// Online devices on the previous release.
    pub baseline_devices: usize,
    /// Every site with a targeted device or a device on the new release, by name.
    pub sites: Vec<UnitEvaluation>,
    /// The same per group.
    pub groups: Vec<UnitEvaluation>,
    /// One line per failing check of a site (group) that counts: where, what
    /// and on how many devices (see [`Evaluation::breaches`]).
    pub breaches: Vec<String>,
}

/// The checks of one site or one group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnitEvaluation {
    pub name: String,
    /// Fail if any check fails, else Inconclusive if any is, else Pass.
    pub outcome: Outcome,
    /// At least `min_devices` (and one) online devices on the new release.
    pub eligible: bool,
    /// Eligible and of the plan's scope: its failure fails the evaluation.
    pub counts: bool,
    /// Online devices of this unit on the new release (targeted).
    pub canary_devices: usize,
    /// Online devices of this unit on the previous release.
    pub baseline_devices: usize,
    /// Devices of this unit in a released wave, and how many of them answer
    /// (the `up` check itself is fleet-wide only).
    pub targeted_devices: usize,
    pub targeted_up: usize,
    /// latency_p95, error_rate and cpu_temp over this unit's devices on the
    /// new release (the first three of [`CHECKS`]).
    pub checks: Vec<CheckResult>,
}

fn ser_utc<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format::utc(*t))
}

impl Evaluation {
    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// Details of the whole population's checks with this outcome, in check order.
    pub fn details(&self, outcome: Outcome) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| c.outcome == outcome)
            .map(|c| c.detail.clone())
            .collect()
    }

    /// Where it breaches, one line per failing check of each site (group)
    /// that counts under the plan's scope, sites and groups by name:
    /// "fra-1: error rate 8.1% > 3.0% on 10 devices on 1.5.0".
    pub fn breaches(&self) -> Vec<String> {
        self.breaches.clone()
    }

    /// Why the evaluation failed: the breaching sites (groups) first, then
    /// the whole population's failing checks.
    pub fn fail_reasons(&self) -> Vec<String> {
        let mut v = self.breaches();
        v.extend(self.details(Outcome::Fail));
        v
    }

    /// The site (group, by scope) the verdict is about, most devices on the
    /// new release first: `None` when no unit that counts breaches.
    pub fn worst_unit(&self) -> Option<&UnitEvaluation> {
        self.sites
            .iter()
            .chain(&self.groups)
            .filter(|u| u.counts && u.outcome == Outcome::Fail)
            .max_by_key(|u| u.canary_devices)
    }
}

fn combine(checks: &[CheckResult]) -> Outcome {
    if checks.iter().any(|c| c.outcome == Outcome::Fail) {
        Outcome::Fail
    } else if checks.iter().any(|c| c.outcome == Outcome::Inconclusive) {
        Outcome::Inconclusive
    } else {
        Outcome::Pass
    }
}

/// The devices of one site, one group, or the whole fleet, as the gates see them.
#[derive(Default)]
struct Population<'a> {
    canary: Vec<&'a Device>,
    baseline: Vec<&'a Device>,
    targeted: usize,
    targeted_up: usize,
}

impl<'a> Population<'a> {
    fn add(&mut self, d: &'a Device, targeted: bool, is_online: bool, run: Running) {
        if targeted {
            self.targeted += 1;
            self.targeted_up += usize::from(is_online);
        }
        if !is_online {
            return;
        }
        match run {
            Running::New if targeted => self.canary.push(d),
            Running::Previous => self.baseline.push(d),
            _ => {}
        }
    }
}

/// Evaluates every gate of `plan` on `fleet` now: over the whole targeted
/// population, and per site and per group (docs/ARCHITECTURE.md, "Contracts").
pub fn evaluate(plan: &Plan, fleet: &Fleet, at: SystemTime) -> Evaluation {
    let mut all = Population::default();
    let mut sites: BTreeMap<&str, Population> = BTreeMap::new();
    let mut groups: BTreeMap<&str, Population> = BTreeMap::new();
    for d in &fleet.devices {
        let is_targeted = in_released_wave(plan, wave::wave_of(plan, d.id(), d.site(), d.group()));
        let is_online = online(d.health);
        let run = running(plan, d);
        all.add(d, is_targeted, is_online, run);
        for (map, key) in [(&mut sites, d.site()), (&mut groups, d.group())] {
            // Only units the rollout touches are listed; a unit seen only
            // through its baseline devices is kept for them.
            map.entry(key)
                .or_default()
                .add(d, is_targeted, is_online, run);
        }
    }
    let need = plan.gates.min_devices.max(1);
    let ctx = Ctx {
        plan,
        canary: &all.canary,
        baseline: &all.baseline,
        fallback: None,
        own: "fleet",
        need,
    };
    let checks = ctx.checks(all.targeted, all.targeted_up);
    let fleet_outcome = combine(&checks);
    let version = &plan.release.version;
    let mut breaches = Vec::new();
    let mut units = |map: BTreeMap<&str, Population>, kind: &'static str, scope: Scope| {
        map.into_iter()
            .filter(|(_, p)| p.targeted > 0 || !p.canary.is_empty())
            .map(|(name, p)| {
                let ctx = Ctx {
                    plan,
                    canary: &p.canary,
                    baseline: &p.baseline,
                    fallback: Some(&all.baseline),
                    own: kind,
                    need,
                };
                // The figures of the devices on the new release; `up` (the
                // share of targeted devices answering) stays fleet-wide: over
                // a site's handful of devices one outage from before the
                // rollout would breach it. Its counts are listed instead.
                let checks = vec![ctx.latency(), ctx.error_rate(), ctx.cpu_temp()];
                let outcome = combine(&checks);
                let eligible = p.canary.len() >= need;
                let counts = eligible && plan.gates.scope == scope;
                if counts && outcome == Outcome::Fail {
                    for c in checks.iter().filter(|c| c.outcome == Outcome::Fail) {
                        let n = p.canary.len();
                        breaches.push(format!(
                            "{name}: {} on {n} device{} on {version}",
                            c.detail,
                            if n == 1 { "" } else { "s" }
                        ));
                    }
                }
                UnitEvaluation {
                    name: name.to_string(),
                    outcome,
                    eligible,
                    counts,
                    canary_devices: p.canary.len(),
                    baseline_devices: p.baseline.len(),
                    targeted_devices: p.targeted,
                    targeted_up: p.targeted_up,
                    checks,
                }
            })
            .collect::<Vec<_>>()
    };
    let sites = units(sites, "site", Scope::Site);
    let groups = units(groups, "group", Scope::Group);
    let outcome = if !breaches.is_empty() {
        Outcome::Fail
    } else {
        fleet_outcome
    };
    Evaluation {
        at,
        scope: plan.gates.scope,
        checks,
        outcome,
        fleet_outcome,
        canary_devices: all.canary.len(),
        baseline_devices: all.baseline.len(),
        sites,
        groups,
        breaches,
    }
}

struct Ctx<'a> {
    plan: &'a Plan,
    canary: &'a [&'a Device],
    /// The unit's own devices on the previous release.
    baseline: &'a [&'a Device],
    /// The fleet's, when the unit's own are too few for a figure.
    fallback: Option<&'a [&'a Device]>,
    /// What `baseline` is: "fleet", "site" or "group".
    own: &'static str,
    /// Devices with data needed for a figure to mean something.
    need: usize,
}

/// `v ≤ limit`, forgiving float noise (three devices at exactly 3 % average to
/// 3.0000000000000004 %). NaN is never within.
fn within(v: f64, limit: f64) -> bool {
    v <= limit || (v - limit) <= 1e-9 * limit.abs()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Ctx<'_> {
    fn checks(&self, targeted: usize, targeted_up: usize) -> Vec<CheckResult> {
        vec![
            self.latency(),
            self.error_rate(),
            self.cpu_temp(),
            up_check(self.plan, targeted, targeted_up),
        ]
    }

    /// The baseline figure: over the unit's own devices on the previous
    /// release when enough report it, else over the fleet's; with whose it is.
    fn pick_baseline(
        &self,
        figure: impl Fn(&[&Device]) -> Option<f64>,
    ) -> (Option<f64>, Option<&'static str>) {
        if let Some(b) = figure(self.baseline) {
            return (Some(b), Some(self.own));
        }
        match self.fallback.and_then(&figure) {
            Some(b) => (Some(b), Some("fleet")),
            None => (None, None),
        }
    }

    /// "baseline" over the whole population (as always), "site baseline" or
    /// "fleet baseline" for a site or group.
    fn baseline_word(&self, from: Option<&'static str>) -> String {
        match (self.fallback, from) {
            (Some(_), Some(w)) => format!("{w} baseline"),
            _ => "baseline".to_string(),
        }
    }

    fn values(devices: &[&Device], f: Figure, valid: fn(f64) -> bool) -> Vec<f64> {
        devices
            .iter()
            .filter_map(|d| d.figure(f))
            .filter(|v| valid(*v))
            .collect()
    }

    /// The Inconclusive result when the canary has too little data, else `None`.
    fn lacking(
        &self,
        name: &'static str,
        f: Figure,
        have: usize,
        threshold: f64,
    ) -> Option<CheckResult> {
        let version = &self.plan.release.version;
        let detail = if self.canary.is_empty() {
            format!("no device runs {version} yet")
        } else if have == 0 {
            format!(
                "none of the {} devices on {version} reports {}",
                self.canary.len(),
                f.label()
            )
        } else if have < self.need {
            format!(
                "{have} of {} devices on {version} report {}; {} needed",
                self.canary.len(),
                f.label(),
                self.need
            )
        } else {
            return None;
        };
        Some(CheckResult {
            name,
            value: None,
            threshold,
            baseline: None,
            baseline_from: None,
            outcome: Outcome::Inconclusive,
            detail,
        })
    }

    fn latency(&self) -> CheckResult {
        let g = &self.plan.gates;
        let threshold = g.latency_p95.as_secs_f64();
        let valid: fn(f64) -> bool = |v| v >= 0.0;
        let vals = Self::values(self.canary, Figure::LatencyP95, valid);
        if let Some(r) = self.lacking(CHECKS[0], Figure::LatencyP95, vals.len(), threshold) {
            return r;
        }
        let value = median(vals);
        let need = self.need;
        let (baseline, from) = self.pick_baseline(|devices| {
            let base = Self::values(devices, Figure::LatencyP95, valid);
            (base.len() >= need).then(|| median(base))
        });
        let word = self.baseline_word(from);
        let mut fails = Vec::new();
        if !within(value, threshold) {
            fails.push(format!(
                "p95 {} > {}",
                format::latency(value),
                format::latency(threshold)
            ));
        }
        let worse = |b: f64| format!("{:.0}%", (value / b - 1.0) * 100.0);
        if let Some(b) = baseline {
            let limit = b * (1.0 + g.latency_p95_regression);
            if !within(value, limit) {
                fails.push(format!(
                    "p95 {} is {} worse than {word} {} (limit +{:.0}%)",
                    format::latency(value),
                    worse(b),
                    format::latency(b),
                    g.latency_p95_regression * 100.0
                ));
            }
        }
        let pass = || {
            let vs = match baseline {
                Some(b) if b > 0.0 => {
                    format!(
                        ", {word} {} ({:+.0}%)",
                        format::latency(b),
                        (value / b - 1.0) * 100.0
                    )
                }
                Some(b) => format!(", {word} {}", format::latency(b)),
                None => ", no baseline".to_string(),
            };
            format!(
                "p95 {} ≤ {}{vs}",
                format::latency(value),
                format::latency(threshold)
            )
        };
        finish(CHECKS[0], value, threshold, (baseline, from), fails, pass)
    }

    /// Requests-weighted error share of `devices`: weighted by throughput when
    /// every one of them reports it (and some requests were served), else the
    /// plain mean. `None` when fewer than `need` report an error share.
    fn error_share(devices: &[&Device], need: usize) -> (usize, Option<f64>) {
        let mut n = 0usize;
        let (mut sum, mut weighted, mut requests) = (0.0, 0.0, 0.0);
        let mut all_weighted = true;
        for d in devices {
            let Some(e) = d
                .figure(Figure::ErrorRate)
                .filter(|e| (0.0..=1.0).contains(e))
            else {
                continue;
            };
            n += 1;
            sum += e;
            match d
                .figure(Figure::Throughput)
                .filter(|t| t.is_finite() && *t >= 0.0)
            {
                Some(t) => {
                    weighted += e * t;
                    requests += t;
                }
                None => all_weighted = false,
            }
        }
        let share = if n < need {
            None
        } else if all_weighted && requests > 0.0 && requests.is_finite() {
            Some(weighted / requests)
        } else {
            Some(sum / n as f64)
        };
        (n, share)
    }

    fn error_rate(&self) -> CheckResult {
        let g = &self.plan.gates;
        let threshold = g.error_rate;
        let (have, value) = Self::error_share(self.canary, self.need);
        if let Some(r) = self.lacking(CHECKS[1], Figure::ErrorRate, have, threshold) {
            return r;
        }
        let value = value.unwrap_or(f64::NAN); // `lacking` returned for fewer than `need`
        let need = self.need;
        let (baseline, from) = self.pick_baseline(|devices| Self::error_share(devices, need).1);
        let word = self.baseline_word(from);
        let pct = |v: f64| format::percent(v, 1);
        let mut fails = Vec::new();
        if !within(value, threshold) {
            fails.push(format!("error rate {} > {}", pct(value), pct(threshold)));
        }
        if let Some(b) = baseline
            && !within(value, b + g.error_rate_regression)
        {
            fails.push(format!(
                "error rate {} is {:.1} points above {word} {} (limit +{:.1})",
                pct(value),
                (value - b) * 100.0,
                pct(b),
                g.error_rate_regression * 100.0
            ));
        }
        let pass = || {
            let vs = baseline.map_or(", no baseline".to_string(), |b| {
                format!(", {word} {}", pct(b))
            });
            format!("error rate {} ≤ {}{vs}", pct(value), pct(threshold))
        };
        finish(CHECKS[1], value, threshold, (baseline, from), fails, pass)
    }

    fn cpu_temp(&self) -> CheckResult {
        let threshold = self.plan.gates.cpu_temp;
        let valid: fn(f64) -> bool = f64::is_finite;
        let vals = Self::values(self.canary, Figure::CpuTemp, valid);
        if let Some(r) = self.lacking(CHECKS[2], Figure::CpuTemp, vals.len(), threshold) {
            return r;
        }
        let value = median(vals);
        let need = self.need;
        let (baseline, from) = self.pick_baseline(|devices| {
            let base = Self::values(devices, Figure::CpuTemp, valid);
            (base.len() >= need).then(|| median(base))
        });
        let word = self.baseline_word(from);
        let temp = |v: f64| format::figure(Figure::CpuTemp, Some(v));
        let mut fails = Vec::new();
        if !within(value, threshold) {
            fails.push(format!("CPU {} > {}", temp(value), temp(threshold)));
        }
        let pass = || {
            let vs = baseline.map_or(", no baseline".to_string(), |b| {
                format!(", {word} {}", temp(b))
            });
            format!("CPU {} ≤ {}{vs}", temp(value), temp(threshold))
        };
        finish(CHECKS[2], value, threshold, (baseline, from), fails, pass)
    }
}

fn up_check(plan: &Plan, targeted: usize, up: usize) -> CheckResult {
    let threshold = plan.gates.min_up;
    let name = CHECKS[3];
    if targeted == 0 {
        let detail = if plan.state.wave == 0 {
            "no wave released yet".to_string()
        } else {
            "no device in the released waves".to_string()
        };
        return CheckResult {
            name,
            value: None,
            threshold,
            baseline: None,
            baseline_from: None,
            outcome: Outcome::Inconclusive,
            detail,
        };
    }
    // Even one targeted device says something: all of them down is a failure,
    // not missing data.
    let value = up as f64 / targeted as f64;
    let text = |cmp: &str| {
        format!(
            "{up} of {targeted} targeted devices up ({}) {cmp} {}",
            format::percent(value, 0),
            format::percent(threshold, 0)
        )
    };
    let (outcome, detail) = if value >= threshold {
        (Outcome::Pass, text("≥"))
    } else {
        (Outcome::Fail, text("<"))
    };
    CheckResult {
        name,
        value: Some(value),
        threshold,
        baseline: None,
        baseline_from: None,
        outcome,
        detail,
    }
}

fn finish(
    name: &'static str,
    value: f64,
    threshold: f64,
    (baseline, baseline_from): (Option<f64>, Option<&'static str>),
    fails: Vec<String>,
    pass: impl FnOnce() -> String,
) -> CheckResult {
    let (outcome, detail) = if fails.is_empty() {
        (Outcome::Pass, pass())
    } else {
        (Outcome::Fail, fails.join("; "))
    };
    CheckResult {
        name,
        value: Some(value),
        threshold,
        baseline,
        baseline_from,
        outcome,
        detail,
    }
}

/// The gates' answer to "may this rollout go on?".
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The latest evaluation passed and the failure limit is not reached.
    Pass,
    /// `failure_limit` failed evaluations in this wave: roll back. Sticky until
    /// the wave or status changes, even if a later evaluation passes.
    Failed {
        failures: u32,
        limit: u32,
        reasons: Vec<String>,
    },
    /// The latest evaluation failed, below the limit. Not a pass: promote is refused.
    Failing {
        failures: u32,
        limit: u32,
        reasons: Vec<String>,
    },
    /// The latest evaluation lacked data for some check.
    Inconclusive { reasons: Vec<String> },
    /// Nothing evaluated yet for the rollout's current wave and status.
    Pending,
}

impl Verdict {
    pub fn key(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Failed { .. } => "failed",
            Verdict::Failing { .. } => "failing",
            Verdict::Inconclusive { .. } => "inconclusive",
            Verdict::Pending => "pending",
        }
    }

    pub fn symbol(&self) -> &'static str {
        match self {
            Verdict::Pass => Outcome::Pass.symbol(),
            Verdict::Failed { .. } | Verdict::Failing { .. } => Outcome::Fail.symbol(),
            Verdict::Inconclusive { .. } | Verdict::Pending => Outcome::Inconclusive.symbol(),
        }
    }
}

/// One short phrase, the same in the console and on the command line:
/// `✔ pass`, `✖ failing 1/3`, `✖ FAILED 3/3`, `? inconclusive`, `… pending`.
impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Pass => f.write_str("✔ pass"),
            Verdict::Failing {
                failures, limit, ..
            } => write!(f, "✖ failing {failures}/{limit}"),
            Verdict::Failed {
                failures, limit, ..
            } => write!(f, "✖ FAILED {failures}/{limit}"),
            Verdict::Inconclusive { .. } => f.write_str("? inconclusive"),
            Verdict::Pending => f.write_str("… pending"),
        }
    }
}

/// The gate verdict as a pre-promotion check (failing and failed both fail;
/// pending is inconclusive, never a pass).
impl From<&Verdict> for Check {
    fn from(v: &Verdict) -> Check {
        match v {
            Verdict::Pass => Check::Pass,
            Verdict::Failing { reasons, .. } | Verdict::Failed { reasons, .. } => {
                Check::Fail(reasons.join("; "))
            }
            Verdict::Inconclusive { reasons } => Check::Inconclusive(reasons.join("; ")),
            Verdict::Pending => Check::Inconclusive("the gates have not been evaluated yet".into()),
        }
    }
}

/// `Ok` only for [`Verdict::Pass`]; otherwise whether it is merely
/// inconclusive (no data yet, rather than bad data) and the reason to show.
pub fn verdict_reason(v: &Verdict) -> Result<(), (bool, String)> {
    match v {
        Verdict::Pass => Ok(()),
        Verdict::Failed {
            failures,
            limit,
            reasons,
        } => Err((
            false,
            format!(
                "gates failed: {failures} failed evaluations reached the limit of {limit}: {}",
                reasons.join("; ")
            ),
        )),
        Verdict::Failing {
            failures,
            limit,
            reasons,
        } => Err((
            false,
            format!(
                "gates failing ({failures} of {limit} tolerated failures): {}",
                reasons.join("; ")
            ),
        )),
        Verdict::Inconclusive { reasons } => {
            Err((true, format!("gates inconclusive: {}", reasons.join("; "))))
        }
        Verdict::Pending => Err((true, "gates not evaluated yet".to_string())),
    }
}

/// Evaluations over time for one rollout: one per `gates.interval`, the
/// failures of the current wave, and the recent outcomes of each check.
#[derive(Clone, Debug, Default)]
pub struct GateHistory {
    /// The rollout, wave and status the failure count belongs to.
    key: Option<(String, usize, Status)>,
    /// Oldest first, at most [`HISTORY`]. Kept across waves of the same
    /// rollout: the strip shows what happened just before a promote or halt.
    evaluations: VecDeque<Evaluation>,
    /// Failed evaluations since the current wave/status began (not necessarily
    /// consecutive: a pass in between does not forgive, as in Argo Rollouts).
    failures: u32,
    /// What failed last in this wave: the reasons a Failed verdict gives even
    /// after a later evaluation passed.
    fail_reasons: Vec<String>,
    /// When the current interval began: the last evaluation that was not a
    /// provisional replacement, or that decided (pass or fail).
    slot: Option<SystemTime>,
}

impl GateHistory {
    pub fn new() -> Self {
        Self::default()
    }

    fn is_current(&self, plan: &Plan) -> bool {
        self.key.as_ref().is_some_and(|(name, wave, status)| {
            *name == plan.name && *wave == plan.state.wave && *status == plan.state.status
        })
    }

    /// Evaluates when an interval has passed since the last decided
    /// evaluation, or the rollout's wave or status changed (which also resets
    /// the failure count). In between, an Inconclusive latest evaluation is
    /// provisional: it is replaced by one on the data now at hand (it counted
    /// no failure, so nothing counts twice), so the verdict follows the data
    /// as soon as there is some, not one interval later. A decided one (pass
    /// or fail) stands until the interval has passed; calls in between record
    /// nothing and return `None`. A clock that went back by more than an
    /// interval counts as due, so evaluation resumes.
    pub fn observe(&mut self, plan: &Plan, fleet: &Fleet, now: SystemTime) -> Option<&Evaluation> {
        let interval = plan.gates.interval;
        let current = self.is_current(plan);
        let due = self
            .slot
            .is_none_or(|start| match now.duration_since(start) {
                Ok(elapsed) => elapsed >= interval,
                Err(back) => back.duration() > interval,
            });
        let provisional = self
            .evaluations
            .back()
            .is_some_and(|e| e.outcome == Outcome::Inconclusive);
        if current && !due && !provisional {
            return None;
        }
        if !current {
            if self
                .key
                .as_ref()
                .is_some_and(|(name, _, _)| *name != plan.name)
            {
                self.evaluations.clear();
            }
            self.key = Some((plan.name.clone(), plan.state.wave, plan.state.status));
            self.failures = 0;
            self.fail_reasons.clear();
        }
        let ev = evaluate(plan, fleet, now);
        let replace = current && !due && provisional;
        if !replace || ev.outcome != Outcome::Inconclusive {
            // A new slot: the next decided evaluation is one interval away.
            self.slot = Some(now);
        }
        if ev.outcome == Outcome::Fail {
            self.failures = self.failures.saturating_add(1);
            self.fail_reasons = ev.fail_reasons();
        }
        if replace {
            self.evaluations.pop_back();
        } else if self.evaluations.len() == HISTORY {
            self.evaluations.pop_front();
        }
        // Only the latest keeps its per-site and per-group results (the strip
        // needs the whole population's checks; a fleet of 100 sites would
        // otherwise keep 20 × 100 of them).
        if let Some(prev) = self.evaluations.back_mut() {
            prev.sites = Vec::new();
            prev.groups = Vec::new();
        }
        self.evaluations.push_back(ev);
        self.evaluations.back()
    }

    pub fn latest(&self) -> Option<&Evaluation> {
        self.evaluations.back()
    }

    /// Failed evaluations since the current wave (or status) began.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The verdict for `plan` as it is now. Pending when nothing was evaluated
    /// for its current wave and status (an evaluation of an earlier wave never
    /// approves the next promote).
    pub fn verdict(&self, plan: &Plan) -> Verdict {
        let Some(latest) = self.latest() else {
            return Verdict::Pending;
        };
        if !self.is_current(plan) {
            return Verdict::Pending;
        }
        let limit = plan.gates.failure_limit.max(1);
        if self.failures >= limit {
            return Verdict::Failed {
                failures: self.failures,
                limit,
                reasons: self.fail_reasons.clone(),
            };
        }
        match latest.outcome {
            Outcome::Pass => Verdict::Pass,
            Outcome::Fail => Verdict::Failing {
                failures: self.failures,
                limit,
                reasons: latest.fail_reasons(),
            },
            Outcome::Inconclusive => Verdict::Inconclusive {
                reasons: latest.details(Outcome::Inconclusive),
            },
        }
    }

    /// Recent outcomes of one check, oldest first, at most [`HISTORY`].
    pub fn check_history(&self, name: &str) -> Vec<Outcome> {
        self.evaluations
            .iter()
            .filter_map(|e| e.check(name).map(|c| c.outcome))
            .collect()
    }

    /// The same as ✔ ✖ ? symbols, oldest first.
    pub fn check_strip(&self, name: &str) -> String {
        self.check_history(name)
            .into_iter()
            .map(Outcome::symbol)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![0.1, f64::INFINITY, 0.2]), 0.2);
        assert_eq!(median(vec![f64::INFINITY, f64::INFINITY]), f64::INFINITY);
    }

    #[test]
    fn within_forgives_float_noise_only() {
        let avg = (0.03 + 0.03 + 0.03) / 3.0;
        assert!(within(avg, 0.03));
        assert!(within(0.1 + 0.2, 0.3));
        assert!(!within(0.0301, 0.03));
        assert!(!within(f64::NAN, 1.0));
        assert!(!within(1.0, f64::NAN));
        assert!(within(f64::INFINITY, f64::INFINITY));
        assert!(!within(f64::INFINITY, 0.3));
    }

    #[test]
    fn verdict_symbols_never_look_healthy_unless_pass() {
        let failing = Verdict::Failing {
            failures: 1,
            limit: 3,
            reasons: vec![],
        };
        assert_eq!(failing.symbol(), "✖");
        assert_eq!(Verdict::Pending.symbol(), "?");
        assert_eq!(Verdict::Pass.symbol(), "✔");
        assert!(verdict_reason(&failing).is_err());
    }
}
