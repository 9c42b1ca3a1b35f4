//! WireGuard tunnel status per device.
//!
//! The fleet's interface (`[remote] wireguard_interface`) is read with
//! `wireguard-control`: over netlink when the kernel implements the interface,
//! else over the userspace implementation's UAPI socket
//! (`/var/run/wireguard/NAME.sock`, written by wireguard-go and boringtun).
//!
//! A device's tunnel address (a label, or the host of its scrape target) is
//! matched against every peer's allowed IPs, longest prefix first — the same
//! rule WireGuard uses to route a packet to a peer — so the peer we report is
//! the peer a packet to that device would really take. A peer whose last
//! handshake is older than [`LIVE_WITHIN`] (or that never completed one) is not
//! live: WireGuard re-handshakes at least every 2 minutes while traffic or a
//! keepalive flows, so 180 s without one means nothing is getting through.

use crate::fleet::{DeviceSample, Fleet};
use crate::format;
use crate::remote::RemoteConfig;
use crate::text::sanitize;
use serde::Serialize;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};
use wireguard_control::{Backend, Device, InterfaceName};

/// A handshake older than this means the tunnel is not live (WireGuard rekeys
/// every 120 s on an active tunnel; 180 s leaves room for one lost handshake).
pub const LIVE_WITHIN: Duration = Duration::from_secs(180);

/// How long reading the interface may take before we give up on it: a hung
/// wireguard-go keeps its socket open and would otherwise block us forever.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// Where userspace implementations put their UAPI sockets (`NAME.sock`).
pub const UAPI_DIR: &str = "/var/run/wireguard";

/// One peer of the interface, as the device detail shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeerStatus {
    /// Base64, as `wg show` prints it.
    pub public_key: String,
    /// Where the peer was last seen (`ip:port`); `None` until it has sent a packet
    /// or been configured with one.
    pub endpoint: Option<String>,
    /// `10.8.0.7/32`, …; the addresses routed to this peer.
    pub allowed_ips: Vec<String>,
    #[serde(serialize_with = "ser_time")]
    pub last_handshake: Option<SystemTime>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Persistent keepalive interval in seconds; `None` when off.
    pub keepalive: Option<u16>,
}

/// The tunnel to one device.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Tunnel {
    /// A handshake within [`LIVE_WITHIN`].
    Live {
        peer: PeerStatus,
        handshake_age_secs: u64,
    },
    /// The peer exists but nothing gets through: `"last handshake 7m ago (> 180 s)"`
    /// or `"no handshake yet"`.
    NotLive { peer: PeerStatus, reason: String },
    /// No peer's allowed IPs contain the device's tunnel address.
    NoPeer { address: String },
    /// The device has no tunnel address (no label, or a target that is a hostname).
    NoAddress,
}

impl Tunnel {
    pub fn is_live(&self) -> bool {
        matches!(self, Tunnel::Live { .. })
    }

    /// The peer carrying the device's traffic, when there is one.
    pub fn peer(&self) -> Option<&PeerStatus> {
        match self {
            Tunnel::Live { peer, .. } | Tunnel::NotLive { peer, .. } => Some(peer),
            Tunnel::NoPeer { .. } | Tunnel::NoAddress => None,
        }
    }

    /// The state in words: `live`, `not live`, `no peer`, `no address`.
    pub fn label(&self) -> &'static str {
        match self {
            Tunnel::Live { .. } => "live",
            Tunnel::NotLive { .. } => "not live",
            Tunnel::NoPeer { .. } => "no peer",
            Tunnel::NoAddress => "no address",
        }
    }

    /// A short cell for the devices table: `live 12s`, `down 7m`, `down never`,
    /// `no peer`, `no addr`.
    pub fn cell(&self, now: SystemTime) -> String {
        match self {
            Tunnel::Live {
                handshake_age_secs, ..
            } => format!(
                "live {}",
                format::age(Duration::from_secs(*handshake_age_secs))
            ),
            Tunnel::NotLive { peer, .. } => match peer.last_handshake {
                Some(t) => format!(
                    "down {}",
                    format::age(now.duration_since(t).unwrap_or_default())
                ),
                None => "down never".into(),
            },
            Tunnel::NoPeer { .. } => "no peer".into(),
            Tunnel::NoAddress => "no addr".into(),
        }
    }
}

/// Why the interface could not be read. Each message says what to do. The
/// interface name (config) and the backend's reason are shown sanitised.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("no WireGuard interface '{}': {}", crate::text::echo(.name), safe(.hint))]
    NoInterface { name: String, hint: String },
    #[error(
        "permission denied reading WireGuard interface '{}': run as a user that can read \
         {UAPI_DIR}/{}.sock (userspace WireGuard), or with CAP_NET_ADMIN (kernel WireGuard)",
        crate::text::echo(.name), crate::text::echo(.name)
    )]
    PermissionDenied { name: String },
    #[error(
        "reading WireGuard interface '{}' failed: {}",
        crate::text::echo(.name), safe(.reason)
    )]
    Backend { name: String, reason: String },
    #[error(
        "no WireGuard interface configured: set `wireguard_interface` under [remote] in the config"
    )]
    NotConfigured,
}

/// One field of an error on one line, cut at 1024 characters.
fn safe(v: &str) -> std::borrow::Cow<'_, str> {
    crate::text::sanitize_max(v, 1024)
}

/// The interface as read at `read_at`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InterfaceStatus {
    pub name: String,
    /// `"kernel"` or `"userspace"`: which implementation answered.
    pub backend: &'static str,
    pub peers: Vec<PeerStatus>,
    pub listen_port: Option<u16>,
    #[serde(serialize_with = "ser_time_required")]
    pub read_at: SystemTime,
}

/// The UAPI socket a userspace implementation serves the interface on.
pub fn uapi_socket(name: &str) -> PathBuf {
    PathBuf::from(UAPI_DIR).join(format!("{name}.sock"))
}

/// The WireGuard interfaces on this machine (kernel links and userspace
/// sockets), sorted; for hints when the configured one is missing.
pub fn list_interfaces() -> Vec<String> {
    let mut names: Vec<String> = Device::list(Backend::Kernel)
        .unwrap_or_default()
        .iter()
        .map(|n| n.as_str_lossy().into_owned())
        .collect();
    // `Device::list(Backend::Userspace)` looks for `.name` files, which only
    // exist on macOS: list the sockets ourselves.
    if let Ok(dir) = std::fs::read_dir(UAPI_DIR) {
        for entry in dir.flatten() {
            let file = entry.file_name();
            if let Some(name) = file.to_str().and_then(|f| f.strip_suffix(".sock")) {
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Reads the interface named in `[remote] wireguard_interface`.
pub fn read_configured(remote: &RemoteConfig) -> Result<InterfaceStatus, TunnelError> {
    match &remote.wireguard_interface {
        Some(name) => read_interface(name),
        None => Err(TunnelError::NotConfigured),
    }
}

/// Reads the interface: kernel backend when the kernel has WireGuard, else the
/// userspace UAPI socket /var/run/wireguard/NAME.sock (wireguard-go, boringtun).
/// `Device::list(Backend::Userspace)` returns nothing on Linux — the socket path
/// is checked here.
///
/// Blocking, bounded by [`READ_TIMEOUT`]; the app runs it on a blocking worker.
pub fn read_interface(name: &str) -> Result<InterfaceStatus, TunnelError> {
    let shown = sanitize(name).into_owned();
    let iface: InterfaceName = name.parse().map_err(|e| TunnelError::Backend {
        name: shown.clone(),
        reason: format!("'{shown}' is not a valid interface name: {e}"),
    })?;
    let read_at = SystemTime::now();

    // The kernel lists its own WireGuard links over rtnetlink (no privileges
    // needed); a wireguard-go interface is a plain tun link and is not listed.
    let in_kernel = Device::list(Backend::Kernel)
        .map(|names| names.contains(&iface))
        .unwrap_or(false);
    let backend = if in_kernel {
        Backend::Kernel
    } else {
        match std::fs::symlink_metadata(uapi_socket(name)) {
            Ok(_) => Backend::Userspace,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(TunnelError::PermissionDenied { name: shown });
            }
            Err(_) => return Err(no_interface(&shown, None)),
        }
    };

    let device = bounded(&shown, move || Device::get(&iface, backend))?;
    Ok(InterfaceStatus {
        name: shown,
        backend: if in_kernel { "kernel" } else { "userspace" },
        peers: device.peers.iter().map(peer_status).collect(),
        listen_port: device.listen_port.filter(|&p| p != 0),
        read_at,
    })
}

/// Runs the library call on its own thread and waits at most [`READ_TIMEOUT`]:
/// the userspace backend reads the socket without a timeout, and its parser
/// panics on some malformed answers; neither may take the console down.
fn bounded(
    name: &str,
    read: impl FnOnce() -> io::Result<Device> + Send + 'static,
) -> Result<Device, TunnelError> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("wireguard-read".into())
        .spawn(move || {
            // The receiver may have given up already; nothing to do then.
            let _ = tx.send(read());
        })
        .map_err(|e| TunnelError::Backend {
            name: name.to_string(),
            reason: format!("cannot start a reader thread: {e}"),
        })?;
    match rx.recv_timeout(READ_TIMEOUT) {
        Ok(Ok(device)) => Ok(device),
        Ok(Err(e)) => Err(classify(name, e)),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(TunnelError::Backend {
            name: name.to_string(),
            reason: format!(
                "no answer within {} s: is the WireGuard implementation hung?",
                READ_TIMEOUT.as_secs()
            ),
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(TunnelError::Backend {
            name: name.to_string(),
            reason: "the interface's answer could not be parsed".into(),
        }),
    }
}

fn classify(name: &str, e: io::Error) -> TunnelError {
    match e.kind() {
        io::ErrorKind::PermissionDenied => TunnelError::PermissionDenied {
            name: name.to_string(),
        },
        // The socket file is there but nobody listens: wireguard-go was killed
        // without cleaning up.
        io::ErrorKind::ConnectionRefused => no_interface(
            name,
            Some(format!(
                "{} exists but nothing answers on it: has wireguard-go exited? (`wg show` lists interfaces)",
                uapi_socket(name).display()
            )),
        ),
        io::ErrorKind::NotFound => no_interface(name, None),
        _ if e.raw_os_error() == Some(19) => no_interface(name, None), // ENODEV
        _ => TunnelError::Backend {
            name: name.to_string(),
            reason: e.to_string(),
        },
    }
}

fn no_interface(name: &str, hint: Option<String>) -> TunnelError {
    let hint = hint.unwrap_or_else(|| {
        let others = list_interfaces();
        let mut h = "is wireguard-go running? (`wg show` lists interfaces)".to_string();
        if !others.is_empty() {
            let shown: Vec<String> = others.iter().map(|o| sanitize(o).into_owned()).collect();
            h.push_str(&format!("; found: {}", shown.join(", ")));
        }
        h
    });
    TunnelError::NoInterface {
        name: name.to_string(),
        hint,
    }
}

fn peer_status(p: &wireguard_control::PeerInfo) -> PeerStatus {
    PeerStatus {
        public_key: p.config.public_key.to_base64(),
        endpoint: p.config.endpoint.map(|e| e.to_string()),
        allowed_ips: p
            .config
            .allowed_ips
            .iter()
            .map(|a| format!("{}/{}", a.address, a.cidr))
            .collect(),
        last_handshake: p.stats.last_handshake_time,
        rx_bytes: p.stats.rx_bytes,
        tx_bytes: p.stats.tx_bytes,
        keepalive: p.config.persistent_keepalive_interval.filter(|&k| k != 0),
    }
}

/// The tunnel address of a device: the `address_label` label when one is
/// configured (a device without that label has no tunnel address — its scrape
/// target is then usually a LAN address, which would name the wrong peer), else
/// the host part of its scrape target ("10.8.0.7:9100" → 10.8.0.7; IPv6
/// "[fd00::7]:9100" → fd00::7). `None` when it is not an IP (a hostname).
pub fn device_address(sample: &DeviceSample, address_label: Option<&str>) -> Option<IpAddr> {
    let raw = match address_label {
        Some(label) => sample.labels.get(label)?,
        None => sample.target.as_ref()?,
    };
    parse_host(raw)
}

/// `10.8.0.7`, `10.8.0.7:9100`, `10.8.0.7/32`, `[fd00::7]:9100`, `fd00::7`,
/// `http://10.8.0.7:9100/metrics` → the address; anything else → `None`.
fn parse_host(raw: &str) -> Option<IpAddr> {
    let mut s = raw.trim();
    if let Some((_, rest)) = s.split_once("://") {
        s = rest.split('/').next().unwrap_or(rest);
    }
    let ip = if let Ok(ip) = s.parse::<IpAddr>() {
        ip
    } else if let Ok(sa) = s.parse::<SocketAddr>() {
        sa.ip()
    } else if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        inner.parse().ok()?
    } else if let Some((addr, len)) = s.split_once('/') {
        len.parse::<u8>().ok()?;
        addr.parse().ok()?
    } else {
        return None;
    };
    Some(ip.to_canonical())
}

/// Longest-prefix match of the address against every peer's allowed IPs, then
/// live/not-live by handshake age at `now`.
pub fn tunnel_for(iface: &InterfaceStatus, address: Option<IpAddr>, now: SystemTime) -> Tunnel {
    PeerIndex::new(&iface.peers).tunnel(&iface.peers, address, now)
}

/// Tunnel status of every device of the fleet, in the fleet's order (for the
/// devices table column and `fleetdeck tunnels`). The peers are indexed once
/// by prefix, so each device costs one hash probe per distinct prefix length:
/// 10,000 devices × 10,000 peers takes milliseconds.
pub fn tunnels(
    iface: &InterfaceStatus,
    fleet: &Fleet,
    address_label: Option<&str>,
    now: SystemTime,
) -> Vec<(String, Tunnel)> {
    let index = PeerIndex::new(&iface.peers);
    fleet
        .devices
        .iter()
        .map(|d| {
            let address = device_address(&d.sample, address_label);
            (d.id().to_string(), index.tunnel(&iface.peers, address, now))
        })
        .collect()
}

/// Allowed IPs by prefix length, longest first: `(length, masked network → peer)`.
struct PeerIndex {
    v4: Vec<(u8, HashMap<u32, usize>)>,
    v6: Vec<(u8, HashMap<u128, usize>)>,
}

impl PeerIndex {
    fn new(peers: &[PeerStatus]) -> PeerIndex {
        let mut v4: HashMap<u8, HashMap<u32, usize>> = HashMap::new();
        let mut v6: HashMap<u8, HashMap<u128, usize>> = HashMap::new();
        for (i, peer) in peers.iter().enumerate() {
            for allowed in &peer.allowed_ips {
                // WireGuard gives each prefix to one peer only; on a synthetic
                // duplicate the first peer keeps it.
                match parse_prefix(allowed) {
                    Some((IpAddr::V4(a), len)) => {
                        v4.entry(len).or_default().entry(mask4(a, len)).or_insert(i);
                    }
                    Some((IpAddr::V6(a), len)) => {
                        v6.entry(len).or_default().entry(mask6(a, len)).or_insert(i);
                    }
                    None => {}
                }
            }
        }
        let mut v4: Vec<_> = v4.into_iter().collect();
        let mut v6: Vec<_> = v6.into_iter().collect();
        v4.sort_unstable_by_key(|(len, _)| std::cmp::Reverse(*len));
        v6.sort_unstable_by_key(|(len, _)| std::cmp::Reverse(*len));
        PeerIndex { v4, v6 }
    }

    fn lookup(&self, address: IpAddr) -> Option<usize> {
        match address.to_canonical() {
            IpAddr::V4(a) => self
                .v4
                .iter()
                .find_map(|(len, nets)| nets.get(&mask4(a, *len)).copied()),
            IpAddr::V6(a) => self
                .v6
                .iter()
                .find_map(|(len, nets)| nets.get(&mask6(a, *len)).copied()),
        }
    }

    fn tunnel(&self, peers: &[PeerStatus], address: Option<IpAddr>, now: SystemTime) -> Tunnel {
        let Some(address) = address else {
            return Tunnel::NoAddress;
        };
        match self.lookup(address).and_then(|i| peers.get(i)) {
            Some(peer) => peer_tunnel(peer.clone(), now),
            None => Tunnel::NoPeer {
                address: address.to_string(),
            },
        }
    }
}

fn peer_tunnel(peer: PeerStatus, now: SystemTime) -> Tunnel {
    let Some(at) = peer.last_handshake else {
        return Tunnel::NotLive {
            peer,
            reason: "no handshake yet".into(),
        };
    };
    // A handshake "in the future" (clocks stepped back) counts as just now.
    let age = now.duration_since(at).unwrap_or_default();
    if age <= LIVE_WITHIN {
        Tunnel::Live {
            peer,
            handshake_age_secs: age.as_secs(),
        }
    } else {
        Tunnel::NotLive {
            peer,
            reason: format!(
                "last handshake {} ago (> {} s)",
                format::age(age),
                LIVE_WITHIN.as_secs()
            ),
        }
    }
}

fn parse_prefix(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?),
        None => {
            let a: IpAddr = s.parse().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

fn mask4(a: Ipv4Addr, len: u8) -> u32 {
    let bits = u32::from(a);
    match len {
        0 => 0,
        l if l >= 32 => bits,
        l => bits & (u32::MAX << (32 - l)),
    }
}

fn mask6(a: Ipv6Addr, len: u8) -> u128 {
    let bits = u128::from(a);
    match len {
        0 => 0,
        l if l >= 128 => bits,
        l => bits & (u128::MAX << (128 - l)),
    }
}

/// `fleetdeck tunnels --json`: the interface and one object per device, each
/// with `device` and `state` (`live`, `not_live`, `no_peer`, `no_address`).
pub fn tunnels_json(iface: &InterfaceStatus, rows: &[(String, Tunnel)]) -> serde_json::Value {
    let devices: Vec<serde_json::Value> = rows
        .iter()
        .map(|(id, tunnel)| {
            let mut v = serde_json::to_value(tunnel).unwrap_or_default();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("device".into(), id.as_str().into());
            }
            v
        })
        .collect();
    serde_json::json!({
        "interface": iface.name,
        "backend": iface.backend,
        "listen_port": iface.listen_port,
        "read_at": format::utc(iface.read_at),
        "live_within_secs": LIVE_WITHIN.as_secs(),
        "live": rows.iter().filter(|(_, t)| t.is_live()).count(),
        "devices": devices,
    })
}

/// `fleetdeck tunnels`: one line per device, columns aligned, every string
/// from outside sanitised.
pub fn tunnels_text(iface: &InterfaceStatus, rows: &[(String, Tunnel)]) -> String {
    let live = rows.iter().filter(|(_, t)| t.is_live()).count();
    let mut out = format!(
        "WireGuard interface {} ({}), {} peers; {live}/{} devices live (handshake within {} s)\n",
        sanitize(&iface.name),
        iface.backend,
        iface.peers.len(),
        rows.len(),
        LIVE_WITHIN.as_secs(),
    );
    let header = [
        "DEVICE",
        "TUNNEL",
        "HANDSHAKE",
        "ENDPOINT",
        "RX",
        "TX",
        "PEER",
    ]
    .map(String::from);
    let mut table: Vec<[String; 7]> = vec![header];
    for (id, tunnel) in rows {
        let id = sanitize(id).into_owned();
        let row = match tunnel.peer() {
            Some(peer) => [
                id,
                tunnel.label().to_string(),
                match peer.last_handshake {
                    Some(t) => format!(
                        "{} ago",
                        format::age(iface.read_at.duration_since(t).unwrap_or_default())
                    ),
                    None => "never".into(),
                },
                peer.endpoint
                    .as_deref()
                    .map(|e| sanitize(e).into_owned())
                    .unwrap_or_else(|| "-".into()),
                crate::format::bytes(peer.rx_bytes),
                crate::format::bytes(peer.tx_bytes),
                sanitize(&peer.public_key).into_owned(),
            ],
            None => {
                let why = match tunnel {
                    Tunnel::NoPeer { address } => format!("no peer for {address}"),
                    _ => "no tunnel address".into(),
                };
                [
                    id,
                    tunnel.label().to_string(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    why,
                ]
            }
        };
        table.push(row);
    }
    let mut widths = [0usize; 7];
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(unicode_width::UnicodeWidthStr::width(cell.as_str()));
        }
    }
    for row in &table {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = w - unicode_width::UnicodeWidthStr::width(cell.as_str());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn ser_time<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&format::utc(*t)),
        None => s.serialize_none(),
    }
}

fn ser_time_required<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format::utc(*t))
}
