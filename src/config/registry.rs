//! `[registry]`: how OCI registries are reached.

use super::Ctx;
use crate::diag::{ConfigError, Dur, echo};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub use crate::signature::options::{RegistryAuth, RegistryConfig, check_host_port};

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
