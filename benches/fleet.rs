//! `cargo bench --bench fleet`: the figures the console's speed targets are
//! judged by (DESIGN.md, issue 2). Prints one line per measurement with the
//! median and the worst of several runs. Not a test: nothing here asserts time.
//!
//! - fleet model build from a 10,000-device snapshot over 200 sites (< 50 ms)
//! - a full frame at 160×48, sites and devices views, 100 and 10,000 devices (< 2 ms)
//! - a filter keystroke to the next frame with 10,000 devices (< 16 ms)
//! - memory of 1 h of kept history for 10,000 devices (< 100 MB)
//! - direct scrape of 1,000 simulated devices on loopback (< 1 s)
//! - tunnel status (issue 5): matching 10,000 devices to 10,000 WireGuard
//!   peers (the tunnel worker, off the UI thread), a frame with the TUNNEL
//!   column, a new reading applied while sorted by tunnel
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

use fleetdeck::app::keymap::{Key, KeyCode, Keymap};
use fleetdeck::app::{App, Event, Settings};
use fleetdeck::fleet::{DeviceSample, Fleet, Release, Snapshot, Thresholds};
use fleetdeck::history::History;
use fleetdeck::metrics::def::{Figure, MetricDefs};
use fleetdeck::metrics::{LabelNames, ScrapeOptions, Source};
use fleetdeck::tui::theme::Theme;
use fleetdeck::tui::views;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn snapshot(n: usize, sites: usize, at: SystemTime) -> Snapshot {
    let devices = (0..n)
        .map(|i| {
            let mut s = DeviceSample::new(
                &format!("pi-{:05}", i + 1),
                &format!("site-{:03}", i % sites),
                ["canary", "vision", "kiosk", "gate"][i % 4],
            );
            s.labels.insert("device".into(), s.id.clone());
            s.labels.insert("site".into(), s.site.clone());
            s.labels.insert("group".into(), s.group.clone());
            for f in Figure::ALL {
                s.figures
                    .set(f, Some((i % 97) as f64 / 97.0 + f.index() as f64));
            }
            s.release = Some(Release {
                version: if i % 10 == 0 { "1.5.0" } else { "1.4.0" }.into(),
                release: "r41".into(),
                image_digest: "sha256:ab".into(),
                model_digest: "sha256:cd".into(),
            });
            s
        })
        .collect();
    Snapshot {
        source: "bench".into(),
        taken_at: at,
        devices,
    }
}

fn measure(name: &str, runs: usize, mut f: impl FnMut() -> Duration) {
    let mut v: Vec<Duration> = (0..runs).map(|_| f()).collect();
    v.sort();
    println!(
        "{name:<58} median {:>9.3} ms   worst {:>9.3} ms   ({runs} runs)",
        v[v.len() / 2].as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3
    );
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

fn main() {
    let th = Thresholds::default();
    let now = SystemTime::now();

    measure("fleet model build, 10,000 devices / 200 sites", 15, || {
        let s = snapshot(10_000, 200, now);
        let t = Instant::now();
        let f = Fleet::build(s, None, &th);
        let d = t.elapsed();
        assert_eq!(f.devices.len(), 10_000);
        d
    });
    let prev = Fleet::build(snapshot(10_000, 200, now), None, &th);
    measure(
        "fleet model build with previous refresh (stale carry-over)",
        15,
        || {
            let s = snapshot(10_000, 200, now);
            let t = Instant::now();
            let f = Fleet::build(s, Some(&prev), &th);
            let d = t.elapsed();
            assert_eq!(f.devices.len(), 10_000);
            d
        },
    );

    let theme = Theme::builtin_default();
    for n in [100usize, 10_000] {
        for (view, key) in [("sites", '1'), ("devices", '3')] {
            let mut app = app_with(n, 200);
            app.update(Event::Key(Key::char(key)));
            let mut term = Terminal::new(TestBackend::new(160, 48)).expect("backend");
            measure(
                &format!("frame 160x48, {view} view, {n} devices"),
                50,
                || {
                    let t = Instant::now();
                    term.draw(|f| views::draw(f, &app, &theme)).expect("draw");
                    t.elapsed()
                },
            );
        }
    }

    let mut app = app_with(10_000, 200);
    app.update(Event::Key(Key::char('3')));
    app.update(Event::Key(Key::char('/')));
    let mut term = Terminal::new(TestBackend::new(160, 48)).expect("backend");
    let keys = ['s', 'i', 't', 'e', '-', '0', '4'];
    let mut i = 0;
    measure("filter keystroke + next frame, 10,000 devices", 28, || {
        let k = if i % 8 == 7 {
            Key::plain(KeyCode::Backspace)
        } else {
            Key::char(keys[i % keys.len()])
        };
        i += 1;
        let t = Instant::now();
        app.update(Event::Key(k));
        term.draw(|f| views::draw(f, &app, &theme)).expect("draw");
        t.elapsed()
    });
    let mut app = app_with(10_000, 200);
    app.update(Event::Key(Key::char('3')));
    let mut flip = false;
    measure(
        "sort change (next column) + frame, 10,000 devices",
        20,
        || {
            flip = !flip;
            let t = Instant::now();
            app.update(Event::Key(Key::char(if flip { '>' } else { '<' })));
            term.draw(|f| views::draw(f, &app, &theme)).expect("draw");
            t.elapsed()
        },
    );

    // A refresh arriving while a rollout is loaded: progress, gates and the
    // drift check (every device on a digest no rollout names: the worst case).
    {
        use fleetdeck::rollout::plan::{DigestRef, Plan, ReleaseSpec};
        let spec = |v: &str, hex: &str| ReleaseSpec {
            version: v.into(),
            image: DigestRef::parse(&format!("registry.local/vision@sha256:{}", hex.repeat(32)))
                .expect("ref"),
            model: None,
            sbom: None,
        };
        let mut app = app_with(10_000, 200);
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
            "refresh event with a rollout + drift check, 10,000 devices",
            15,
            || {
                let fleet = Arc::new(Fleet::build(snapshot(10_000, 200, now), None, &th));
                generation += 1;
                let t = Instant::now();
                app.update(Event::Fleet {
                    generation,
                    result: Ok(fleet),
                    warnings: vec![],
                });
                let d = t.elapsed();
                assert_eq!(app.signatures.drift.len(), 10_000);
                d
            },
        );
    }
    tunnel_status(&theme, now);

    // Memory: 1 h of history for 10,000 devices, every bucket filled.
    let before = rss_mb();
    let mut h = History::new(Duration::from_secs(3600), 120);
    let base = SystemTime::now();
    let mut fleet = Fleet::build(snapshot(10_000, 200, base), None, &th);
    let t = Instant::now();
    for b in 0..120u64 {
        fleet.taken_at = Some(base + Duration::from_secs(30 * b));
        for d in &mut fleet.devices {
            d.last_seen = fleet.taken_at;
        }
        h.record(&fleet);
    }
    let per = t.elapsed() / 120;
    println!(
        "{:<58} {:>9.1} MB   (process RSS {:.0} MB; record() {:.3} ms per refresh)",
        "history, 1 h x 10,000 devices x 13 figures",
        rss_mb() - before,
        rss_mb(),
        per.as_secs_f64() * 1e3
    );
    assert_eq!(h.device_count(), 10_000);

    // Direct scrape of 1,000 simulated devices over loopback.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let sim = fleetdeck::sim::SimHandle::start(
            fleetdeck::sim::SimOptions {
                devices: 1000,
                sites: 20,
                ..Default::default()
            },
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("sim");
        let dir = std::env::temp_dir().join(format!("fleetdeck-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let inv = dir.join("inventory.json");
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
        let mut times = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            let s = source.refresh().await.expect("refresh");
            times.push(t.elapsed());
            assert_eq!(s.devices.len(), 1000);
        }
        times.sort();
        println!(
            "{:<58} median {:>9.3} ms   worst {:>9.3} ms   (7 runs)",
            "direct scrape + compute, 1,000 devices on loopback",
            times[3].as_secs_f64() * 1e3,
            times[6].as_secs_f64() * 1e3
        );
        sim.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// Tunnel status for 10,000 devices: the worker's matching (off the UI
/// thread), then what the UI thread pays: a frame with the TUNNEL column, and
/// a new reading applied (re-sorted by tunnel) plus the next frame.
fn tunnel_status(theme: &Theme, now: SystemTime) {
    use fleetdeck::remote::wireguard::{InterfaceStatus, PeerStatus};
    let ip = |i: usize| format!("10.8.{}.{}", i / 250, i % 250 + 1);
    let mut s = snapshot(10_000, 200, now);
    for (i, d) in s.devices.iter_mut().enumerate() {
        d.labels.insert("tunnel_ip".into(), ip(i));
    }
    let fleet = Fleet::build(s, None, &Thresholds::default());
    let iface = InterfaceStatus {
        name: "wg-fleet".into(),
        backend: "userspace",
        peers: (0..10_000)
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
        "tunnel worker: match 10,000 devices to 10,000 peers",
        15,
        || {
            let t = Instant::now();
            let r = fleetdeck::runtime::tunnels::reading(&iface, &fleet, Some("tunnel_ip"), now);
            let d = t.elapsed();
            assert_eq!(r.tunnels.len(), 10_000);
            d
        },
    );
    let reading = fleetdeck::runtime::tunnels::reading(&iface, &fleet, Some("tunnel_ip"), now);
    let mut app = app_with(10_000, 200);
    app.tunnels.interface = Some("wg-fleet".into());
    app.update(Event::Tunnels {
        result: Ok(reading.clone()),
    });
    app.update(Event::Key(Key::char('3')));
    let mut term = Terminal::new(TestBackend::new(160, 48)).expect("backend");
    measure(
        "frame 160x48, devices view + TUNNEL column, 10,000",
        50,
        || {
            let t = Instant::now();
            term.draw(|f| views::draw(f, &app, theme)).expect("draw");
            t.elapsed()
        },
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
        "new tunnel reading, sorted by tunnel, + frame, 10,000",
        15,
        || {
            let r = reading.clone();
            let t = Instant::now();
            app.update(Event::Tunnels { result: Ok(r) });
            term.draw(|f| views::draw(f, &app, theme)).expect("draw");
            t.elapsed()
        },
    );
}
