//! `[source]` and `[labels]`: where metrics come from and which labels
//! name a device, its site and its group.

use super::{Ctx, DEFAULT_CONCURRENCY, DEFAULT_REFRESH, DEFAULT_TIMEOUT};
use crate::diag::{ConfigError, Dur, echo, echo_path};
use crate::metrics::def::MetricDefs;
use crate::metrics::{BasicAuth, LabelNames, PrometheusOptions, ScrapeOptions, SourceConfig};
use crate::text;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum SourceKind {
    Prometheus,
    Scrape,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSource {
    kind: SourceKind,
    url: Option<String>,
    job: Option<String>,
    bearer_token_file: Option<PathBuf>,
    basic_auth: Option<FileBasicAuth>,
    tenant: Option<String>,
    ca_file: Option<PathBuf>,
    inventory: Option<PathBuf>,
    concurrency: Option<usize>,
    recording_rules: Option<bool>,
    timeout: Option<Dur>,
    refresh: Option<Dur>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileBasicAuth {
    username: String,
    password: Option<String>,
    password_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileLabels {
    device: Option<String>,
    site: Option<String>,
    group: Option<String>,
}

/// The label names, each a valid Prometheus label name.
pub(super) fn resolve_labels(file: FileLabels, ctx: &Ctx<'_>) -> Result<LabelNames, ConfigError> {
    let d = LabelNames::default();
    let labels = LabelNames {
        device: file.device.unwrap_or(d.device),
        site: file.site.unwrap_or(d.site),
        group: file.group.unwrap_or(d.group),
    };
    for (k, v) in [
        ("labels.device", &labels.device),
        ("labels.site", &labels.site),
        ("labels.group", &labels.group),
    ] {
        if !crate::metrics::def::is_label_name(v) {
            return Err(ctx.err(
                k,
                format!("'{}' is not a valid Prometheus label name", echo(v)),
                "label names are letters, digits and '_', not starting with a digit",
            ));
        }
    }
    Ok(labels)
}

/// The source's options and its refresh interval; `labels` and `defs` are
/// the resolved `[labels]` and `[metrics]`, which the source carries.
pub(super) fn resolve(
    src: FileSource,
    labels: &LabelNames,
    defs: &MetricDefs,
    ctx: &Ctx<'_>,
) -> Result<(SourceConfig, Duration), ConfigError> {
    let timeout = src.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
    ctx.positive("source.timeout", timeout)?;
    let refresh = src.refresh.map_or(DEFAULT_REFRESH, |d| d.0);
    if refresh < Duration::from_millis(200) {
        return Err(ctx.err(
            "source.refresh",
            "refresh interval shorter than 200ms",
            "use '1s' or more",
        ));
    }
    let source = match src.kind {
        SourceKind::Prometheus => {
            for (k, present) in [
                ("source.inventory", src.inventory.is_some()),
                ("source.concurrency", src.concurrency.is_some()),
            ] {
                if present {
                    return Err(ctx.err(
                        k,
                        "this key belongs to kind = \"scrape\", not \"prometheus\"",
                        "remove it, or set kind = \"scrape\"",
                    ));
                }
            }
            let url = src.url.ok_or_else(|| {
                ctx.err(
                    "source.url",
                    "kind = \"prometheus\" needs a url",
                    "add url = \"http://prometheus:9090\"",
                )
            })?;
            let http = resolve_http(
                HttpKeys {
                    section: "source",
                    url,
                    bearer_token_file: src.bearer_token_file,
                    basic_auth: src.basic_auth,
                    tenant: src.tenant,
                    ca_file: src.ca_file,
                },
                "the base URL of the Prometheus API, e.g. http://127.0.0.1:9090",
                "keep the one your Prometheus expects",
                ctx,
            )?;
            SourceConfig::Prometheus(PrometheusOptions {
                url: http.url,
                job: src.job,
                bearer_token: http.bearer_token,
                basic_auth: http.basic_auth,
                tenant: http.tenant,
                ca_file: http.ca_file,
                timeout,
                labels: labels.clone(),
                defs: defs.clone(),
                recording_rules: src.recording_rules.unwrap_or(false),
            })
        }
        SourceKind::Scrape => {
            for (k, present) in [
                ("source.url", src.url.is_some()),
                ("source.job", src.job.is_some()),
                ("source.bearer_token_file", src.bearer_token_file.is_some()),
                ("source.basic_auth", src.basic_auth.is_some()),
                ("source.tenant", src.tenant.is_some()),
                ("source.ca_file", src.ca_file.is_some()),
                ("source.recording_rules", src.recording_rules.is_some()),
            ] {
                if present {
                    return Err(ctx.err(
                        k,
                        "this key belongs to kind = \"prometheus\", not \"scrape\"",
                        "remove it, or set kind = \"prometheus\"",
                    ));
                }
            }
            let inventory = src.inventory.ok_or_else(|| {
                ctx.err(
                    "source.inventory",
                    "kind = \"scrape\" needs an inventory file",
                    "add inventory = \"inventory.json\" (Prometheus file_sd JSON)",
                )
            })?;
            let concurrency = src.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
            if concurrency == 0 {
                return Err(ctx.err(
                    "source.concurrency",
                    "concurrency 0 would never scrape anything",
                    "use a number like 64",
                ));
            }
            SourceConfig::Scrape(ScrapeOptions {
                inventory: ctx.abs(&inventory),
                timeout,
                concurrency,
                labels: labels.clone(),
                defs: defs.clone(),
            })
        }
    };
    Ok((source, refresh))
}

/// The HTTP client keys `[source]` (kind = "prometheus") and
/// `[alertmanager]` share, as written.
pub(super) struct HttpKeys {
    /// The table, for error keys: `source`, `alertmanager`.
    pub section: &'static str,
    pub url: String,
    pub bearer_token_file: Option<PathBuf>,
    pub basic_auth: Option<FileBasicAuth>,
    pub tenant: Option<String>,
    pub ca_file: Option<PathBuf>,
}

/// [`HttpKeys`] checked and resolved: the URL parses (no trailing `/`), the
/// tenant can be sent as a header, the secret files are read, the CA file
/// exists.
pub(super) struct HttpResolved {
    pub url: String,
    pub bearer_token: Option<String>,
    pub basic_auth: Option<BasicAuth>,
    pub tenant: Option<String>,
    pub ca_file: Option<PathBuf>,
}

/// Checks and resolves the shared HTTP keys of `k.section`. `url_hint` says
/// what the URL is ("the base URL of …, e.g. …"); `both_hint` what to do
/// when a token and basic auth are both set.
pub(super) fn resolve_http(
    k: HttpKeys,
    url_hint: &str,
    both_hint: &str,
    ctx: &Ctx<'_>,
) -> Result<HttpResolved, ConfigError> {
    let key = |name: &str| format!("{}.{name}", k.section);
    let url = k.url;
    let url_key = key("url");
    let url_hint = format!("write {url_hint}");
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ctx.err(
            &url_key,
            format!("'{}' is not an http:// or https:// URL", echo(&url)),
            url_hint,
        ));
    }
    // What the client will parse at start-up, parsed here first.
    match reqwest::Url::parse(url.trim_end_matches('/')) {
        Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => {}
        Ok(_) => {
            return Err(ctx.err(&url_key, format!("'{}' has no host", echo(&url)), url_hint));
        }
        Err(e) => {
            return Err(ctx.err(
                &url_key,
                format!("'{}' is not a URL: {e}", echo(&url)),
                url_hint,
            ));
        }
    }
    if url.chars().any(|c| c.is_whitespace() || text::is_unsafe(c)) {
        return Err(ctx.err(
            &url_key,
            format!("'{}' holds spaces or control characters", echo(&url)),
            "percent-encode them, e.g. %20",
        ));
    }
    if let Some(t) = &k.tenant {
        check_tenant(t).map_err(|why| {
            ctx.err(
                &key("tenant"),
                format!("'{}' {why}", echo(t)),
                "a tenant ID is one line of visible ASCII (sent as the X-Scope-OrgID header), e.g. tenant = \"edge\"",
            )
        })?;
    }
    let bearer_token = match &k.bearer_token_file {
        Some(p) => Some(ctx.read_secret(&key("bearer_token_file"), &ctx.abs(p))?),
        None => None,
    };
    let basic_auth = match &k.basic_auth {
        Some(b) => {
            let password = match (&b.password, &b.password_file) {
                (Some(p), None) => p.clone(),
                (None, Some(f)) => {
                    ctx.read_secret(&key("basic_auth.password_file"), &ctx.abs(f))?
                }
                _ => {
                    return Err(ctx.err(
                        &key("basic_auth"),
                        "give exactly one of password and password_file",
                        "prefer password_file so the secret is not in the config",
                    ));
                }
            };
            Some(BasicAuth {
                username: b.username.clone(),
                password,
            })
        }
        None => None,
    };
    if bearer_token.is_some() && basic_auth.is_some() {
        return Err(ctx.err(
            &key("basic_auth"),
            "both bearer_token_file and basic_auth are set",
            both_hint,
        ));
    }
    let ca_file = k.ca_file.as_ref().map(|p| ctx.abs(p));
    if let Some(ca) = &ca_file
        && !ca.is_file()
    {
        return Err(ctx.err(
            &key("ca_file"),
            format!("'{}' is not a file", echo_path(ca)),
            "give the path of a PEM file with the CA certificate",
        ));
    }
    Ok(HttpResolved {
        url: url.trim_end_matches('/').to_string(),
        bearer_token,
        basic_auth,
        tenant: k.tenant,
        ca_file,
    })
}

/// A tenant ID for the `X-Scope-OrgID` header (Cortex, Mimir, Thanos).
fn check_tenant(t: &str) -> Result<(), &'static str> {
    if t.is_empty() {
        return Err("is empty");
    }
    if t.chars().count() > 150 {
        return Err("is longer than 150 characters");
    }
    if !t.chars().all(|c| c.is_ascii_graphic()) {
        return Err(
            "holds characters a header cannot carry (spaces, line breaks, controls or non-ASCII)",
        );
    }
    Ok(())
}
