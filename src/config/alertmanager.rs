//! `[alertmanager]`: where alerts and silences live. Same HTTP keys as
//! `[source]` (URL, bearer token file, basic auth, tenant, CA file).

use super::Ctx;
use super::source::{FileBasicAuth, HttpKeys, resolve_http};
use crate::diag::{ConfigError, Dur, echo};
use crate::metrics::LabelNames;
use crate::text;
use serde::Deserialize;
use std::path::PathBuf;

pub use crate::alerts::AlertmanagerConfig;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAlertmanager {
    url: Option<String>,
    bearer_token_file: Option<PathBuf>,
    basic_auth: Option<FileBasicAuth>,
    tenant: Option<String>,
    ca_file: Option<PathBuf>,
    timeout: Option<Dur>,
    author: Option<String>,
}

/// `None` when the table is absent.
pub(super) fn resolve(
    am: Option<FileAlertmanager>,
    labels: &LabelNames,
    ctx: &Ctx<'_>,
) -> Result<Option<AlertmanagerConfig>, ConfigError> {
    let Some(am) = am else {
        return Ok(None);
    };
    let timeout = am
        .timeout
        .map_or(crate::alerts::options::DEFAULT_TIMEOUT, |d| d.0);
    ctx.positive("alertmanager.timeout", timeout)?;
    let url = am.url.ok_or_else(|| {
        ctx.err(
            "alertmanager",
            "[alertmanager] needs a url",
            "add url = \"http://127.0.0.1:9093\", or remove the table to go without alerts",
        )
    })?;
    if let Some(a) = &am.author
        && (a.trim().is_empty() || a.chars().count() > 200 || a.chars().any(text::is_unsafe))
    {
        return Err(ctx.err(
            "alertmanager.author",
            format!(
                "'{}' is empty, longer than 200 characters or holds control characters",
                echo(a)
            ),
            "who silences are created by, e.g. author = \"alice@example.com\"",
        ));
    }
    let http = resolve_http(
        HttpKeys {
            section: "alertmanager",
            url,
            bearer_token_file: am.bearer_token_file,
            basic_auth: am.basic_auth,
            tenant: am.tenant,
            ca_file: am.ca_file,
        },
        "the base URL of Alertmanager, e.g. http://127.0.0.1:9093",
        "keep the one your Alertmanager (or its proxy) expects",
        ctx,
    )?;
    Ok(Some(AlertmanagerConfig {
        url: http.url,
        bearer_token: http.bearer_token,
        basic_auth: http.basic_auth,
        tenant: http.tenant,
        ca_file: http.ca_file,
        timeout,
        author: am.author.map(|a| a.trim().to_string()),
        labels: labels.clone(),
    }))
}
