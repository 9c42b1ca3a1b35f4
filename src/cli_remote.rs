//! Headless `verify`, `tunnels` and `ssh`: thin wrappers over the signature and
//! remote modules, with the same config and data path as the console.

use crate::cli::{Cli, CliError, fail, load_config, refresh_once};
use crate::config::Config;
use crate::fleet::Fleet;
use crate::metrics::Source;
use crate::metrics::SourceConfig;
use crate::remote::{ssh, wireguard};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// `fleetdeck verify REF [--key FILE]... [--json]`: exit 0 only when the policy is satisfied.
pub async fn verify(
    cli: &Cli,
    reference: &str,
    keys: &[PathBuf],
    json: bool,
) -> Result<ExitCode, CliError> {
    let cfg = load_config(cli)?;
    let mut trust =
        crate::signature::Trust::load(&cfg.signing).map_err(|e| fail(e.to_string(), 2))?;
    for k in keys {
        trust
            .add_key_file(k)
            .map_err(|e| fail(format!("--key: {e}"), 2))?;
    }
    let client = crate::signature::registry::RegistryClient::new(&cfg.registry)
        .map_err(|e| fail(e.to_string(), 2))?;
    let report = crate::signature::verify(reference, &trust, &client, SystemTime::now())
        .await
        .map_err(|e| fail(e.to_string(), 1))?;
    if json {
        crate::out::json(&report)?;
    } else {
        crate::out!("{}", crate::signature::report_text(&report));
    }
    Ok(if report.verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One look at the fleet (device addresses come from its labels and targets).
async fn fleet(cfg: &Config) -> Result<Fleet, CliError> {
    if matches!(cfg.source, SourceConfig::Unset) {
        return Err(fail(
            "a metric source is needed to know the devices: add a [source] table",
            2,
        ));
    }
    let mut source = Source::from_config(&cfg.source).map_err(|e| fail(e.to_string(), 2))?;
    // One scrape is enough for identities and addresses.
    let (fleet, _) = refresh_once(cfg, &mut source, Duration::ZERO).await?;
    Ok(fleet)
}

async fn read_interface(cfg: &Config) -> Result<wireguard::InterfaceStatus, CliError> {
    let remote = cfg.remote.clone();
    tokio::task::spawn_blocking(move || wireguard::read_configured(&remote))
        .await
        .map_err(|e| fail(format!("reading the WireGuard interface: {e}"), 1))?
        .map_err(|e| fail(e.to_string(), 1))
}

/// `fleetdeck tunnels [--json]`.
pub async fn tunnels(cli: &Cli, json: bool) -> Result<ExitCode, CliError> {
    let cfg = load_config(cli)?;
    if cfg.remote.wireguard_interface.is_none() {
        return Err(fail(
            "no WireGuard interface configured: set [remote] wireguard_interface",
            2,
        ));
    }
    let iface = read_interface(&cfg).await?;
    let fleet = fleet(&cfg).await?;
    let rows = wireguard::tunnels(
        &iface,
        &fleet,
        cfg.remote.address_label.as_deref(),
        SystemTime::now(),
    );
    if json {
        crate::out::json(&wireguard::tunnels_json(&iface, &rows))?;
    } else {
        crate::out!("{}", wireguard::tunnels_text(&iface, &rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// `fleetdeck ssh DEVICE [-- COMMAND...]`.
pub async fn ssh(cli: &Cli, device: &str, command: &[String]) -> Result<ExitCode, CliError> {
    let cfg = load_config(cli)?;
    if cfg.read_only && !cfg.remote.allow_shell_read_only {
        return Err(fail(
            "read-only mode: shells are disabled ([remote] allow_shell_read_only = false)",
            4,
        ));
    }
    let fleet = fleet(&cfg).await?;
    // The device name is repeated back in messages: cut and made visible.
    let shown = crate::text::echo(device);
    let Some(d) = fleet.device(device) else {
        return Err(fail(
            format!(
                "unknown device '{shown}': not in the fleet of {}",
                crate::text::sanitize(&fleet.source)
            ),
            2,
        ));
    };
    let target = crate::remote::ssh_target(&d.sample, &cfg.remote).map_err(|e| fail(e, 2))?;
    let addr: std::net::IpAddr = target.host.parse().map_err(|_| {
        fail(
            format!("'{}' is not an IP address", crate::text::echo(&target.host)),
            2,
        )
    })?;
    if cfg.remote.wireguard_interface.is_some() {
        let iface = read_interface(&cfg).await?;
        match wireguard::tunnel_for(&iface, Some(addr), SystemTime::now()) {
            wireguard::Tunnel::Live { .. } => {}
            wireguard::Tunnel::NoPeer { address } if !cfg.remote.allow_offline_shell => {
                return Err(fail(
                    format!(
                        "no tunnel to {shown}: no WireGuard peer routes {address}; set [remote] allow_offline_shell = true to try anyway (like the console's y)"
                    ),
                    1,
                ));
            }
            t if !cfg.remote.allow_offline_shell => {
                let why = match &t {
                    wireguard::Tunnel::NotLive { reason, .. } => reason.clone(),
                    other => other.label().to_string(),
                };
                let why = crate::text::sanitize(&why);
                return Err(fail(
                    format!(
                        "the tunnel to {shown} is not live ({why}); set [remote] allow_offline_shell = true to try anyway"
                    ),
                    1,
                ));
            }
            _ => {}
        }
    }
    let opts = ssh::Options::from_config(&cfg.remote);
    if !command.is_empty() {
        let code = ssh::run_command(&target, &opts, command)
            .await
            .map_err(|e| fail(e.to_string(), ssh::EXIT_SSH_FAILED as u8))?;
        return Ok(ExitCode::from(code.clamp(0, 255) as u8));
    }
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    let (resizer, rx) = crate::tui::handover::forward_resizes();
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into());
    let raw = crossterm::terminal::enable_raw_mode().is_ok();
    let end = ssh::run_interactive(&target, &opts, &term, cols, rows, rx).await;
    if raw {
        let _ = crossterm::terminal::disable_raw_mode();
    }
    resizer.abort();
    match end {
        Ok(end) => {
            // Raw mode is off again: a plain line break is enough.
            crate::errln!(
                "\nfleetdeck: session with {shown} ended: {}",
                crate::text::sanitize(&end.reason)
            );
            Ok(ExitCode::from(end.process_code().clamp(0, 255) as u8))
        }
        Err(e) => Err(fail(e.to_string(), ssh::EXIT_SSH_FAILED as u8)),
    }
}
