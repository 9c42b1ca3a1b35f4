//! Alertmanager API v2 client: alerts, silences, a new silence, expiring
//! one. Every call has one deadline (`[alertmanager] timeout`, connect to
//! last byte) and a capped body, like the metric sources
//! (docs/ARCHITECTURE.md, "Direct scrape" and "Reads with bounds").

use super::model::{Alert, NewSilence, Silence};
use super::options::AlertmanagerConfig;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::time::Duration;

/// Largest body read from Alertmanager (thousands of alerts with labels and
/// annotations are a few MB).
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// Longest piece of an answer quoted in an error.
const QUOTE_MAX: usize = 200;

/// Why a call failed; every text names the URL and says what happened.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error("cannot reach Alertmanager at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Alertmanager at {url} did not answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("Alertmanager at {url} answered HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    #[error("Alertmanager at {url} sent more than {limit} bytes; refusing to read it")]
    TooLarge { url: String, limit: usize },
    #[error("Alertmanager at {url} sent an answer fleetdeck cannot read: {reason}")]
    BadResponse { url: String, reason: String },
    #[error("{what}: {reason}")]
    Setup { what: String, reason: String },
}

/// A client of one Alertmanager. Cheap to clone.
#[derive(Clone)]
pub struct AlertmanagerClient {
    opts: AlertmanagerConfig,
    client: reqwest::Client,
}

impl AlertmanagerClient {
    pub fn new(opts: AlertmanagerConfig) -> Result<Self, AlertsError> {
        let setup = |what: &str, reason: String| AlertsError::Setup {
            what: what.to_string(),
            reason,
        };
        let client = crate::http::client(
            "alertmanager",
            opts.timeout,
            opts.tenant.as_deref(),
            opts.ca_file.as_deref(),
        )
        .map_err(|(what, why)| setup(&what, why))?;
        Ok(AlertmanagerClient { opts, client })
    }

    pub fn options(&self) -> &AlertmanagerConfig {
        &self.opts
    }

    pub fn url(&self) -> &str {
        &self.opts.url
    }

    /// Every alert: active, silenced and inhibited.
    pub async fn alerts(&self) -> Result<Vec<Alert>, AlertsError> {
        let (url, body) = self
            .call(
                reqwest::Method::GET,
                "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true",
                None,
            )
            .await?;
        decode(&url, &body)
    }

    /// Every silence Alertmanager still keeps (active, pending, expired).
    pub async fn silences(&self) -> Result<Vec<Silence>, AlertsError> {
        let (url, body) = self
            .call(reqwest::Method::GET, "/api/v2/silences", None)
            .await?;
        decode(&url, &body)
    }

    /// Creates a silence; returns its id.
    pub async fn create_silence(&self, s: &NewSilence) -> Result<String, AlertsError> {
        let payload = serde_json::to_vec(s).map_err(|e| AlertsError::Setup {
            what: "silence".into(),
            reason: e.to_string(),
        })?;
        let (url, body) = self
            .call(reqwest::Method::POST, "/api/v2/silences", Some(payload))
            .await?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Created {
            #[serde(rename = "silenceID")]
            silence_id: String,
        }
        let c: Created = decode(&url, &body)?;
        Ok(c.silence_id)
    }

    /// Expires silence `id`.
    pub async fn expire_silence(&self, id: &str) -> Result<(), AlertsError> {
        // Path segment: ids are UUIDs; anything else is percent-encoded.
        let seg: String = id
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'-' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        self.call(
            reqwest::Method::DELETE,
            &format!("/api/v2/silence/{seg}"),
            None,
        )
        .await?;
        Ok(())
    }

    /// One request under the deadline; the body read up to [`MAX_BODY`].
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        json: Option<Vec<u8>>,
    ) -> Result<(String, Bytes), AlertsError> {
        let url = format!("{}{path}", self.opts.url);
        let timeout = self.opts.timeout;
        // reqwest's timeout covers the exchange; this one guards a body that
        // trickles forever.
        match tokio::time::timeout(timeout, self.call_inner(method, &url, json)).await {
            Ok(r) => r.map(|b| (url, b)),
            Err(_) => Err(AlertsError::Timeout {
                url: self.opts.url.clone(),
                timeout,
            }),
        }
    }

    async fn call_inner(
        &self,
        method: reqwest::Method,
        url: &str,
        json: Option<Vec<u8>>,
    ) -> Result<Bytes, AlertsError> {
        let mut req = self.client.request(method, url);
        if let Some(body) = json {
            req = req.header("content-type", "application/json").body(body);
        }
        if let Some(token) = &self.opts.bearer_token {
            req = req.bearer_auth(token);
        }
        if let Some(auth) = &self.opts.basic_auth {
            req = req.basic_auth(&auth.username, Some(&auth.password));
        }
        let resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status();
        let too_large = || AlertsError::TooLarge {
            url: self.opts.url.clone(),
            limit: MAX_BODY,
        };
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.transport(&e))?;
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let body = body.freeze();
        if !status.is_success() {
            return Err(AlertsError::Http {
                url: url.to_string(),
                status: status.as_u16(),
                body: quote(&body),
            });
        }
        Ok(body)
    }

    fn transport(&self, e: &reqwest::Error) -> AlertsError {
        let url = self.opts.url.clone();
        if e.is_timeout() {
            AlertsError::Timeout {
                url,
                timeout: self.opts.timeout,
            }
        } else if e.is_body() || e.is_decode() {
            AlertsError::BadResponse {
                url,
                reason: format!("the body broke off: {}", crate::http::error_chain(e)),
            }
        } else {
            AlertsError::Unreachable {
                url,
                reason: crate::http::error_chain(e),
            }
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, AlertsError> {
    serde_json::from_slice(body).map_err(|e| AlertsError::BadResponse {
        url: url.to_string(),
        reason: format!("{e}; the answer began: {}", quote(body)),
    })
}

/// The first [`QUOTE_MAX`] characters of a body, for an error.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(QUOTE_MAX * 4)]);
    let t = text.trim();
    let cut = match t.char_indices().nth(QUOTE_MAX) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    };
    if cut.is_empty() {
        "(empty body)".into()
    } else {
        cut
    }
}
