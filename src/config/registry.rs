//! `[registry]`: how OCI registries are reached.

use super::Ctx;
use crate::diag::{ConfigError, Dur, echo};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRegistry {
    #[serde(default)]
    insecure: Vec<String>,
    ca_file: Option<PathBuf>,
    timeout: Option<Dur>,
    #[serde(default)]
    auth: BTreeMap<String, FileRegistryAuth>,
    #[serde(default)]
    mirrors: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRegistryAuth {
    username: Option<String>,
    password_file: Option<PathBuf>,
    token_file: Option<PathBuf>,
}

/// Credentials for one registry host.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RegistryAuth {
    pub username: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
}

/// How to reach OCI registries (`[registry]`).
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryConfig {
    /// `host:port` entries reached over plain HTTP (loopback test registries).
    pub insecure: Vec<String>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    /// Credentials per `host[:port]`.
    pub auth: BTreeMap<String, RegistryAuth>,
    /// Registry as written in references → `host[:port]` actually fetched
    /// from. Reports keep the reference as written; the mirror needs its own
    /// `insecure` entry for plain HTTP and its own `auth` entry.
    pub mirrors: BTreeMap<String, String>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure: Vec::new(),
            ca_file: None,
            timeout: Duration::from_secs(10),
            auth: BTreeMap::new(),
            mirrors: BTreeMap::new(),
        }
    }
}

/// `host`, `host:port` or `[v6]:port`: what a registry or mirror is named by
/// (no scheme, no path, no credentials).
pub fn check_host_port(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.contains("://") {
        return Err(
            "has a scheme: write host[:port] (plain HTTP is chosen by [registry] insecure)".into(),
        );
    }
    if s.contains('/') || s.contains('@') || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("is not host[:port] (no path, no credentials, no spaces)".into());
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| "has '[' without ']'".to_string())?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("'[{}]' is not an IPv6 address", echo(v6)));
        }
        match after {
            "" => (v6, None),
            p => (
                v6,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| "has text after ']' that is not :port".to_string())?,
                ),
            ),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if !s.starts_with('[')
        && (host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)))
    {
        return Err(format!("'{}' is not a host name or address", echo(host)));
    }
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |n| n == 0)
    {
        return Err(format!("port '{}' is not 1-65535", echo(p)));
    }
    Ok(())
}

pub(super) fn resolve(rg: &FileRegistry, ctx: &Ctx<'_>) -> Result<RegistryConfig, ConfigError> {
    let mut registry = RegistryConfig {
        insecure: rg.insecure.clone(),
        ca_file: rg.ca_file.as_ref().map(|p| ctx.abs(p)),
        ..RegistryConfig::default()
    };
    if let Some(t) = rg.timeout {
        ctx.positive("registry.timeout", t.0)?;
        registry.timeout = t.0;
    }
    for (from, to) in &rg.mirrors {
        let key = format!("registry.mirrors.\"{from}\"");
        let hint = "e.g. mirrors = { \"registry.local\" = \"127.0.0.1:5000\" }; list the mirror in insecure for plain HTTP";
        check_host_port(from)
            .map_err(|why| ctx.err(&key, format!("registry '{}' {why}", echo(from)), hint))?;
        check_host_port(to)
            .map_err(|why| ctx.err(&key, format!("mirror '{}' {why}", echo(to)), hint))?;
        if from == to {
            return Err(ctx.err(
                &key,
                format!("'{}' is mirrored to itself", echo(from)),
                hint,
            ));
        }
    }
    registry.mirrors = rg.mirrors.clone();
    for (host, a) in &rg.auth {
        let key = format!("registry.auth.{host}");
        let password = match &a.password_file {
            Some(p) => Some(ctx.read_secret(&format!("{key}.password_file"), &ctx.abs(p))?),
            None => None,
        };
        let token = match &a.token_file {
            Some(p) => Some(ctx.read_secret(&format!("{key}.token_file"), &ctx.abs(p))?),
            None => None,
        };
        registry.auth.insert(
            host.clone(),
            RegistryAuth {
                username: a.username.clone(),
                password,
                token,
            },
        );
    }
    Ok(registry)
}
