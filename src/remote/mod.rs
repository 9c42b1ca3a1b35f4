//! Remote access to devices: is the WireGuard tunnel to a device live, and a
//! shell on it over that tunnel.
//!
//! Backend only: nothing here imports ratatui or crossterm. Calls that block
//! (reading the WireGuard interface, connecting) are bounded; the app runs them
//! on worker threads and gets owned results back.
//!
//! - [`wireguard`] reads the fleet's WireGuard interface (kernel or userspace)
//!   and maps every device to its peer: [`wireguard::Tunnel`] per device.
//! - [`known_hosts`] OpenSSH known_hosts: check, hashed entries, accept.
//! - [`ssh`] the SSH client (russh): host keys, agent/identity auth, PTY
//!   sessions, the raw passthrough loop the TUI and `fleetdeck ssh` share.

pub mod known_hosts;
pub mod ssh;
pub mod wireguard;
