//! Rollouts end to end with real servers: a bare git repository as the remote,
//! an operator's clone used by `fleetdeck rollout …`, the simulator's update
//! agents following the remote, and a real Prometheus scraping the simulator.
//!
//! - a good release promoted wave by wave reaches every online device, each
//!   promote passing a real signature check against the simulator's registry;
//! - a bad release makes `gate --watch --auto-abort` abort within
//!   failure_limit × interval (plus a scrape), and the devices go back.

use crate::support;
use crate::support::run::{CHILD_LIMIT, Deadline as _};

use fleetdeck::rollout::plan::{Plan, Status};
use fleetdeck::sim::{BadRelease, SimHandle, SimOptions, release_spec_for};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::config::{RegistryToml, signing_toml};
use support::git::{git, origin_with_plan};
use support::prometheus::PrometheusProcess;

struct World {
    _dir: tempfile::TempDir,
    origin: PathBuf,
    config: PathBuf,
    sim: SimHandle,
    prom: PrometheusProcess,
}

/// A plan with short soaks and a fast gate, committed and pushed by "ops".
fn plan(interval: Duration, failure_limit: u32) -> Plan {
    let mut p = Plan::new(
        "vision-1.5.0",
        release_spec_for("1.5.0"),
        release_spec_for("1.4.0"),
    );
    for w in &mut p.waves {
        w.soak = Duration::ZERO;
    }
    p.gates.interval = interval;
    p.gates.failure_limit = failure_limit;
    p
}

async fn world(bad: Option<&str>, plan: &Plan) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let (origin, ops) = origin_with_plan(dir.path(), plan);

    let sim = SimHandle::start(
        SimOptions {
            devices: 40,
            sites: 4,
            offline: 2,
            rollout_repo: Some(origin.clone()),
            bad_release: bad
                .map(|b| b.parse::<BadRelease>().expect("bad release"))
                .into_iter()
                .collect(),
            agent_poll: Duration::from_millis(300),
            install_time: Duration::from_millis(900),
            ..Default::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator");
    let inventory = dir.path().join("inventory.json");
    sim.write_inventory(&inventory).expect("inventory");
    let prom = PrometheusProcess::start("fleet", &inventory);
    prom.wait_for(r#"up{job="fleet"}"#, 40, Duration::from_secs(60))
        .await;
    // Promotions verify the release for real: the simulator's key, its
    // registry standing in for registry.local.
    let key = dir.path().join("cosign.pub");
    std::fs::write(&key, sim.signing_public_key_pem()).expect("key");
    let registry = sim.registry_addr();
    let config = dir.path().join("fleetdeck.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nkind = \"prometheus\"\nurl = \"{}\"\njob = \"fleet\"\nrefresh = \"1s\"\n\n\
             [metrics.latency_p95]\nwindow = \"10s\"\n[metrics.error_rate]\nwindow = \"10s\"\n\
             [rollout]\nrepo = \"{}\"\nauthor_name = \"ops\"\nauthor_email = \"ops@test\"\n\
             {}{}",
            prom.url,
            ops.display(),
            signing_toml(&[&key]),
            RegistryToml::mirror(&registry.to_string()).to_toml(),
        ),
    )
    .expect("config");
    World {
        _dir: dir,
        origin,
        config,
        sim,
        prom,
    }
}

fn fleetdeck(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output_within(CHILD_LIMIT)
        .expect("run fleetdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits until every online device the plan targets runs `version`.
async fn wait_targeted_on(w: &World, plan_wave: usize, version: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let offline: Vec<String> = w.sim.offline_devices();
    loop {
        let mut p = plan(Duration::from_secs(1), 1);
        p.state.wave = plan_wave;
        let late: Vec<String> = w
            .sim
            .devices()
            .iter()
            .filter(|d| !offline.contains(&d.id))
            .filter(|d| {
                fleetdeck::rollout::wave::wave_of(&p, &d.id, &d.site, &d.group)
                    .is_some_and(|n| n <= plan_wave)
            })
            .filter(|d| w.sim.release_of(&d.id).is_none_or(|r| r.version != version))
            .map(|d| d.id.clone())
            .collect();
        if late.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still not on {version} after {timeout:?}: {late:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn origin_plan(w: &World) -> Plan {
    let text = git(&w.origin, &["show", "main:rollouts/vision-1.5.0.toml"]);
    Plan::parse(&text, Path::new("rollouts/vision-1.5.0.toml")).expect("plan in origin")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_release_is_promoted_wave_by_wave_to_everyone() {
    let p = plan(Duration::from_secs(1), 3);
    let w = world(None, &p).await;
    // Wave 1 from nothing: no gate needed.
    let (code, out, err) = fleetdeck(
        &w.config,
        &[
            "rollout",
            "promote",
            "vision-1.5.0",
            "--yes",
            "--reason",
            "start",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("commit") && out.contains("pushed"), "{out}");
    assert!(
        out.contains("signature of vision-1.5.0 1.5.0: verified: image + model"),
        "a real signature check: {out}"
    );
    for wave in 1..=4 {
        wait_targeted_on(&w, wave, "1.5.0", Duration::from_secs(40)).await;
        if wave == 4 {
            break;
        }
        // Let Prometheus see the new release on the canaries before judging.
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let (code, out, err) = fleetdeck(
                &w.config,
                &[
                    "rollout",
                    "promote",
                    "vision-1.5.0",
                    "--yes",
                    "--reason",
                    "healthy",
                ],
            );
            if code == 0 {
                break;
            }
            assert_eq!(code, 4, "only a refusal is retried: {out}{err}");
            assert!(
                Instant::now() < deadline,
                "promote to wave {} kept being refused: {err}",
                wave + 1
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert_eq!(origin_plan(&w).state.wave, wave + 1);
    }
    let p = origin_plan(&w);
    assert_eq!(p.state.status, Status::Complete);
    // Every online device runs the new release; the offline ones did not move.
    for d in w.sim.devices() {
        let v = w
            .sim
            .release_of(&d.id)
            .map(|r| r.version)
            .unwrap_or_default();
        if w.sim.offline_devices().contains(&d.id) {
            assert_eq!(v, "1.4.0", "{} is offline", d.id);
        } else {
            assert_eq!(v, "1.5.0", "{}", d.id);
        }
    }
    // One commit per action, each with its reason; nothing forced.
    let log = git(&w.origin, &["log", "--format=%s%n%b", "main"]);
    assert_eq!(log.matches("Action: promote").count(), 4, "{log}");
    assert_eq!(log.matches("Forced: no").count(), 4, "{log}");
    drop(w.prom);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_release_is_rolled_back_by_the_gate() {
    let interval = Duration::from_secs(2);
    let limit = 2;
    let mut p = plan(interval, limit);
    p.state.wave = 1; // canary released
    p.state.wave_started = Some(std::time::SystemTime::now());
    let w = world(Some("1.5.0"), &p).await;
    wait_targeted_on(&w, 1, "1.5.0", Duration::from_secs(40)).await;
    // The canaries are now slow and failing; let Prometheus see it.
    w.prom
        .wait_for(
            r#"histogram_quantile(0.95, sum by (device, le) (rate(inference_latency_seconds_bucket{job="fleet"}[10s]))) > 0.3"#,
            1,
            Duration::from_secs(40),
        )
        .await;
    let started = Instant::now();
    let (code, out, err) = fleetdeck(
        &w.config,
        &["gate", "vision-1.5.0", "--watch", "--auto-abort"],
    );
    let took = started.elapsed();
    assert_eq!(code, 1, "gate exits 1 after aborting: {out}{err}");
    assert!(out.contains("aborted vision-1.5.0"), "{out}{err}");
    assert!(
        out.contains("✖ latency_p95") || out.contains("✖ error_rate"),
        "{out}"
    );
    // failure_limit evaluations, one per interval, plus the refreshes themselves.
    // A loose bound (machines under load are slow): the abort must come from
    // the failure limit, not from some much later event.
    let bound = interval * limit + Duration::from_secs(60);
    assert!(took <= bound, "auto-abort took {took:?} (bound {bound:?})");
    let p = origin_plan(&w);
    assert_eq!(p.state.status, Status::Aborted);
    assert!(
        p.state
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("gates failed")),
        "{:?}",
        p.state.reason
    );
    // The canaries go back to the previous release.
    wait_targeted_on(&w, 1, "1.4.0", Duration::from_secs(40)).await;
    drop(w.prom);
}
