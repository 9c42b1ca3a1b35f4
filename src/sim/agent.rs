//! The simulated update agents: every device follows the rollout repository
//! like a real agent would — read the desired state, download, verify,
//! install, switch, report — through `fleet_release_info` and
//! `fleet_agent_state`.
//!
//! Two tasks: a *reader* that reads the repository's committed HEAD every
//! [`SimOptions::agent_poll`](super::SimOptions::agent_poll) with the git
//! command-line client (no shell, every call bounded by [`GIT_TIMEOUT`]; bare
//! repositories and work trees alike; the work tree is never looked at), and
//! a *stepper* that moves every online device's state machine a little on
//! each tick.
//!
//! # Which rollouts are followed
//!
//! The agents follow every plan under `rollouts/` at HEAD, each device the
//! plan that targets it:
//!
//! 1. Take the most recent commit of HEAD's first-parent history that changed
//!    anything under `rollouts/` (`git log -1 --first-parent -m --name-only
//!    HEAD -- rollouts/`), and the plan files `rollouts/NAME.toml` it changed
//!    that still exist at HEAD. If one of them is malformed, nothing is
//!    followed: the agents freeze (nobody starts an install, installs under
//!    way are dropped) rather than act on a half-understood change, and
//!    [`SimHandle::agent_error`](super::SimHandle::agent_error) says which
//!    file and why. Malformed plans that are not the latest change are
//!    skipped and reported.
//! 2. The valid plans are ranked, most recent first, by `state.wave_started`
//!    (a plan without it — nothing released yet — ranks last; ties go to the
//!    greater file name). The first of them is the *active* rollout
//!    ([`SimHandle::active_rollout`](super::SimHandle::active_rollout)).
//! 3. A device installs the `release` of the highest-ranked plan that
//!    releases it to the device (it is in a released wave and the plan is
//!    not aborted). When none does, it follows the highest-ranked plan it is
//!    part of — running that plan's new or previous release — back to (or
//!    staying on) its `previous`. A device that no plan concerns stays as it
//!    is.
//!
//! So a hotfix plan that has released nothing yet changes nothing, a
//! promoted hotfix wins over the rollout it fixes on the devices it reaches,
//! and aborting it sends them back to what the older rollout gives them.
//! When git itself fails (timeout, not a repository), the agents keep
//! following what they read last and the error is reported.
//!
//! # What a device does
//!
//! Its target comes from [`wave::desired`] for each plan, combined as above:
//! a plan's `release` when the device is in a released wave and the rollout
//! is not aborted, else the plan's `previous` — but a device running neither
//! version (nor their digests) is not part of that rollout. A device "runs" a release when its image and model digests
//! match (the release label is only a name). When it does not run its
//! target, it notices within one poll interval (a per-device delay), then
//! goes through `downloading` (50 % of its install time), `verifying` (15 %)
//! and `installing` (35 %), switches and reports `idle`. Install times are
//! [`SimOptions::install_time`](super::SimOptions::install_time) with a
//! per-device, deterministic factor in [0.5, 1.5). A stuck device
//! ([`SimOptions::stuck`](super::SimOptions::stuck)) ends in `failed`, keeps
//! its release, and retries only when its target changes. An offline device
//! does nothing (an install under way pauses) until it is back online.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::SimError;
use super::fleet::SimFleet;
use super::release::{AgentState, Release};
use super::rng::{derive, mix64};
use crate::rollout::plan::Plan;
use crate::rollout::wave::{self, Desired};

/// Bound of every git invocation.
pub(crate) const GIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Share of the install time spent downloading, then verifying (the rest installing).
const DOWNLOAD_SHARE: f64 = 0.5;
const VERIFY_SHARE: f64 = 0.15;

#[derive(Debug, Clone)]
pub(crate) struct AgentOptions {
    pub(crate) repo: PathBuf,
    pub(crate) poll: Duration,
    pub(crate) install_time: Duration,
    pub(crate) seed: u64,
}

/// What the reader reports, for [`AgentHandle::last_error`],
/// [`AgentHandle::active_rollout`] and [`AgentHandle::followed`].
#[derive(Debug, Default)]
struct Shared {
    error: Mutex<Option<String>>,
    /// Names of the followed plans, highest rank first.
    followed: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The running agents. Dropping the handle stops both tasks (and kills a git
/// process under way).
pub(crate) struct AgentHandle {
    shared: Arc<Shared>,
    reader: JoinHandle<()>,
    stepper: JoinHandle<()>,
}

impl AgentHandle {
    pub(crate) fn start(fleet: Arc<SimFleet>, opts: AgentOptions) -> AgentHandle {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = watch::channel(Published::default());
        let poll = opts.poll.max(Duration::from_millis(10));
        let tick = (opts.install_time / 30)
            .clamp(Duration::from_millis(10), Duration::from_millis(250))
            .min(poll);
        let reader = tokio::spawn(read_loop(opts.repo.clone(), poll, tx, Arc::clone(&shared)));
        let stepper = tokio::spawn(step_loop(fleet, rx, opts, poll, tick));
        AgentHandle {
            shared,
            reader,
            stepper,
        }
    }

    pub(crate) fn last_error(&self) -> Option<String> {
        lock(&self.shared.error).clone()
    }

    pub(crate) fn active_rollout(&self) -> Option<String> {
        lock(&self.shared.followed).first().cloned()
    }

    pub(crate) fn followed(&self) -> Vec<String> {
        lock(&self.shared.followed).clone()
    }

    pub(crate) async fn shutdown(mut self) {
        self.reader.abort();
        self.stepper.abort();
        let _ = (&mut self.reader).await;
        let _ = (&mut self.stepper).await;
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        self.reader.abort();
        self.stepper.abort();
    }
}

/// Fails early, with the path in the message, when `repo` is not a git repository.
pub(crate) async fn check_repo(repo: &Path) -> Result<(), SimError> {
    let err = |reason: String| SimError::RolloutRepo {
        path: repo.display().to_string(),
        reason,
    };
    if !repo.is_dir() {
        return Err(err("no such directory".into()));
    }
    git_ok(repo, &["rev-parse", "--git-dir"])
        .await
        .map(|_| ())
        .map_err(err)
}

// ---------------------------------------------------------------------------
// Reading the repository.

/// The plan the agents follow, with its two releases as devices report them.
#[derive(Debug)]
struct Target {
    plan: Plan,
    new: Arc<Release>,
    previous: Arc<Release>,
}

/// The followed plans, highest rank first (see the module docs).
type Published = Arc<Vec<Arc<Target>>>;

/// One successful read of the repository.
#[derive(Debug, Clone, Default)]
struct Read {
    followed: Published,
    errors: Vec<String>,
}

/// Parsed plans by path and blob id, and the last read by HEAD commit, so an
/// unchanged repository costs one `git rev-parse` per poll.
#[derive(Default)]
struct Cache {
    head: Option<String>,
    last: Read,
    blobs: HashMap<String, (String, Result<Arc<Plan>, String>)>,
}

async fn read_loop(
    repo: PathBuf,
    poll: Duration,
    tx: watch::Sender<Published>,
    shared: Arc<Shared>,
) {
    let mut cache = Cache::default();
    loop {
        match read_repo(&repo, &mut cache).await {
            Ok(read) => {
                *lock(&shared.error) = if read.errors.is_empty() {
                    None
                } else {
                    Some(read.errors.join("\n"))
                };
                *lock(&shared.followed) =
                    read.followed.iter().map(|t| t.plan.name.clone()).collect();
                tx.send_if_modified(|current| {
                    let same = Arc::ptr_eq(current, &read.followed);
                    if !same {
                        *current = Arc::clone(&read.followed);
                    }
                    !same
                });
            }
            // Keep following what was read last; say why it is stale.
            Err(e) => *lock(&shared.error) = Some(e),
        }
        tokio::time::sleep(poll).await;
    }
}

async fn read_repo(repo: &Path, cache: &mut Cache) -> Result<Read, String> {
    let head = git(repo, &["rev-parse", "--verify", "-q", "HEAD^{commit}"]).await?;
    if !head.status.success() {
        let stderr = String::from_utf8_lossy(&head.stderr).trim().to_string();
        if stderr.is_empty() {
            // An unborn HEAD: nothing committed yet, nothing to follow.
            cache.head = None;
            cache.last = Read::default();
            return Ok(Read::default());
        }
        return Err(failed(repo, "rev-parse HEAD", &stderr));
    }
    let commit = String::from_utf8_lossy(&head.stdout).trim().to_string();
    if cache.head.as_deref() == Some(commit.as_str()) {
        return Ok(cache.last.clone());
    }

    // Plan files at HEAD: "<mode> <type> <oid>\t<path>", blobs named *.toml.
    let listing = git_ok(repo, &["ls-tree", &commit, "rollouts/"]).await?;
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for line in listing.lines() {
        let Some((meta, path)) = line.split_once('\t') else {
            continue;
        };
        let mut meta = meta.split_whitespace();
        let (Some(_mode), Some(kind), Some(oid)) = (meta.next(), meta.next(), meta.next()) else {
            continue;
        };
        if kind == "blob" && path.ends_with(".toml") {
            files.insert(path.to_string(), oid.to_string());
        }
    }

    let mut plans: BTreeMap<String, Result<Arc<Plan>, String>> = BTreeMap::new();
    for (path, oid) in &files {
        let parsed = match cache.blobs.get(path) {
            Some((cached_oid, parsed)) if cached_oid == oid => parsed.clone(),
            _ => {
                let out = git_ok_bytes(repo, &["show", &format!("{commit}:{path}")]).await?;
                let parsed = match String::from_utf8(out) {
                    Ok(text) => Plan::parse(&text, Path::new(path))
                        .map(Arc::new)
                        .map_err(|e| e.to_string()),
                    Err(_) => Err(format!("{path}: not UTF-8 text")),
                };
                cache
                    .blobs
                    .insert(path.clone(), (oid.clone(), parsed.clone()));
                parsed
            }
        };
        plans.insert(path.clone(), parsed);
    }
    cache.blobs.retain(|path, _| files.contains_key(path));

    let log = git_ok(
        repo,
        &[
            "log",
            "-1",
            "--first-parent",
            "-m",
            "--format=%H",
            "--name-only",
            &commit,
            "--",
            "rollouts/",
        ],
    )
    .await?;
    // The first line is the commit; the rest are the paths it changed.
    let changed: HashSet<&str> = log
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();

    let errors: Vec<String> = plans
        .values()
        .filter_map(|p| p.as_ref().err().cloned())
        .collect();
    let frozen = plans
        .iter()
        .any(|(path, p)| p.is_err() && changed.contains(path.as_str()));
    let mut followed: Vec<(&String, &Arc<Plan>)> = if frozen {
        Vec::new()
    } else {
        plans
            .iter()
            .filter_map(|(path, p)| p.as_ref().ok().map(|p| (path, p)))
            .collect()
    };
    // Highest rank first: latest wave_started (none ranks last), then the greater file name.
    followed.sort_by(|(pa, a), (pb, b)| {
        b.state
            .wave_started
            .cmp(&a.state.wave_started)
            .then(pb.cmp(pa))
    });
    let followed: Published = Arc::new(
        followed
            .into_iter()
            .map(|(_, plan)| {
                Arc::new(Target {
                    new: Arc::new(Release::from_spec(&plan.release)),
                    previous: Arc::new(Release::from_spec(&plan.previous)),
                    plan: Plan::clone(plan),
                })
            })
            .collect(),
    );
    let read = Read { followed, errors };
    cache.head = Some(commit);
    cache.last = read.clone();
    Ok(read)
}

/// Runs `git -C repo ARGS` without a shell, bounded by [`GIT_TIMEOUT`].
async fn git(repo: &Path, args: &[&str]) -> Result<Output, String> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("-C")
        .arg(repo)
        .args(["-c", "core.quotepath=off"])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        // Read-only: never take the index lock a writer may need.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match tokio::time::timeout(GIT_TIMEOUT, cmd.output()).await {
        Err(_) => Err(format!(
            "git {} in {} took longer than {}s; still following the last plan read",
            args.first().copied().unwrap_or_default(),
            repo.display(),
            GIT_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(format!("cannot run git: {e}")),
        Ok(Ok(out)) => Ok(out),
    }
}

async fn git_ok_bytes(repo: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = git(repo, args).await?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let what = args.first().copied().unwrap_or_default();
        Err(failed(
            repo,
            what,
            String::from_utf8_lossy(&out.stderr).trim(),
        ))
    }
}

async fn git_ok(repo: &Path, args: &[&str]) -> Result<String, String> {
    git_ok_bytes(repo, args)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn failed(repo: &Path, what: &str, stderr: &str) -> String {
    format!("git {what} in {} failed: {stderr}", repo.display())
}

// ---------------------------------------------------------------------------
// Stepping the devices.

/// One device's update agent.
#[derive(Debug, Clone)]
enum Slot {
    Idle,
    /// Installing `target`: `elapsed` counts online time since the change
    /// was seen; phases start after `delay` and take `total`.
    Busy {
        target: Arc<Release>,
        elapsed: Duration,
        delay: Duration,
        total: Duration,
    },
    /// An install of `target` failed; retried only for another target.
    Failed {
        target: Arc<Release>,
    },
}

/// Per-device constants drawn from the seed.
struct Personality {
    /// Install time factor in [0.5, 1.5).
    speed: f64,
    /// When in a poll interval this device's agent polls, in [0, 1).
    phase: f64,
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

async fn step_loop(
    fleet: Arc<SimFleet>,
    mut rx: watch::Receiver<Published>,
    opts: AgentOptions,
    poll: Duration,
    tick: Duration,
) {
    let devices = fleet.devices();
    let personalities: Vec<Personality> = devices
        .iter()
        .map(|d| {
            let h = derive(opts.seed, &format!("agent/{}", d.id));
            Personality {
                speed: 0.5 + unit(h),
                phase: unit(mix64(h)),
            }
        })
        .collect();
    let mut slots = vec![Slot::Idle; devices.len()];
    let mut reported: Vec<AgentState> = devices
        .iter()
        .map(|d| fleet.agent_state(&d.id).unwrap_or_default())
        .collect();
    // desired[device][plan], plans in rank order.
    let mut desired: Vec<Vec<Desired>> = vec![Vec::new(); devices.len()];
    let mut targets: Published = Arc::default();

    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    loop {
        ticks.tick().await;
        let now = Instant::now();
        let dt = now - last;
        last = now;
        if rx.has_changed().unwrap_or(false) {
            targets = Arc::clone(&rx.borrow_and_update());
            for (want, d) in desired.iter_mut().zip(devices) {
                *want = targets
                    .iter()
                    .map(|t| wave::desired(&t.plan, &d.id, &d.site, &d.group))
                    .collect();
            }
        }
        if targets.is_empty() && slots.iter().all(|s| matches!(s, Slot::Idle)) {
            continue;
        }
        for (i, p) in personalities.iter().enumerate() {
            if fleet.offline_at(i) || fleet.drifted_at(i) {
                continue;
            }
            let running = fleet.release_at(i);
            let want =
                target_for(&targets, &desired[i], &running).filter(|w| !running.same_artifacts(w));
            let slot = std::mem::replace(&mut slots[i], Slot::Idle);
            let d = step(
                slot,
                want,
                dt,
                fleet.stuck_at(i),
                || poll.mul_f64(p.phase),
                || opts.install_time.mul_f64(p.speed),
            );
            slots[i] = d.slot;
            if let Some(release) = d.switch {
                fleet.set_release_at(i, release);
            }
            if let Some(state) = d.report
                && reported[i] != state
            {
                reported[i] = state;
                fleet.set_agent_state_at(i, state);
            }
        }
    }
}

/// What one tick decides for one device.
#[derive(Debug)]
struct Decision {
    slot: Slot,
    /// The state to report; `None` keeps the current one.
    report: Option<AgentState>,
    /// The release to switch to (an install just finished).
    switch: Option<Arc<Release>>,
}

/// One tick of one device's agent: `want` is the release it should install
/// (`None`: nothing to do), `dt` the time since the last tick.
fn step(
    slot: Slot,
    want: Option<Arc<Release>>,
    dt: Duration,
    stuck: bool,
    delay: impl FnOnce() -> Duration,
    total: impl FnOnce() -> Duration,
) -> Decision {
    let Some(want) = want else {
        return Decision {
            slot: Slot::Idle,
            report: Some(AgentState::Idle),
            switch: None,
        };
    };
    let (target, elapsed, delay, total) = match slot {
        Slot::Failed { target } if target.same_artifacts(&want) => {
            return Decision {
                slot: Slot::Failed { target },
                report: Some(AgentState::Failed),
                switch: None,
            };
        }
        Slot::Busy {
            target,
            elapsed,
            delay,
            total,
        } if target.same_artifacts(&want) => (target, elapsed + dt, delay, total),
        // Idle, or a new target: start over.
        _ => (want, Duration::ZERO, delay(), total()),
    };
    let busy = |target| Slot::Busy {
        target,
        elapsed,
        delay,
        total,
    };
    if elapsed < delay {
        // Not polled yet: it does not know there is something to install.
        return Decision {
            slot: busy(target),
            report: None,
            switch: None,
        };
    }
    let done = if total.is_zero() {
        1.0
    } else {
        (elapsed - delay).as_secs_f64() / total.as_secs_f64()
    };
    let phase = if done < DOWNLOAD_SHARE {
        AgentState::Downloading
    } else if done < DOWNLOAD_SHARE + VERIFY_SHARE {
        AgentState::Verifying
    } else if done < 1.0 {
        AgentState::Installing
    } else if stuck {
        return Decision {
            slot: Slot::Failed { target },
            report: Some(AgentState::Failed),
            switch: None,
        };
    } else {
        return Decision {
            slot: Slot::Idle,
            report: Some(AgentState::Idle),
            switch: Some(target),
        };
    };
    Decision {
        slot: busy(target),
        report: Some(phase),
        switch: None,
    }
}

/// The release a device should install given every followed plan (highest
/// rank first) and what each wants for it, or `None` when no plan concerns
/// it (see the module docs).
fn target_for(
    targets: &[Arc<Target>],
    desired: &[Desired],
    running: &Release,
) -> Option<Arc<Release>> {
    let plans = || targets.iter().zip(desired.iter().copied());
    plans()
        .find(|(_, d)| *d == Desired::New)
        .map(|(t, _)| Arc::clone(&t.new))
        .or_else(|| plans().find_map(|(t, _)| wanted(t, Desired::Previous, running)))
}

/// The release a device should install, or `None` when the rollout does not
/// concern it (see the module docs).
fn wanted(t: &Target, desired: Desired, running: &Release) -> Option<Arc<Release>> {
    match desired {
        Desired::New => Some(Arc::clone(&t.new)),
        Desired::Previous => {
            let involved = running.version == t.new.version
                || running.version == t.previous.version
                || running.same_artifacts(&t.new)
                || running.same_artifacts(&t.previous);
            involved.then(|| Arc::clone(&t.previous))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::release_for;

    const MS: Duration = Duration::from_millis(1);

    fn tick(slot: Slot, want: Option<&Arc<Release>>, dt_ms: u32, stuck: bool) -> Decision {
        step(
            slot,
            want.cloned(),
            MS * dt_ms,
            stuck,
            || MS * 100,
            || MS * 1000,
        )
    }

    #[test]
    fn an_install_waits_for_the_poll_then_goes_through_every_phase() {
        let new = Arc::new(release_for("1.5.0"));
        let mut slot = Slot::Idle;
        let mut seen = Vec::new();
        let mut switched = None;
        for _ in 0..30 {
            let d = tick(slot, Some(&new), 50, false);
            slot = d.slot;
            if let Some(s) = d.report
                && seen.last() != Some(&s)
            {
                seen.push(s);
            }
            if d.switch.is_some() {
                switched = d.switch;
                break;
            }
        }
        assert_eq!(
            seen,
            [
                AgentState::Downloading,
                AgentState::Verifying,
                AgentState::Installing,
                AgentState::Idle
            ]
        );
        assert_eq!(switched.as_deref(), Some(&*new));
        assert!(matches!(slot, Slot::Idle));
    }

    #[test]
    fn a_stuck_device_fails_and_retries_only_for_another_target() {
        let new = Arc::new(release_for("1.5.0"));
        let mut slot = Slot::Idle;
        for _ in 0..30 {
            let d = tick(slot, Some(&new), 100, true);
            assert!(d.switch.is_none());
            slot = d.slot;
        }
        assert!(matches!(&slot, Slot::Failed { target } if **target == *new));
        let d = tick(slot, Some(&new), 100, true);
        assert_eq!(d.report, Some(AgentState::Failed));
        // Another target: a new attempt, after this device's poll delay.
        let other = Arc::new(release_for("1.5.1"));
        let d = tick(d.slot, Some(&other), 100, true);
        assert!(matches!(d.slot, Slot::Busy { .. }));
        assert_eq!(d.report, None, "still reports failed until it polls");
        // Nothing to do any more (e.g. aborted back to what it runs): idle.
        let d = tick(d.slot, None, 100, true);
        assert_eq!(d.report, Some(AgentState::Idle));
        assert!(matches!(d.slot, Slot::Idle));
    }

    #[test]
    fn a_target_change_mid_install_starts_over() {
        let a = Arc::new(release_for("1.5.0"));
        let b = Arc::new(release_for("1.4.0"));
        let d = tick(Slot::Idle, Some(&a), 0, false);
        let d = tick(d.slot, Some(&a), 800, false);
        assert_eq!(d.report, Some(AgentState::Installing));
        let d = tick(d.slot, Some(&b), 0, false);
        assert!(
            matches!(&d.slot, Slot::Busy { target, elapsed, .. } if **target == *b && elapsed.is_zero())
        );
    }

    fn target(name: &str, new: &str, previous: &str) -> Arc<Target> {
        Arc::new(Target {
            plan: Plan::new(
                name,
                crate::sim::release_spec_for(new),
                crate::sim::release_spec_for(previous),
            ),
            new: Arc::new(release_for(new)),
            previous: Arc::new(release_for(previous)),
        })
    }

    #[test]
    fn two_plans_a_device_follows_the_one_that_targets_it() {
        use Desired::{New, Previous};
        // Ranked: the hotfix 1.5.0 → 1.5.1 first, then 1.4.0 → 1.5.0.
        let plans = [
            target("vision-1.5.1", "1.5.1", "1.5.0"),
            target("vision-1.5.0", "1.5.0", "1.4.0"),
        ];
        let v = |s: &str| release_for(s);
        let got = |desired: [Desired; 2], running: &str| {
            target_for(&plans, &desired, &v(running)).map(|r| r.version.clone())
        };
        // Hotfix at wave 0, 1.5.0's canary released: canaries get 1.5.0,
        // nobody gets 1.5.1, the rest stay where they are.
        assert_eq!(got([Previous, New], "1.4.0").as_deref(), Some("1.5.0"));
        assert_eq!(got([Previous, New], "1.5.0").as_deref(), Some("1.5.0"));
        assert_eq!(got([Previous, Previous], "1.4.0").as_deref(), Some("1.4.0"));
        // The hotfix's canary released: it wins where it reaches.
        assert_eq!(got([New, New], "1.5.0").as_deref(), Some("1.5.1"));
        assert_eq!(got([New, Previous], "1.4.0").as_deref(), Some("1.5.1"));
        // Hotfix aborted: its devices go back to what 1.5.0 gives them.
        assert_eq!(got([Previous, New], "1.5.1").as_deref(), Some("1.5.0"));
        assert_eq!(
            got([Previous, Previous], "1.5.1").as_deref(),
            Some("1.5.0"),
            "the hotfix's own previous"
        );
        // A device no plan concerns stays.
        assert_eq!(got([Previous, Previous], "1.3.9"), None);
        assert_eq!(target_for(&[], &[], &v("1.4.0")), None);
    }

    #[test]
    fn wanted_leaves_devices_outside_the_rollout_alone() {
        let t = Target {
            plan: Plan::new(
                "p",
                crate::sim::release_spec_for("1.5.0"),
                crate::sim::release_spec_for("1.4.0"),
            ),
            new: Arc::new(release_for("1.5.0")),
            previous: Arc::new(release_for("1.4.0")),
        };
        let stable = Release::stable();
        assert_eq!(
            wanted(&t, Desired::Previous, &stable).as_deref(),
            Some(&release_for("1.4.0"))
        );
        assert_eq!(
            wanted(&t, Desired::Previous, &release_for("1.5.0")).as_deref(),
            Some(&release_for("1.4.0")),
            "rolled back"
        );
        assert_eq!(wanted(&t, Desired::Previous, &release_for("1.3.9")), None);
        assert_eq!(
            wanted(&t, Desired::New, &release_for("1.3.9")).as_deref(),
            Some(&release_for("1.5.0"))
        );
    }
}
