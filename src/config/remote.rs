//! `[remote]`: WireGuard tunnels and SSH to devices.

use super::Ctx;
use crate::diag::{ConfigError, Dur};
use serde::Deserialize;
use std::path::PathBuf;

pub use crate::remote::RemoteConfig;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRemote {
    wireguard_interface: Option<String>,
    address_label: Option<String>,
    user: Option<String>,
    port: Option<u16>,
    identity_files: Option<Vec<PathBuf>>,
    known_hosts: Option<PathBuf>,
    connect_timeout: Option<Dur>,
    keepalive: Option<Dur>,
    allow_shell_read_only: Option<bool>,
    allow_offline_shell: Option<bool>,
}

pub(super) fn resolve(rm: &FileRemote, ctx: &Ctx<'_>) -> Result<RemoteConfig, ConfigError> {
    let d = RemoteConfig::default();
    if let Some(t) = rm.connect_timeout {
        ctx.positive("remote.connect_timeout", t.0)?;
    }
    Ok(RemoteConfig {
        wireguard_interface: rm.wireguard_interface.clone(),
        address_label: rm.address_label.clone(),
        user: rm.user.clone().unwrap_or(d.user),
        port: rm.port.unwrap_or(d.port),
        identity_files: rm
            .identity_files
            .as_ref()
            .map(|v| v.iter().map(|p| ctx.abs(p)).collect())
            .unwrap_or_default(),
        known_hosts: rm.known_hosts.as_ref().map(|p| ctx.abs(p)),
        connect_timeout: rm.connect_timeout.map_or(d.connect_timeout, |t| t.0),
        keepalive: rm.keepalive.map_or(d.keepalive, |t| t.0),
        allow_shell_read_only: rm.allow_shell_read_only.unwrap_or(d.allow_shell_read_only),
        allow_offline_shell: rm.allow_offline_shell.unwrap_or(d.allow_offline_shell),
    })
}
