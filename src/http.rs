//! What every HTTP client of a server fleetdeck reads (Prometheus,
//! Alertmanager) shares: one `reqwest::Client` with the deadline, user agent,
//! tenant header and CA bundle, and errors told as their whole chain.

use std::path::Path;
use std::time::Duration;

/// A client with `timeout` on every request and connection, fleetdeck's user
/// agent, `X-Scope-OrgID: tenant` when given and the CA bundle of `ca_file`
/// (read bounded, like `check-config` does). `server` names it in errors
/// ("prometheus", "alertmanager"); an error is `(what, reason)`, for the
/// caller's own setup error.
pub fn client(
    server: &str,
    timeout: Duration,
    tenant: Option<&str>,
    ca_file: Option<&Path>,
) -> Result<reqwest::Client, (String, String)> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(tenant) = tenant {
        let v = reqwest::header::HeaderValue::from_str(tenant).map_err(|_| {
            (
                format!("{server} tenant"),
                format!(
                    "'{}' cannot be sent as an X-Scope-OrgID header",
                    crate::text::echo(tenant)
                ),
            )
        })?;
        headers.insert("X-Scope-OrgID", v);
    }
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("fleetdeck/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers);
    if let Some(path) = ca_file {
        let what = format!("CA file {}", crate::diag::echo_path(path));
        let certs = crate::files::load_ca_bundle(path).map_err(|why| (what, why))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| (format!("{server} HTTP client"), error_chain(&e)))
}

/// `error sending request: connection refused` rather than reqwest's
/// outermost "error sending request for url (…)" alone: the URL is left out,
/// the caller's error names it.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        let text = match text.find(" for url (") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}
