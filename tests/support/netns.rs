//! A real WireGuard tunnel for tests: wireguard-go in the root namespace and
//! in a network namespace the test creates, joined by a veth pair.
//!
//! ```text
//!  root namespace (the test process)          namespace fdk-<pid>-<n> ("the device")
//!  ┌───────────────────────────────┐          ┌────────────────────────────────┐
//!  │ host_if   fdk<pid>h<n>        │  UDP     │ device_if  fdk<pid>d<n>        │
//!  │   10.77.S.1/24  (wireguard-go)│ ───────► │   10.77.S.2/24  (wireguard-go) │
//!  │ veth fdk<pid>v<n> 10.78.S.1/30│◄──veth──►│ veth fdk<pid>p<n> 10.78.S.2/30 │
//!  └───────────────────────────────┘          └────────────────────────────────┘
//! ```
//!
//! `S` is a slot (1..=250) reserved with a lock file, so concurrent test
//! processes (several test binaries, several worktrees) never share a subnet
//! or a route. Traffic only flows between the root end of our veth and our
//! namespace; nothing leaves the machine.
//!
//! Usage (an sshd on the device's tunnel address, reached through the tunnel):
//!
//! ```ignore
//! mod support;
//! use support::netns::WgLab;
//!
//! let lab = WgLab::start();                // waits for the first handshake (bounded)
//! // lab.host_if:           read it with fleetdeck::remote::wireguard::read_interface
//! // lab.device_tunnel_ip:  connect here from the test process (root namespace)
//! let cfg = lab.dir.join("sshd_config");  // lab.dir: a private scratch dir, removed on drop
//! let sshd = lab
//!     .command_in_ns(&["/usr/sbin/sshd", "-D", "-e", "-f", cfg.to_str().unwrap()])
//!     .spawn()
//!     .unwrap();                           // killed on drop with everything in the namespace
//! let (silent_key, silent_ip) = lab.add_silent_peer(); // a peer that never handshakes
//! ```
//!
//! Dropping the lab (also while unwinding from a failed assertion) stops every
//! process in the namespace and both wireguard-go's, deletes the interfaces,
//! the veth pair, the namespace, the UAPI sockets and the scratch dir. Leftovers
//! of a test process that was killed outright (SIGKILL, timeout) are swept by
//! the next `WgLab::start` (or `scripts/wg-test-env.sh clean`): only objects
//! whose names carry the pid of a process that no longer exists.
//!
//! Needs root, `/dev/net/tun`, `ip` (iproute2), `wg` (wireguard-tools),
//! `wireguard-go`; a missing one fails the test with the command to install
//! it — never a silent skip.

use super::run::{CHILD_LIMIT, Deadline as _};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// What to install when a prerequisite is missing.
pub const INSTALL: &str = "apt-get install -y wireguard-tools wireguard-go iproute2 iputils-ping";

/// Bound on every helper command (`ip`, `wg`).
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(20);

/// Bound on the first handshake after setup (measured: well under a second).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// The device side's WireGuard listen port (inside our namespace, so fixed).
pub const DEVICE_PORT: u16 = 51820;

const UAPI_DIR: &str = "/var/run/wireguard";

/// A live tunnel between the root namespace and a namespace of our own.
pub struct WgLab {
    /// The network namespace playing the device: `fdk-<pid>-<n>`.
    pub ns: String,
    /// Root-side wireguard-go interface (`fdk<pid>h<n>`): what fleetdeck reads.
    pub host_if: String,
    /// Namespace-side wireguard-go interface (`fdk<pid>d<n>`).
    pub device_if: String,
    /// `10.77.S.1`, on `host_if`.
    pub host_tunnel_ip: IpAddr,
    /// `10.77.S.2`, on `device_if` inside the namespace: the device's tunnel address.
    pub device_tunnel_ip: IpAddr,
    /// Namespace end of the veth pair (`10.78.S.2`): the host's WireGuard endpoint.
    pub device_link_ip: IpAddr,
    /// Base64 public keys, as `wg show` prints them.
    pub host_public_key: String,
    pub device_public_key: String,
    /// The port host_if's wireguard-go listens on (chosen by wireguard-go).
    pub host_port: u16,
    /// Scratch dir (keys, wireguard-go logs; put sshd configs here): removed on drop.
    pub dir: PathBuf,
    slot: u8,
    veth_root: String,
    veth_ns: String,
    host_wg: Option<Child>,
    device_wg: Option<Child>,
    silent_peers: AtomicU8,
    ns_created: bool,
}

impl WgLab {
    /// Creates netns `fdk-<pid>-<n>`, a veth pair between it and the root
    /// namespace, keys from `wg genkey`, wireguard-go on both sides configured
    /// with `wg set` (peer, allowed-ips, endpoint = the other side's veth
    /// address, persistent-keepalive 1), addresses, links up — the namespace
    /// side first, so the host's first initiation finds it ready (otherwise the
    /// first handshake waits ~5 s for a retry). Returns once the host has seen
    /// a handshake, bounded by [`HANDSHAKE_TIMEOUT`]. `n`, a counter, keeps the
    /// labs of one test process (tests run in parallel threads) apart.
    pub fn start() -> WgLab {
        static LABS: AtomicU8 = AtomicU8::new(1);
        let n = LABS.fetch_add(1, Ordering::SeqCst);
        assert!(n < 200, "too many labs in one test process");
        preflight();
        sweep_stale();
        let pid = std::process::id();
        let slot = reserve_slot(n);
        let dir = std::env::temp_dir().join(format!("fdk-wglab-{pid}-{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        let mut lab = WgLab {
            ns: format!("fdk-{pid}-{n}"),
            host_if: format!("fdk{pid}h{n}"),
            device_if: format!("fdk{pid}d{n}"),
            host_tunnel_ip: IpAddr::V4(Ipv4Addr::new(10, 77, slot, 1)),
            device_tunnel_ip: IpAddr::V4(Ipv4Addr::new(10, 77, slot, 2)),
            device_link_ip: IpAddr::V4(Ipv4Addr::new(10, 78, slot, 2)),
            host_public_key: String::new(),
            device_public_key: String::new(),
            host_port: 0,
            dir,
            slot,
            veth_root: format!("fdk{pid}v{n}"),
            veth_ns: format!("fdk{pid}p{n}"),
            host_wg: None,
            device_wg: None,
            silent_peers: AtomicU8::new(0),
            ns_created: false,
        };
        // From here on a panic unwinds through `lab`'s Drop, which removes
        // whatever part of the setup exists.
        lab.setup();
        lab
    }

    fn setup(&mut self) {
        std::fs::create_dir_all(&self.dir).expect("create the lab's scratch dir");
        let (ns, vr, vn) = (
            self.ns.clone(),
            self.veth_root.clone(),
            self.veth_ns.clone(),
        );
        let s = self.slot;

        must(&["ip", "netns", "add", &ns]);
        self.ns_created = true;
        must(&[
            "ip", "link", "add", &vr, "type", "veth", "peer", "name", &vn, "netns", &ns,
        ]);
        must(&["ip", "addr", "add", &format!("10.78.{s}.1/30"), "dev", &vr]);
        must(&["ip", "link", "set", &vr, "up"]);
        self.ns_must(&["ip", "link", "set", "lo", "up"]);
        self.ns_must(&["ip", "addr", "add", &format!("10.78.{s}.2/30"), "dev", &vn]);
        self.ns_must(&["ip", "link", "set", &vn, "up"]);

        let host_key = self.keypair("host");
        let device_key = self.keypair("device");
        self.host_public_key = host_key.1.clone();
        self.device_public_key = device_key.1.clone();

        // Both wireguard-go's up, neither configured with a peer yet: no traffic.
        self.host_wg = Some(self.spawn_wireguard_go(false));
        self.device_wg = Some(self.spawn_wireguard_go(true));
        let host_if = self.host_if.clone();
        let device_if = self.device_if.clone();
        wait_for_socket(&host_if, &self.dir.join("host-wg.log"));
        wait_for_socket(&device_if, &self.dir.join("device-wg.log"));

        // The host's own key first, to learn the port wireguard-go picked.
        must(&["wg", "set", &host_if, "private-key", path_str(&host_key.0)]);
        must(&["ip", "link", "set", &host_if, "up"]);
        self.host_port = host_listen_port(&host_if);

        // Namespace side first (see `start`).
        self.ns_must(&[
            "wg",
            "set",
            &device_if,
            "listen-port",
            &DEVICE_PORT.to_string(),
            "private-key",
            path_str(&device_key.0),
            "peer",
            &host_key.1,
            "allowed-ips",
            &format!("10.77.{s}.1/32"),
            "endpoint",
            &format!("10.78.{s}.1:{}", self.host_port),
            "persistent-keepalive",
            "1",
        ]);
        self.ns_must(&[
            "ip",
            "addr",
            "add",
            &format!("10.77.{s}.2/24"),
            "dev",
            &device_if,
        ]);
        self.ns_must(&["ip", "link", "set", &device_if, "up"]);

        must(&[
            "wg",
            "set",
            &host_if,
            "peer",
            &device_key.1,
            "allowed-ips",
            &format!("10.77.{s}.2/32"),
            "endpoint",
            &format!("10.78.{s}.2:{DEVICE_PORT}"),
            "persistent-keepalive",
            "1",
        ]);
        must(&[
            "ip",
            "addr",
            "add",
            &format!("10.77.{s}.1/24"),
            "dev",
            &host_if,
        ]);

        self.wait_for_handshake();
    }

    /// A command that runs inside the namespace (`ip netns exec NS …`), for the
    /// caller to configure (stdio, env) and spawn — a server such as sshd. Every
    /// process left in the namespace is killed when the lab drops.
    pub fn command_in_ns(&self, cmd: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).args(cmd);
        c.stdin(Stdio::null());
        c
    }

    /// Adds a peer to `host_if` with an allowed IP (`10.77.S.10+k/32`) but no
    /// endpoint and no counterpart: it never handshakes. Returns its public key
    /// and address.
    pub fn add_silent_peer(&self) -> (String, IpAddr) {
        let k = self.silent_peers.fetch_add(1, Ordering::SeqCst);
        assert!(k < 200, "too many silent peers");
        let (_, public) = self.keypair(&format!("silent{k}"));
        let ip = IpAddr::V4(Ipv4Addr::new(10, 77, self.slot, 10 + k));
        must(&[
            "wg",
            "set",
            &self.host_if,
            "peer",
            &public,
            "allowed-ips",
            &format!("{ip}/32"),
        ]);
        (public, ip)
    }

    /// `wg show host_if` (for failure messages).
    pub fn wg_show(&self) -> String {
        let out = run(&["wg", "show", &self.host_if], None, EXEC_TIMEOUT);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ns_must(&self, cmd: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", self.ns.as_str()];
        full.extend_from_slice(cmd);
        must(&full)
    }

    /// A private key file (0600, in the scratch dir) and the base64 public key.
    fn keypair(&self, name: &str) -> (PathBuf, String) {
        let private = must(&["wg", "genkey"]);
        let out = run(&["wg", "pubkey"], Some(private.as_bytes()), EXEC_TIMEOUT);
        assert!(out.status.success(), "wg pubkey failed");
        let public = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let path = self.dir.join(format!("{name}.key"));
        write_private(&path, private.trim());
        (path, public)
    }

    fn spawn_wireguard_go(&self, in_ns: bool) -> Child {
        let (iface, log) = if in_ns {
            (&self.device_if, self.dir.join("device-wg.log"))
        } else {
            (&self.host_if, self.dir.join("host-wg.log"))
        };
        let log = std::fs::File::create(&log).expect("create the wireguard-go log");
        let err = log.try_clone().expect("clone the log handle");
        let mut cmd = if in_ns {
            self.command_in_ns(&["wireguard-go", "-f", iface])
        } else {
            let mut c = Command::new("wireguard-go");
            c.args(["-f", iface]);
            c
        };
        cmd.env("LOG_LEVEL", "error")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start wireguard-go: {e}; install it: {INSTALL}"))
    }

    fn wait_for_handshake(&self) {
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        loop {
            let out = must(&["wg", "show", &self.host_if, "latest-handshakes"]);
            let done = out.lines().any(|l| {
                let mut f = l.split_whitespace();
                f.next() == Some(self.device_public_key.as_str())
                    && f.next().is_some_and(|t| t != "0")
            });
            if done {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "no WireGuard handshake within {HANDSHAKE_TIMEOUT:?}\n{}\nhost log: {}\ndevice log: {}",
                    self.wg_show(),
                    read_log(&self.dir.join("host-wg.log")),
                    read_log(&self.dir.join("device-wg.log")),
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for WgLab {
    /// Best effort and never panics (a panic while unwinding would abort the
    /// test binary and skip the cleanup of other labs).
    fn drop(&mut self) {
        // SIGTERM lets wireguard-go remove its socket and interface.
        for child in [self.device_wg.take(), self.host_wg.take()]
            .into_iter()
            .flatten()
        {
            stop(child);
        }
        if self.ns_created {
            // Whatever the test started in the namespace (sshd, …).
            for pid in ns_pids(&self.ns) {
                let _ = run_quiet(&["kill", "-KILL", &pid.to_string()]);
            }
            let _ = run_quiet(&["ip", "netns", "del", &self.ns]);
        }
        // Deleting one end of the veth deletes both; the wireguard-go tuns go
        // with their processes, but a SIGKILLed one may leave its socket.
        let _ = run_quiet(&["ip", "link", "del", &self.veth_root]);
        let _ = run_quiet(&["ip", "link", "del", &self.host_if]);
        for iface in [&self.host_if, &self.device_if] {
            let _ = std::fs::remove_file(Path::new(UAPI_DIR).join(format!("{iface}.sock")));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(slot_file(self.slot));
    }
}

/// Fails (never skips) with the install command when something is missing.
fn preflight() {
    let mut missing = Vec::new();
    for tool in ["ip", "wg", "wireguard-go"] {
        let found = Command::new(tool)
            .arg(if tool == "ip" { "-V" } else { "--version" })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status_within(CHILD_LIMIT)
            .is_ok();
        if !found {
            missing.push(tool);
        }
    }
    assert!(
        missing.is_empty(),
        "the WireGuard tests need {missing:?}: {INSTALL}"
    );
    assert!(
        Path::new("/dev/net/tun").exists(),
        "the WireGuard tests need /dev/net/tun (wireguard-go creates a tun device): \
         load the tun module or run the container with --device /dev/net/tun"
    );
    let uid = run(&["id", "-u"], None, EXEC_TIMEOUT);
    assert!(
        String::from_utf8_lossy(&uid.stdout).trim() == "0",
        "the WireGuard tests create network namespaces and interfaces: run them as root"
    );
    let _ = std::fs::create_dir_all(UAPI_DIR);
}

fn slot_dir() -> PathBuf {
    std::env::temp_dir().join("fdk-wglab-slots")
}

fn slot_file(slot: u8) -> PathBuf {
    slot_dir().join(format!("slot-{slot}"))
}

/// Reserves a subnet slot with an exclusive lock file holding our pid; skips
/// slots held by a live process or whose subnets are on some interface.
fn reserve_slot(n: u8) -> u8 {
    std::fs::create_dir_all(slot_dir()).expect("create the slot dir");
    let in_use = must(&["ip", "-o", "-4", "addr", "show"]);
    let pid = std::process::id();
    let start = (pid as usize + n as usize * 7) % 250;
    for k in 0..250 {
        let slot = ((start + k) % 250 + 1) as u8;
        if in_use.contains(&format!("10.77.{slot}.")) || in_use.contains(&format!("10.78.{slot}."))
        {
            continue;
        }
        let path = slot_file(slot);
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{pid}");
                    return slot;
                }
                Err(_) => {
                    let owner = std::fs::read_to_string(&path).unwrap_or_default();
                    let alive = owner.trim().parse::<u32>().map(pid_alive).unwrap_or(false);
                    if alive {
                        break;
                    }
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
    panic!("no free WireGuard lab slot in 10.77.1-250.0/24");
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid in one of our names (`fdk-<pid>-<n>`, `fdk<pid>h<n>`), when it is one.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("fdk")?;
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let tail = &rest[digits.len()..];
    let kind_ok = tail.starts_with('-')
        || tail.starts_with('h')
        || tail.starts_with('d')
        || tail.starts_with('v')
        || tail.starts_with('p');
    if digits.is_empty() || !kind_ok {
        return None;
    }
    digits.parse().ok()
}

/// Removes labs left by test processes that died without unwinding (SIGKILL,
/// a harness timeout): only names that carry a pid that no longer exists.
pub fn sweep_stale() {
    let dead = |name: &str| owner_pid(name).is_some_and(|p| !pid_alive(p));
    // wireguard-go's started by a dead test are orphans still holding their tun.
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.flatten() {
            let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<String> = cmdline
                .split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let is_wg = args.first().is_some_and(|a| a.ends_with("wireguard-go"));
            if is_wg && args.iter().skip(1).any(|a| dead(a)) {
                let _ = run_quiet(&["kill", "-KILL", &pid.to_string()]);
            }
        }
    }
    let list = run(&["ip", "netns", "list"], None, EXEC_TIMEOUT);
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        if let Some(ns) = line.split_whitespace().next()
            && dead(ns)
        {
            for pid in ns_pids(ns) {
                let _ = run_quiet(&["kill", "-KILL", &pid.to_string()]);
            }
            let _ = run_quiet(&["ip", "netns", "del", ns]);
        }
    }
    let links = run(&["ip", "-o", "link", "show"], None, EXEC_TIMEOUT);
    for line in String::from_utf8_lossy(&links.stdout).lines() {
        // "12: fdk123v1@if3: <BROADCAST,…"
        let Some(name) = line.split(": ").nth(1) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or(name);
        if dead(name) {
            let _ = run_quiet(&["ip", "link", "del", name]);
        }
    }
    // Scratch dirs (`fdk-wglab-<pid>-<n>`, holding test keys) and slot locks.
    if let Ok(tmp) = std::fs::read_dir(std::env::temp_dir()) {
        for e in tmp.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            if let Some(rest) = file.strip_prefix("fdk-wglab-")
                && dead(&format!("fdk-{rest}"))
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    if let Ok(slots) = std::fs::read_dir(slot_dir()) {
        for e in slots.flatten() {
            let owner = std::fs::read_to_string(e.path()).unwrap_or_default();
            if owner.trim().parse::<u32>().is_ok_and(|p| !pid_alive(p)) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    if let Ok(socks) = std::fs::read_dir(UAPI_DIR) {
        for s in socks.flatten() {
            let file = s.file_name().to_string_lossy().into_owned();
            if let Some(name) = file.strip_suffix(".sock")
                && dead(name)
            {
                let _ = std::fs::remove_file(s.path());
            }
        }
    }
}

fn ns_pids(ns: &str) -> Vec<u32> {
    let out = run(&["ip", "netns", "pids", ns], None, EXEC_TIMEOUT);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// SIGTERM, up to 2 s to exit, then SIGKILL; always reaped.
fn stop(mut child: Child) {
    let _ = run_quiet(&["kill", "-TERM", &child.id().to_string()]);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn wait_for_socket(iface: &str, log: &Path) {
    let sock = Path::new(UAPI_DIR).join(format!("{iface}.sock"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "wireguard-go did not create {} within 10 s: {}",
            sock.display(),
            read_log(log)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn host_listen_port(iface: &str) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = must(&["wg", "show", iface, "listen-port"]);
        if let Ok(port) = out.trim().parse::<u16>()
            && port != 0
        {
            return port;
        }
        assert!(
            Instant::now() < deadline,
            "wireguard-go on {iface} did not pick a listen port: '{out}'"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({e})"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("scratch paths are UTF-8")
}

fn write_private(path: &Path, content: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("write a key file");
    f.write_all(content.as_bytes()).expect("write a key file");
}

/// Runs a command, panicking with its stderr when it fails; returns stdout.
fn must(cmd: &[&str]) -> String {
    let out = run(cmd, None, EXEC_TIMEOUT);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// For cleanup: never panics.
fn run_quiet(cmd: &[&str]) -> Option<Output> {
    run_inner(cmd, None, Duration::from_secs(5)).ok()
}

/// Runs a command with optional stdin, bounded by `timeout` (killed after it);
/// panics with the install hint when it cannot be started.
fn run(cmd: &[&str], input: Option<&[u8]>, timeout: Duration) -> Output {
    run_inner(cmd, input, timeout)
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}; install: {INSTALL}"))
}

fn run_inner(cmd: &[&str], input: Option<&[u8]>, timeout: Duration) -> std::io::Result<Output> {
    let (program, args) = cmd.split_first().expect("a command");
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(bytes)?;
    }
    // Drain both pipes on threads so a chatty command cannot block on a full
    // pipe; collect with a bound, since a daemon it started may keep them open.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        rx
    };
    let out_rx = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err_rx = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let collect = |rx: std::sync::mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default()
    };
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait()?;
            let mut stderr = collect(err_rx);
            stderr.extend_from_slice(format!("\n(killed after {timeout:?})").as_bytes());
            return Ok(Output {
                status,
                stdout: collect(out_rx),
                stderr,
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Output {
        status,
        stdout: collect(out_rx),
        stderr: collect(err_rx),
    })
}
