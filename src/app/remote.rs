//! The remote-access side of the app: per-device WireGuard tunnel status (as
//! the tunnel worker last read it), whether `s` may open a shell, and the
//! two questions a shell can raise — "the tunnel is not live, open anyway?"
//! and "unknown host key, accept and record it?". Pure, like the rest of the
//! app: the interface is read by a worker ([`crate::runtime::tunnels`]) and the
//! shell is an [`Effect`] carried out by the terminal loop.

use super::{App, Effect, Level, Mode, ViewKind};
use crate::format;
use crate::remote::wireguard::{LIVE_WITHIN, Tunnel};
use crate::tui::keymap::{Key, KeyCode};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// One read of the fleet's WireGuard interface, matched to the fleet's devices
/// (by the worker, off the UI thread).
#[derive(Debug, Clone, PartialEq)]
pub struct TunnelReading {
    /// The interface's name (sanitised).
    pub interface: String,
    pub read_at: SystemTime,
    /// Tunnel of each device, by device id: one hash probe per drawn row.
    pub tunnels: HashMap<String, Tunnel>,
}

/// What the app knows about tunnels.
#[derive(Debug, Clone, Default)]
pub struct TunnelState {
    /// `[remote] wireguard_interface`; `None`: no column figures, no shell check.
    pub interface: Option<String>,
    /// `[remote] allow_offline_shell`: open shells to not-live devices without asking.
    pub allow_offline_shell: bool,
    /// The last good reading; dropped when a read fails (the interface may be gone).
    pub reading: Option<TunnelReading>,
    /// Why the last read failed (missing interface, permission denied…).
    pub error: Option<String>,
}

/// A device's tunnel as the views see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TunnelView<'a> {
    /// No interface configured.
    NotConfigured,
    /// Configured, but nothing read yet.
    Pending,
    /// The last read failed (see [`TunnelState::error`]).
    Failed,
    /// The device is not in the last reading (it appeared since).
    Unlisted,
    Known(&'a Tunnel),
}

impl TunnelState {
    pub fn configured(&self) -> bool {
        self.interface.is_some()
    }

    pub fn of(&self, device: &str) -> TunnelView<'_> {
        if self.interface.is_none() {
            return TunnelView::NotConfigured;
        }
        match &self.reading {
            Some(r) => r
                .tunnels
                .get(device)
                .map_or(TunnelView::Unlisted, TunnelView::Known),
            None if self.error.is_some() => TunnelView::Failed,
            None => TunnelView::Pending,
        }
    }

    /// The devices-table cell: `live 12s`, `stale 5m`, `not live` (never a
    /// handshake), `no peer`, `no addr`, `—` (no interface configured), `?`
    /// (read failed), `…` (not read yet).
    pub fn cell(&self, device: &str, now: SystemTime) -> String {
        match self.of(device) {
            TunnelView::NotConfigured => "—".into(),
            TunnelView::Pending | TunnelView::Unlisted => "…".into(),
            TunnelView::Failed => "?".into(),
            TunnelView::Known(t) => match t {
                Tunnel::Live { .. } | Tunnel::NotLive { .. } => match handshake_age(t, now) {
                    Some(age) if age <= LIVE_WITHIN => format!("live {}", format::age(age)),
                    Some(age) => format!("stale {}", format::age(age)),
                    None => "not live".into(),
                },
                Tunnel::NoPeer { .. } => "no peer".into(),
                Tunnel::NoAddress => "no addr".into(),
            },
        }
    }

    /// Whether the cell reads as live (for its colour).
    pub fn is_live(&self, device: &str, now: SystemTime) -> Option<bool> {
        match self.of(device) {
            TunnelView::Known(t) => Some(live_at(t, now)),
            _ => None,
        }
    }

    /// Sort key of the TUNNEL column, worse is greater: live (youngest
    /// handshake first) < no address < no peer < not live (oldest handshake
    /// last, never last of all). `None` (nothing known) sinks to the end.
    pub fn sort_key(&self, device: &str, now: SystemTime) -> Option<(u8, u64)> {
        let TunnelView::Known(t) = self.of(device) else {
            return None;
        };
        Some(match t {
            Tunnel::NoAddress => (1, 0),
            Tunnel::NoPeer { .. } => (2, 0),
            Tunnel::Live { .. } | Tunnel::NotLive { .. } => match handshake_age(t, now) {
                Some(age) if age <= LIVE_WITHIN => (0, age.as_secs()),
                Some(age) => (3, age.as_secs()),
                None => (3, u64::MAX),
            },
        })
    }

    /// Why a shell should not simply open: the tunnel is known not to be live.
    /// `None` when it is live or when nothing is known (no interface
    /// configured, not read yet, read failed, no tunnel address — the
    /// connection attempt then says what is wrong).
    pub fn not_live_reason(&self, device: &str, now: SystemTime) -> Option<String> {
        let TunnelView::Known(t) = self.of(device) else {
            return None;
        };
        match t {
            Tunnel::NoAddress => None,
            Tunnel::NoPeer { address } => Some(format!(
                "tunnel not live (no WireGuard peer routes {address})"
            )),
            Tunnel::Live { .. } | Tunnel::NotLive { .. } => match handshake_age(t, now) {
                Some(age) if age <= LIVE_WITHIN => None,
                Some(age) => Some(format!(
                    "tunnel not live (last handshake {} ago)",
                    format::age(age)
                )),
                None => Some("tunnel not live (no handshake yet)".into()),
            },
        }
    }
}

/// Age of the peer's last handshake at `now` (not at read time: the age keeps
/// growing between reads, and a live tunnel can go stale between two reads).
fn handshake_age(t: &Tunnel, now: SystemTime) -> Option<Duration> {
    let at = t.peer()?.last_handshake?;
    Some(now.duration_since(at).unwrap_or_default())
}

fn live_at(t: &Tunnel, now: SystemTime) -> bool {
    t.peer().is_some() && handshake_age(t, now).is_some_and(|a| a <= LIVE_WITHIN)
}

/// Why the SSH session could not start because of the server's host key.
#[derive(Debug, Clone, PartialEq)]
pub enum HostKeyProblem {
    /// Not in known_hosts: may be accepted (then recorded).
    Unknown {
        /// `HOST:PORT` connected to.
        addr: String,
        fingerprint: String,
    },
    /// known_hosts has another key for this host: refused, never accepted here.
    Changed {
        addr: String,
        old: String,
        new: String,
        /// `path:line` of the old entry.
        known_hosts_line: String,
    },
}

impl HostKeyProblem {
    /// The host-key refusal an operator can act on, from a connection error
    /// to `addr` (`HOST:PORT`); `None` for every other error.
    pub fn from_ssh_error(addr: &str, e: &crate::remote::ssh::SshError) -> Option<HostKeyProblem> {
        use crate::remote::ssh::SshError;
        match e {
            SshError::HostKeyUnknown { fingerprint, .. } => Some(HostKeyProblem::Unknown {
                addr: addr.to_string(),
                fingerprint: fingerprint.clone(),
            }),
            SshError::HostKeyChanged {
                old,
                new,
                known_hosts_line,
                ..
            } => Some(HostKeyProblem::Changed {
                addr: addr.to_string(),
                old: old.clone(),
                new: new.clone(),
                known_hosts_line: known_hosts_line.clone(),
            }),
            _ => None,
        }
    }
}

/// A yes/no question about a shell, or a warning to acknowledge.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub device: String,
    pub kind: AskKind,
    /// One line for the status line (the whole question).
    pub question: String,
    /// The dialog's body, when the question deserves one (host keys).
    pub detail: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AskKind {
    /// `y` opens the shell although the tunnel is not live.
    OfflineShell,
    /// `y` reconnects accepting exactly this key (recorded in known_hosts).
    AcceptHostKey { fingerprint: String },
    /// A changed host key: nothing to accept; any key closes the warning.
    HostKeyChanged,
}

impl App {
    /// `s` on a device that may have a shell (read-only already checked).
    pub(crate) fn request_shell(&mut self, device: String) -> Vec<Effect> {
        let Some(reason) = self.tunnels.not_live_reason(&device, self.now) else {
            return vec![Effect::Shell { device }];
        };
        if self.tunnels.allow_offline_shell {
            self.set_flash(
                format!("{device}: {reason}; trying anyway ([remote] allow_offline_shell)"),
                Level::Info,
            );
            return vec![Effect::Shell { device }];
        }
        self.set_flash(format!("{device}: {reason}"), Level::Error);
        self.mode = Mode::Ask(Box::new(Ask {
            question: format!("{device}: {reason} — open a shell anyway? y/N"),
            device,
            kind: AskKind::OfflineShell,
            detail: Vec::new(),
        }));
        Vec::new()
    }

    pub(crate) fn on_tunnels(&mut self, result: Result<TunnelReading, String>) {
        match result {
            Ok(reading) => {
                if self.tunnels.error.take().is_some() {
                    self.set_flash(
                        format!("WireGuard interface {} readable again", reading.interface),
                        Level::Info,
                    );
                }
                self.tunnels.reading = Some(reading);
            }
            Err(e) => {
                // Once per distinct error, not every few seconds.
                if self.tunnels.error.as_ref() != Some(&e) {
                    self.set_flash(format!("tunnel status: {e}"), Level::Error);
                }
                self.tunnels.error = Some(e);
                self.tunnels.reading = None;
            }
        }
        let sorted_by_tunnel = matches!(self.screen().kind, ViewKind::Devices(_))
            && super::DeviceCol::ALL.get(self.screen().sort.column)
                == Some(&super::DeviceCol::Tunnel);
        if sorted_by_tunnel {
            self.rebuild_rows_keep_selection();
        }
    }

    pub(crate) fn on_host_key(&mut self, device: String, problem: HostKeyProblem) {
        let ask = match problem {
            HostKeyProblem::Unknown { addr, fingerprint } => Ask {
                question: format!(
                    "unknown host key for {device} ({addr}) {fingerprint} — accept and record in known_hosts? y/N"
                ),
                detail: vec![
                    format!("The host key of {device} ({addr}) is not in known_hosts."),
                    String::new(),
                    format!("  {fingerprint}"),
                    String::new(),
                    "Compare it with the device's own key (ssh-keygen -lf".into(),
                    "/etc/ssh/ssh_host_ed25519_key.pub on the device).".into(),
                    String::new(),
                    "y  accept, record in known_hosts and connect".into(),
                    "n  cancel".into(),
                ],
                kind: AskKind::AcceptHostKey { fingerprint },
                device,
            },
            HostKeyProblem::Changed {
                addr,
                old,
                new,
                known_hosts_line,
            } => Ask {
                question: format!(
                    "WARNING: host key of {device} ({addr}) CHANGED — refused (old {old}, new {new})"
                ),
                detail: vec![
                    format!("WARNING: the host key of {device} ({addr}) has CHANGED."),
                    "The connection was refused: the device may have been".into(),
                    "reinstalled, or someone is intercepting the connection.".into(),
                    String::new(),
                    format!("  old {old}"),
                    format!("      ({known_hosts_line})"),
                    format!("  new {new}"),
                    String::new(),
                    "If the change is expected, remove the old entry".into(),
                    "from known_hosts and connect again.".into(),
                    String::new(),
                    "any key closes".into(),
                ],
                kind: AskKind::HostKeyChanged,
                device,
            },
        };
        let level = Level::Error;
        self.set_flash(ask.question.clone(), level);
        self.mode = Mode::Ask(Box::new(ask));
    }

    pub(crate) fn on_ask_key(&mut self, ask: Ask, key: Key) -> Vec<Effect> {
        self.mode = Mode::Normal;
        let yes = matches!(key.code, KeyCode::Char('y' | 'Y')) && !key.ctrl && !key.alt;
        match ask.kind {
            AskKind::HostKeyChanged => {
                self.set_flash(
                    format!("{}: host key changed, connection refused", ask.device),
                    Level::Error,
                );
                Vec::new()
            }
            _ if !yes => {
                self.set_flash(format!("{}: no shell opened", ask.device), Level::Info);
                Vec::new()
            }
            AskKind::OfflineShell => vec![Effect::Shell { device: ask.device }],
            AskKind::AcceptHostKey { fingerprint } => vec![Effect::ShellAcceptKey {
                device: ask.device,
                fingerprint,
            }],
        }
    }
}

/// Sorts device rows by their tunnel, worst first when `descending`; devices
/// with nothing known sink to the end either way; ties keep id order. One
/// hash probe per row (keys computed once), not per comparison.
pub(crate) fn sort_by_tunnel(
    rows: &mut Vec<usize>,
    devices: &[crate::fleet::Device],
    tunnels: &TunnelState,
    now: SystemTime,
    descending: bool,
) {
    let mut keyed: Vec<(Option<(u8, u64)>, usize)> = rows
        .iter()
        .map(|&i| (tunnels.sort_key(devices[i].id(), now), i))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| match (a, b) {
        (Some(a), Some(b)) if descending => b.cmp(a),
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    rows.clear();
    rows.extend(keyed.into_iter().map(|(_, i)| i));
}
