//! The Prometheus HTTP API source (Prometheus, Thanos, Cortex, Mimir).
//!
//! One refresh is a fixed set of instant queries — the `up` inventory, one query
//! per figure, the running release and the agent state — sent concurrently and
//! evaluated at the same `time`, so the numbers on screen belong together and
//! the number of requests never grows with the fleet. The per-device math is in
//! [`super::promql`].

use super::def::Figure;
use super::promql;
use super::{DeviceHistory, HistoryRange, MAX_BODY, Point, PrometheusOptions, SourceError};
use crate::fleet::{DeviceSample, Figures, Reach, Release, Snapshot};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::future::join_all;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A series' labels as returned by a query.
pub type Labels = BTreeMap<String, String>;

/// A decoded answer and the warnings Prometheus attached to it.
type Parsed<T> = (T, Vec<String>);

/// Longest piece of a response body quoted in an error message.
const QUOTE_MAX: usize = 200;

/// A client of one Prometheus-compatible API. Cheap to clone (the HTTP client
/// and its connection pool are shared), so a history request can run while a
/// refresh does.
#[derive(Clone)]
pub struct PrometheusSource {
    /// Shared by clones: the options never change after `new`.
    inner: Arc<Shared>,
    /// Query figures from the recording rules of [`promql::recording_rules`].
    use_recording_rules: bool,
    /// What went wrong in the last refresh without failing it (a figure's query
    /// rejected, Prometheus warnings), for the UI's status line.
    warnings: Vec<String>,
}

struct Shared {
    opts: PrometheusOptions,
    /// Built once: connection pool, TLS roots, timeout, user agent, tenant header.
    client: reqwest::Client,
    /// `<url>/api/v1/query`, precomputed.
    query_url: String,
    /// `<url>/api/v1/query_range`, precomputed.
    range_url: String,
}

impl PrometheusSource {
    pub fn new(opts: PrometheusOptions) -> Result<Self, SourceError> {
        let setup = |what: &str, reason: String| SourceError::Setup {
            what: what.to_string(),
            reason,
        };
        let base = opts.url.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| setup("prometheus url", format!("'{}': {e}", opts.url)))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(setup(
                "prometheus url",
                format!("'{}': the scheme must be http or https", opts.url),
            ));
        }
        let client = crate::http::client(
            "prometheus",
            opts.timeout,
            opts.tenant.as_deref(),
            opts.ca_file.as_deref(),
        )
        .map_err(|(what, why)| setup(&what, why))?;
        let use_recording_rules = opts.recording_rules;
        Ok(PrometheusSource {
            inner: Arc::new(Shared {
                query_url: format!("{base}/api/v1/query"),
                range_url: format!("{base}/api/v1/query_range"),
                opts,
                client,
            }),
            use_recording_rules,
            warnings: Vec::new(),
        })
    }

    /// Read figures from the series recorded by [`promql::recording_rules`]
    /// (`fleetdeck:<figure>:by_device`) instead of computing them per refresh.
    /// The rules must be loaded in Prometheus; figures without a recorded series
    /// are n/a.
    pub fn with_recording_rules(mut self, on: bool) -> Self {
        self.use_recording_rules = on;
        self
    }

    /// Problems of the last [`refresh`](Self::refresh) that did not fail it: a
    /// figure whose query Prometheus rejected (that figure is n/a for every
    /// device), series without the device label, warnings Prometheus attached
    /// to its answers. Empty when all went well; replaced by every refresh.
    pub fn last_warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn describe(&self) -> String {
        format!("prometheus {}", self.inner.opts.url)
    }

    /// The query a figure uses in this configuration, with `extra` matchers.
    pub fn figure_query(&self, figure: Figure, extra: &[(&str, &str)]) -> String {
        if self.use_recording_rules {
            return promql::recorded_query(figure, extra);
        }
        let def = self.inner.opts.defs.get(figure);
        promql::figure_query(
            def,
            self.inner.opts.job.as_deref(),
            &self.inner.opts.labels,
            extra,
        )
    }

    /// One instant query (`/api/v1/query`) evaluated at `at` (default: now).
    /// Vector results give one entry per series; a scalar gives one entry with
    /// no labels.
    pub async fn query(
        &self,
        promql: &str,
        at: Option<SystemTime>,
    ) -> Result<Vec<(Labels, f64)>, SourceError> {
        let body = self.instant_body(promql, at).await?;
        let (samples, _) = self.parse_instant(promql, &body)?;
        Ok(samples
            .into_iter()
            .map(|(m, v)| (owned_labels(m), v))
            .collect())
    }

    /// One range query (`/api/v1/query_range`). Points are (unix seconds, value).
    pub async fn query_range(
        &self,
        promql: &str,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Result<Vec<(Labels, Vec<Point>)>, SourceError> {
        let (series, _) = self.range_inner(promql, start, end, step).await?;
        Ok(series)
    }

    /// Every device of the `up` inventory with every figure, its release and
    /// its agent state. Fails only when the inventory cannot be read; a failed
    /// figure query makes that figure n/a and is reported by
    /// [`last_warnings`](Self::last_warnings).
    pub async fn refresh(&mut self) -> Result<Snapshot, SourceError> {
        // A failed refresh reports its error; stale warnings would only confuse.
        self.warnings.clear();
        let at = SystemTime::now();
        let job = self.inner.opts.job.as_deref();
        let labels = &self.inner.opts.labels;
        let figure_queries: Vec<String> = Figure::ALL
            .iter()
            .map(|&f| self.figure_query(f, &[]))
            .collect();
        let inventory_q = promql::inventory_query(job);
        let release_q = promql::release_query(&self.inner.opts.defs, job, labels);
        let agent_q = promql::agent_state_query(&self.inner.opts.defs, job, labels);

        let this = &*self;
        let inventory = this.instant_body(&inventory_q, Some(at));
        let figures = join_all(
            figure_queries
                .iter()
                .map(|q| this.instant_body(q, Some(at))),
        );
        let release = this.instant_body(&release_q, Some(at));
        let agent = this.instant_body(&agent_q, Some(at));
        let (inventory, figures, release, agent) = tokio::join!(inventory, figures, release, agent);

        let mut warnings = Vec::new();
        let inventory = inventory?;
        let (up, w) = self.parse_instant(&inventory_q, &inventory)?;
        warnings.extend(w);
        let mut asm = Assembly::new(&self.inner.opts.labels, up);

        for ((figure, q), body) in Figure::ALL.iter().zip(&figure_queries).zip(figures) {
            let parsed = body.and_then(|b| {
                let (samples, w) = self.parse_instant(q, &b)?;
                warnings.extend(w);
                Ok(asm.set_figure(*figure, samples))
            });
            match parsed {
                Ok(0) => {}
                Ok(n) => warnings.push(format!(
                    "{}: {n} series without the '{}' label were ignored",
                    figure.label(),
                    self.inner.opts.labels.device
                )),
                Err(e) => warnings.push(format!("{}: {e}", figure.label())),
            }
        }
        match release.and_then(|b| {
            let (s, w) = self.parse_instant(&release_q, &b)?;
            warnings.extend(w);
            asm.set_releases(s);
            Ok(())
        }) {
            Ok(()) => {}
            Err(e) => warnings.push(format!("running release: {e}")),
        }
        let state_label = self.inner.opts.defs.agent_state_label.as_str();
        match agent.and_then(|b| {
            let (s, w) = self.parse_instant(&agent_q, &b)?;
            warnings.extend(w);
            asm.set_agent_states(s, state_label);
            Ok(())
        }) {
            Ok(()) => {}
            Err(e) => warnings.push(format!("update agent state: {e}")),
        }
        self.warnings = warnings;
        Ok(Snapshot {
            source: self.describe(),
            taken_at: at,
            devices: asm.finish(),
        })
    }

    /// The history of every figure of one device: one range query per figure,
    /// concurrently, restricted to the device with a `device="…"` matcher.
    /// Figures without data (or whose query Prometheus rejected) have no
    /// points; a transport failure fails the whole request.
    pub async fn history(
        &self,
        device: &str,
        range: HistoryRange,
    ) -> Result<DeviceHistory, SourceError> {
        let start = range.end.checked_sub(range.span).unwrap_or(UNIX_EPOCH);
        let step = if range.step.is_zero() {
            (range.span / 300).max(Duration::from_secs(1))
        } else {
            range.step
        };
        let dev_label = self.inner.opts.labels.device.as_str();
        let queries: Vec<String> = Figure::ALL
            .iter()
            .map(|&f| self.figure_query(f, &[(dev_label, device)]))
            .collect();
        let results = join_all(
            queries
                .iter()
                .map(|q| self.range_inner(q, start, range.end, step)),
        )
        .await;
        let mut series = Vec::with_capacity(Figure::COUNT);
        for (figure, result) in Figure::ALL.into_iter().zip(results) {
            let points = match result {
                Ok((found, _)) => found
                    .into_iter()
                    .find(|(l, _)| l.get(dev_label).is_none_or(|d| d == device))
                    .map(|(_, p)| p)
                    .unwrap_or_default(),
                Err(SourceError::Query { .. }) => Vec::new(),
                Err(e) => return Err(e),
            };
            series.push((figure, points));
        }
        Ok(DeviceHistory {
            device: device.to_string(),
            series,
        })
    }

    async fn range_inner(
        &self,
        promql: &str,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Result<Parsed<Vec<(Labels, Vec<Point>)>>, SourceError> {
        let form = [
            ("query", promql.to_string()),
            ("start", unix_seconds(start)),
            ("end", unix_seconds(end)),
            ("step", format!("{:.3}", step.as_secs_f64())),
        ];
        let body = self.post(&self.inner.range_url, &form).await?;
        let resp = self.parse_envelope(promql, &self.inner.range_url, &body)?;
        let bad = |reason: String| self.bad(&self.inner.range_url, reason);
        match resp.data {
            Some(Data::Matrix(series)) => {
                let mut out = Vec::with_capacity(series.len());
                for s in series {
                    let mut points = Vec::with_capacity(s.values.len());
                    for (t, v) in s.values {
                        points.push((t, parse_value(&v.0).map_err(&bad)?));
                    }
                    out.push((owned_labels(s.metric), points));
                }
                Ok((out, resp.warnings))
            }
            Some(other) => Err(bad(format!(
                "expected a matrix result, got a {}",
                other.kind()
            ))),
            None => Err(bad("no 'data' in a successful response".into())),
        }
    }

    async fn instant_body(
        &self,
        promql: &str,
        at: Option<SystemTime>,
    ) -> Result<Bytes, SourceError> {
        let mut form = vec![("query", promql.to_string())];
        if let Some(at) = at {
            form.push(("time", unix_seconds(at)));
        }
        self.post(&self.inner.query_url, &form).await
    }

    /// Parses an instant query answer, borrowing label strings from `body`.
    fn parse_instant<'b>(
        &self,
        promql: &str,
        body: &'b [u8],
    ) -> Result<Parsed<Vec<(RawLabels<'b>, f64)>>, SourceError> {
        let resp = self.parse_envelope(promql, &self.inner.query_url, body)?;
        let bad = |reason: String| self.bad(&self.inner.query_url, reason);
        let samples = match resp.data {
            Some(Data::Vector(v)) => {
                let mut out = Vec::with_capacity(v.len());
                for s in v {
                    out.push((s.metric, parse_value(&s.value.1.0).map_err(&bad)?));
                }
                out
            }
            Some(Data::Scalar((_, v))) => {
                vec![(RawLabels::default(), parse_value(&v).map_err(&bad)?)]
            }
            Some(other) => {
                return Err(bad(format!(
                    "expected a vector or scalar result, got a {}",
                    other.kind()
                )));
            }
            None => return Err(bad("no 'data' in a successful response".into())),
        };
        Ok((samples, resp.warnings))
    }

    /// Decodes the `{status, data | errorType, error, warnings}` envelope.
    fn parse_envelope<'b>(
        &self,
        promql: &str,
        url: &str,
        body: &'b [u8],
    ) -> Result<Envelope<'b>, SourceError> {
        let resp: Envelope<'b> = serde_json::from_slice(body)
            .map_err(|e| self.bad(url, format!("{e} (body starts: {})", quote(body))))?;
        match resp.status.0.as_ref() {
            "success" => Ok(resp),
            "error" => Err(SourceError::Query {
                query: promql.to_string(),
                error: match (&resp.error_type, &resp.error) {
                    (Some(t), Some(e)) => format!("{t}: {e}"),
                    (None, Some(e)) => e.to_string(),
                    (Some(t), None) => t.to_string(),
                    (None, None) => "unknown error".into(),
                },
            }),
            other => Err(self.bad(url, format!("unknown status '{}'", truncate(other)))),
        }
    }

    /// POSTs a form (queries can be long: no URL length limit) and reads the
    /// body, refusing more than [`MAX_BODY`] bytes without buffering them.
    async fn post(&self, url: &str, form: &[(&str, String)]) -> Result<Bytes, SourceError> {
        let timeout = self.inner.opts.timeout;
        // reqwest's timeout covers the whole exchange already; this outer one is
        // a guard against a body that trickles forever below reqwest's radar.
        match tokio::time::timeout(
            timeout + Duration::from_millis(250),
            self.post_inner(url, form),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(SourceError::Timeout {
                url: url.to_string(),
                timeout,
            }),
        }
    }

    async fn post_inner(&self, url: &str, form: &[(&str, String)]) -> Result<Bytes, SourceError> {
        let mut req = self.inner.client.post(url).form(form);
        if let Some(token) = &self.inner.opts.bearer_token {
            req = req.bearer_auth(token);
        }
        if let Some(auth) = &self.inner.opts.basic_auth {
            req = req.basic_auth(&auth.username, Some(&auth.password));
        }
        let resp = req.send().await.map_err(|e| self.transport(url, &e))?;
        let status = resp.status();
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(SourceError::TooLarge {
                url: url.to_string(),
                limit: MAX_BODY,
            });
        }
        let mut body = BytesMut::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.transport(url, &e))?;
            if body.len() + chunk.len() > MAX_BODY {
                return Err(SourceError::TooLarge {
                    url: url.to_string(),
                    limit: MAX_BODY,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let body = body.freeze();
        // Prometheus answers bad queries with 400/422 and a JSON error payload:
        // that is a query error, not an HTTP one. Anything else non-2xx is HTTP.
        if !status.is_success() && !looks_like_api_error(&body) {
            return Err(SourceError::Http {
                url: url.to_string(),
                status: status.as_u16(),
                body: quote(&body),
            });
        }
        Ok(body)
    }

    fn transport(&self, url: &str, e: &reqwest::Error) -> SourceError {
        if e.is_timeout() {
            SourceError::Timeout {
                url: url.to_string(),
                timeout: self.inner.opts.timeout,
            }
        } else if e.is_connect() {
            SourceError::Unreachable {
                url: url.to_string(),
                reason: crate::http::error_chain(e),
            }
        } else if e.is_body() || e.is_decode() {
            self.bad(
                url,
                format!("the body broke off: {}", crate::http::error_chain(e)),
            )
        } else {
            SourceError::Unreachable {
                url: url.to_string(),
                reason: crate::http::error_chain(e),
            }
        }
    }

    fn bad(&self, url: &str, reason: String) -> SourceError {
        SourceError::BadResponse {
            url: url.to_string(),
            reason,
        }
    }
}

/// Builds one [`DeviceSample`] per device of the `up` inventory and attaches
/// the other queries' results by device id (a hash lookup per series).
struct Assembly<'l> {
    names: &'l super::LabelNames,
    devices: Vec<DeviceSample>,
    index: HashMap<String, usize>,
}

impl<'l> Assembly<'l> {
    fn new(names: &'l super::LabelNames, up: Vec<(RawLabels<'_>, f64)>) -> Self {
        let mut devices: Vec<DeviceSample> = Vec::with_capacity(up.len());
        let mut index = HashMap::with_capacity(up.len());
        for (raw, v) in up {
            let reach = if v == 1.0 {
                Reach::Up
            } else {
                Reach::Down(None)
            };
            let mut labels: Labels = BTreeMap::new();
            for (k, v) in raw.0 {
                if k != "__name__" {
                    labels.insert(k.into_owned(), v.into_owned());
                }
            }
            let id = labels
                .get(&names.device)
                .or_else(|| labels.get("instance"))
                .cloned()
                .unwrap_or_default();
            // The same device under two targets (e.g. two jobs): one row, up if
            // any of its targets is up.
            if let Some(&i) = index.get(&id) {
                let d: &mut DeviceSample = &mut devices[i];
                if reach == Reach::Up {
                    d.reach = Reach::Up;
                }
                continue;
            }
            let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
            let sample = DeviceSample {
                site: get(&names.site),
                group: get(&names.group),
                target: labels.get("instance").cloned(),
                id: id.clone(),
                reach,
                figures: Figures::default(),
                release: None,
                agent_state: None,
                labels,
            };
            index.insert(id, devices.len());
            devices.push(sample);
        }
        Assembly {
            names,
            devices,
            index,
        }
    }

    fn lookup(&self, raw: &RawLabels<'_>) -> Option<usize> {
        raw.get(&self.names.device)
            .and_then(|id| self.index.get(id.as_ref()))
            .copied()
    }

    /// Sets a figure; returns how many series had no device label.
    fn set_figure(&mut self, figure: Figure, samples: Vec<(RawLabels<'_>, f64)>) -> usize {
        let mut unlabelled = 0;
        for (raw, v) in samples {
            if raw.get(&self.names.device).is_none() {
                unlabelled += 1;
                continue;
            }
            if let Some(i) = self.lookup(&raw) {
                self.devices[i].figures.set(figure, Some(v));
            }
        }
        unlabelled
    }

    fn set_releases(&mut self, samples: Vec<(RawLabels<'_>, f64)>) {
        for (raw, _) in samples {
            if let Some(i) = self.lookup(&raw) {
                let get = |k: &str| raw.get(k).map(|v| v.to_string()).unwrap_or_default();
                let release = Release {
                    version: get("version"),
                    release: get("release"),
                    image_digest: get("image_digest"),
                    model_digest: get("model_digest"),
                };
                // Two release series during a switch: keep the highest, so the
                // choice is the same on every refresh.
                let slot = &mut self.devices[i].release;
                if slot.as_ref().is_none_or(|r| release > *r) {
                    *slot = Some(release);
                }
            }
        }
    }

    fn set_agent_states(&mut self, samples: Vec<(RawLabels<'_>, f64)>, state_label: &str) {
        for (raw, _) in samples {
            if let (Some(i), Some(state)) = (self.lookup(&raw), raw.get(state_label)) {
                self.devices[i].agent_state = Some(state.to_string());
            }
        }
    }

    fn finish(mut self) -> Vec<DeviceSample> {
        self.devices.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        self.devices
    }
}

/// A series' labels, borrowed from the response body when they need no
/// unescaping. A short list rather than a map: per-device query results carry
/// one or a few labels, and 10,000 devices × 16 queries of tree nodes cost more
/// than the lookups they save.
#[derive(Default)]
struct RawLabels<'b>(Vec<(Cow<'b, str>, Cow<'b, str>)>);

impl<'b> RawLabels<'b> {
    fn get(&self, name: &str) -> Option<&Cow<'b, str>> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

impl<'de: 'b, 'b> Deserialize<'de> for RawLabels<'b> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<'b>(std::marker::PhantomData<&'b ()>);
        impl<'de: 'b, 'b> serde::de::Visitor<'de> for Visitor<'b> {
            type Value = RawLabels<'b>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of label names to values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some((k, v)) = map.next_entry::<BorrowedStr<'b>, BorrowedStr<'b>>()? {
                    out.push((k.0, v.0));
                }
                Ok(RawLabels(out))
            }
        }
        d.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// A string borrowed from the input when possible (serde's `Cow<str>` alone
/// always copies).
struct BorrowedStr<'b>(Cow<'b, str>);

impl<'de: 'b, 'b> Deserialize<'de> for BorrowedStr<'b> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<'b>(std::marker::PhantomData<&'b ()>);
        impl<'de: 'b, 'b> serde::de::Visitor<'de> for Visitor<'b> {
            type Value = BorrowedStr<'b>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Visitor(std::marker::PhantomData))
    }
}

fn owned_labels(raw: RawLabels<'_>) -> Labels {
    raw.0
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[derive(Deserialize)]
struct Envelope<'b> {
    #[serde(borrow)]
    status: BorrowedStr<'b>,
    #[serde(borrow, default)]
    data: Option<Data<'b>>,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data<'b> {
    Vector(#[serde(borrow)] Vec<VectorSample<'b>>),
    Matrix(#[serde(borrow)] Vec<MatrixSeries<'b>>),
    Scalar((f64, String)),
    String(serde::de::IgnoredAny),
}

impl Data<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Data::Vector(_) => "vector",
            Data::Matrix(_) => "matrix",
            Data::Scalar(_) => "scalar",
            Data::String(_) => "string",
        }
    }
}

#[derive(Deserialize)]
struct VectorSample<'b> {
    #[serde(borrow, default)]
    metric: RawLabels<'b>,
    value: (f64, BorrowedStr<'b>),
}

#[derive(Deserialize)]
struct MatrixSeries<'b> {
    #[serde(borrow, default)]
    metric: RawLabels<'b>,
    values: Vec<(f64, BorrowedStr<'b>)>,
}

/// Prometheus sends sample values as strings: numbers, `NaN`, `+Inf`, `-Inf`.
fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s
            .parse::<f64>()
            .map_err(|_| format!("sample value '{}' is not a number", truncate(s))),
    }
}

/// Whether a non-2xx body is Prometheus' own JSON error payload.
fn looks_like_api_error(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Status<'a> {
        #[serde(borrow)]
        status: Cow<'a, str>,
    }
    serde_json::from_slice::<Status>(body).is_ok_and(|s| s.status == "error")
}

fn unix_seconds(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// The first [`QUOTE_MAX`] characters of a body, for an error message.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(QUOTE_MAX * 4)]);
    let cut = truncate(text.trim());
    if cut.is_empty() {
        "(empty body)".into()
    } else {
        cut
    }
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert!(parse_value("NaN").is_ok_and(f64::is_nan));
        assert_eq!(parse_value("+Inf"), Ok(f64::INFINITY));
        assert_eq!(parse_value("-Inf"), Ok(f64::NEG_INFINITY));
        assert_eq!(parse_value("1e3"), Ok(1000.0));
        assert!(parse_value("abc").is_err());
    }

    #[test]
    fn quotes_are_capped() {
        let big = "x".repeat(10_000);
        assert_eq!(quote(big.as_bytes()).chars().count(), QUOTE_MAX + 1);
        assert_eq!(quote(b"  "), "(empty body)");
    }

    #[test]
    fn assembly_10k_devices_is_fast() {
        let names = super::super::LabelNames::default();
        let n = 10_000;
        let mut up =
            String::from(r#"{"status":"success","data":{"resultType":"vector","result":["#);
        let mut fig = up.clone();
        for i in 0..n {
            if i > 0 {
                up.push(',');
                fig.push(',');
            }
            up.push_str(&format!(
                r#"{{"metric":{{"__name__":"up","device":"pi-{i:05}","site":"s{}","group":"g{}","instance":"10.0.{}.{}:9100","job":"fleet"}},"value":[1,"1"]}}"#,
                i % 40,
                i % 7,
                i / 256,
                i % 256
            ));
            fig.push_str(&format!(
                r#"{{"metric":{{"device":"pi-{i:05}"}},"value":[1,"{}.5"]}}"#,
                i
            ));
        }
        up.push_str("]}}");
        fig.push_str("]}}");
        let Ok(src) = PrometheusSource::new(super::super::PrometheusOptions {
            url: "http://127.0.0.1:9".into(),
            job: None,
            bearer_token: None,
            basic_auth: None,
            tenant: None,
            ca_file: None,
            timeout: Duration::from_secs(1),
            labels: names.clone(),
            defs: Default::default(),
            recording_rules: false,
        }) else {
            panic!("client");
        };
        let started = std::time::Instant::now();
        let Ok((up_s, _)) = src.parse_instant("up", up.as_bytes()) else {
            panic!("parse up");
        };
        let mut parsed = Vec::new();
        for _ in Figure::ALL {
            let Ok((s, _)) = src.parse_instant("q", fig.as_bytes()) else {
                panic!("parse figure");
            };
            parsed.push(s);
        }
        let parse_took = started.elapsed();
        let mut asm = Assembly::new(&names, up_s);
        for (f, s) in Figure::ALL.into_iter().zip(parsed) {
            assert_eq!(asm.set_figure(f, s), 0);
        }
        let devices = asm.finish();
        let took = started.elapsed();
        crate::errln!(
            "JSON parse: {parse_took:?}, assembly: {:?}",
            took - parse_took
        );
        assert_eq!(devices.len(), n);
        assert_eq!(devices[7].figures.get(Figure::Npu), Some(7.5));
        assert_eq!(devices[7].site, "s7");
        // Speed is measured by benchmarks, not asserted here.
        crate::errln!("parse + assembly of {n} devices × 14 queries: {took:?}");
    }
}
