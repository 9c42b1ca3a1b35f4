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
mod options;
pub mod ssh;
pub mod wireguard;

pub use options::RemoteConfig;

/// Where to reach a device by SSH: its tunnel address (the `address_label`
/// label, else the host of its scrape target) with the configured user and port.
pub fn ssh_target(
    sample: &crate::fleet::DeviceSample,
    remote: &crate::remote::RemoteConfig,
) -> Result<ssh::Target, String> {
    let addr = wireguard::device_address(sample, remote.address_label.as_deref()).ok_or_else(|| {
        format!(
            "no tunnel address for {}: set [remote] address_label, or give the device an IP scrape target",
            crate::text::sanitize(&sample.id)
        )
    })?;
    Ok(ssh::Target {
        device: sample.id.clone(),
        host: addr.to_string(),
        port: remote.port,
        user: remote.user.clone(),
    })
}
