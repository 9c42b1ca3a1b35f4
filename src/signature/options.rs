//! `[signing]` and `[registry]` options: owned by the signature module,
//! filled in by `config` (docs/ARCHITECTURE.md, "Module map").

use crate::diag::tame;
use crate::text::echo;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// An expected keyless signer: certificate subject (SAN: e-mail or URI) and
/// OIDC issuer, each exact or a regular expression.
#[derive(Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub subject: Option<String>,
    pub subject_regex: Option<String>,
    pub issuer: Option<String>,
    pub issuer_regex: Option<String>,
}

/// Who may sign releases (`[signing]`). Paths are resolved; files are read by
/// the signature module.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SigningConfig {
    /// PEM public keys (ECDSA P-256) accepted for key-based signatures.
    pub keys: Vec<PathBuf>,
    /// Accepted keyless identities.
    pub identities: Vec<Identity>,
    /// PEM CA certificates that keyless certificates must chain to (e.g. Fulcio's).
    pub roots: Vec<PathBuf>,
    /// PEM public keys of the Rekor transparency logs trusted for bundles.
    pub rekor_keys: Vec<PathBuf>,
    /// A signature without a verified Rekor bundle fails.
    pub require_rekor: bool,
}

impl SigningConfig {
    /// No trust configured: nothing can verify, so promotion refuses (fails closed).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.identities.is_empty()
    }
}

/// Compiles `re` as the signature checks will, and says why not in one line.
pub fn check_regex(re: &str) -> Result<(), String> {
    match regex::Regex::new(re) {
        Ok(_) => Ok(()),
        Err(regex::Error::Syntax(s)) => {
            // The regex crate draws a caret under the pattern on several
            // lines; keep its last line, the reason.
            let why = s.lines().last().unwrap_or("syntax error").trim();
            Err(tame(why.strip_prefix("error: ").unwrap_or(why)))
        }
        Err(e) => Err(tame(&e.to_string().replace('\n', " "))),
    }
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
