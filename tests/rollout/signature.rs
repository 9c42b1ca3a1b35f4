//! The promotion policy on the command line, against the simulator's own
//! registry and key and a real git origin: an unsigned release is refused
//! (exit 4, with the reason) unless forced with a reason that lands in the
//! commit; a signed one passes a real verification; `rollout show` and `gate`
//! report the verdict; a bad trust config is a config error.

use crate::support;

use fleetdeck::rollout::plan::Plan;
use fleetdeck::sim::{SimHandle, SimOptions, release_spec_for};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::config::{RegistryToml, signing_toml};
use support::git::{git, origin_with_plan};

const UNSIGNED: &str = "1.5.1";
const DEADLINE: Duration = Duration::from_secs(60);

struct World {
    dir: tempfile::TempDir,
    origin: PathBuf,
    ops: PathBuf,
    sim: SimHandle,
    key: PathBuf,
}

/// The demo's two rollouts: `vision-1.5.0` (signed) and the unsigned hotfix
/// `vision-1.5.1`, both at wave 0, in a bare origin and an operator's clone.
async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let signed = Plan::new(
        "vision-1.5.0",
        release_spec_for("1.5.0"),
        release_spec_for("1.4.0"),
    );
    let (origin, ops) = origin_with_plan(dir.path(), &signed);
    let hotfix = Plan::new(
        "vision-1.5.1",
        release_spec_for(UNSIGNED),
        release_spec_for("1.5.0"),
    );
    std::fs::write(ops.join("rollouts/vision-1.5.1.toml"), hotfix.to_toml()).expect("plan");
    git(&ops, &["add", "rollouts"]);
    git(&ops, &["commit", "-q", "-m", "rollout vision-1.5.1: init"]);
    git(&ops, &["push", "-q", "origin", "HEAD:main"]);
    let sim = SimHandle::start(
        SimOptions {
            devices: 12,
            sites: 2,
            unsigned: vec![UNSIGNED.into()],
            ..SimOptions::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator");
    let key = dir.path().join("cosign.pub");
    std::fs::write(&key, sim.signing_public_key_pem()).expect("key");
    World {
        dir,
        origin,
        ops,
        sim,
        key,
    }
}

impl World {
    /// `[rollout]` + `[signing] keys = [key]` + the registry mirror, and
    /// `extra` (e.g. a `[source]`).
    fn config(&self, key: &Path, registry_addr: &str, extra: &str) -> PathBuf {
        let path = self.dir.path().join("fleetdeck.toml");
        std::fs::write(
            &path,
            format!(
                "{extra}\n[rollout]\nrepo = \"{}\"\nauthor_name = \"ops\"\nauthor_email = \"ops@test\"\n\n{}\n{}",
                self.ops.display(),
                signing_toml(&[key]),
                RegistryToml::mirror(registry_addr).to_toml(),
            ),
        )
        .expect("config");
        path
    }

    fn good_config(&self) -> PathBuf {
        self.config(&self.key, &self.sim.registry_addr().to_string(), "")
    }

    fn origin_plan(&self, name: &str) -> Plan {
        let text = git(
            &self.origin,
            &["show", &format!("main:rollouts/{name}.toml")],
        );
        Plan::parse(&text, Path::new(&format!("rollouts/{name}.toml"))).expect("plan in origin")
    }

    fn last_message(&self) -> String {
        git(&self.origin, &["log", "-1", "--format=%B", "main"])
    }
}

async fn fleetdeck(config: &Path, args: &[&str]) -> (i32, String, String) {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("--config")
        .arg(config)
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(DEADLINE, child)
        .await
        .unwrap_or_else(|_| panic!("fleetdeck {args:?} did not finish within {DEADLINE:?}"))
        .expect("run fleetdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_release_is_refused_and_a_forced_promote_records_why() {
    let w = world().await;
    let config = w.good_config();
    let (code, out, err) = fleetdeck(
        &config,
        &[
            "rollout",
            "promote",
            "vision-1.5.1",
            "--yes",
            "--reason",
            "go",
        ],
    )
    .await;
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        err.contains(
            "refused: signature does not verify: image registry.local/fleet/vision:1.5.1@sha256:"
        ),
        "{err}"
    );
    assert!(err.contains("no signatures found"), "{err}");
    assert!(
        err.contains("--force --reason"),
        "says how to override: {err}"
    );
    assert_eq!(
        w.origin_plan("vision-1.5.1").state.wave,
        0,
        "nothing committed"
    );
    let before = git(&w.origin, &["rev-parse", "main"]);

    // --force without a reason is a usage error.
    let (code, out, err) = fleetdeck(
        &config,
        &["rollout", "promote", "vision-1.5.1", "--yes", "--force"],
    )
    .await;
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(git(&w.origin, &["rev-parse", "main"]), before);

    let (code, out, err) = fleetdeck(
        &config,
        &[
            "rollout",
            "promote",
            "vision-1.5.1",
            "--yes",
            "--force",
            "--reason",
            "night-time false positives; signed by the pipeline tomorrow",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("signature of vision-1.5.1 1.5.1: does not verify"),
        "the verdict is shown: {out}"
    );
    assert_eq!(w.origin_plan("vision-1.5.1").state.wave, 1);
    let msg = w.last_message();
    assert!(
        msg.lines().next().unwrap_or("").ends_with("[FORCED]"),
        "{msg}"
    );
    assert!(
        msg.contains("Reason: FORCED: night-time false positives; signed by the pipeline tomorrow"),
        "{msg}"
    );
    assert!(
        msg.contains("\nOverrode: signature check forced: signature does not verify: image registry.local/fleet/vision:1.5.1@"),
        "{msg}"
    );
    assert!(msg.contains("\nForced: yes\n"), "{msg}");
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_release_passes_a_real_signature_check() {
    let w = world().await;
    let config = w.good_config();
    let (code, out, err) = fleetdeck(
        &config,
        &[
            "rollout",
            "promote",
            "vision-1.5.0",
            "--yes",
            "--reason",
            "canary",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("signature of vision-1.5.0 1.5.0: verified: image + model"),
        "{out}"
    );
    assert_eq!(w.origin_plan("vision-1.5.0").state.wave, 1);
    let msg = w.last_message();
    assert!(
        msg.contains("\nForced: no\n") && !msg.contains("Overrode"),
        "{msg}"
    );

    // The same release with a key that did not sign it: refused.
    let other = SimHandle::start(
        SimOptions {
            devices: 1,
            sites: 1,
            ..SimOptions::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("second simulator");
    let wrong = w.dir.path().join("other.pub");
    std::fs::write(&wrong, other.signing_public_key_pem()).expect("key");
    let config = w.config(&wrong, &w.sim.registry_addr().to_string(), "");
    let mut plan = w.origin_plan("vision-1.5.0");
    plan.state.wave = 0;
    // Back to wave 0 by hand (retry needs an abort first; this is quicker).
    std::fs::write(w.ops.join("rollouts/vision-1.5.0.toml"), plan.to_toml()).expect("plan");
    git(&w.ops, &["commit", "-q", "-am", "reset"]);
    git(&w.ops, &["push", "-q", "origin", "HEAD:main"]);
    let (code, out, err) = fleetdeck(
        &config,
        &[
            "rollout",
            "promote",
            "vision-1.5.0",
            "--yes",
            "--reason",
            "canary",
        ],
    )
    .await;
    assert_eq!(code, 4, "{out}{err}");
    assert!(err.contains("wrong key"), "{err}");
    other.shutdown().await;
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_registry_is_inconclusive_and_a_bad_key_file_is_a_config_error() {
    let w = world().await;
    // A port nobody listens on (bound, then released).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let config = w.config(&w.key, &closed, "");
    let (code, out, err) = fleetdeck(
        &config,
        &[
            "rollout",
            "promote",
            "vision-1.5.0",
            "--yes",
            "--reason",
            "canary",
        ],
    )
    .await;
    assert_eq!(code, 4, "{out}{err}");
    assert!(err.contains("refused: signature not verified"), "{err}");
    assert!(err.contains(&closed), "names the registry: {err}");

    let missing = w.dir.path().join("no-such-key.pub");
    let config = w.config(&missing, &w.sim.registry_addr().to_string(), "");
    for args in [
        &[
            "rollout",
            "promote",
            "vision-1.5.0",
            "--yes",
            "--reason",
            "x",
        ][..],
        &["rollout", "show", "vision-1.5.0"][..],
    ] {
        let (code, out, err) = fleetdeck(&config, args).await;
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(
            err.contains(&missing.display().to_string()) && err.contains("signing.keys"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&config.display().to_string()),
            "names the config: {err}"
        );
    }
    assert_eq!(w.origin_plan("vision-1.5.0").state.wave, 0);
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_and_gate_report_the_signature_verdict() {
    let w = world().await;
    let config = w.good_config();
    let (code, out, err) = fleetdeck(&config, &["rollout", "show", "vision-1.5.1"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("signature does not verify: image registry.local/fleet/vision:1.5.1@"),
        "{out}"
    );
    let (code, out, err) = fleetdeck(&config, &["rollout", "show", "vision-1.5.0"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("signature verified: image + model"), "{out}");
    let (code, out, err) = fleetdeck(&config, &["rollout", "show", "vision-1.5.1", "--json"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["signature"]["check"], "fail", "{v}");
    assert_eq!(v["signature"]["artifacts"][0]["part"], "image");
    assert_eq!(v["signature"]["artifacts"][0]["verified"], false);

    // gate needs a metric source: scrape the simulator directly.
    let inventory = w.dir.path().join("inventory.json");
    w.sim.write_inventory(&inventory).expect("inventory");
    let source = format!(
        "[source]\nkind = \"scrape\"\ninventory = \"{}\"\n",
        inventory.display()
    );
    let config = w.config(&w.key, &w.sim.registry_addr().to_string(), &source);
    let (code, out, err) = fleetdeck(&config, &["gate", "vision-1.5.1"]).await;
    assert!(
        out.contains("signature: does not verify: image"),
        "{out}{err}"
    );
    assert_eq!(
        code, 1,
        "an unsigned release never passes the gate: {out}{err}"
    );
    let (code, out, err) = fleetdeck(&config, &["gate", "vision-1.5.0"]).await;
    assert!(
        out.contains("signature: verified: image + model"),
        "{out}{err}"
    );
    // Nothing released yet: the gates have nothing to judge, so not 0 — but not 1 either.
    assert_eq!(code, 3, "{out}{err}");
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_a_signed_and_an_unsigned_release_and_installs_only_the_released_one() {
    use fleetdeck::rollout::action::Check;
    use fleetdeck::rollout::plan::Status;
    use fleetdeck::signature::policy::ReleaseVerifier;
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("gitops");
    fleetdeck::sim::demo::create_repo(&repo).expect("demo repository");
    let sim = SimHandle::start(
        SimOptions {
            devices: 40,
            sites: 4,
            unsigned: vec![fleetdeck::sim::demo::UNSIGNED.into()],
            rollout_repo: Some(repo.clone()),
            agent_poll: Duration::from_millis(200),
            install_time: Duration::from_millis(600),
            ..SimOptions::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator");
    let mut cfg = fleetdeck::config::Config::default();
    fleetdeck::sim::demo::add_trust(&mut cfg, &sim, dir.path()).expect("demo trust");
    assert_eq!(cfg.signing.keys, [dir.path().join("cosign.pub")]);
    let verifier =
        ReleaseVerifier::from_config(&cfg.signing, &cfg.registry).expect("the demo's trust loads");
    let read = |name: &str| {
        let path = repo.join(format!("rollouts/{name}.toml"));
        Plan::parse(&std::fs::read_to_string(&path).expect("plan"), &path).expect("valid plan")
    };
    let signed = read("vision-1.5.0");
    let hotfix = read("vision-1.5.1");
    assert_eq!(
        (signed.state.wave, signed.state.status),
        (1, Status::Progressing)
    );
    assert_eq!(
        (hotfix.state.wave, hotfix.state.status),
        (0, Status::Progressing)
    );
    assert_eq!(hotfix.previous.version, "1.5.0");
    assert_eq!(
        verifier.verify_release(&signed.release).await.check(),
        Check::Pass
    );
    assert!(matches!(
        verifier.verify_release(&hotfix.release).await.check(),
        Check::Fail(why) if why.contains("no signatures")
    ));

    // The agents follow both plans: the canaries get 1.5.0, nobody gets 1.5.1.
    let canaries: Vec<String> = sim
        .devices()
        .iter()
        .filter(|d| {
            d.group == fleetdeck::sim::CANARY_GROUP && !sim.offline_devices().contains(&d.id)
        })
        .map(|d| d.id.clone())
        .collect();
    assert!(!canaries.is_empty());
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let late: Vec<&String> = canaries
            .iter()
            .filter(|id| sim.release_of(id).is_none_or(|r| r.version != "1.5.0"))
            .collect();
        if late.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "canaries not on 1.5.0: {late:?}; followed {:?}, error {:?}",
            sim.followed_rollouts(),
            sim.agent_error()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sim.followed_rollouts(), ["vision-1.5.0", "vision-1.5.1"]);
    tokio::time::sleep(Duration::from_millis(900)).await;
    for d in sim.devices() {
        let v = sim.release_of(&d.id).map(|r| r.version).unwrap_or_default();
        assert_ne!(v, "1.5.1", "{} installed the unreleased hotfix", d.id);
    }
    sim.shutdown().await;
}
