//! Remote access to devices: is the WireGuard tunnel to a device live, and (in
//! `ssh`) a shell on it over that tunnel.
//!
//! Backend only: nothing here imports ratatui or crossterm. Calls that block
//! (reading the WireGuard interface, connecting) are bounded; the app runs them
//! on worker threads and gets owned results back.
//!
//! - [`wireguard`] reads the fleet's WireGuard interface (kernel or userspace)
//!   and maps every device to its peer: [`wireguard::Tunnel`] per device.

pub mod wireguard;
