//! Direct scrape of every device's exporter listed in a Prometheus `file_sd`
//! inventory: the embedded source for small fleets and the demo, and the
//! fallback when central Prometheus is down during an incident.
//!
//! Each refresh re-reads the inventory if the file changed, scrapes every target
//! with a bounded number of requests in flight, and computes the figures against
//! that device's previous scrape ([`super::compute`]). A device that cannot be
//! scraped is `Down` with a short reason; only an unreadable inventory fails the
//! whole refresh.

use super::compute::{self, Needed, ScrapeData};
use super::exposition;
use super::{LabelNames, MAX_SCRAPE_BODY, ScrapeOptions, SourceError};
use crate::fleet::{DeviceSample, Reach, Snapshot};
use futures_util::StreamExt;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// Site or group of a target whose inventory entry does not say.
pub const UNKNOWN_PLACE: &str = "-";

/// What the inventory's shape should be, for error messages.
const EXPECTED: &str = r#"expected a Prometheus file_sd list: [{"targets": ["host:port", ...], "labels": {"device": "...", "site": "...", "group": "..."}}]"#;

/// One device to scrape, as read from the inventory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The device label, or the address when the entry has none.
    pub id: String,
    pub site: String,
    pub group: String,
    /// Full scrape URL (`__scheme__://address__metrics_path__?__param_*`).
    pub url: String,
    /// `host:port` as written in `targets`.
    pub address: String,
    /// The group's labels without the `__`-prefixed meta labels and empty values.
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct TargetGroup {
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fn inventory_error(path: &Path, reason: impl Into<String>) -> SourceError {
    SourceError::Inventory {
        path: crate::text::echo_path(path),
        reason: reason.into(),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("file not found; create it ({EXPECTED}) or fix the inventory path")
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied; make the file readable by the user running fleetdeck".into()
        }
        _ => format!("cannot read the file: {e}"),
    }
}

/// Reads the inventory file itself: a regular file under
/// [`crate::files::cap::INVENTORY`] (`inventory = "/dev/zero"` fails at once).
fn read_file(path: &Path) -> Result<Vec<u8>, SourceError> {
    use crate::files::ReadError;
    crate::files::read_capped(path, crate::files::cap::INVENTORY).map_err(|e| {
        let reason = match &e {
            ReadError::Io { source, .. } => io_reason(source),
            ReadError::NotRegular { kind, .. } => {
                format!("not a regular file ({kind}); point the inventory at a file_sd JSON file")
            }
            ReadError::TooLarge { size, cap, .. } => {
                format!("larger than {cap} bytes ({size} bytes); is this the right file?")
            }
            other => other.to_string(),
        };
        inventory_error(path, reason)
    })
}

/// Reads a `file_sd` inventory. `__metrics_path__` (default `/metrics`),
/// `__scheme__` (default `http`) and `__param_<name>` are honoured; other
/// `__` labels are dropped.
pub fn read_inventory(path: &Path, labels: &LabelNames) -> Result<Vec<Target>, SourceError> {
    let text = read_file(path)?;
    parse_inventory(&text, labels).map_err(|reason| inventory_error(path, reason))
}

fn parse_inventory(text: &[u8], names: &LabelNames) -> Result<Vec<Target>, String> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let groups: Vec<TargetGroup> = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| {
            let path = match e.path().to_string() {
                p if p == "." => "the top level".to_string(),
                p => p,
            };
            let inner = e.into_inner();
            if inner.is_data() {
                format!("wrong shape at {path}: {inner}; {EXPECTED}")
            } else {
                format!("not valid JSON: {inner}")
            }
        })
        .and_then(|g| {
            de.end()
                .map(|()| g)
                .map_err(|e| format!("not valid JSON: {e}"))
        })?;

    let mut targets = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for (gi, group) in groups.into_iter().enumerate() {
        let meta = |k: &str| group.labels.get(k).map(String::as_str);
        let scheme = meta("__scheme__").unwrap_or("http");
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "[{gi}].labels.__scheme__ is '{scheme}'; it must be 'http' or 'https'"
            ));
        }
        let mut path = meta("__metrics_path__").unwrap_or("/metrics").to_string();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let params: Vec<(&str, &str)> = group
            .labels
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("__param_")?, v.as_str())))
            .collect();
        let labels: BTreeMap<String, String> = group
            .labels
            .iter()
            // Prometheus drops empty labels too.
            .filter(|(k, v)| !k.starts_with("__") && !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (ti, raw) in group.targets.iter().enumerate() {
            let at = format!("[{gi}].targets[{ti}]");
            let address = raw.trim();
            if address.is_empty() {
                return Err(format!("{at} is empty; expected \"host:port\""));
            }
            if address.contains("://") {
                return Err(format!(
                    "{at} is '{address}'; targets are host:port without a scheme (set \"__scheme__\" in labels)"
                ));
            }
            if address.contains('/') || address.chars().any(char::is_whitespace) {
                return Err(format!(
                    "{at} is '{address}'; targets are host:port without a path (set \"__metrics_path__\" in labels)"
                ));
            }
            let mut url = reqwest::Url::parse(&format!("{scheme}://{address}{path}"))
                .map_err(|e| format!("{at} '{address}' does not make a valid URL: {e}"))?;
            if !params.is_empty() {
                url.query_pairs_mut().extend_pairs(params.iter());
            }
            let place = |name: &str| {
                labels
                    .get(name)
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_else(|| UNKNOWN_PLACE.to_string())
            };
            let id = labels
                .get(&names.device)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| address.to_string());
            if let Some(other) = seen.insert(id.clone(), at.clone()) {
                return Err(format!(
                    "device '{id}' appears twice ({other} and {at}); give each target its own \"{}\" label",
                    names.device
                ));
            }
            targets.push(Target {
                id,
                site: place(&names.site),
                group: place(&names.group),
                url: url.to_string(),
                address: address.to_string(),
                labels: labels.clone(),
            });
        }
    }
    Ok(targets)
}

/// What identifies a version of the inventory file without reading it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct FileStamp {
    modified: SystemTime,
    len: u64,
}

pub struct ScrapeSource {
    opts: ScrapeOptions,
    /// One client for every device, so connections are kept alive across refreshes.
    client: reqwest::Client,
    /// The last inventory read without error; kept when a later edit breaks the file.
    inventory: Vec<Target>,
    /// Stamp of the file `inventory` was read from; unchanged → not re-read.
    stamp: Option<FileStamp>,
    /// Per device, earlier scrapes kept as bases for rates (see [`Anchors`]).
    previous: HashMap<String, Anchors>,
    /// Metric names the definitions read; everything else is skipped unparsed.
    needed: Needed,
    /// The longest rate window of the definitions: how long bases are kept.
    max_window: Duration,
    /// Devices whose last scrape failed: tried last next time.
    failed: HashSet<String>,
    /// See [`ScrapeSource::last_warnings`].
    warnings: Vec<String>,
}

impl ScrapeSource {
    /// Checks the options and builds the HTTP client. The inventory is read on
    /// each refresh, so a missing file is reported there (and picked up once it exists).
    pub fn new(opts: ScrapeOptions) -> Result<Self, SourceError> {
        if opts.concurrency == 0 {
            return Err(SourceError::Setup {
                what: "scrape concurrency".into(),
                reason: "must be at least 1".into(),
            });
        }
        if opts.timeout.is_zero() {
            return Err(SourceError::Setup {
                what: "scrape timeout".into(),
                reason: "must be more than 0s".into(),
            });
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("fleetdeck/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(opts.timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| SourceError::Setup {
                what: "HTTP client for scraping".into(),
                reason: e.to_string(),
            })?;
        Ok(ScrapeSource {
            client,
            inventory: Vec::new(),
            stamp: None,
            previous: HashMap::new(),
            failed: HashSet::new(),
            warnings: Vec::new(),
            needed: Needed::from_defs(&opts.defs),
            max_window: opts
                .defs
                .defs
                .iter()
                .map(|d| d.window)
                .max()
                .unwrap_or(Duration::from_secs(60)),
            opts,
        })
    }

    /// The targets of the last good inventory.
    pub fn targets(&self) -> &[Target] {
        &self.inventory
    }

    /// Problems of the last refresh that did not fail it: unreadable lines
    /// in expositions, targets cut off by the refresh deadline.
    pub fn last_warnings(&self) -> &[String] {
        &self.warnings
    }

    /// One refresh: scrape every device of the inventory.
    ///
    /// Always returns within [`refresh_budget`] of the scrapes starting
    /// (docs/ARCHITECTURE.md, "Direct scrape"): each request has its own
    /// deadline (`timeout`, connect through the last byte of the body); a
    /// request still waiting after [`slot_hold`] gives its concurrency slot to
    /// the next target and waits on (up to [`open_limit`] requests open at
    /// once), so hung exporters cannot hold every slot; when the budget is
    /// spent, whatever did not answer is marked down and the rest is published.
    pub async fn refresh(&mut self) -> Result<Snapshot, SourceError> {
        self.reload_inventory().await?;
        let n = self.inventory.len();
        let timeout = self.opts.timeout;
        let concurrency = self.opts.concurrency;
        let budget = refresh_budget(timeout, concurrency, n);
        let hold = slot_hold(timeout);
        let active = tokio::sync::Semaphore::new(concurrency);
        let open = tokio::sync::Semaphore::new(open_limit(concurrency));
        let started: Vec<std::sync::OnceLock<Instant>> =
            (0..n).map(|_| std::sync::OnceLock::new()).collect();
        let scraper = Scraper {
            client: &self.client,
            needed: &self.needed,
            timeout,
        };
        let mut results: Vec<Option<Result<ScrapeData, String>>> = (0..n).map(|_| None).collect();
        let begin = tokio::time::Instant::now();
        {
            let (scraper, active, open, started) = (&scraper, &active, &open, &started);
            // The futures are built eagerly: a lazily mapped stream would hold
            // a closure across the await, which makes this future not `Send`
            // for every lifetime (rustc's "not general enough"), and the
            // refresh must run in a spawned task.
            let mut pending: futures_util::stream::FuturesUnordered<_> = self
                .scrape_order()
                .into_iter()
                .map(|i| {
                    let target = &self.inventory[i];
                    async move {
                        // Semaphores are never closed: acquire cannot fail.
                        let _open = open.acquire().await.ok();
                        let slot = active.acquire().await.ok();
                        let t0 = Instant::now();
                        let _ = started[i].set(t0);
                        let scrape = scraper.scrape(target, t0);
                        tokio::pin!(scrape);
                        let result = tokio::select! {
                            r = &mut scrape => r,
                            () = tokio::time::sleep(hold) => {
                                drop(slot);
                                scrape.await
                            }
                        };
                        (i, result)
                    }
                })
                .collect();
            let deadline = begin + budget;
            while let Ok(Some((i, r))) = tokio::time::timeout_at(deadline, pending.next()).await {
                results[i] = Some(r);
            }
            // Dropping the unfinished requests closes their sockets; nothing
            // waits for a hung peer.
        }

        let mut devices = Vec::with_capacity(n);
        let mut cut = 0usize;
        let mut skipped: Vec<(String, exposition::Skipped)> = Vec::new();
        self.failed.clear();
        for (i, target) in self.inventory.iter().enumerate() {
            let mut sample = DeviceSample::new(&target.id, &target.site, &target.group);
            sample.labels = target.labels.clone();
            sample.target = Some(target.address.clone());
            let result = results[i].take().unwrap_or_else(|| {
                cut += 1;
                Err(match started[i].get() {
                    Some(t0) => format!(
                        "timeout after {:?} (refresh deadline)",
                        round_tenths(t0.elapsed().min(timeout))
                    ),
                    None => format!(
                        "timeout: not scraped within the refresh deadline of {:?} (other targets hung)",
                        round_tenths(budget)
                    ),
                })
            });
            match result {
                Ok(data) => {
                    let prev = self.previous.get(&target.id);
                    for (slot, def) in sample.figures.0.iter_mut().zip(&self.opts.defs.defs) {
                        let base = prev.and_then(|a| a.base(&data, def.window));
                        *slot = compute::compute_one(def, base, &data);
                    }
                    sample.release = compute::release(&self.opts.defs, &data);
                    sample.agent_state = compute::agent_state(&self.opts.defs, &data);
                    if data.skipped().count > 0 {
                        skipped.push((target.id.clone(), data.skipped().clone()));
                    }
                    // Kept as a base for rates below.
                    results[i] = Some(Ok(data));
                }
                Err(reason) => {
                    sample.reach = Reach::Down(Some(reason));
                    // One that never got to start is not known to hang: it
                    // goes before those that did, next time.
                    if started[i].get().is_some() {
                        self.failed.insert(target.id.clone());
                    }
                }
            }
            devices.push(sample);
        }
        let mut warnings = Vec::new();
        if let Some(w) = skipped_warning(&skipped) {
            warnings.push(w);
        }
        if cut > 0 {
            warnings.push(format!(
                "{cut} of {n} targets did not answer within the refresh deadline of {:?} and are marked down",
                round_tenths(budget)
            ));
        }
        self.warnings = warnings;
        for (target, result) in self.inventory.iter().zip(results) {
            if let Some(Ok(data)) = result {
                self.previous
                    .entry(target.id.clone())
                    .or_default()
                    .push(data, self.max_window);
            }
        }
        let ids: HashSet<&str> = self.inventory.iter().map(|t| t.id.as_str()).collect();
        self.previous.retain(|id, _| ids.contains(id.as_str()));

        Ok(Snapshot {
            source: self.describe(),
            taken_at: SystemTime::now(),
            devices,
        })
    }

    /// Targets that answered last time first, then new ones and those the
    /// last deadline left unscraped, then those that failed: when more targets
    /// hang than requests may be open, the healthy ones are still scraped
    /// before the deadline, and every target gets its turn.
    fn scrape_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.inventory.len()).collect();
        order.sort_by_key(|&i| {
            let id = &self.inventory[i].id;
            if self.failed.contains(id) {
                2
            } else if self.previous.contains_key(id) {
                0
            } else {
                1
            }
        });
        order
    }

    pub fn describe(&self) -> String {
        format!("scrape {}", self.opts.inventory.display())
    }

    /// Re-reads the inventory when the file changed since the last good read.
    async fn reload_inventory(&mut self) -> Result<(), SourceError> {
        let path = &self.opts.inventory;
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| inventory_error(path, io_reason(&e)))?;
        // Without an mtime (unusual filesystems) read every time.
        let stamp = meta.modified().ok().map(|modified| FileStamp {
            modified,
            len: meta.len(),
        });
        if stamp.is_some() && stamp == self.stamp {
            return Ok(());
        }
        let file = path.clone();
        let text = tokio::task::spawn_blocking(move || read_file(&file))
            .await
            .map_err(|e| inventory_error(path, format!("reading stopped: {e}")))??;
        let targets = parse_inventory(&text, &self.opts.labels)
            .map_err(|reason| inventory_error(path, reason))?;
        self.inventory = targets;
        self.stamp = stamp;
        Ok(())
    }
}

/// What every scrape of one refresh shares.
struct Scraper<'a> {
    client: &'a reqwest::Client,
    needed: &'a Needed,
    timeout: Duration,
}

impl Scraper<'_> {
    /// Scrapes one device: the whole request (connect, headers, body) within
    /// `timeout`, then the exposition parsed.
    async fn scrape(&self, target: &Target, started: Instant) -> Result<ScrapeData, String> {
        let timeout = self.timeout;
        let body = match tokio::time::timeout(timeout, fetch(self.client, &target.url)).await {
            Err(_) => Err(format!("timeout after {:?}", round_tenths(timeout))),
            // The client's own connect timeout (the same length) can fire first:
            // the peer's listen queue is full, or nothing answers SYNs.
            Ok(Err(e)) if e == CONNECT_TIMEOUT => Err(format!(
                "timeout after {:?} (connecting)",
                round_tenths(timeout)
            )),
            Ok(Err(e)) if e == "timeout" => {
                Err(format!("timeout after {:?}", round_tenths(timeout)))
            }
            Ok(r) => r,
        };
        body.and_then(|b| parse_body(&b, started, self.needed))
    }
}

/// How long one scrape keeps its concurrency slot before it lets the next
/// target start and waits on: a tenth of the timeout, 50 ms to 1 s.
pub fn slot_hold(timeout: Duration) -> Duration {
    (timeout / 10).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// How many requests may be open at once, slow or hung ones included.
pub fn open_limit(concurrency: usize) -> usize {
    concurrency.saturating_mul(4)
}

/// The longest one refresh of `targets` targets takes: one timeout, plus the
/// time for every target to get a slot when each slot is held for
/// [`slot_hold`] (at most one more timeout), plus a little for parsing.
pub fn refresh_budget(timeout: Duration, concurrency: usize, targets: usize) -> Duration {
    let waves = targets.div_ceil(concurrency.max(1)).max(1);
    let start_all = slot_hold(timeout)
        .saturating_mul(u32::try_from(waves).unwrap_or(u32::MAX))
        .min(timeout);
    timeout + start_all + Duration::from_millis(250)
}

/// A duration rounded to tenths of a second, for reasons people read.
fn round_tenths(d: Duration) -> Duration {
    Duration::from_millis((d.as_millis().min(u128::from(u64::MAX)) as u64 + 50) / 100 * 100)
}

/// One warning for every device whose exposition had unreadable lines.
fn skipped_warning(skipped: &[(String, exposition::Skipped)]) -> Option<String> {
    let total: usize = skipped.iter().map(|(_, s)| s.count).sum();
    if total == 0 {
        return None;
    }
    let mut w = format!(
        "{total} exposition line{} skipped as not in the Prometheus text format, on {} device{}: ",
        if total == 1 { "" } else { "s" },
        skipped.len(),
        if skipped.len() == 1 { "" } else { "s" },
    );
    let shown: Vec<String> = skipped
        .iter()
        .take(3)
        .map(|(id, s)| {
            format!(
                "{} ({}{})",
                crate::text::sanitize_max(id, 40),
                s.count,
                s.first
                    .as_ref()
                    .map(|f| format!(", {f}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    w.push_str(&shown.join("; "));
    if skipped.len() > 3 {
        w.push_str(&format!("; and {} more", skipped.len() - 3));
    }
    Some(w)
}

/// Earlier scrapes of one device, kept so that a rate over `window` uses the
/// oldest scrape inside the window, as PromQL's `rate(x[window])` does, rather
/// than only the previous scrape (whose few seconds of requests make error
/// shares and quantiles jumpy). Thinned to a handful of entries spaced at
/// least a quarter window apart, so memory stays bounded whatever the refresh.
#[derive(Default)]
pub struct Anchors(std::collections::VecDeque<ScrapeData>);

impl Anchors {
    /// The base for a rate over `window` ending at `cur`: the oldest kept scrape
    /// inside the window, else (refresh slower than the window) the newest.
    pub fn base(&self, cur: &ScrapeData, window: Duration) -> Option<&ScrapeData> {
        let earlier = |a: &&ScrapeData| a.at < cur.at;
        self.0
            .iter()
            .filter(earlier)
            .find(|a| cur.at.duration_since(a.at) <= window)
            .or_else(|| self.0.iter().rev().find(earlier))
    }

    /// Keeps `cur` as a future base.
    pub fn push(&mut self, cur: ScrapeData, max_window: Duration) {
        let now = cur.at;
        self.0.push_back(cur);
        let n = self.0.len();
        if n >= 3 && self.0[n - 2].at.duration_since(self.0[n - 3].at) < max_window / 4 {
            self.0.remove(n - 2);
        }
        while self.0.len() > 2 && now.duration_since(self.0[1].at) >= max_window {
            self.0.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn too_large() -> String {
    format!(
        "response too large (over {} MiB)",
        MAX_SCRAPE_BODY / (1024 * 1024)
    )
}

/// GETs the exposition text, reading at most [`MAX_SCRAPE_BODY`] bytes.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let mut resp = client
        .get(url)
        .header(
            reqwest::header::ACCEPT,
            "text/plain;version=0.0.4;q=1,*/*;q=0.1",
        )
        .send()
        .await
        .map_err(|e| describe_error(&e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    let announced = resp.content_length().unwrap_or(0);
    if announced > MAX_SCRAPE_BODY as u64 {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity((announced as usize).min(256 * 1024));
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe_error(&e))? {
        if body.len() + chunk.len() > MAX_SCRAPE_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// [`describe_error`] of a connect timeout.
const CONNECT_TIMEOUT: &str = "connect timeout";

/// A short reason for the device list: "connection refused", not a chain of wrappers.
fn describe_error(e: &reqwest::Error) -> String {
    use std::error::Error;
    use std::io::ErrorKind;
    if e.is_timeout() {
        return if e.is_connect() {
            CONNECT_TIMEOUT
        } else {
            "timeout"
        }
        .into();
    }
    let mut innermost: Option<&dyn Error> = None;
    let mut source = e.source();
    while let Some(s) = source {
        if s.to_string().starts_with("dns error") {
            return "cannot resolve the host name".into();
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let known = match io.kind() {
                ErrorKind::ConnectionRefused => Some("connection refused"),
                ErrorKind::ConnectionReset => Some("connection reset"),
                ErrorKind::ConnectionAborted => Some("connection aborted"),
                ErrorKind::TimedOut => Some("timeout"),
                ErrorKind::HostUnreachable => Some("host unreachable"),
                ErrorKind::NetworkUnreachable => Some("network unreachable"),
                ErrorKind::UnexpectedEof => Some("connection closed early"),
                _ => None,
            };
            if let Some(k) = known {
                return k.into();
            }
        }
        innermost = Some(s);
        source = s.source();
    }
    let text = match innermost {
        Some(s) if e.is_connect() && e.url().is_some_and(|u| u.scheme() == "https") => {
            format!("TLS handshake failed: {s}")
        }
        Some(s) => s.to_string(),
        None if e.is_connect() => "cannot connect".into(),
        None if e.is_body() || e.is_decode() => {
            "connection closed while reading the response".into()
        }
        None => e.to_string(),
    };
    crate::text::sanitize_max(&text, 120).into_owned()
}

/// Exposition text → scrape. A body with content but no sample the parser
/// accepts is not an exporter (an HTML error page, a binary): the device is down.
fn parse_body(body: &[u8], at: Instant, needed: &Needed) -> Result<ScrapeData, String> {
    let text = std::str::from_utf8(body).map_err(|e| {
        format!(
            "response is not text (invalid UTF-8 at byte {})",
            e.valid_up_to()
        )
    })?;
    let data = ScrapeData::parse_needed(text, at, needed);
    if data.samples() == 0
        && text.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#')
        })
    {
        return Err("response is not in the Prometheus text format".into());
    }
    Ok(data)
}

#[cfg(test)]
mod anchor_tests {
    use super::*;

    fn at(base: Instant, secs: u64) -> ScrapeData {
        ScrapeData::parse("up 1\n", base + Duration::from_secs(secs))
    }

    #[test]
    fn base_is_the_oldest_scrape_inside_the_window_and_memory_stays_bounded() {
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        let mut a = Anchors::default();
        for s in (0..=600).step_by(2) {
            a.push(at(t0, s), w);
            assert!(a.len() <= 8, "{} anchors kept at {s}s", a.len());
        }
        let cur = at(t0, 602);
        let base = a.base(&cur, w).expect("a base");
        let age = cur.at.duration_since(base.at);
        assert!(age <= w && age >= w / 2, "base {age:?} old");
        // A refresh slower than the window still gets a rate, over the last interval.
        let mut slow = Anchors::default();
        slow.push(at(t0, 0), w);
        let cur = at(t0, 120);
        assert_eq!(slow.base(&cur, w).map(|b| b.at), Some(t0));
        assert!(Anchors::default().base(&cur, w).is_none());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::def::MetricDefs;

    fn parse(json: &str) -> Result<Vec<Target>, String> {
        parse_inventory(json.as_bytes(), &LabelNames::default())
    }

    #[test]
    fn targets_and_meta_labels() {
        let t = parse(
            r#"[{"targets": ["10.0.0.1:9100", "pi-2:9100"],
                 "labels": {"site": "ams", "__metrics_path__": "probe", "__scheme__": "https",
                            "__param_module": "pi", "rack": "r1"}},
                {"targets": ["pi-3:9100"], "labels": {"device": "pi-three", "group": "canary"}}]"#,
        )
        .unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].id, "10.0.0.1:9100");
        assert_eq!(t[0].url, "https://10.0.0.1:9100/probe?module=pi");
        assert_eq!(t[0].site, "ams");
        assert_eq!(t[0].group, UNKNOWN_PLACE);
        assert_eq!(t[0].labels.keys().collect::<Vec<_>>(), ["rack", "site"]);
        assert_eq!(t[2].id, "pi-three");
        assert_eq!(t[2].url, "http://pi-3:9100/metrics");
        assert_eq!(t[2].site, UNKNOWN_PLACE);
        assert_eq!(t[2].group, "canary");
        assert!(parse("[]").unwrap().is_empty());
    }

    #[test]
    fn bad_inventories_say_what_and_where() {
        let e = parse("[{\"targets\": [\"a:1\"]},\n  {\"targets\": \"b:1\"}]").unwrap_err();
        assert!(e.contains("wrong shape at [1].targets"), "{e}");
        assert!(e.contains("line 2 column"), "{e}");
        let e = parse("[{\"targets\": [\"a:1\"],}]").unwrap_err();
        assert!(
            e.starts_with("not valid JSON") && e.contains("line 1 column"),
            "{e}"
        );
        let e = parse("[] []").unwrap_err();
        assert!(e.contains("trailing"), "{e}");
        let e = parse(r#"[{"targets": ["http://a:1"]}]"#).unwrap_err();
        assert!(e.contains("__scheme__"), "{e}");
        let e = parse(r#"[{"targets": ["a:1/metrics"]}]"#).unwrap_err();
        assert!(e.contains("__metrics_path__"), "{e}");
        let e = parse(r#"[{"targets": ["a:1"], "labels": {"__scheme__": "ftp"}}]"#).unwrap_err();
        assert!(e.contains("'ftp'"), "{e}");
        let e = parse(r#"[{"targets": ["a:1", "a:1"]}]"#).unwrap_err();
        assert!(e.contains("appears twice"), "{e}");
        let e = parse(r#"[{"targets": [""]}]"#).unwrap_err();
        assert!(e.contains("[0].targets[0] is empty"), "{e}");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any bytes: an inventory or an error, never a panic.
            #[test]
            fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                let _ = parse_inventory(&bytes, &LabelNames::default());
            }

            /// Well-formed groups with hostile label values and addresses: every
            /// accepted target keeps its label values exactly.
            #[test]
            fn hostile_groups_parse_or_are_refused(
                groups in prop::collection::vec(
                    (prop::collection::vec("[a-z0-9.:\\[\\]/ -]{0,12}", 0..4),
                     prop::collection::btree_map("[a-z_]{1,8}", any::<String>(), 0..4)),
                    0..5),
            ) {
                let json: Vec<serde_json::Value> = groups
                    .iter()
                    .map(|(t, l)| serde_json::json!({"targets": t, "labels": l}))
                    .collect();
                let text = serde_json::to_vec(&json).unwrap_or_default();
                if let Ok(targets) = parse_inventory(&text, &LabelNames::default()) {
                    for t in &targets {
                        for (k, v) in &t.labels {
                            prop_assert!(!k.starts_with("__") && !v.is_empty());
                        }
                        prop_assert!(reqwest::Url::parse(&t.url).is_ok());
                    }
                }
            }
        }
    }

    #[test]
    fn the_budget_is_inside_the_workers_deadline() {
        for ms in [1, 100, 250, 251, 1000, 5000, 60_000] {
            let t = Duration::from_millis(ms);
            for c in [1, 64, 10_000] {
                for n in [0, 1, 400, 100_000] {
                    let b = refresh_budget(t, c, n);
                    assert!(
                        b >= t && b <= t * 2 + Duration::from_millis(250),
                        "{t:?} {c} {n}: {b:?}"
                    );
                    assert!(
                        b < crate::runtime::refresh_deadline(t, Duration::ZERO),
                        "{t:?} {c} {n}"
                    );
                }
            }
        }
        assert_eq!(
            refresh_budget(Duration::from_secs(5), 64, 400),
            Duration::from_millis(8750)
        );
        assert_eq!(
            slot_hold(Duration::from_secs(5)),
            Duration::from_millis(500)
        );
        assert_eq!(
            round_tenths(Duration::from_millis(4_951)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn garbage_bodies_are_down() {
        let now = Instant::now();
        let needed = &Needed::from_defs(&MetricDefs::default());
        let parse_body = |b: &[u8], at| parse_body(b, at, needed);
        assert!(parse_body(b"<html>502 Bad Gateway</html>", now).is_err());
        assert!(parse_body(&[0xff, 0xfe, 0x00, 0x12], now).is_err());
        assert!(parse_body(b"", now).is_ok());
        assert!(parse_body(b"# only comments\n", now).is_ok());
        assert_eq!(parse_body(b"up 1\n", now).map(|d| d.samples()), Ok(1));
    }
}
