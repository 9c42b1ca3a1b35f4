//! A real Prometheus for tests, plus the small loopback HTTP servers around it.
//!
//! - [`PrometheusProcess`]: starts `/usr/bin/prometheus` on a free loopback port,
//!   scraping a `file_sd` inventory every second; [`PrometheusProcess::wait_for`]
//!   waits for data instead of sleeping.
//! - [`write_file_sd`]: writes an inventory atomically (Prometheus re-reads it every second).
//! - [`HttpServer`]: a loopback HTTP/1 server answering with a closure and
//!   recording every request (method, path, headers, body). Fake exporters, and
//!   fake Prometheus answers for faults a real one cannot produce.
//! - [`CountingProxy`]: forwards to a real server and counts requests.
//!
//! ```ignore
//! mod support;
//! use support::prometheus::*;
//!
//! let exporter = HttpServer::start(|req| Reply::text(200, "up_metric 1\n"));
//! let dir = tempfile::tempdir().unwrap();
//! let sd = dir.path().join("targets.json");
//! write_file_sd(&sd, &[Target::new(&exporter.addr, "/metrics").label("device", "pi-1")]);
//! let prom = PrometheusProcess::start("fleet", &sd);
//! prom.wait_for("up", 1, Duration::from_secs(30)).await;
//! let opts = prom.options(Some("fleet")); // fleetdeck::metrics::PrometheusOptions
//! ```
//!
//! Only loopback addresses are used; every wait is bounded.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MISSING: &str =
    "Prometheus not found: apt-get install prometheus (the README's test command does this)";

/// The Prometheus binary: `$FLEETDECK_PROMETHEUS_BIN`, `/usr/bin/prometheus`, or `prometheus` on `PATH`.
pub fn prometheus_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLEETDECK_PROMETHEUS_BIN") {
        return Some(PathBuf::from(p));
    }
    let default = PathBuf::from("/usr/bin/prometheus");
    if default.is_file() {
        return Some(default);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("prometheus"))
            .find(|p| p.is_file())
    })
}

/// `promtool`, next to the Prometheus binary or on `PATH`.
pub fn promtool_bin() -> Option<PathBuf> {
    let beside = prometheus_bin().and_then(|p| p.parent().map(|d| d.join("promtool")));
    beside.filter(|p| p.is_file()).or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("promtool"))
                .find(|p| p.is_file())
        })
    })
}

/// A Prometheus server running for one test. Killed on [`stop`](Self::stop) or drop.
pub struct PrometheusProcess {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    child: Option<Child>,
    /// Holds the config, the TSDB and the log; removed on drop.
    dir: tempfile::TempDir,
}

impl PrometheusProcess {
    /// Starts Prometheus on 127.0.0.1:<free port> scraping the `file_sd`
    /// inventory at `file_sd_path` every second under job `job`
    /// (evaluation interval 1 s). Returns once `/-/ready` answers; the first
    /// samples take ~6 s more: use [`wait_for`](Self::wait_for).
    pub fn start(job: &str, file_sd_path: &Path) -> PrometheusProcess {
        Self::start_with_rules(job, file_sd_path, &[])
    }

    /// [`start`](Self::start), also loading the given rule files.
    pub fn start_with_rules(
        job: &str,
        file_sd_path: &Path,
        rule_files: &[&Path],
    ) -> PrometheusProcess {
        let Some(bin) = prometheus_bin() else {
            panic!("{MISSING}");
        };
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir for Prometheus: {e}"));
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: {}\n    file_sd_configs:\n      - files: [{}]\n        refresh_interval: 1s\n",
            q(job),
            q(&file_sd_path.to_string_lossy()),
        );
        if !rule_files.is_empty() {
            config.push_str("rule_files:\n");
            for r in rule_files {
                config.push_str(&format!("  - {}\n", q(&r.to_string_lossy())));
            }
        }
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config)
            .unwrap_or_else(|e| panic!("write Prometheus config: {e}"));

        // A free port can be taken between probing and Prometheus binding it: retry.
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let log_path = dir.path().join("prometheus.log");
            let log = std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("log file: {e}"));
            let child = Command::new(&bin)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--storage.tsdb.retention.time=1h")
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn();
            let mut child = match child {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{MISSING}"),
                Err(e) => panic!("cannot start {}: {e}", bin.display()),
            };
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_status)) = child.try_wait() {
                    last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    break;
                }
                if http_get_ok(port, "/-/ready") {
                    return PrometheusProcess {
                        url,
                        child: Some(child),
                        dir,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!(
            "Prometheus did not become ready; its log:\n{}",
            tail(&last_log, 3000)
        );
    }

    /// Polls the instant query `promql` until it returns at least `min_series`
    /// series and returns how many it returned. Panics after `timeout` with the
    /// last answer (first samples arrive ~6 s after start; rates need two).
    pub async fn wait_for(&self, promql: &str, min_series: usize, timeout: Duration) -> usize {
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last;
        loop {
            let answer = client
                .post(format!("{}/api/v1/query", self.url))
                .form(&[("query", promql)])
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            match answer {
                Ok(resp) => match resp.json::<serde_json::Value>().await {
                    Ok(v) => {
                        let n = v["data"]["result"].as_array().map_or(0, Vec::len);
                        if v["status"] == "success" && n >= min_series {
                            return n;
                        }
                        last = if v["status"] == "success" {
                            format!("{n} series")
                        } else {
                            tail(&v.to_string(), 500)
                        };
                    }
                    Err(e) => last = format!("unreadable answer: {e}"),
                },
                Err(e) => last = format!("request failed: {e}"),
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "waited {timeout:?} for `{promql}` to return ≥ {min_series} series; last: {last}\nPrometheus log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The last lines of Prometheus' own log, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(
            &std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default(),
            3000,
        )
    }

    /// Options for a `PrometheusSource` pointed at this server (2 s timeout,
    /// default labels and metric definitions).
    pub fn options(&self, job: Option<&str>) -> fleetdeck::metrics::PrometheusOptions {
        fleetdeck::metrics::PrometheusOptions {
            url: self.url.clone(),
            job: job.map(str::to_string),
            bearer_token: None,
            basic_auth: None,
            tenant: None,
            ca_file: None,
            timeout: Duration::from_secs(2),
            labels: Default::default(),
            defs: Default::default(),
            recording_rules: false,
        }
    }

    /// Kills Prometheus and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrometheusProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// A blocking GET that only says whether the answer was 200 (no client crate
/// needed outside a runtime).
fn http_get_ok(port: u16, path: &str) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200")
}

fn tail(s: &str, max: usize) -> String {
    let start = s.len().saturating_sub(max);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[start..].to_string()
}

/// One target group entry of a `file_sd` inventory.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port`
    pub address: String,
    pub metrics_path: String,
    pub labels: BTreeMap<String, String>,
}

impl Target {
    pub fn new(address: &str, metrics_path: &str) -> Target {
        Target {
            address: address.to_string(),
            metrics_path: metrics_path.to_string(),
            labels: BTreeMap::new(),
        }
    }

    pub fn label(mut self, name: &str, value: &str) -> Target {
        self.labels.insert(name.to_string(), value.to_string());
        self
    }
}

/// Writes a `file_sd` inventory (one group per target, `__metrics_path__` set)
/// atomically: Prometheus re-reads the file every second and must never see
/// half of it.
pub fn write_file_sd(path: &Path, targets: &[Target]) {
    let groups: Vec<serde_json::Value> = targets
        .iter()
        .map(|t| {
            let mut labels = serde_json::Map::new();
            labels.insert("__metrics_path__".into(), t.metrics_path.clone().into());
            for (k, v) in &t.labels {
                labels.insert(k.clone(), v.clone().into());
            }
            serde_json::json!({ "targets": [t.address], "labels": labels })
        })
        .collect();
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(&groups).unwrap_or_default();
    std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

/// A request as an [`HttpServer`] received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query string, e.g. `/api/v1/query?x=1`.
    pub uri: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub body: Bytes,
}

impl RecordedRequest {
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// A form field from the URL-encoded body or the query string.
    pub fn form(&self, name: &str) -> Option<String> {
        let query = self.uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let body = String::from_utf8_lossy(&self.body);
        [body.as_ref(), query].into_iter().find_map(|s| {
            s.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (url_decode(k) == name).then(|| url_decode(v))
            })
        })
    }
}

/// `application/x-www-form-urlencoded` decoding (`+` and `%XX`).
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What an [`HttpServer`] answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: ReplyBody,
}

pub enum ReplyBody {
    Full(Bytes),
    /// `chunk` sent `times` times as a chunked body with no Content-Length
    /// (huge bodies without holding them in memory).
    Repeat {
        chunk: Bytes,
        times: usize,
    },
    /// Accept the request and never answer.
    Never,
}

impl Reply {
    pub fn text(status: u16, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/plain; version=0.0.4".into())],
            body: ReplyBody::Full(body.into()),
        }
    }

    pub fn json(status: u16, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: ReplyBody::Full(body.into()),
        }
    }

    pub fn repeat(status: u16, chunk: impl Into<Bytes>, times: usize) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: ReplyBody::Repeat {
                chunk: chunk.into(),
                times,
            },
        }
    }

    pub fn never() -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: ReplyBody::Never,
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Handler = Arc<dyn Fn(RecordedRequest) -> BoxFuture<Reply> + Send + Sync>;

/// A loopback HTTP/1 server for tests. Records every request; stops on drop
/// (its listener and every open connection are aborted).
pub struct HttpServer {
    /// `127.0.0.1:<port>`
    pub addr: String,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    count: Arc<AtomicUsize>,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl HttpServer {
    /// Serves with a synchronous handler. Must be called inside a tokio runtime.
    pub fn start<F>(handler: F) -> HttpServer
    where
        F: Fn(&RecordedRequest) -> Reply + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        Self::start_async(move |req| {
            let h = Arc::clone(&handler);
            Box::pin(async move { h(&req) })
        })
    }

    /// Serves with an asynchronous handler (e.g. one that forwards).
    pub fn start_async<F>(handler: F) -> HttpServer
    where
        F: Fn(RecordedRequest) -> BoxFuture<Reply> + Send + Sync + 'static,
    {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("bind loopback: {e}"));
        let _ = std_listener.set_nonblocking(true);
        let addr: SocketAddr = std_listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local addr: {e}"));
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .unwrap_or_else(|e| panic!("tokio listener (call inside a runtime): {e}"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let accept = {
            let (requests, count, tasks) = (requests.clone(), count.clone(), tasks.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (handler, requests, count) =
                        (handler.clone(), requests.clone(), count.clone());
                    let conn = tokio::spawn(async move {
                        let service =
                            hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                                let (handler, requests, count) =
                                    (handler.clone(), requests.clone(), count.clone());
                                async move {
                                    let rec = record(req).await;
                                    count.fetch_add(1, Ordering::SeqCst);
                                    if let Ok(mut r) = requests.lock() {
                                        r.push(rec.clone());
                                    }
                                    let reply = handler(rec).await;
                                    Ok::<_, Infallible>(into_response(reply).await)
                                }
                            });
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    });
                    if let Ok(mut t) = tasks.lock() {
                        t.push(conn.abort_handle());
                    }
                }
            })
        };
        if let Ok(mut t) = tasks.lock() {
            t.push(accept.abort_handle());
        }
        HttpServer {
            addr: addr.to_string(),
            url: format!("http://{addr}"),
            requests,
            count,
            tasks,
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How many requests were received so far.
    pub fn request_count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
    }
}

async fn record(req: hyper::Request<Incoming>) -> RecordedRequest {
    let (parts, body) = req.into_parts();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    RecordedRequest {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers,
        body,
    }
}

async fn into_response(reply: Reply) -> hyper::Response<BoxBody<Bytes, Infallible>> {
    let body: BoxBody<Bytes, Infallible> = match reply.body {
        ReplyBody::Full(b) => Full::new(b).boxed(),
        ReplyBody::Repeat { chunk, times } => {
            let frames = futures_util::stream::iter(
                (0..times).map(move |_| Ok::<_, Infallible>(Frame::data(chunk.clone()))),
            );
            StreamBody::new(frames).boxed()
        }
        ReplyBody::Never => {
            std::future::pending::<()>().await;
            Full::new(Bytes::new()).boxed()
        }
    };
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

/// Forwards every request to `upstream` (e.g. a real Prometheus) and counts
/// them: how many requests a client really sends.
pub struct CountingProxy {
    pub server: HttpServer,
}

impl CountingProxy {
    pub fn start(upstream: &str) -> CountingProxy {
        let upstream = upstream.trim_end_matches('/').to_string();
        let client = reqwest::Client::new();
        let server = HttpServer::start_async(move |req| {
            let (client, upstream) = (client.clone(), upstream.clone());
            Box::pin(async move {
                let method = reqwest::Method::from_bytes(req.method.as_bytes())
                    .unwrap_or(reqwest::Method::GET);
                let mut fwd = client.request(method, format!("{upstream}{}", req.uri));
                if let Some(ct) = req.header("content-type") {
                    fwd = fwd.header("content-type", ct);
                }
                match fwd.body(req.body.clone()).send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let ct = resp
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("application/json")
                            .to_string();
                        let body = resp.bytes().await.unwrap_or_default();
                        Reply {
                            status,
                            headers: vec![("content-type".into(), ct)],
                            body: ReplyBody::Full(body),
                        }
                    }
                    Err(e) => Reply::text(502, format!("proxy: {e}")),
                }
            })
        });
        CountingProxy { server }
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    pub fn request_count(&self) -> usize {
        self.server.request_count()
    }
}
