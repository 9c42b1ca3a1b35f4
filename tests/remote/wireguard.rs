//! Tunnel status: against a real wireguard-go tunnel into a network namespace
//! (tests/support/netns.rs), and the address/prefix/age rules on synthetic
//! interfaces.
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

use crate::support;
use crate::support::run::{CHILD_LIMIT, Deadline as _};

use fleetdeck::fleet::{DeviceSample, Fleet, Snapshot, Thresholds};
use fleetdeck::remote::wireguard::{
    InterfaceStatus, LIVE_WITHIN, PeerStatus, Tunnel, TunnelError, device_address, read_configured,
    read_interface, tunnel_for, tunnels, tunnels_json, tunnels_text,
};
use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};
use support::netns::WgLab;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn peer(key: &str, allowed: &[&str], handshake: Option<SystemTime>) -> PeerStatus {
    PeerStatus {
        public_key: key.into(),
        endpoint: None,
        allowed_ips: allowed.iter().map(|s| s.to_string()).collect(),
        last_handshake: handshake,
        rx_bytes: 0,
        tx_bytes: 0,
        keepalive: None,
    }
}

fn iface(peers: Vec<PeerStatus>) -> InterfaceStatus {
    InterfaceStatus {
        name: "wg-fleet".into(),
        backend: "userspace",
        peers,
        listen_port: Some(51820),
        read_at: SystemTime::now(),
    }
}

fn sample(id: &str, target: Option<&str>, labels: &[(&str, &str)]) -> DeviceSample {
    let mut s = DeviceSample::new(id, "site-a", "group-a");
    s.target = target.map(String::from);
    for (k, v) in labels {
        s.labels.insert(k.to_string(), v.to_string());
    }
    s
}

fn fleet(devices: Vec<DeviceSample>) -> Fleet {
    let snapshot = Snapshot {
        source: "test".into(),
        taken_at: SystemTime::now(),
        devices,
    };
    Fleet::build(snapshot, None, &Thresholds::default())
}

fn device_peer(status: &InterfaceStatus, key: &str) -> PeerStatus {
    status
        .peers
        .iter()
        .find(|p| p.public_key == key)
        .cloned()
        .unwrap_or_else(|| panic!("peer {key} not in {status:#?}"))
}

// ---- the real tunnel -------------------------------------------------------

#[test]
fn real_tunnel_is_live_and_counts_bytes_through_it() {
    let lab = WgLab::start();
    let status = read_interface(&lab.host_if).expect("read the lab's interface");
    assert_eq!(status.name, lab.host_if);
    assert_eq!(status.backend, "userspace");
    assert!(status.listen_port.is_some(), "{status:#?}");
    let before = device_peer(&status, &lab.device_public_key);
    assert_eq!(
        before.endpoint.as_deref(),
        Some(format!("{}:51820", lab.device_link_ip).as_str())
    );
    assert_eq!(
        before.allowed_ips,
        vec![format!("{}/32", lab.device_tunnel_ip)]
    );
    assert_eq!(before.keepalive, Some(1));
    let handshake = before.last_handshake.expect("a handshake");
    let age = SystemTime::now()
        .duration_since(handshake)
        .unwrap_or_default();
    assert!(age < Duration::from_secs(10), "handshake {age:?} ago");

    // Through the tunnel: the route to the device's tunnel address is host_if.
    let device_ip = lab.device_tunnel_ip.to_string();
    let ping = Command::new("ping")
        .args(["-c", "3", "-W", "1", "-i", "0.2", &device_ip])
        .output_within(CHILD_LIMIT)
        .expect("ping is not installed: apt-get install iputils-ping");
    assert!(
        ping.status.success(),
        "ping {device_ip} through the tunnel: {}\n{}",
        String::from_utf8_lossy(&ping.stdout),
        lab.wg_show()
    );
    let after = device_peer(
        &read_interface(&lab.host_if).expect("read again"),
        &lab.device_public_key,
    );
    // Three 84-byte echo requests out and three replies in, plus WireGuard's
    // framing and keepalives.
    assert!(
        after.tx_bytes >= before.tx_bytes + 3 * 84,
        "tx {} → {}",
        before.tx_bytes,
        after.tx_bytes
    );
    assert!(
        after.rx_bytes >= before.rx_bytes + 3 * 84,
        "rx {} → {}",
        before.rx_bytes,
        after.rx_bytes
    );

    let status = read_interface(&lab.host_if).expect("read again");
    match tunnel_for(&status, Some(lab.device_tunnel_ip), SystemTime::now()) {
        Tunnel::Live {
            peer,
            handshake_age_secs,
        } => {
            assert_eq!(peer.public_key, lab.device_public_key);
            assert!(handshake_age_secs < 10, "{handshake_age_secs}");
        }
        other => panic!("expected live, got {other:?}"),
    }

    // A peer that never handshakes, an address no peer covers, a device
    // without a tunnel address.
    let (silent_key, silent_ip) = lab.add_silent_peer();
    let status = read_interface(&lab.host_if).expect("read with the silent peer");
    assert_eq!(status.peers.len(), 2);
    match tunnel_for(&status, Some(silent_ip), SystemTime::now()) {
        Tunnel::NotLive { peer, reason } => {
            assert_eq!(peer.public_key, silent_key);
            assert_eq!(peer.endpoint, None);
            assert_eq!(peer.last_handshake, None);
            assert_eq!(reason, "no handshake yet");
        }
        other => panic!("expected not live, got {other:?}"),
    }
    assert_eq!(
        tunnel_for(&status, Some(ip("10.99.0.1")), SystemTime::now()),
        Tunnel::NoPeer {
            address: "10.99.0.1".into()
        }
    );
    // The host's own tunnel address is in the subnet but in no peer's allowed IPs.
    assert!(matches!(
        tunnel_for(&status, Some(lab.host_tunnel_ip), SystemTime::now()),
        Tunnel::NoPeer { .. }
    ));

    // The whole fleet, as `fleetdeck tunnels` prints it.
    let fleet = fleet(vec![
        sample("pi-live", Some(&format!("{device_ip}:9100")), &[]),
        sample("pi-silent", Some(&format!("{silent_ip}:9100")), &[]),
        sample("pi-elsewhere", Some("10.99.0.1:9100"), &[]),
        sample("pi-hostname", Some("pi-7.local:9100"), &[]),
    ]);
    let rows = tunnels(&status, &fleet, None, SystemTime::now());
    let states: Vec<(&str, &str)> = rows
        .iter()
        .map(|(id, t)| (id.as_str(), t.label()))
        .collect();
    assert_eq!(
        states,
        vec![
            ("pi-elsewhere", "no peer"),
            ("pi-hostname", "no address"),
            ("pi-live", "live"),
            ("pi-silent", "not live"),
        ]
    );
    let json = tunnels_json(&status, &rows);
    assert_eq!(json["interface"], lab.host_if.as_str());
    assert_eq!(json["live"], 1);
    assert_eq!(json["devices"][2]["device"], "pi-live");
    assert_eq!(json["devices"][2]["state"], "live");
    assert_eq!(
        json["devices"][2]["peer"]["public_key"],
        lab.device_public_key.as_str()
    );
    assert_eq!(json["devices"][3]["state"], "not_live");
    assert_eq!(json["devices"][3]["reason"], "no handshake yet");
    let text = tunnels_text(&status, &rows);
    assert!(text.contains("1/4 devices live"), "{text}");
    assert!(text.contains("no peer for 10.99.0.1"), "{text}");
    assert!(text.contains(&lab.device_public_key), "{text}");
}

#[test]
fn the_lab_cleans_up_after_a_failing_test() {
    let names = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = WgLab::start();
        *names.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((lab.ns.clone(), lab.host_if.clone(), lab.device_if.clone()));
        panic!("a failing assertion");
    }));
    assert!(result.is_err());
    let (ns, host_if, device_if) = names
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .expect("the lab started");
    let netns = Command::new("ip")
        .args(["netns", "list"])
        .output_within(CHILD_LIMIT)
        .expect("ip");
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains(&ns),
        "namespace {ns} left behind"
    );
    let link = Command::new("ip")
        .args(["link", "show", &host_if])
        .output_within(CHILD_LIMIT)
        .expect("ip");
    assert!(!link.status.success(), "interface {host_if} left behind");
    for i in [&host_if, &device_if] {
        let sock = format!("/var/run/wireguard/{i}.sock");
        assert!(!std::path::Path::new(&sock).exists(), "{sock} left behind");
    }
    let procs = Command::new("pgrep")
        .args(["-f", &format!("wireguard-go -f {host_if}")])
        .output_within(CHILD_LIMIT)
        .expect("pgrep");
    assert!(
        procs.stdout.is_empty(),
        "wireguard-go for {host_if} still running"
    );
}

// ---- errors ----------------------------------------------------------------

/// Set by `permission_denied_names_the_socket` for its child run as `nobody`.
const READ_AS_OTHER: &str = "FDK_WG_READ_AS_OTHER_USER";

#[test]
fn permission_denied_names_the_socket() {
    let lab = WgLab::start();
    let exe = std::env::current_exe().expect("the test binary's path");
    // wireguard-go's socket is root-only: read it again as `nobody`.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args([
            "--exact",
            &format!("{}::reads_the_interface_as_another_user", test_module()),
            "--ignored",
            "--nocapture",
        ])
        .env(READ_AS_OTHER, &lab.host_if)
        .output_within(CHILD_LIMIT)
        .expect("setpriv (util-linux) runs the test binary as nobody");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "ERROR permission denied reading WireGuard interface '{0}': run as a user that can read /var/run/wireguard/{0}.sock",
            lab.host_if
        )),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "run by permission_denied_names_the_socket as another user"]
fn reads_the_interface_as_another_user() {
    if let Ok(name) = std::env::var(READ_AS_OTHER) {
        match read_interface(&name) {
            Ok(status) => println!("READ {} peers", status.peers.len()),
            Err(e) => println!("ERROR {e}"),
        }
    }
}

#[test]
fn a_missing_interface_says_what_to_check() {
    let name = format!("fdk{}x1", std::process::id());
    match read_interface(&name) {
        Err(e @ TunnelError::NoInterface { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!(
                    "no WireGuard interface '{name}': is wireguard-go running? (`wg show` lists interfaces)"
                )),
                "{msg}"
            );
        }
        other => panic!("expected NoInterface, got {other:?}"),
    }
    let unconfigured = fleetdeck::config::RemoteConfig::default();
    let err = read_configured(&unconfigured).expect_err("nothing configured");
    assert!(matches!(err, TunnelError::NotConfigured));
    assert!(err.to_string().contains("wireguard_interface"), "{err}");
}

#[test]
fn a_socket_nobody_answers_on_is_no_interface() {
    // What a SIGKILLed wireguard-go leaves behind.
    let name = format!("fdk{}x2", std::process::id());
    std::fs::create_dir_all("/var/run/wireguard").expect("socket dir (run as root)");
    let path = format!("/var/run/wireguard/{name}.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind a socket");
    drop(listener);
    let result = read_interface(&name);
    let _ = std::fs::remove_file(&path);
    match result {
        Err(e @ TunnelError::NoInterface { .. }) => {
            assert!(e.to_string().contains("nothing answers"), "{e}")
        }
        other => panic!("expected NoInterface, got {other:?}"),
    }
}

#[test]
fn a_hung_implementation_times_out() {
    // A socket that accepts and never answers.
    let name = format!("fdk{}x3", std::process::id());
    std::fs::create_dir_all("/var/run/wireguard").expect("socket dir (run as root)");
    let path = format!("/var/run/wireguard/{name}.sock");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind a socket");
    let started = Instant::now();
    let result = read_interface(&name);
    let _ = std::fs::remove_file(&path);
    drop(listener);
    // It ends by READ_TIMEOUT rather than hanging (a loose bound, not a speed test).
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    match result {
        Err(e @ TunnelError::Backend { .. }) => assert!(e.to_string().contains("no answer"), "{e}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn a_bad_interface_name_is_an_error_not_a_panic() {
    for bad in ["", "a/b", "much-too-long-interface-name", "wg 0"] {
        assert!(
            matches!(read_interface(bad), Err(TunnelError::Backend { .. })),
            "{bad:?}"
        );
    }
}

// ---- addresses ---------------------------------------------------------------

#[test]
fn device_address_from_target_or_label() {
    let v4 = sample("a", Some("10.8.0.7:9100"), &[]);
    assert_eq!(device_address(&v4, None), Some(ip("10.8.0.7")));
    let v6 = sample("b", Some("[fd00::7]:9100"), &[]);
    assert_eq!(device_address(&v6, None), Some(ip("fd00::7")));
    let bare = sample("c", Some("10.8.0.9"), &[]);
    assert_eq!(device_address(&bare, None), Some(ip("10.8.0.9")));
    let url = sample("d", Some("http://10.8.0.10:9100/metrics"), &[]);
    assert_eq!(device_address(&url, None), Some(ip("10.8.0.10")));
    let host = sample("e", Some("pi-7.local:9100"), &[]);
    assert_eq!(device_address(&host, None), None);
    let none = sample("f", None, &[]);
    assert_eq!(device_address(&none, None), None);

    // The label wins over the target when configured…
    let labelled = sample(
        "g",
        Some("192.168.1.20:9100"),
        &[("wg_address", "10.8.0.20")],
    );
    assert_eq!(
        device_address(&labelled, Some("wg_address")),
        Some(ip("10.8.0.20"))
    );
    let cidr = sample("h", None, &[("wg_address", "10.8.0.21/32")]);
    assert_eq!(
        device_address(&cidr, Some("wg_address")),
        Some(ip("10.8.0.21"))
    );
    let mapped = sample("i", None, &[("wg_address", "::ffff:10.8.0.22")]);
    assert_eq!(
        device_address(&mapped, Some("wg_address")),
        Some(ip("10.8.0.22"))
    );
    // …and a device without it has no tunnel address (its target is a LAN address).
    let unlabelled = sample("j", Some("192.168.1.20:9100"), &[]);
    assert_eq!(device_address(&unlabelled, Some("wg_address")), None);
    let junk = sample("k", None, &[("wg_address", "pi-7\x1b[2J")]);
    assert_eq!(device_address(&junk, Some("wg_address")), None);

    let status = iface(vec![peer("k1", &["10.8.0.0/24"], None)]);
    assert_eq!(
        tunnel_for(&status, device_address(&host, None), SystemTime::now()),
        Tunnel::NoAddress
    );
}

#[test]
fn the_longest_prefix_wins() {
    let now = SystemTime::now();
    let status = iface(vec![
        peer("catch-all", &["0.0.0.0/0", "::/0"], Some(now)),
        peer("site", &["10.8.0.0/16"], Some(now)),
        peer("pi-7", &["10.8.0.7/32", "fd00::7/128"], Some(now)),
        peer("v6-site", &["fd00::/64"], Some(now)),
        // Host bits set, as people write them: WireGuard masks them.
        peer("lab", &["172.16.5.9/24"], Some(now)),
    ]);
    let key = |a: &str| {
        tunnel_for(&status, Some(ip(a)), now)
            .peer()
            .map(|p| p.public_key.clone())
    };
    assert_eq!(key("10.8.0.7").as_deref(), Some("pi-7"));
    assert_eq!(key("10.8.0.8").as_deref(), Some("site"));
    assert_eq!(key("10.9.0.1").as_deref(), Some("catch-all"));
    assert_eq!(key("fd00::7").as_deref(), Some("pi-7"));
    assert_eq!(key("fd00::8").as_deref(), Some("v6-site"));
    assert_eq!(key("fd01::8").as_deref(), Some("catch-all"));
    assert_eq!(key("172.16.5.200").as_deref(), Some("lab"));

    let narrow = iface(vec![peer("pi-7", &["10.8.0.7/32"], Some(now))]);
    assert_eq!(
        tunnel_for(&narrow, Some(ip("10.8.0.8")), now),
        Tunnel::NoPeer {
            address: "10.8.0.8".into()
        }
    );
    assert_eq!(
        tunnel_for(&narrow, Some(ip("fd00::7")), now),
        Tunnel::NoPeer {
            address: "fd00::7".into()
        }
    );
}

#[test]
fn live_means_a_handshake_within_180_seconds() {
    let handshake = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let status = iface(vec![peer("pi-7", &["10.8.0.7/32"], Some(handshake))]);
    let at = |secs: u64| {
        tunnel_for(
            &status,
            Some(ip("10.8.0.7")),
            handshake + Duration::from_secs(secs),
        )
    };

    assert!(matches!(
        at(0),
        Tunnel::Live {
            handshake_age_secs: 0,
            ..
        }
    ));
    assert!(matches!(
        at(LIVE_WITHIN.as_secs()),
        Tunnel::Live {
            handshake_age_secs: 180,
            ..
        }
    ));
    match at(181) {
        Tunnel::NotLive { reason, .. } => {
            assert_eq!(reason, "last handshake 3m ago (> 180 s)")
        }
        other => panic!("{other:?}"),
    }
    match at(7 * 60) {
        Tunnel::NotLive { reason, .. } => assert_eq!(reason, "last handshake 7m ago (> 180 s)"),
        other => panic!("{other:?}"),
    }
    // A handshake "in the future" (the clock stepped back) counts as now.
    let earlier = tunnel_for(
        &status,
        Some(ip("10.8.0.7")),
        handshake - Duration::from_secs(30),
    );
    assert!(matches!(
        earlier,
        Tunnel::Live {
            handshake_age_secs: 0,
            ..
        }
    ));
    assert_eq!(at(12).cell(handshake + Duration::from_secs(12)), "live 12s");
    assert_eq!(
        at(7 * 60).cell(handshake + Duration::from_secs(7 * 60)),
        "down 7m"
    );
}

#[test]
fn ten_thousand_devices_against_ten_thousand_peers() {
    let now = SystemTime::now();
    let addr = |i: usize| format!("10.{}.{}.{}", 8 + i / 65536, (i / 256) % 256, i % 256);
    let mut peers: Vec<PeerStatus> = (0..10_000)
        .map(|i: usize| {
            let handshake = if i.is_multiple_of(10) {
                None
            } else {
                Some(now - Duration::from_secs((i % 400) as u64))
            };
            peer(
                &format!("key-{i}"),
                &[&format!("{}/32", addr(i))],
                handshake,
            )
        })
        .collect();
    // A site gateway covering devices 10,000.. that have no peer of their own.
    peers.push(peer("gateway", &["10.8.40.0/24"], Some(now)));
    let status = iface(peers);

    let mut devices: Vec<DeviceSample> = (0..10_000)
        .map(|i| {
            sample(
                &format!("pi-{i:05}"),
                Some(&format!("{}:9100", addr(i))),
                &[],
            )
        })
        .collect();
    devices.push(sample("pi-gw", Some("10.8.40.77:9100"), &[]));
    devices.push(sample("pi-lost", Some("10.200.0.1:9100"), &[]));
    devices.push(sample("pi-named", Some("pi.local:9100"), &[]));
    let fleet = fleet(devices);

    // Speed is for benchmarks; this checks the answers at that size.
    let rows = tunnels(&status, &fleet, None, now);
    assert_eq!(rows.len(), 10_003);

    for (id, t) in &rows {
        match id.as_str() {
            "pi-gw" => assert_eq!(t.peer().map(|p| p.public_key.as_str()), Some("gateway")),
            "pi-lost" => assert!(matches!(t, Tunnel::NoPeer { .. })),
            "pi-named" => assert_eq!(t, &Tunnel::NoAddress),
            _ => {
                let i: usize = id.trim_start_matches("pi-").parse().expect("numbered id");
                let p = t.peer().expect("each device has its own peer");
                assert_eq!(p.public_key, format!("key-{i}"));
                let live = !i.is_multiple_of(10) && (i % 400) as u64 <= LIVE_WITHIN.as_secs();
                assert_eq!(t.is_live(), live, "{id}: {t:?}");
            }
        }
    }
    // The JSON and text forms of a large fleet stay well-formed.
    let json = tunnels_json(&status, &rows);
    assert_eq!(json["devices"].as_array().map(Vec::len), Some(10_003));
    assert_eq!(tunnels_text(&status, &rows).lines().count(), 10_003 + 2);
}

#[test]
fn text_output_is_sanitised() {
    let now = SystemTime::now();
    let mut p = peer("k1", &["10.8.0.7/32"], Some(now));
    p.endpoint = Some("198.51.100.7:51820".into());
    p.rx_bytes = 1536;
    p.tx_bytes = 5 * 1024 * 1024;
    let status = iface(vec![p]);
    let fleet = fleet(vec![sample("pi\x1b[31m-evil", Some("10.8.0.7:9100"), &[])]);
    let rows = tunnels(&status, &fleet, None, now);
    let text = tunnels_text(&status, &rows);
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(text.contains("1.5 KiB"), "{text}");
    assert!(text.contains("5.0 MiB"), "{text}");
    assert!(text.contains("198.51.100.7:51820"), "{text}");
}

/// This module's path as the test harness names tests (`remote::wireguard`).
fn test_module() -> &'static str {
    module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, m)| m)
}
