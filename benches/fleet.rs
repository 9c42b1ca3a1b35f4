//! `cargo bench --bench fleet`: the figures the console's speed targets are
//! judged by (docs/ARCHITECTURE.md, issue 2). Prints one line per measurement
//! with the median and the worst of several runs. Nothing here asserts time;
//! `cargo test --benches` (scripts/test.sh) runs it once, quickly, for its
//! asserts (benches/common).
//!
//! The fleet is realistic (benches/common: mostly healthy, some slow,
//! erroring, hot or down devices).
//!
//! - fleet model from a Prometheus refresh: the JSON answers of every query
//!   (served on loopback), parsed, assembled, built (< 50 ms for 10,000
//!   devices over 200 sites)
//! - a full frame at 160×48, sites and devices views, 100 and 10,000
//!   devices, encoded to bytes by the crossterm backend (< 2 ms)
//! - a filter keystroke to the next frame with 10,000 devices (< 16 ms)
//! - memory of 1 h of kept history for 10,000 devices (< 100 MB)
//! - direct scrape of 1,000 simulated devices on loopback (< 1 s)
//! - tunnel status (issue 5): matching 10,000 devices to 10,000 WireGuard
//!   peers (the tunnel worker, off the UI thread), a frame with the TUNNEL
//!   column, a new reading applied while sorted by tunnel
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

mod common;

use common::{Condition, condition, devices, measure, quick, sites, snapshot};
use fleetdeck::app::keymap::{Key, KeyCode, Keymap};
use fleetdeck::app::{App, Event, Settings};
use fleetdeck::fleet::{Fleet, Health, Thresholds};
use fleetdeck::history::History;
use fleetdeck::metrics::def::{Figure, MetricDefs};
use fleetdeck::metrics::prometheus::PrometheusSource;
use fleetdeck::metrics::{LabelNames, PrometheusOptions, ScrapeOptions, Source, promql};
use fleetdeck::tui::theme::Theme;
use fleetdeck::tui::views;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Where the crossterm backend writes: memory, counting the bytes.
struct Sink {
    buf: Vec<u8>,
    written: Arc<AtomicUsize>,
}

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() > (1 << 20) {
            self.buf.clear();
        }
        self.buf.extend_from_slice(b);
        self.written.fetch_add(b.len(), Ordering::Relaxed);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A 160×48 terminal whose bytes go to memory: what a frame costs including
/// the escape sequences crossterm writes.
struct Term {
    term: Terminal<CrosstermBackend<Sink>>,
    written: Arc<AtomicUsize>,
}

fn terminal() -> Term {
    let written = Arc::new(AtomicUsize::new(0));
    let sink = Sink {
        buf: Vec::with_capacity(1 << 20),
        written: written.clone(),
    };
    let term = Terminal::with_options(
        CrosstermBackend::new(sink),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, 160, 48)),
        },
    )
    .expect("terminal");
    Term { term, written }
}

/// Draws a whole frame (against a blank screen, as after a clear) and
/// returns how long it took and how many bytes it wrote.
fn full_frame(t: &mut Term, app: &App, theme: &Theme) -> (Duration, usize) {
    // The previous buffer becomes blank: every cell with content is written.
    t.term.swap_buffers();
    let before = t.written.load(Ordering::Relaxed);
    let started = Instant::now();
    t.term.draw(|f| views::draw(f, app, theme)).expect("draw");
    (
        started.elapsed(),
        t.written.load(Ordering::Relaxed) - before,
    )
}

/// Draws the next frame (only what changed is written, as in the console).
fn next_frame(t: &mut Term, app: &App, theme: &Theme) {
    t.term.draw(|f| views::draw(f, app, theme)).expect("draw");
}

fn app_with(n: usize, sites: usize) -> App {
    let settings = Settings {
        read_only: false,
        stale_after: Duration::from_secs(30),
        sparkline: Duration::from_secs(1800),
        themes: vec!["default".into()],
        remote_history: false,
        history_span: Duration::from_secs(3600),
        operator: "tester@test".into(),
        rollouts_configured: false,
        allow_shell_read_only: true,
    };
    let now = SystemTime::now();
    let mut app = App::new(
        settings,
        Keymap::default(),
        "bench".into(),
        "default".into(),
        now,
    );
    let fleet = Arc::new(Fleet::build(
        snapshot(n, sites, now),
        None,
        &Thresholds::default(),
    ));
    app.update(Event::Fleet {
        generation: 1,
        result: Ok(fleet),
        warnings: vec![],
    });
    app
}

/// Bytes allocated and not yet freed, counted by [`Counting`].
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes: what a structure really holds
/// (the process RSS keeps what earlier measurements freed).
struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, passed on.
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, passed on.
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |pages| pages * 4096.0 / 1e6)
}

/// The answers a Prometheus gives to one refresh of `source` (every query
/// it sends: the `up` inventory, one per figure, the release, the agent
/// state), as JSON text, keyed by query.
fn prometheus_answers(
    source: &PrometheusSource,
    opts: &PrometheusOptions,
    n: usize,
) -> HashMap<String, String> {
    let sites = sites(n);
    let vector = |series: Vec<String>| {
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            series.join(",")
        )
    };
    let t = "1764770000.123";
    let job = opts.job.as_deref();
    let mut answers = HashMap::new();
    let up = (0..n)
        .map(|i| {
            format!(
                r#"{{"metric":{{"__name__":"up","device":"{}","group":"{}","instance":"10.{}.{}.{}:9100","job":"fleet","site":"{}"}},"value":[{t},"{}"]}}"#,
                common::device_id(i),
                common::GROUPS[i % 4],
                20 + i / 65536,
                (i / 256) % 256,
                i % 256,
                common::site(i, sites),
                if condition(i) == Condition::Down { 0 } else { 1 },
            )
        })
        .collect();
    answers.insert(promql::inventory_query(job), vector(up));
    for f in Figure::ALL {
        let series = (0..n)
            .flat_map(|i| {
                common::figures(i)
                    .into_iter()
                    .filter(move |(g, _)| *g == f)
                    .map(move |(_, v)| {
                        format!(
                            r#"{{"metric":{{"device":"{}"}},"value":[{t},"{v}"]}}"#,
                            common::device_id(i)
                        )
                    })
            })
            .collect();
        answers.insert(source.figure_query(f, &[]), vector(series));
    }
    let up_devices = || (0..n).filter(|&i| condition(i) != Condition::Down);
    let releases = up_devices()
        .map(|i| {
            let r = common::release(i);
            format!(
                r#"{{"metric":{{"device":"{}","image_digest":"{}","model_digest":"{}","release":"{}","version":"{}"}},"value":[{t},"1"]}}"#,
                common::device_id(i),
                r.image_digest,
                r.model_digest,
                r.release,
                r.version
            )
        })
        .collect();
    answers.insert(
        promql::release_query(&opts.defs, job, &opts.labels),
        vector(releases),
    );
    let states = up_devices()
        .map(|i| {
            format!(
                r#"{{"metric":{{"device":"{}","state":"idle"}},"value":[{t},"1"]}}"#,
                common::device_id(i)
            )
        })
        .collect();
    answers.insert(
        promql::agent_state_query(&opts.defs, job, &opts.labels),
        vector(states),
    );
    answers
}

/// `application/x-www-form-urlencoded` value decoding.
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A Prometheus on loopback that answers each query from `answers` (an API
/// error for any other query, so a missed one shows as a warning).
async fn serve_answers(answers: HashMap<String, String>) -> std::net::SocketAddr {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;
    let answers: Arc<HashMap<String, bytes::Bytes>> = Arc::new(
        answers
            .into_iter()
            .map(|(q, body)| (q, bytes::Bytes::from(body)))
            .collect(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answers = answers.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let answers = answers.clone();
                        async move {
                            let form = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let form = String::from_utf8_lossy(&form).into_owned();
                            let query = form
                                .split('&')
                                .find_map(|kv| kv.strip_prefix("query="))
                                .map(form_decode)
                                .unwrap_or_default();
                            let body = answers.get(&query).cloned().unwrap_or_else(|| {
                            bytes::Bytes::from(format!(
                                r#"{{"status":"error","errorType":"bad_data","error":"bench has no answer for {query:?}"}}"#
                            ))
                        });
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(body)))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn main() {
    let th = Thresholds::default();
    let now = SystemTime::now();
    let n = devices(10_000);
    let sites = sites(n);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if quick() {
        println!("(quick run: {n} devices, every measurement once; `cargo bench` for figures)");
    }

    // The fleet model from a Prometheus refresh: answers parsed, assembled, built.
    rt.block_on(async {
        let mut opts = PrometheusOptions {
            url: String::new(),
            job: Some("fleet".into()),
            bearer_token: None,
            basic_auth: None,
            tenant: None,
            ca_file: None,
            timeout: Duration::from_secs(10),
            labels: LabelNames::default(),
            defs: MetricDefs::default(),
            recording_rules: false,
        };
        let probe = PrometheusSource::new(PrometheusOptions {
            url: "http://127.0.0.1:9".into(),
            ..opts.clone()
        })
        .expect("source");
        let answers = prometheus_answers(&probe, &opts, n);
        let bytes: usize = answers.values().map(String::len).sum();
        opts.url = format!("http://{}", serve_answers(answers).await);
        let mut source = PrometheusSource::new(opts).expect("source");
        let mut times = Vec::new();
        let runs = if quick() { 1 } else { 15 };
        let mut fleet = None;
        for _ in 0..runs {
            let t = Instant::now();
            let snap = source.refresh().await.expect("refresh");
            let f = Fleet::build(snap, fleet.as_ref(), &th);
            times.push(t.elapsed());
            fleet = Some(f);
        }
        assert!(
            source.last_warnings().is_empty(),
            "{:?}",
            source.last_warnings()
        );
        let f = fleet.expect("a refresh");
        assert_eq!(f.devices.len(), n);
        assert_eq!(f.sites.len(), sites);
        // Every device shows what the answers said about it.
        let expect = |c: Condition| (0..n).filter(|&i| condition(i) == c).count();
        let count = |h: Health| f.devices.iter().filter(|d| d.health == h).count();
        assert_eq!(count(Health::Down), expect(Condition::Down));
        assert_eq!(
            count(Health::Degraded),
            expect(Condition::Slow) + expect(Condition::Erroring) + expect(Condition::Hot)
        );
        assert_eq!(count(Health::Up), expect(Condition::Healthy));
        times.sort();
        println!(
            "{:<62} median {:>9.3} ms   worst {:>9.3} ms   ({runs} runs)",
            format!(
                "model from a Prometheus refresh ({} kB JSON), {n} devices",
                bytes / 1000
            ),
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3
        );
    });
    let prev = Fleet::build(snapshot(n, sites, now), None, &th);
    measure(
        "model build alone, with previous refresh (stale carry-over)",
        15,
        || {
            let s = snapshot(n, sites, now);
            let t = Instant::now();
            let f = Fleet::build(s, Some(&prev), &th);
            let d = t.elapsed();
            assert_eq!(f.devices.len(), n);
            d
        },
    );

    let theme = Theme::builtin_default();
    for count in [100usize, n] {
        for (view, key) in [("sites", '1'), ("devices", '3')] {
            let mut app = app_with(count, sites.min(count));
            app.update(Event::Key(Key::char(key)));
            let mut term = terminal();
            let mut bytes = 0;
            measure(
                &format!("full frame 160x48 to bytes, {view} view, {count} devices"),
                50,
                || {
                    let (d, b) = full_frame(&mut term, &app, &theme);
                    bytes = b;
                    d
                },
            );
            // Most cells of a full table carry text: well over a byte each.
            assert!(
                bytes > 160 * 48,
                "{view}: a full frame wrote only {bytes} bytes"
            );
        }
    }

    let mut app = app_with(n, sites);
    app.update(Event::Key(Key::char('3')));
    app.update(Event::Key(Key::char('/')));
    let mut term = terminal();
    next_frame(&mut term, &app, &theme);
    let keys = ['s', 'i', 't', 'e', '-', '0', '4'];
    let mut i = 0;
    measure(
        &format!("filter keystroke + next frame, {n} devices"),
        28,
        || {
            let k = if i % 8 == 7 {
                Key::plain(KeyCode::Backspace)
            } else {
                Key::char(keys[i % keys.len()])
            };
            i += 1;
            let t = Instant::now();
            app.update(Event::Key(k));
            next_frame(&mut term, &app, &theme);
            t.elapsed()
        },
    );
    let mut app = app_with(n, sites);
    app.update(Event::Key(Key::char('3')));
    let mut flip = false;
    measure(
        &format!("sort change (next column) + next frame, {n} devices"),
        20,
        || {
            flip = !flip;
            let t = Instant::now();
            app.update(Event::Key(Key::char(if flip { '>' } else { '<' })));
            next_frame(&mut term, &app, &theme);
            t.elapsed()
        },
    );

    // A refresh arriving while a rollout is loaded: progress, gates and the
    // drift check.
    {
        use fleetdeck::rollout::plan::{DigestRef, Plan, ReleaseSpec};
        let spec = |v: &str, hex: &str| ReleaseSpec {
            version: v.into(),
            image: DigestRef::parse(&format!("registry.local/vision@sha256:{}", hex.repeat(32)))
                .expect("ref"),
            model: None,
            sbom: None,
        };
        let mut app = app_with(n, sites);
        app.signatures.enabled = true;
        app.update(Event::Rollouts {
            result: Ok(vec![Ok(Plan::new(
                "vision-1.5.0",
                spec("1.5.0", "ef"),
                spec("1.4.0", "ab"),
            ))]),
        });
        let mut generation = 1;
        measure(
            &format!("refresh event with a rollout + drift check, {n} devices"),
            15,
            || {
                let fleet = Arc::new(Fleet::build(snapshot(n, sites, now), None, &th));
                generation += 1;
                let t = Instant::now();
                app.update(Event::Fleet {
                    generation,
                    result: Ok(fleet),
                    warnings: vec![],
                });
                let d = t.elapsed();
                assert_eq!(app.fleet.devices.len(), n);
                d
            },
        );
    }
    tunnel_status(&theme, now, n);

    // Memory: 1 h of history for every device, every bucket filled.
    let base = SystemTime::now();
    let mut fleet = Fleet::build(snapshot(n, sites, base), None, &th);
    let before = LIVE.load(Ordering::Relaxed);
    let mut h = History::new(Duration::from_secs(3600), 120);
    let t = Instant::now();
    for b in 0..120u64 {
        fleet.taken_at = Some(base + Duration::from_secs(30 * b));
        for d in &mut fleet.devices {
            d.last_seen = fleet.taken_at;
        }
        h.record(&fleet);
    }
    let per = t.elapsed() / 120;
    // What the history holds on the heap (the fleet it recorded is not counted).
    let held = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    println!(
        "{:<62} {:>9.1} MB   (process RSS {:.0} MB; record() {:.3} ms per refresh)",
        format!("history, 1 h x {n} devices x 13 figures"),
        held as f64 / 1e6,
        rss_mb(),
        per.as_secs_f64() * 1e3
    );
    assert_eq!(h.device_count(), n);
    assert!(held > 0, "the history holds nothing");

    // Direct scrape of simulated devices over loopback.
    let scraped = if quick() { 200 } else { 1000 };
    rt.block_on(async {
        let sim = fleetdeck::sim::SimHandle::start(
            fleetdeck::sim::SimOptions {
                devices: scraped,
                sites: 20,
                ..Default::default()
            },
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("sim");
        let dir = tempfile::tempdir().expect("tempdir");
        let inv = dir.path().join("inventory.json");
        sim.write_inventory(&inv).expect("inventory");
        let mut source = Source::Scrape(Box::new(
            fleetdeck::metrics::scrape::ScrapeSource::new(ScrapeOptions {
                inventory: inv,
                timeout: Duration::from_secs(5),
                concurrency: 64,
                labels: LabelNames::default(),
                defs: MetricDefs::default(),
            })
            .expect("source"),
        ));
        let runs = if quick() { 1 } else { 7 };
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let s = source.refresh().await.expect("refresh");
            times.push(t.elapsed());
            assert_eq!(s.devices.len(), scraped);
        }
        times.sort();
        println!(
            "{:<62} median {:>9.3} ms   worst {:>9.3} ms   ({runs} runs)",
            format!("direct scrape + compute, {scraped} devices on loopback"),
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3
        );
        sim.shutdown().await;
    });
}

/// Tunnel status for `n` devices: the worker's matching (off the UI
/// thread), then what the UI thread pays: a frame with the TUNNEL column, and
/// a new reading applied (re-sorted by tunnel) plus the next frame.
fn tunnel_status(theme: &Theme, now: SystemTime, n: usize) {
    use fleetdeck::remote::wireguard::{InterfaceStatus, PeerStatus};
    let ip = |i: usize| format!("10.8.{}.{}", i / 250, i % 250 + 1);
    let mut s = snapshot(n, sites(n), now);
    for (i, d) in s.devices.iter_mut().enumerate() {
        d.labels.insert("tunnel_ip".into(), ip(i));
    }
    let fleet = Fleet::build(s, None, &Thresholds::default());
    let iface = InterfaceStatus {
        name: "wg-fleet".into(),
        backend: "userspace",
        peers: (0..n)
            .map(|i| PeerStatus {
                public_key: format!("peer{i:05}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                endpoint: Some(format!("192.0.2.{}:51820", i % 250 + 1)),
                allowed_ips: vec![format!("{}/32", ip(i))],
                last_handshake: Some(now - Duration::from_secs((i % 400) as u64)),
                rx_bytes: i as u64 * 1000,
                tx_bytes: i as u64 * 500,
                keepalive: Some(25),
            })
            .collect(),
        listen_port: Some(51820),
        read_at: now,
    };
    measure(
        &format!("tunnel worker: match {n} devices to {n} peers"),
        15,
        || {
            let t = Instant::now();
            let r = fleetdeck::runtime::tunnels::reading(&iface, &fleet, Some("tunnel_ip"), now);
            let d = t.elapsed();
            assert_eq!(r.tunnels.len(), n);
            d
        },
    );
    let reading = fleetdeck::runtime::tunnels::reading(&iface, &fleet, Some("tunnel_ip"), now);
    let mut app = app_with(n, sites(n));
    app.tunnels.interface = Some("wg-fleet".into());
    app.update(Event::Tunnels {
        result: Ok(reading.clone()),
    });
    app.update(Event::Key(Key::char('3')));
    let mut term = terminal();
    measure(
        &format!("full frame 160x48 to bytes, devices + TUNNEL column, {n}"),
        50,
        || full_frame(&mut term, &app, theme).0,
    );
    while app.screen().sort.column
        != fleetdeck::app::DeviceCol::ALL
            .iter()
            .position(|c| *c == fleetdeck::app::DeviceCol::Tunnel)
            .expect("tunnel column")
    {
        app.update(Event::Key(Key::char('>')));
    }
    measure(
        &format!("new tunnel reading, sorted by tunnel, + next frame, {n}"),
        15,
        || {
            let r = reading.clone();
            let t = Instant::now();
            app.update(Event::Tunnels { result: Ok(r) });
            next_frame(&mut term, &app, theme);
            t.elapsed()
        },
    );
}
