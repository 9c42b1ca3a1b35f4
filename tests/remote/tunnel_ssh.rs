//! SSH through a real WireGuard tunnel: wireguard-go in the root namespace and
//! in a network namespace (tests/support/netns.rs), a real sshd listening on
//! the namespace's tunnel address (tests/support/sshd.rs), and the real
//! `fleetdeck ssh DEVICE -- COMMAND` binary with a config whose
//! `[remote] wireguard_interface` is the lab's host interface and whose
//! inventory gives the device the lab's tunnel address (via `address_label`).
//!
//! Also the TUI's host-key flow against the same real server, without a
//! terminal: the connection error becomes an `Event::HostKey`, the app asks,
//! `y` yields `Effect::ShellAcceptKey`, the reconnect with that fingerprint
//! records the key, and the next connection needs no question.
//!
//! Needs root, wireguard-go, wireguard-tools, iproute2, openssh-server and
//! openssh-client; a missing one fails the test with how to install it.
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

use crate::support;
use crate::support::run::{CHILD_LIMIT, Deadline as _};

use fleetdeck::app::keymap::{Key, KeyCode, Keymap};
use fleetdeck::app::{App, AskKind, Effect, Event, HostKeyProblem, Mode};
use fleetdeck::remote::ssh::{self, HostKeyPolicy, Options, SshError, Target};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};
use support::netns::WgLab;
use support::sshd::{self, Sshd};

fn require_sshd() {
    assert!(
        sshd::available(),
        "/usr/sbin/sshd, ssh or ssh-keygen missing: apt-get install -y openssh-server openssh-client"
    );
}

/// A device of the inventory: its id and the `tunnel_ip` label.
struct Dev<'a> {
    id: &'a str,
    tunnel_ip: String,
}

/// Writes inventory.json and config.toml into `dir`; returns the config path.
/// Scrape targets are a closed loopback port: the device shows as down, which
/// does not matter for SSH (the address comes from the `tunnel_ip` label).
fn write_config(dir: &Path, lab: &WgLab, sshd: &Sshd, known_hosts: &Path, devs: &[Dev]) -> PathBuf {
    let groups: Vec<serde_json::Value> = devs
        .iter()
        .map(|d| {
            serde_json::json!({
                "targets": ["127.0.0.1:1"],
                "labels": {"device": d.id, "site": "lab", "group": "canary", "tunnel_ip": d.tunnel_ip},
            })
        })
        .collect();
    std::fs::write(
        dir.join("inventory.json"),
        serde_json::to_string_pretty(&groups).expect("inventory json"),
    )
    .expect("write inventory");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"[source]
kind = "scrape"
inventory = "inventory.json"
timeout = "1s"
refresh = "5s"

[remote]
wireguard_interface = "{iface}"
address_label = "tunnel_ip"
user = "root"
port = 22
identity_files = ["{key}"]
known_hosts = "{kh}"
connect_timeout = "5s"
keepalive = "5s"
"#,
            iface = lab.host_if,
            key = sshd.client_key.display(),
            kh = known_hosts.display(),
        ),
    )
    .expect("write config");
    config
}

/// `fleetdeck --config CONFIG ssh ARGS...`, bounded: killed after 60 s.
fn fleetdeck_ssh(config: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("--config")
        .arg(config)
        .arg("ssh")
        .args(args)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run fleetdeck");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait().expect("wait for fleetdeck") {
            Some(_) => break,
            None if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                panic!("fleetdeck ssh {args:?} did not finish within 60 s");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    child.wait_with_output().expect("fleetdeck output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

#[test]
fn fleetdeck_ssh_runs_commands_through_the_tunnel_and_refuses_dead_tunnels() {
    require_sshd();
    let lab = WgLab::start();
    let tunnel_ip = lab.device_tunnel_ip.to_string();
    let sshd = Sshd::start_on(&tunnel_ip, 22, Some(&lab.ns));
    let (_, silent_ip) = lab.add_silent_peer();
    let dir = tempfile::tempdir().expect("tempdir");
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!("{tunnel_ip} {}\n", sshd.host_key_line()),
    )
    .expect("write known_hosts");
    let config = write_config(
        dir.path(),
        &lab,
        &sshd,
        &known_hosts,
        &[
            Dev {
                id: "pi-tunnel",
                tunnel_ip: tunnel_ip.clone(),
            },
            Dev {
                id: "pi-silent",
                tunnel_ip: silent_ip.to_string(),
            },
            Dev {
                id: "pi-nopeer",
                tunnel_ip: "10.99.0.1".into(),
            },
        ],
    );

    // The command runs on the device, inside the namespace: the marker is
    // computed remotely, and the only interface with the tunnel address is
    // the namespace's wireguard-go.
    let out = fleetdeck_ssh(
        &config,
        &[
            "pi-tunnel",
            "--",
            "echo",
            "tunnel-marker-$((6*7));",
            "ip",
            "-o",
            "-4",
            "addr",
            "show",
        ],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(stdout.contains("tunnel-marker-42"), "{}", show(&out));
    assert!(
        stdout.contains(&lab.device_if) && stdout.contains(&format!("{tunnel_ip}/")),
        "the command did not run in the device's namespace:\n{}",
        show(&out)
    );
    // sshd saw the connection come from the host's tunnel address: it went
    // through WireGuard, not over the veth link.
    let log = sshd.log_text();
    assert!(
        log.contains(&format!("Connection from {} port", lab.host_tunnel_ip)),
        "sshd log:\n{log}"
    );

    // The remote exit status is fleetdeck's exit status.
    let out = fleetdeck_ssh(
        &config,
        &["pi-tunnel", "--", "echo", "before-exit;", "exit", "7"],
    );
    assert_eq!(out.status.code(), Some(7), "{}", show(&out));
    assert!(text(&out.stdout).contains("before-exit"), "{}", show(&out));

    // A peer that never handshakes: refused before any connection attempt.
    let connections = sshd.log_text().matches("Connection from").count();
    let out = fleetdeck_ssh(&config, &["pi-silent", "--", "true"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr.contains("the tunnel to pi-silent is not live (no handshake yet)")
            && stderr.contains("allow_offline_shell"),
        "{}",
        show(&out)
    );
    // No peer routes the address at all.
    let out = fleetdeck_ssh(&config, &["pi-nopeer", "--", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("no tunnel to pi-nopeer: no WireGuard peer routes 10.99.0.1"),
        "{}",
        show(&out)
    );
    // An unknown device.
    let out = fleetdeck_ssh(&config, &["pi-nowhere", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("unknown device 'pi-nowhere'"),
        "{}",
        show(&out)
    );
    assert_eq!(
        sshd.log_text().matches("Connection from").count(),
        connections,
        "refused devices must not reach sshd"
    );

    // Not live but allowed: the attempt is made (and times out on the dead tunnel).
    let allowed = std::fs::read_to_string(&config)
        .expect("read config")
        .replace("[remote]\n", "[remote]\nallow_offline_shell = true\n")
        .replace("connect_timeout = \"5s\"", "connect_timeout = \"1s\"");
    std::fs::write(&config, allowed).expect("write config");
    let out = fleetdeck_ssh(&config, &["pi-silent", "--", "true"]);
    assert_eq!(
        out.status.code(),
        Some(ssh::EXIT_SSH_FAILED),
        "{}",
        show(&out)
    );
    assert!(text(&out.stderr).contains("timed out"), "{}", show(&out));
}

// ---- the TUI's host-key flow, against the real sshd --------------------------

fn key(c: char) -> Event {
    Event::Key(Key {
        code: KeyCode::Char(c),
        ctrl: false,
        alt: false,
    })
}

fn settings() -> fleetdeck::app::Settings {
    fleetdeck::app::Settings {
        read_only: false,
        stale_after: Duration::from_secs(30),
        sparkline: Duration::from_secs(1800),
        themes: vec!["default".into()],
        remote_history: false,
        history_span: Duration::from_secs(3600),
        operator: "tester@test".into(),
        rollouts_configured: false,
        allow_shell_read_only: true,
    }
}

fn options(known_hosts: &Path, key: &Path, policy: HostKeyPolicy) -> Options {
    Options {
        known_hosts: known_hosts.to_path_buf(),
        identity_files: vec![key.to_path_buf()],
        use_agent: false,
        agent_socket: None,
        connect_timeout: Duration::from_secs(5),
        keepalive: Duration::from_secs(5),
        host_key_policy: policy,
        passphrase: None,
    }
}

async fn echo(target: &Target, opts: &Options, word: &str) -> Result<String, SshError> {
    let mut conn = ssh::connect(target, opts).await?;
    let mut out = Vec::new();
    let status = conn
        .exec(&format!("echo {word}"), &mut out, Vec::new())
        .await?;
    conn.close().await;
    assert_eq!(status.code(), Some(0));
    Ok(text(&out).trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_key_accepted_in_the_app_is_recorded_and_not_asked_again() {
    require_sshd();
    let lab = WgLab::start();
    let tunnel_ip = lab.device_tunnel_ip.to_string();
    let mut sshd = Sshd::start_on(&tunnel_ip, 22, Some(&lab.ns));
    let dir = tempfile::tempdir().expect("tempdir");
    let known_hosts = dir.path().join("known_hosts");
    let target = Target {
        device: "pi-tunnel".into(),
        host: tunnel_ip.clone(),
        port: 22,
        user: "root".into(),
    };
    let mut app = App::new(
        settings(),
        Keymap::default(),
        "test".into(),
        "default".into(),
        SystemTime::now(),
    );

    // First connection: the key is unknown; the error becomes the app's question.
    let err = echo(
        &target,
        &options(&known_hosts, &sshd.client_key, HostKeyPolicy::Strict),
        "first",
    )
    .await
    .expect_err("an unknown key must be refused");
    let problem = HostKeyProblem::from_ssh_error(&target.addr(), &err)
        .unwrap_or_else(|| panic!("not a host-key problem: {err}"));
    app.update(Event::HostKey {
        device: "pi-tunnel".into(),
        problem,
    });
    let Mode::Ask(ask) = &app.mode else {
        panic!("no question asked: {:?}", app.mode);
    };
    let fingerprint = sshd.host_fingerprint();
    assert_eq!(
        ask.question,
        format!(
            "unknown host key for pi-tunnel ({tunnel_ip}:22) {fingerprint} — accept and record in known_hosts? y/N"
        )
    );
    assert!(matches!(&ask.kind, AskKind::AcceptHostKey { fingerprint: f } if *f == fingerprint));

    // `y`: reconnect accepting exactly that key.
    let fx = app.update(key('y'));
    let [
        Effect::ShellAcceptKey {
            device,
            fingerprint: accepted,
        },
    ] = &fx[..]
    else {
        panic!("expected ShellAcceptKey, got {fx:?}");
    };
    assert_eq!(device, "pi-tunnel");
    let out = echo(
        &target,
        &options(
            &known_hosts,
            &sshd.client_key,
            HostKeyPolicy::AcceptFingerprint(accepted.clone()),
        ),
        "accepted",
    )
    .await
    .expect("the accepted key connects");
    assert_eq!(out, "accepted");
    let recorded = std::fs::read_to_string(&known_hosts).expect("known_hosts written");
    assert!(
        recorded.contains(&sshd.host_key_line()),
        "known_hosts:\n{recorded}"
    );

    // Second connection, strict: no question any more.
    let out = echo(
        &target,
        &options(&known_hosts, &sshd.client_key, HostKeyPolicy::Strict),
        "second",
    )
    .await
    .expect("a recorded key needs no question");
    assert_eq!(out, "second");

    // The device is reinstalled: a changed key is refused, and the app only
    // warns (old and new fingerprints), with nothing to accept.
    let old = sshd.host_fingerprint();
    sshd.restart_with_new_host_key();
    let new = sshd.host_fingerprint();
    let err = echo(
        &target,
        &options(
            &known_hosts,
            &sshd.client_key,
            HostKeyPolicy::AcceptFingerprint(new.clone()),
        ),
        "changed",
    )
    .await
    .expect_err("a changed key is refused even when its fingerprint was 'accepted'");
    let problem = HostKeyProblem::from_ssh_error(&target.addr(), &err)
        .unwrap_or_else(|| panic!("not a host-key problem: {err}"));
    app.update(Event::HostKey {
        device: "pi-tunnel".into(),
        problem,
    });
    let Mode::Ask(ask) = &app.mode else {
        panic!("no warning shown: {:?}", app.mode);
    };
    assert_eq!(ask.kind, AskKind::HostKeyChanged);
    assert!(
        ask.question.contains(&old) && ask.question.contains(&new),
        "{}",
        ask.question
    );
    assert!(ask.detail.iter().any(|l| l.contains(&old)));
    assert!(ask.detail.iter().any(|l| l.contains(&new)));
    assert!(
        app.update(key('y')).is_empty(),
        "nothing to accept for a changed key"
    );
    assert_eq!(app.mode, Mode::Normal);
}

// ---- the TUI's tunnel worker, against the real interface ----------------------

fn lab_fleet(devices: &[(&str, String)]) -> std::sync::Arc<fleetdeck::fleet::Fleet> {
    use fleetdeck::fleet::{DeviceSample, Fleet, Snapshot, Thresholds};
    let samples = devices
        .iter()
        .map(|(id, ip)| {
            let mut s = DeviceSample::new(id, "lab", "canary");
            s.target = Some(format!("{ip}:9100"));
            s
        })
        .collect();
    std::sync::Arc::new(Fleet::build(
        Snapshot {
            source: "test".into(),
            taken_at: SystemTime::now(),
            devices: samples,
        },
        None,
        &Thresholds::default(),
    ))
}

/// The next reading the worker posts, taken in like the app loop does.
async fn next_tunnels(
    rx: &mut fleetdeck::runtime::Inbox,
) -> Result<fleetdeck::app::TunnelReading, String> {
    let ev = tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("the worker posts within 15 s")
        .expect("the worker is alive");
    match ev {
        Event::Tunnels { result } => result,
        other => panic!("unexpected event {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tunnel_worker_reads_the_real_interface_and_follows_the_fleet() {
    use fleetdeck::remote::wireguard::Tunnel;
    let lab = WgLab::start();
    let (_, silent_ip) = lab.add_silent_peer();
    let remote = fleetdeck::config::RemoteConfig {
        wireguard_interface: Some(lab.host_if.clone()),
        ..Default::default()
    };
    let (worker, mut rx) = fleetdeck::runtime::tunnels::spawn(&remote, Duration::from_millis(300))
        .expect("a worker when an interface is configured");

    // Before any fleet: the interface is read, nothing to match.
    let first = next_tunnels(&mut rx).await.expect("the interface reads");
    assert_eq!(first.interface, lab.host_if);
    assert!(first.tunnels.is_empty());

    // A fleet arrives: matched right away, each device to its peer.
    worker.set_fleet(lab_fleet(&[
        ("pi-tunnel", lab.device_tunnel_ip.to_string()),
        ("pi-silent", silent_ip.to_string()),
        ("pi-nopeer", "10.99.0.1".into()),
    ]));
    let reading = loop {
        let r = next_tunnels(&mut rx).await.expect("the interface reads");
        if r.tunnels.len() == 3 {
            break r;
        }
    };
    assert!(
        matches!(reading.tunnels.get("pi-tunnel"), Some(Tunnel::Live { peer, .. }) if peer.public_key == lab.device_public_key),
        "{:?}\n{}",
        reading.tunnels.get("pi-tunnel"),
        lab.wg_show()
    );
    assert!(
        matches!(reading.tunnels.get("pi-silent"), Some(Tunnel::NotLive { reason, .. }) if reason == "no handshake yet"),
        "{:?}",
        reading.tunnels.get("pi-silent")
    );
    assert!(matches!(
        reading.tunnels.get("pi-nopeer"),
        Some(Tunnel::NoPeer { .. })
    ));
    // The app shows it.
    let mut app = App::new(
        settings(),
        Keymap::default(),
        "test".into(),
        "default".into(),
        SystemTime::now(),
    );
    app.tunnels.interface = Some(lab.host_if.clone());
    app.update(Event::Tunnels {
        result: Ok(reading),
    });
    assert!(
        app.tunnels.cell("pi-tunnel", app.now).starts_with("live "),
        "{}",
        app.tunnels.cell("pi-tunnel", app.now)
    );
    assert_eq!(app.tunnels.cell("pi-silent", app.now), "not live");
    drop(worker);

    // A missing interface: an error message, every few seconds, no crash.
    let missing = fleetdeck::config::RemoteConfig {
        wireguard_interface: Some("fdk-missing0".into()),
        ..Default::default()
    };
    let (worker, mut rx) =
        fleetdeck::runtime::tunnels::spawn(&missing, Duration::from_millis(200)).expect("a worker");
    for _ in 0..2 {
        let err = next_tunnels(&mut rx).await.expect_err("no such interface");
        assert!(
            err.contains("no WireGuard interface 'fdk-missing0'"),
            "{err}"
        );
    }
    // Not taken in (the loop is busy with an SSH session): one reading in
    // flight at most, however long it lasts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut queued = 0;
    while rx.try_recv().is_ok() {
        queued += 1;
    }
    assert_eq!(queued, 1, "readings must not pile up while not taken in");
    drop(worker);

    // No interface configured: no worker at all.
    assert!(
        fleetdeck::runtime::tunnels::spawn(&Default::default(), Duration::from_secs(1)).is_none()
    );
}

// ---- speed: fleetdeck ssh vs plain ssh, side by side (printed, never asserted) --

fn plain_ssh(sshd: &Sshd, known_hosts: &Path, ip: &str, command: &str) -> Command {
    let mut c = Command::new("ssh");
    c.args(["-F", "/dev/null", "-i"])
        .arg(&sshd.client_key)
        .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg(format!("root@{ip}"))
        .arg(command)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null());
    c
}

fn stats(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    eprintln!(
        "TIMING {name}: min {:.0} ms, median {:.0} ms, mean {:.0} ms, max {:.0} ms ({} runs)",
        ms[0],
        ms[ms.len() / 2],
        mean,
        ms[ms.len() - 1],
        ms.len()
    );
}

#[test]
fn timing_fleetdeck_ssh_against_plain_ssh_through_the_tunnel() {
    require_sshd();
    let lab = WgLab::start();
    let tunnel_ip = lab.device_tunnel_ip.to_string();
    let sshd = Sshd::start_on(&tunnel_ip, 22, Some(&lab.ns));
    let dir = tempfile::tempdir().expect("tempdir");
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!("{tunnel_ip} {}\n", sshd.host_key_line()),
    )
    .expect("write known_hosts");
    let config = write_config(
        dir.path(),
        &lab,
        &sshd,
        &known_hosts,
        &[Dev {
            id: "pi-tunnel",
            tunnel_ip: tunnel_ip.clone(),
        }],
    );
    // Both must work before they are timed.
    let out = fleetdeck_ssh(&config, &["pi-tunnel", "--", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = plain_ssh(&sshd, &known_hosts, &tunnel_ip, "true")
        .output_within(CHILD_LIMIT)
        .expect("run ssh");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Alternating, so both see the same machine load. OpenSSH 9 prefers a
    // post-quantum key exchange (sntrup761x25519), which russh does not
    // offer: plain ssh is timed with its defaults and with curve25519 only.
    let curve = |cmd: &mut Command| {
        let mut args: Vec<std::ffi::OsString> = cmd.get_args().map(|a| a.to_os_string()).collect();
        args.insert(0, "KexAlgorithms=curve25519-sha256".into());
        args.insert(0, "-o".into());
        let mut c = Command::new("ssh");
        c.args(args)
            .env_remove("SSH_AUTH_SOCK")
            .stdin(std::process::Stdio::null());
        c
    };
    let (mut ours, mut theirs, mut theirs_curve) = (Vec::new(), Vec::new(), Vec::new());
    let mut before_ssh = Vec::new();
    for _ in 0..10 {
        // What fleetdeck does before SSH: config, one scrape, interface read.
        let t = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
            .arg("--config")
            .arg(&config)
            .arg("tunnels")
            .output_within(CHILD_LIMIT)
            .expect("run fleetdeck tunnels");
        before_ssh.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let t = std::time::Instant::now();
        let out = curve(&mut plain_ssh(&sshd, &known_hosts, &tunnel_ip, "true"))
            .output_within(CHILD_LIMIT)
            .expect("run ssh");
        theirs_curve.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let t = std::time::Instant::now();
        let out = fleetdeck_ssh(&config, &["pi-tunnel", "--", "true"]);
        ours.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let t = std::time::Instant::now();
        let out = plain_ssh(&sshd, &known_hosts, &tunnel_ip, "true")
            .output_within(CHILD_LIMIT)
            .expect("run ssh");
        theirs.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    }
    stats(
        "`fleetdeck ssh pi-tunnel -- true` (config, one scrape, interface read, SSH)",
        ours,
    );
    stats(
        "`fleetdeck tunnels` (config, one scrape, interface read: fleetdeck's part before SSH)",
        before_ssh,
    );
    stats(
        "plain `ssh root@TUNNEL_IP true` (same key, same tunnel)",
        theirs,
    );
    stats(
        "plain `ssh -o KexAlgorithms=curve25519-sha256 root@TUNNEL_IP true`",
        theirs_curve,
    );

    // hyperfine's view of the same, when it is installed (not required).
    if Command::new("hyperfine")
        .arg("--version")
        .output_within(CHILD_LIMIT)
        .is_ok()
    {
        let ssh = plain_ssh(&sshd, &known_hosts, &tunnel_ip, "true");
        let ssh_line: Vec<String> = std::iter::once("ssh".to_string())
            .chain(ssh.get_args().map(|a| format!("'{}'", a.to_string_lossy())))
            .collect();
        let ours = format!(
            "{} --config {} ssh pi-tunnel -- true",
            env!("CARGO_BIN_EXE_fleetdeck"),
            config.display()
        );
        let out = Command::new("hyperfine")
            .args(["-N", "--warmup", "2", "--runs", "15", "--style", "basic"])
            .arg(&ours)
            .arg(ssh_line.join(" "))
            .env_remove("SSH_AUTH_SOCK")
            .output_within(Duration::from_secs(300))
            .expect("run hyperfine");
        eprintln!("{}", text(&out.stdout));
    } else {
        eprintln!("hyperfine not installed (apt-get install -y hyperfine): no hyperfine run");
    }
}
