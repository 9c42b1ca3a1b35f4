//! The real TUI end to end in tmux, with a shell on a device over a real
//! WireGuard tunnel: wireguard-go in the root namespace and in a network
//! namespace (tests/support/netns.rs), a real sshd on the namespace's tunnel
//! address (tests/support/sshd.rs), and `fleetdeck --config …` whose
//! `[remote] wireguard_interface` is the lab's interface and whose inventory
//! puts a device's scrape target on the tunnel address (nothing listens on
//! the exporter port: the device shows as down, its tunnel as live).
//!
//! Select the device, press `s`, run a command in the remote shell, `exit`,
//! and find the console back with the same view and selection and a message
//! saying how the session ended. Also: an unknown host key asked about and
//! accepted from the TUI (then recorded: no question the second time), and a
//! peer that never handshakes refused with a question.
//!
//! Timings (keypress → remote prompt, fleetdeck vs plain `ssh` in the same
//! terminal) are printed with eprintln (`--nocapture`), never asserted.
//!
//! Needs root, tmux, wireguard-go, wireguard-tools, iproute2,
//! openssh-server/openssh-client; a missing one fails with how to install it.
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

use crate::support;
use crate::support::run::{CHILD_LIMIT, Deadline as _};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::netns::WgLab;
use support::sshd::{self, Sshd};
use support::tmux::Tmux;

// ---- the lab -----------------------------------------------------------------

fn require_tools() {
    assert!(
        sshd::available(),
        "/usr/sbin/sshd, ssh or ssh-keygen missing: apt-get install -y openssh-server openssh-client"
    );
    assert!(
        Command::new("tmux")
            .arg("-V")
            .output_within(CHILD_LIMIT)
            .is_ok(),
        "tmux missing: apt-get install -y tmux"
    );
}

/// A lab with sshd on the device's tunnel address, a config and inventory.
struct Setup {
    lab: WgLab,
    sshd: Sshd,
    dir: tempfile::TempDir,
    config: PathBuf,
    known_hosts: PathBuf,
    tunnel_ip: String,
}

/// `trusted`: known_hosts lists the server's key already.
fn setup(trusted: bool) -> Setup {
    require_tools();
    let lab = WgLab::start();
    let tunnel_ip = lab.device_tunnel_ip.to_string();
    let sshd = Sshd::start_on(&tunnel_ip, 22, Some(&lab.ns));
    let (_, silent_ip) = lab.add_silent_peer();
    let dir = tempfile::tempdir().expect("tempdir");
    let known_hosts = dir.path().join("known_hosts");
    let entry = if trusted {
        format!("{tunnel_ip} {}\n", sshd.host_key_line())
    } else {
        String::new()
    };
    std::fs::write(&known_hosts, entry).expect("write known_hosts");
    // pi-alpha and pi-zulu surround the tunnel device, so "the same
    // selection" means something; all three are down (no exporter).
    let inventory = serde_json::json!([
        {"targets": ["127.0.0.1:1"], "labels": {"device": "pi-alpha", "site": "lab", "group": "canary"}},
        {"targets": [format!("{tunnel_ip}:9100")], "labels": {"device": "pi-tunnel", "site": "lab", "group": "canary"}},
        {"targets": [format!("{silent_ip}:9100")], "labels": {"device": "pi-zulu", "site": "lab", "group": "canary"}},
    ]);
    std::fs::write(dir.path().join("inventory.json"), inventory.to_string())
        .expect("write inventory");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"[source]
kind = "scrape"
inventory = "inventory.json"
timeout = "1s"
refresh = "2s"

[remote]
wireguard_interface = "{iface}"
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
    Setup {
        lab,
        sshd,
        dir,
        config,
        known_hosts,
        tunnel_ip,
    }
}

/// Starts the console in `t` and waits for the devices table with the
/// tunnel device's tunnel live.
fn open_console(t: &Tmux, config: &Path) {
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    t.line(&format!(
        "{bin} --config {}; echo EXIT=$?",
        config.display()
    ));
    t.wait_for("sites (1 of 1)", Duration::from_secs(20));
    t.send(&["3"]);
    t.wait_for("devices (3 of 3)", Duration::from_secs(5));
    t.wait_until(
        "pi-tunnel with a live tunnel",
        Duration::from_secs(15),
        |s| row(s, "pi-tunnel").is_some_and(|r| r.contains("live ")),
    );
}

/// The screen line holding `needle`.
fn row<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}

/// The escape sequences (colours, attributes) of the line holding `needle`
/// in a styled capture: what marks the selected row.
fn row_style(styled: &str, needle: &str) -> Vec<String> {
    let line = row(styled, needle).unwrap_or_else(|| panic!("no {needle} on\n{styled}"));
    line.split('\x1b')
        .skip(1)
        .filter_map(|s| s.find('m').map(|end| s[..=end].to_string()))
        .collect()
}

/// Whether a shell prompt is the last non-empty line (`…# ` or `…$ `).
fn prompt_shown(screen: &str, local: bool) -> bool {
    let last = screen.lines().rev().find(|l| !l.trim().is_empty());
    last.is_some_and(|l| {
        let l = l.trim_end();
        if local {
            l.ends_with("local$")
        } else {
            !l.starts_with("local$") && (l.ends_with('#') || l.ends_with('$'))
        }
    })
}

// ---- the tests -----------------------------------------------------------------

#[test]
fn s_opens_a_shell_over_the_tunnel_and_exit_restores_the_console() {
    let s = setup(true);
    let t = Tmux::start(140, 40, &["PS1=local$ "]).poll_every(Duration::from_millis(5));
    open_console(&t, &s.config);

    // Select pi-tunnel (second row: all down, id order).
    t.send(&["j"]);
    t.wait_until("pi-tunnel selected", Duration::from_secs(5), |_| {
        let st = t.capture_styled();
        row_style(&st, "pi-tunnel") != row_style(&st, "pi-alpha")
    });
    let styled_before = t.capture_styled();
    let selected_style = row_style(&styled_before, "pi-tunnel");
    assert_ne!(
        selected_style,
        row_style(&styled_before, "pi-alpha"),
        "pi-tunnel is highlighted"
    );
    let before = t.capture();
    assert!(before.contains("tunnel"), "a tunnel column:\n{before}");

    // s → the remote shell's prompt.
    let pressed = Instant::now();
    t.send(&["s"]);
    let screen = t.wait_until("the remote prompt", Duration::from_secs(20), |s| {
        s.contains("fleetdeck: connecting to pi-tunnel") && prompt_shown(s, false)
    });
    let to_prompt = pressed.elapsed();
    assert!(
        screen.contains(&format!("root@{}:22", s.tunnel_ip)),
        "the banner names the target:\n{screen}"
    );
    assert_eq!(
        t.display("#{alternate_on}"),
        "0",
        "the console left the alternate screen"
    );

    // A command in the remote shell: computed there, inside the namespace.
    t.line("echo fleetdeck-marker-$((6*7))");
    t.wait_for("fleetdeck-marker-42", Duration::from_secs(10));
    t.line(&format!("ip -o -4 addr show dev {}", s.lab.device_if));
    t.wait_for(&format!("inet {}/", s.tunnel_ip), Duration::from_secs(10));
    t.line("echo term=$TERM size=$(stty size)");
    let screen = t.wait_for("term=xterm-256color", Duration::from_secs(10));
    assert!(
        screen.contains("size=40 140"),
        "the PTY has the terminal's size:\n{screen}"
    );

    // exit → the console, same view, same selection, and how it ended.
    t.line("exit");
    let after = t.wait_for(
        "pi-tunnel: session ended: exit status 0",
        Duration::from_secs(10),
    );
    assert_eq!(
        t.display("#{alternate_on}"),
        "1",
        "back on the alternate screen"
    );
    assert!(after.contains("devices (3 of 3)"), "same view:\n{after}");
    let styled_after = t.capture_styled();
    assert_eq!(
        row_style(&styled_after, "pi-tunnel"),
        selected_style,
        "same row selected:\nbefore:\n{before}\nafter:\n{after}"
    );
    assert_ne!(
        row_style(&styled_after, "pi-alpha"),
        selected_style,
        "and only it"
    );
    // The keys reach the console again: the selected row opens.
    t.send(&["Enter"]);
    let detail = t.wait_for("device pi-tunnel", Duration::from_secs(5));
    let detail = if detail.contains("last handshake") {
        detail
    } else {
        t.wait_for("last handshake", Duration::from_secs(5))
    };
    assert!(row(&detail, "tunnel").is_some(), "{detail}");
    t.send(&["q"]);
    t.wait_for("EXIT=0", Duration::from_secs(10));
    assert_eq!(t.display("#{alternate_on}"), "0");

    // The same with plain ssh, same key, same tunnel, same terminal.
    let ssh_cmd = format!(
        "ssh -F /dev/null -i {key} -o IdentitiesOnly=yes -o UserKnownHostsFile={kh} \
         -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o LogLevel=ERROR root@{ip}",
        key = s.sshd.client_key.display(),
        kh = s.known_hosts.display(),
        ip = s.tunnel_ip,
    );
    // OpenSSH 9 prefers a post-quantum key exchange russh does not offer:
    // timed with its defaults and with curve25519 (what russh negotiates).
    let mut plain = Vec::new();
    for cmd in [
        ssh_cmd.clone(),
        ssh_cmd.replacen(
            "-F /dev/null",
            "-F /dev/null -o KexAlgorithms=curve25519-sha256",
            1,
        ),
    ] {
        t.line("clear");
        t.wait_until("a clear screen", Duration::from_secs(5), |s| {
            prompt_shown(s, true)
        });
        t.send(&["-l", &cmd]);
        // Let tmux draw the typed line before timing the Enter.
        t.wait_for("StrictHostKeyChecking=yes", Duration::from_secs(5));
        let pressed = Instant::now();
        t.send(&["Enter"]);
        t.wait_until(
            "the remote prompt (plain ssh)",
            Duration::from_secs(20),
            |s| prompt_shown(s, false),
        );
        plain.push(pressed.elapsed().as_secs_f64() * 1000.0);
        t.line("exit");
        t.wait_until("the local prompt", Duration::from_secs(10), |s| {
            prompt_shown(s, true)
        });
    }
    eprintln!(
        "TIMING keypress→remote prompt over the loopback tunnel: fleetdeck TUI `s` {:.0} ms; \
         plain `ssh` (Enter→prompt, same key and tunnel) {:.0} ms, with curve25519 kex {:.0} ms",
        to_prompt.as_secs_f64() * 1000.0,
        plain[0],
        plain[1]
    );
    drop(t);
    drop(s.sshd);
    drop(s.dir);
}

#[test]
fn unknown_host_key_is_asked_in_the_tui_recorded_and_dead_tunnels_are_questioned() {
    let s = setup(false);
    let t = Tmux::start(140, 40, &["PS1=local$ "]).poll_every(Duration::from_millis(5));
    open_console(&t, &s.config);
    t.send(&["j"]);
    t.wait_until("pi-tunnel selected", Duration::from_secs(5), |_| {
        let st = t.capture_styled();
        row_style(&st, "pi-tunnel") != row_style(&st, "pi-alpha")
    });

    // Unknown key: the console comes back with the question and the fingerprint.
    let fingerprint = s.sshd.host_fingerprint();
    t.send(&["s"]);
    let screen = t.wait_for("unknown host key for pi-tunnel", Duration::from_secs(20));
    assert!(
        screen.contains(&format!("({}:22)", s.tunnel_ip)),
        "{screen}"
    );
    assert!(
        screen.contains(&fingerprint),
        "the fingerprint is shown:\n{screen}"
    );
    assert_eq!(t.display("#{alternate_on}"), "1");
    assert_eq!(
        std::fs::read_to_string(&s.known_hosts).expect("known_hosts"),
        "",
        "nothing recorded before the accept"
    );

    // y → connects accepting that key, which is recorded.
    t.send(&["y"]);
    t.wait_until("the remote prompt", Duration::from_secs(20), |sc| {
        sc.contains("accepting host key") && prompt_shown(sc, false)
    });
    let recorded = std::fs::read_to_string(&s.known_hosts).expect("known_hosts");
    assert!(
        recorded.contains(&s.sshd.host_key_line()),
        "known_hosts:\n{recorded}"
    );
    t.line("echo fleetdeck-marker-$((6*7))");
    t.wait_for("fleetdeck-marker-42", Duration::from_secs(10));
    t.line("exit");
    t.wait_for(
        "pi-tunnel: session ended: exit status 0",
        Duration::from_secs(10),
    );

    // Second time: no question.
    t.send(&["s"]);
    let screen = t.wait_until("the remote prompt", Duration::from_secs(20), |sc| {
        sc.contains("fleetdeck: connecting to pi-tunnel") && prompt_shown(sc, false)
    });
    assert!(!screen.contains("unknown host key"), "{screen}");
    t.line("exit");
    t.wait_for(
        "pi-tunnel: session ended: exit status 0",
        Duration::from_secs(10),
    );

    // pi-zulu's peer never handshakes: `s` asks first; n cancels.
    t.send(&["/"]);
    t.send(&["-l", "pi-zulu"]);
    t.send(&["Enter"]);
    t.wait_for("devices (1 of 3)", Duration::from_secs(5));
    t.send(&["s"]);
    let screen = t.wait_for(
        "pi-zulu: tunnel not live (no handshake yet) — open a shell anyway? y/N",
        Duration::from_secs(5),
    );
    assert_eq!(t.display("#{alternate_on}"), "1", "{screen}");
    t.send(&["n"]);
    t.wait_for("pi-zulu: no shell opened", Duration::from_secs(5));
    t.send(&["q"]);
    t.wait_for("EXIT=0", Duration::from_secs(10));
}
