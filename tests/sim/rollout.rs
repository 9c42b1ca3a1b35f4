//! The simulator's update agents following a real git repository: waves,
//! promotion to everyone, abort, offline devices, stuck installs, bad
//! releases and malformed plans.

use crate::support::git::git;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fleetdeck::rollout::plan::{Plan, Status};
use fleetdeck::sim::{
    AgentState, CANARY_GROUP, Release, ScrapeOutcome, SimHandle, SimOptions, release_for,
    release_spec_for, site_names,
};

const PLAN: &str = "vision-1.5.0";
/// Every wait is bounded by this.
const DEADLINE: Duration = Duration::from_secs(30);

/// A work-tree repository in a temporary directory (with an optional bare
/// remote the simulator reads instead).
struct Repo {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    bare: Option<PathBuf>,
}

impl Repo {
    fn new() -> Repo {
        let tmp = tempfile::tempdir().expect("temp dir");
        let work = tmp.path().join("work");
        std::fs::create_dir_all(work.join("rollouts")).expect("mkdir");
        git(&work, &["init", "-q"]);
        Repo {
            _tmp: tmp,
            work,
            bare: None,
        }
    }

    /// A bare repository that every commit is pushed to.
    fn with_bare_remote() -> Repo {
        let mut r = Repo::new();
        let bare = r._tmp.path().join("remote.git");
        git(r._tmp.path(), &["init", "-q", "--bare", "remote.git"]);
        git(
            &r.work,
            &["remote", "add", "origin", &bare.display().to_string()],
        );
        r.bare = Some(bare);
        r
    }

    /// What the simulator follows.
    fn followed(&self) -> PathBuf {
        self.bare.clone().unwrap_or_else(|| self.work.clone())
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(
            self.work.join("rollouts").join(format!("{name}.toml")),
            text,
        )
        .expect("write plan");
    }

    fn commit_text(&self, name: &str, text: &str, message: &str) {
        self.write(name, text);
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        if self.bare.is_some() {
            git(
                &self.work,
                &["push", "-q", "origin", "HEAD:refs/heads/main"],
            );
        }
    }

    fn commit(&self, plan: &Plan, message: &str) {
        self.commit_text(&plan.name, &plan.to_toml(), message);
    }
}

fn plan(wave: usize, status: Status) -> Plan {
    let mut p = Plan::new(PLAN, release_spec_for("1.5.0"), release_spec_for("1.4.0"));
    p.state.wave = wave;
    p.state.status = status;
    p
}

fn opts(repo: &Repo, devices: usize, sites: usize) -> SimOptions {
    SimOptions {
        devices,
        sites,
        rollout_repo: Some(repo.followed()),
        agent_poll: Duration::from_millis(200),
        install_time: Duration::from_millis(600),
        ..SimOptions::default()
    }
}

async fn start(opts: SimOptions) -> SimHandle {
    SimHandle::start(opts, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("sim starts")
}

/// Polls `cond` every 20 ms until it holds; panics with `what()` after [`DEADLINE`].
async fn wait_until(what: impl Fn() -> String, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for {}",
            what()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn runs(sim: &SimHandle, id: &str, release: &Release) -> bool {
    sim.release_of(id)
        .is_some_and(|r| r.same_artifacts(release))
}

fn ids(sim: &SimHandle, f: impl Fn(&fleetdeck::sim::SimDevice) -> bool) -> Vec<String> {
    sim.devices()
        .iter()
        .filter(|d| f(d))
        .map(|d| d.id.clone())
        .collect()
}

/// Describes every device not yet in the wanted state, for timeout messages.
fn laggards(sim: &SimHandle, devices: &[String], release: &Release) -> String {
    let late: Vec<String> = devices
        .iter()
        .filter(|id| !runs(sim, id, release) || sim.agent_state_of(id) != Some(AgentState::Idle))
        .map(|id| {
            format!(
                "{id} on {:?} {:?}",
                sim.release_of(id).map(|r| r.version),
                sim.agent_state_of(id)
            )
        })
        .collect();
    format!(
        "{} of {} devices on {} and idle; late: {late:?}; agent error: {:?}",
        devices.len() - late.len(),
        devices.len(),
        release.version,
        sim.agent_error()
    )
}

async fn wait_all_on(sim: &SimHandle, devices: &[String], release: &Release) {
    wait_until(
        || laggards(sim, devices, release),
        || {
            devices.iter().all(|id| {
                runs(sim, id, release) && sim.agent_state_of(id) == Some(AgentState::Idle)
            })
        },
    )
    .await;
}

/// Runs `fut` while sampling the agent states of `watched` every 2 ms.
async fn sampling_states<F: Future<Output = ()>>(
    sim: &SimHandle,
    watched: &[String],
    fut: F,
) -> HashSet<AgentState> {
    let mut seen = HashSet::new();
    tokio::pin!(fut);
    loop {
        for id in watched {
            if let Some(s) = sim.agent_state_of(id) {
                seen.insert(s);
            }
        }
        tokio::select! {
            () = &mut fut => return seen,
            () = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
    }
}

async fn release_label(sim: &SimHandle, id: &str) -> HashMap<String, String> {
    let body = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
        .get(sim.metrics_url(id))
        .send()
        .await
        .expect("device answers")
        .text()
        .await
        .expect("body");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .expect("exposition parses");
    let info = scrape
        .samples
        .iter()
        .find(|s| s.metric == "fleet_release_info")
        .expect("fleet_release_info");
    ["release", "version", "image_digest", "model_digest"]
        .iter()
        .filter_map(|k| info.labels.get(k).map(|v| (k.to_string(), v.to_string())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_wave_moves_only_canaries_through_every_agent_state() {
    let repo = Repo::new();
    repo.commit(&plan(0, Status::Progressing), "init");
    let sim = start(opts(&repo, 60, 4)).await;
    let canaries = ids(&sim, |d| d.group == CANARY_GROUP);
    let others = ids(&sim, |d| d.group != CANARY_GROUP);
    assert!(canaries.len() >= 3, "{canaries:?}");
    wait_until(
        || format!("the plan to be active, error {:?}", sim.agent_error()),
        || sim.active_rollout().as_deref() == Some(PLAN),
    )
    .await;

    repo.commit(&plan(1, Status::Progressing), "promote canary");
    let new = release_for("1.5.0");
    let seen = sampling_states(&sim, &canaries, wait_all_on(&sim, &canaries, &new)).await;
    for s in [
        AgentState::Downloading,
        AgentState::Verifying,
        AgentState::Installing,
    ] {
        assert!(seen.contains(&s), "never saw {s:?} among {seen:?}");
    }
    assert!(!seen.contains(&AgentState::Failed));

    // What a scraper sees: the plan's digests.
    let labels = release_label(&sim, &canaries[0]).await;
    let spec = release_spec_for("1.5.0");
    assert_eq!(labels["version"], "1.5.0");
    assert_eq!(labels["image_digest"], spec.image.digest);
    assert_eq!(labels["model_digest"], spec.model.expect("model").digest);
    let labels = release_label(&sim, &others[0]).await;
    assert_eq!(labels["version"], "1.4.0");

    // Non-canaries would have started by now; give them one more install time.
    tokio::time::sleep(Duration::from_millis(900)).await;
    for id in &others {
        assert!(runs(&sim, id, &Release::stable()), "{id} moved");
        assert_eq!(sim.agent_state_of(id), Some(AgentState::Idle), "{id}");
    }
    assert_eq!(sim.agent_error(), None);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promoting_to_everyone_moves_online_devices_and_offline_ones_once_back() {
    let repo = Repo::new();
    repo.commit(&plan(1, Status::Progressing), "canary");
    let sim = start(SimOptions {
        offline: 3,
        ..opts(&repo, 60, 4)
    })
    .await;
    let offline = sim.offline_devices();
    assert_eq!(offline.len(), 3);
    let online = ids(&sim, |d| !offline.contains(&d.id));
    let canaries = ids(&sim, |d| d.group == CANARY_GROUP);
    let new = release_for("1.5.0");
    wait_all_on(&sim, &canaries, &new).await;

    // The work tree is not the desired state: only commits are.
    repo.write(PLAN, &plan(4, Status::Progressing).to_toml());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let moved = ids(&sim, |d| {
        d.group != CANARY_GROUP && !runs(&sim, &d.id, &Release::stable())
    });
    assert!(moved.is_empty(), "uncommitted plan followed: {moved:?}");

    repo.commit(&plan(4, Status::Progressing), "promote to 100%");
    wait_all_on(&sim, &online, &new).await;
    for id in &offline {
        assert!(runs(&sim, id, &Release::stable()), "offline {id} moved");
    }
    sim.set_offline(&offline[0], false);
    wait_all_on(&sim, &offline[..1], &new).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in &offline[1..] {
        assert!(runs(&sim, id, &Release::stable()), "offline {id} moved");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_sends_everyone_back_to_the_previous_release_from_a_bare_repo() {
    let repo = Repo::with_bare_remote();
    repo.commit(&plan(4, Status::Progressing), "everyone");
    let sim = start(opts(&repo, 40, 4)).await;
    let all = ids(&sim, |_| true);
    wait_all_on(&sim, &all, &release_for("1.5.0")).await;

    let mut aborted = plan(4, Status::Aborted);
    aborted.state.reason = Some("p95 regression".into());
    repo.commit(&aborted, "abort");
    let previous = release_for("1.4.0");
    assert!(previous.same_artifacts(&Release::stable()));
    wait_all_on(&sim, &all, &previous).await;
    assert_eq!(sim.agent_error(), None);
    sim.shutdown().await;
}

/// `series -> value` of one exposition.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

const LE: [&str; 17] = [
    "0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.15", "0.2", "0.25", "0.3", "0.4", "0.5",
    "0.75", "1", "2.5", "5", "+Inf",
];

/// (p95 as histogram_quantile computes it, error share) between two scrapes.
fn p95_and_errors(a: &HashMap<String, f64>, b: &HashMap<String, f64>) -> (f64, f64) {
    let get = |m: &HashMap<String, f64>, s: &str| {
        *m.get(s).unwrap_or_else(|| panic!("missing series {s}"))
    };
    let delta = |s: &str| get(b, s) - get(a, s);
    let buckets: Vec<(f64, f64)> = LE
        .iter()
        .map(|le| {
            let bound = le.parse().unwrap_or(f64::INFINITY);
            (
                bound,
                delta(&format!("inference_latency_seconds_bucket{{le=\"{le}\"}}")),
            )
        })
        .collect();
    let total = buckets[buckets.len() - 1].1;
    assert!(total > 0.0, "no requests between the scrapes");
    let rank = 0.95 * total;
    let (mut lower, mut below) = (0.0, 0.0);
    let mut p95 = f64::NAN;
    for &(upper, cum) in &buckets {
        if cum >= rank {
            p95 = if upper.is_infinite() {
                lower
            } else {
                lower + (upper - lower) * (rank - below) / (cum - below)
            };
            break;
        }
        lower = upper;
        below = cum;
    }
    let errors = delta("inference_errors_total") / delta("inference_requests_total");
    (p95, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_release_is_slow_and_error_prone_on_its_site_only() {
    let repo = Repo::new();
    repo.commit(&plan(1, Status::Progressing), "canary");
    let bad_site = site_names(4)[1].clone();
    let sim = start(SimOptions {
        bad_release: vec![format!("1.5.0@{bad_site}").parse().expect("valid")],
        ..opts(&repo, 80, 4)
    })
    .await;
    let canaries = ids(&sim, |d| d.group == CANARY_GROUP);
    wait_all_on(&sim, &canaries, &release_for("1.5.0")).await;
    let bad: HashSet<String> = ids(&sim, |d| d.group == CANARY_GROUP && d.site == bad_site)
        .into_iter()
        .collect();
    assert!(!bad.is_empty(), "no canary on {bad_site}");
    assert!(
        sim.devices()
            .iter()
            .any(|d| d.site == bad_site && !bad.contains(&d.id)),
        "every device of {bad_site} is a canary"
    );

    // Five minutes of traffic in two scrapes at explicit times.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64();
    for d in sim.devices() {
        let scrape = |t: f64| {
            let mut out = String::new();
            assert_eq!(
                sim.fleet().scrape_at(&d.id, t, &mut out),
                ScrapeOutcome::Rendered
            );
            parse(&out)
        };
        let (p95, errors) = p95_and_errors(&scrape(now + 10.0), &scrape(now + 310.0));
        if bad.contains(&d.id) {
            assert!((0.40..=0.50).contains(&p95), "{} bad p95 {p95}", d.id);
            assert!(
                (0.06..=0.10).contains(&errors),
                "{} bad errors {errors}",
                d.id
            );
        } else {
            assert!(
                p95 < 0.25,
                "{} ({}, {}) healthy p95 {p95}",
                d.id,
                d.site,
                d.group
            );
            assert!(errors < 0.02, "{} healthy errors {errors}", d.id);
        }
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_devices_fail_and_stay_on_the_old_release() {
    let repo = Repo::new();
    repo.commit(&plan(4, Status::Progressing), "everyone");
    let sim = start(SimOptions {
        stuck: 3,
        offline: 2,
        ..opts(&repo, 60, 4)
    })
    .await;
    let stuck = sim.stuck_devices();
    assert_eq!(stuck.len(), 3);
    let offline = sim.offline_devices();
    assert!(stuck.iter().all(|id| !offline.contains(id)));
    let healthy = ids(&sim, |d| !stuck.contains(&d.id) && !offline.contains(&d.id));
    let seen = sampling_states(&sim, &stuck, async {
        wait_until(
            || {
                format!(
                    "stuck devices to fail: {:?}",
                    stuck
                        .iter()
                        .map(|id| sim.agent_state_of(id))
                        .collect::<Vec<_>>()
                )
            },
            || {
                stuck
                    .iter()
                    .all(|id| sim.agent_state_of(id) == Some(AgentState::Failed))
            },
        )
        .await;
    })
    .await;
    assert!(
        seen.contains(&AgentState::Installing),
        "stuck devices never tried: {seen:?}"
    );
    wait_all_on(&sim, &healthy, &release_for("1.5.0")).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    for id in &stuck {
        assert!(runs(&sim, id, &Release::stable()), "stuck {id} switched");
        assert_eq!(sim.agent_state_of(id), Some(AgentState::Failed), "{id}");
    }

    // The target changes (abort back to what they run): failed no more.
    repo.commit(&plan(4, Status::Aborted), "abort");
    wait_all_on(&sim, &stuck, &Release::stable()).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_plan_is_reported_and_moves_nobody() {
    let repo = Repo::new();
    let good = plan(1, Status::Progressing).to_toml();
    let digest = release_spec_for("1.5.0").image.digest;
    let broken = good.replacen(&digest, "sha256:abc", 1);
    assert_ne!(broken, good);
    repo.commit_text(PLAN, &broken, "oops");
    let sim = start(opts(&repo, 60, 4)).await;
    wait_until(|| "an agent error".into(), || sim.agent_error().is_some()).await;
    let error = sim.agent_error().unwrap_or_default();
    assert!(
        error.contains(&format!("rollouts/{PLAN}.toml")) && error.contains("release.image"),
        "{error}"
    );
    assert_eq!(sim.active_rollout(), None);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for d in sim.devices() {
        assert!(runs(&sim, &d.id, &Release::stable()), "{} moved", d.id);
        assert_eq!(
            sim.agent_state_of(&d.id),
            Some(AgentState::Idle),
            "{}",
            d.id
        );
    }

    // Fixed: the error goes away and the canaries move.
    repo.commit_text(PLAN, &good, "fix digest");
    let canaries = ids(&sim, |d| d.group == CANARY_GROUP);
    wait_all_on(&sim, &canaries, &release_for("1.5.0")).await;
    assert_eq!(sim.agent_error(), None);
    sim.shutdown().await;
}

/// The demo's second rollout: a hotfix of 1.5.0.
fn hotfix(wave: usize, status: Status) -> Plan {
    let mut p = Plan::new(
        "vision-1.5.1",
        release_spec_for("1.5.1"),
        release_spec_for("1.5.0"),
    );
    p.state.wave = wave;
    p.state.status = status;
    if wave > 0 {
        p.state.wave_started = Some(SystemTime::now());
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plans_each_device_follows_the_one_that_targets_it() {
    let repo = Repo::new();
    let mut canary = plan(1, Status::Progressing);
    canary.state.wave_started = Some(SystemTime::now() - Duration::from_secs(1200));
    repo.commit(&canary, "canary of 1.5.0");
    // The latest commit adds a hotfix that releases nothing yet.
    repo.commit(&hotfix(0, Status::Progressing), "hotfix init");
    let sim = start(opts(&repo, 60, 4)).await;
    let canaries = ids(&sim, |d| d.group == CANARY_GROUP);
    let others = ids(&sim, |d| d.group != CANARY_GROUP);
    wait_until(
        || format!("both plans followed: {:?}", sim.followed_rollouts()),
        || sim.followed_rollouts() == [PLAN, "vision-1.5.1"],
    )
    .await;
    assert_eq!(
        sim.active_rollout().as_deref(),
        Some(PLAN),
        "the released one ranks first"
    );
    // 1.5.0's canaries move although the hotfix is the latest change.
    wait_all_on(&sim, &canaries, &release_for("1.5.0")).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    for id in &others {
        assert!(runs(&sim, id, &Release::stable()), "{id} moved");
    }
    let hotfix_release = release_for("1.5.1");
    for d in sim.devices() {
        assert!(
            !runs(&sim, &d.id, &hotfix_release),
            "{} installed the hotfix at wave 0",
            d.id
        );
    }

    // The hotfix's canary wave: it wins on the canaries, nobody else moves.
    repo.commit(&hotfix(1, Status::Progressing), "promote hotfix");
    wait_all_on(&sim, &canaries, &hotfix_release).await;
    assert_eq!(sim.active_rollout().as_deref(), Some("vision-1.5.1"));
    for id in &others {
        assert!(runs(&sim, id, &Release::stable()), "{id} moved");
    }

    // Aborting the hotfix gives the canaries back what 1.5.0 releases to them.
    repo.commit(&hotfix(1, Status::Aborted), "abort hotfix");
    wait_all_on(&sim, &canaries, &release_for("1.5.0")).await;
    for id in &others {
        assert!(runs(&sim, id, &Release::stable()), "{id} moved");
    }
    assert_eq!(sim.agent_error(), None);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_directory_that_is_not_a_repository_is_refused_at_start() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let err = SimHandle::start(
        SimOptions {
            rollout_repo: Some(tmp.path().to_path_buf()),
            ..SimOptions::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .err()
    .expect("not a repository");
    let text = err.to_string();
    assert!(
        text.contains("--rollout-repo") && text.contains(&tmp.path().display().to_string()),
        "{text}"
    );
}
