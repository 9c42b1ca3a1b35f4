//! Gates per site end to end (issue 11): the simulator with a release that
//! is bad on one site only (`--bad-release 1.5.0@SITE`), a real Prometheus
//! scraping it, plans in a bare git repository. The fleet-wide figures pass;
//! `rollout show --json` says which site fails and `gate --watch
//! --auto-abort` rolls back because of that site.

use crate::support;
use crate::support::run::{CHILD_LIMIT, Deadline as _};

use fleetdeck::rollout::plan::{Plan, Scope, Status, Wave};
use fleetdeck::sim::{BadRelease, SimHandle, SimOptions, release_spec_for};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::config::{RegistryToml, signing_toml};
use support::git::{git, origin_with_plan};
use support::prometheus::PrometheusProcess;

const DEVICES: usize = 40;
const SITES: usize = 4;

fn options() -> SimOptions {
    SimOptions {
        devices: DEVICES,
        sites: SITES,
        offline: 2,
        agent_poll: Duration::from_millis(300),
        install_time: Duration::from_millis(900),
        ..Default::default()
    }
}

/// One wave, everyone; a 5 % error limit, so that 8 % errors on one small
/// site of four stay under it fleet-wide.
fn plan(interval: Duration, failure_limit: u32) -> Plan {
    let mut p = Plan::new(
        "vision-1.5.0",
        release_spec_for("1.5.0"),
        release_spec_for("1.4.0"),
    );
    p.waves = vec![Wave {
        name: Some("all".into()),
        sites: Vec::new(),
        groups: Vec::new(),
        percent: Some(100.0),
        soak: Duration::ZERO,
    }];
    p.gates.interval = interval;
    p.gates.failure_limit = failure_limit;
    p.gates.error_rate = 0.05;
    p.gates.scope = Scope::Site;
    p.state.wave = 1;
    p.state.wave_started = Some(std::time::SystemTime::now());
    p
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

fn origin_plan(origin: &Path) -> Plan {
    let text = git(origin, &["show", "main:rollouts/vision-1.5.0.toml"]);
    Plan::parse(&text, Path::new("rollouts/vision-1.5.0.toml")).expect("plan in origin")
}

/// The smallest site of the simulator's layout (deterministic for the
/// options): one bad site of four that cannot carry the fleet's median.
async fn smallest_site() -> String {
    let probe = SimHandle::start(options(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator");
    let mut sizes: BTreeMap<String, usize> = BTreeMap::new();
    for d in probe.devices() {
        *sizes.entry(d.site.clone()).or_default() += 1;
    }
    drop(probe);
    let (site, n) = sizes.into_iter().min_by_key(|(_, n)| *n).expect("sites");
    assert!(
        n >= 2 && n * 3 < DEVICES,
        "{site} has {n} devices: not a small site"
    );
    site
}

fn site<'a>(gates: &'a Value, name: &str) -> &'a Value {
    gates["sites"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no site {name} in {gates:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_bad_on_one_site_is_rolled_back_because_of_that_site() {
    let bad = smallest_site().await;
    let interval = Duration::from_secs(2);
    let limit = 2;
    let p = plan(interval, limit);
    let dir = tempfile::tempdir().expect("tempdir");
    let (origin, ops) = origin_with_plan(dir.path(), &p);
    let sim = SimHandle::start(
        SimOptions {
            rollout_repo: Some(origin.clone()),
            bad_release: vec![
                format!("1.5.0@{bad}")
                    .parse::<BadRelease>()
                    .expect("bad release"),
            ],
            ..options()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator");
    let inventory = dir.path().join("inventory.json");
    sim.write_inventory(&inventory).expect("inventory");
    let prom = PrometheusProcess::start("fleet", &inventory);
    prom.wait_for(r#"up{job="fleet"}"#, DEVICES - 2, Duration::from_secs(60))
        .await;
    let key = dir.path().join("cosign.pub");
    std::fs::write(&key, sim.signing_public_key_pem()).expect("key");
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
            RegistryToml::mirror(&sim.registry_addr().to_string()).to_toml(),
        ),
    )
    .expect("config");

    // Every online device installs 1.5.0; Prometheus sees the bad site slow.
    let offline = sim.offline_devices();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let late = sim
            .devices()
            .iter()
            .filter(|d| !offline.contains(&d.id))
            .filter(|d| sim.release_of(&d.id).is_none_or(|r| r.version != "1.5.0"))
            .count();
        if late == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{late} devices not on 1.5.0");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    prom.wait_for(
        r#"histogram_quantile(0.95, sum by (device, le) (rate(inference_latency_seconds_bucket{job="fleet"}[10s]))) > 0.3"#,
        1,
        Duration::from_secs(40),
    )
    .await;

    // `rollout show --json`: the whole population passes, the bad site fails,
    // and the verdict names it. Retried while Prometheus's windows fill.
    let deadline = Instant::now() + Duration::from_secs(60);
    let shown = loop {
        let (code, out, err) = fleetdeck(&config, &["rollout", "show", "vision-1.5.0", "--json"]);
        assert_eq!(code, 0, "{out}{err}");
        let v: Value = serde_json::from_str(&out).expect("json");
        let g = &v["gates"];
        let settled = g["fleet_outcome"] == "pass"
            && site(g, &bad)["outcome"] == "fail"
            && g["sites"].as_array().is_some_and(|a| {
                a.iter()
                    .all(|s| s["name"] == bad.as_str() || s["outcome"] != "fail")
            });
        if settled {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "never: fleet passes, only {bad} fails: {:#}",
            v["gates"]
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let g = &shown["gates"];
    assert_eq!(g["scope"], "site");
    assert_eq!(g["outcome"], "fail", "{g:#}");
    let b = site(g, &bad);
    assert_eq!(b["counts"], true);
    let latency = b["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "latency_p95"))
        .expect("latency check");
    assert!(
        latency["value"].as_f64().is_some_and(|v| v > 0.3),
        "{latency:#}"
    );
    assert_eq!(
        shown["verdict"]["verdict"], "failing",
        "{:#}",
        shown["verdict"]
    );
    let reasons = shown["verdict"]["reasons"].to_string();
    assert!(reasons.contains(&format!("{bad}: ")), "{reasons}");
    assert!(
        g["groups"].as_array().is_some_and(|a| !a.is_empty()),
        "per group too: {g:#}"
    );

    // The text says it too: the verdict with its reason, a line per site.
    let (code, out, err) = fleetdeck(&config, &["rollout", "show", "vision-1.5.0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("✖ failing 1/{limit} (scope site) — {bad}: ")),
        "{out}"
    );
    assert!(out.contains(&format!("✖ site  {bad} ")), "{out}");

    // `gate --watch --auto-abort`: aborts because of the bad site while the
    // fleet-wide checks pass.
    let started = Instant::now();
    let (code, out, err) = fleetdeck(
        &config,
        &["gate", "vision-1.5.0", "--watch", "--auto-abort"],
    );
    let took = started.elapsed();
    assert_eq!(code, 1, "gate exits 1 after aborting: {out}{err}");
    assert!(out.contains("aborted vision-1.5.0"), "{out}{err}");
    assert!(
        out.contains(&format!("  ✖ {bad}: ")),
        "names the site: {out}"
    );
    assert!(
        out.contains("✔ latency_p95"),
        "the fleet-wide p95 passes: {out}"
    );
    let bound = interval * limit + Duration::from_secs(60);
    assert!(took <= bound, "auto-abort took {took:?} (bound {bound:?})");
    let p = origin_plan(&origin);
    assert_eq!(p.state.status, Status::Aborted);
    let reason = p.state.reason.unwrap_or_default();
    assert!(
        reason.contains("gates failed") && reason.contains(&format!("{bad}: ")),
        "{reason}"
    );
    drop(prom);
    drop(sim);
}
