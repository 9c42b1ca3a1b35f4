//! Issue 11, "Overlapping rollouts", through the real binary: the simulator's
//! fleet scraped directly, a real git repository with vision-1.5.0 live on
//! the canary group and vision-1.5.1 not started. Promoting 1.5.1 would take
//! 1.5.0's canaries: refused (exit 4) naming 1.5.0, nothing committed; forced
//! with a reason it goes through and the commit says what it overrode. Then
//! both rollouts warn about each other in `rollout list` and `rollout show`
//! (text and JSON).

use crate::support;

use fleetdeck::rollout::plan::{Plan, Status};
use fleetdeck::sim::{SimHandle, SimOptions, release_spec_for};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};
use support::config::{RegistryToml, signing_toml};
use support::git::{git, origin_with_plan};
use support::run::{CHILD_LIMIT, Deadline as _};

fn fleetdeck(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output_within(CHILD_LIMIT)
        .expect("run fleetdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn plan(name: &str, version: &str, wave: usize) -> Plan {
    let mut p = Plan::new(name, release_spec_for(version), release_spec_for("1.4.0"));
    for w in &mut p.waves {
        w.soak = Duration::ZERO;
    }
    p.state.wave = wave;
    p.state.status = Status::Progressing;
    p.state.wave_started = (wave > 0).then(SystemTime::now);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promoting_into_a_live_rollouts_canaries_is_refused_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = plan("vision-1.5.0", "1.5.0", 1);
    let (_origin, ops) = origin_with_plan(dir.path(), &live);
    let fresh = plan("vision-1.5.1", "1.5.1", 0);
    std::fs::write(ops.join("rollouts/vision-1.5.1.toml"), fresh.to_toml()).expect("plan");
    git(&ops, &["add", "rollouts"]);
    git(&ops, &["commit", "-q", "-m", "vision-1.5.1"]);
    git(&ops, &["push", "-q", "origin", "HEAD:main"]);

    let sim = SimHandle::start(
        SimOptions {
            devices: 40,
            sites: 4,
            ..SimOptions::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator");
    let canaries = sim.devices().iter().filter(|d| d.group == "canary").count();
    assert!(canaries > 0, "the simulator has a canary group");
    let inventory = dir.path().join("inventory.json");
    sim.write_inventory(&inventory).expect("inventory");
    let key = dir.path().join("cosign.pub");
    std::fs::write(&key, sim.signing_public_key_pem()).expect("key");
    let config = dir.path().join("fleetdeck.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nkind = \"scrape\"\ninventory = \"{}\"\ntimeout = \"2s\"\n\n\
             [rollout]\nrepo = \"{}\"\nauthor_name = \"ops\"\nauthor_email = \"ops@test\"\n\n{}\n{}",
            inventory.display(),
            ops.display(),
            signing_toml(&[&key]),
            RegistryToml::mirror(&sim.registry_addr().to_string()).to_toml(),
        ),
    )
    .expect("config");

    let head = git(&ops, &["rev-parse", "HEAD"]);
    let cfg = config.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        fleetdeck(&cfg, &["rollout", "promote", "vision-1.5.1", "--yes"])
    })
    .await
    .expect("join");
    assert_eq!(code, 4, "refused\n{out}\n{err}");
    assert!(err.contains("overlapping rollouts"), "{err}");
    assert!(
        err.contains(&format!(
            "wave 1 of vision-1.5.1 would take {canaries} devices of vision-1.5.0 (1.5.0, in progress)"
        )),
        "{err}"
    );
    assert!(err.contains("--force --reason"), "{err}");
    assert_eq!(git(&ops, &["rev-parse", "HEAD"]), head, "nothing committed");

    let cfg = config.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        fleetdeck(
            &cfg,
            &[
                "rollout",
                "promote",
                "vision-1.5.1",
                "--yes",
                "--force",
                "--reason",
                "1.5.0 is superseded",
            ],
        )
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "forced\n{out}\n{err}");
    let msg = git(&ops, &["log", "-1", "--format=%B"]);
    assert!(msg.contains("[FORCED]"), "{msg}");
    assert!(
        msg.contains("Overrode: overlap check forced: overlapping rollouts: wave 1 of vision-1.5.1 would take"),
        "{msg}"
    );

    // Both now hold the canaries: each names the other.
    let cfg = config.clone();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || fleetdeck(&cfg, &["rollout", "list", "--json"]))
            .await
            .expect("join");
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let overlaps = |name: &str| {
        v.as_array()
            .expect("array")
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["overlaps"].clone())
            .expect("listed")
    };
    assert_eq!(overlaps("vision-1.5.0")[0]["rollout"], "vision-1.5.1");
    assert_eq!(overlaps("vision-1.5.0")[0]["devices"], canaries);
    assert_eq!(overlaps("vision-1.5.1")[0]["rollout"], "vision-1.5.0");
    let cfg = config.clone();
    let (code, out, _) = tokio::task::spawn_blocking(move || fleetdeck(&cfg, &["rollout", "list"]))
        .await
        .expect("join");
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!(
            "▲ overlaps vision-1.5.1 (1.5.1): {canaries} shared devices"
        )),
        "{out}"
    );
    let cfg = config.clone();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || fleetdeck(&cfg, &["rollout", "show", "vision-1.5.0"]))
            .await
            .expect("join");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("▲ overlaps vision-1.5.1"), "{out}");
    let cfg = config.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        fleetdeck(&cfg, &["rollout", "show", "vision-1.5.1", "--json"])
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["overlaps"][0]["rollout"], "vision-1.5.0");
    sim.shutdown().await;
}
