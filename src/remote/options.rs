//! `[remote]` options: owned by the remote module, filled in by `config`
//! (docs/ARCHITECTURE.md, "Module map").

use std::path::PathBuf;
use std::time::Duration;

/// Remote access to devices (`[remote]`).
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteConfig {
    /// The fleet's WireGuard interface (e.g. `wg-fleet`).
    pub wireguard_interface: Option<String>,
    /// Label holding a device's tunnel address; default: the host of its scrape target.
    pub address_label: Option<String>,
    pub user: String,
    pub port: u16,
    /// Private keys tried after ssh-agent; default `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`.
    pub identity_files: Vec<PathBuf>,
    /// Default `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    /// Whether `--read-only` still allows shells (read-only is about actions).
    pub allow_shell_read_only: bool,
    /// Allow a shell to a device whose tunnel is not live without asking.
    pub allow_offline_shell: bool,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            wireguard_interface: None,
            address_label: None,
            user: "pi".into(),
            port: 22,
            identity_files: Vec::new(),
            known_hosts: None,
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(15),
            allow_shell_read_only: true,
            allow_offline_shell: false,
        }
    }
}
