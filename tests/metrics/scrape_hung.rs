//! Hung exporters must not stall the fleet (issue 9, case 4). 400 targets from
//! two real `fleetdeck sim` processes; one of them is frozen with SIGSTOP, so
//! its 200 devices accept connections and never answer. Every refresh must
//! still publish within about one timeout: the 200 healthy devices up with
//! fresh figures, the 200 hung ones down with a timeout reason — through the
//! source, through the refresh worker the console uses, and through a one-shot
//! `fleetdeck status`.

use crate::support::exporter;

use exporter::SimProcess;
use fleetdeck::app::Event;
use fleetdeck::fleet::{Health, Reach, Snapshot};
use fleetdeck::metrics::def::Figure;
use fleetdeck::metrics::scrape::{ScrapeSource, refresh_budget};
use fleetdeck::metrics::{ScrapeOptions, Source};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(2);
const CONCURRENCY: usize = 64;
/// Slack on top of the budget for a loaded 2-core CI machine.
const MARGIN: Duration = Duration::from_secs(2);

struct Lab {
    _dir: tempfile::TempDir,
    inventory: PathBuf,
    healthy: SimProcess,
    hung: SimProcess,
}

/// Two sims of 200 devices, one inventory of 400 targets (`ok-…`, `hung-…`).
fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let healthy = SimProcess::start(dir.path(), "healthy", 200, 1);
    let hung = SimProcess::start(dir.path(), "hung", 200, 2);
    let mut groups = healthy.groups("ok-");
    groups.extend(hung.groups("hung-"));
    // Interleaved, so hung targets are spread over the whole inventory.
    let (mut ok, mut bad): (Vec<_>, Vec<_>) = groups
        .into_iter()
        .partition(|g| g["labels"]["device"].as_str().unwrap().starts_with("ok-"));
    let mut merged = Vec::new();
    while !ok.is_empty() || !bad.is_empty() {
        if !bad.is_empty() {
            merged.push(bad.remove(0));
        }
        if !ok.is_empty() {
            merged.push(ok.remove(0));
        }
    }
    assert_eq!(merged.len(), 400);
    let inventory = dir.path().join("inventory.json");
    std::fs::write(&inventory, serde_json::to_vec_pretty(&merged).unwrap()).unwrap();
    Lab {
        _dir: dir,
        inventory,
        healthy,
        hung,
    }
}

fn options(inventory: &Path) -> ScrapeOptions {
    ScrapeOptions {
        inventory: inventory.to_path_buf(),
        timeout: TIMEOUT,
        concurrency: CONCURRENCY,
        labels: Default::default(),
        defs: Default::default(),
    }
}

/// The most one refresh of the lab may take before the test calls it stalled.
fn bound() -> Duration {
    refresh_budget(TIMEOUT, CONCURRENCY, 400) + MARGIN
}

async fn timed_refresh(source: &mut ScrapeSource) -> (Snapshot, Duration) {
    let t0 = Instant::now();
    let snap = tokio::time::timeout(bound(), source.refresh())
        .await
        .unwrap_or_else(|_| panic!("refresh stalled: nothing published within {:?}", bound()))
        .expect("the inventory is fine");
    (snap, t0.elapsed())
}

/// Healthy devices up with figures, hung ones down because of a timeout.
fn check(snap: &Snapshot, rates: bool) {
    assert_eq!(snap.devices.len(), 400);
    let mut up = 0;
    for d in &snap.devices {
        if d.id.starts_with("ok-") {
            assert_eq!(d.reach, Reach::Up, "{} should be up", d.id);
            assert!(
                d.figures.get(Figure::Memory).is_some_and(f64::is_finite),
                "{} has no fresh memory figure",
                d.id
            );
            if rates {
                assert!(
                    d.figures.get(Figure::Throughput).is_some(),
                    "{} has no rate on a second refresh",
                    d.id
                );
            }
            up += 1;
        } else {
            match &d.reach {
                Reach::Down(Some(why)) => assert!(why.contains("timeout"), "{}: {why}", d.id),
                other => panic!("{} should be down with a reason, is {other:?}", d.id),
            }
        }
    }
    assert_eq!(up, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_the_fleet_hung_every_refresh_publishes_within_the_budget() {
    let mut lab = lab();
    let mut source = ScrapeSource::new(options(&lab.inventory)).unwrap();
    // All answer at first: keep-alive connections to both sims exist.
    let (snap, _) = timed_refresh(&mut source).await;
    assert!(snap.devices.iter().all(|d| d.reach == Reach::Up));

    lab.hung.freeze();
    let (first, took1) = timed_refresh(&mut source).await;
    check(&first, true);
    let hung = first
        .devices
        .iter()
        .find(|d| d.id.starts_with("hung-"))
        .unwrap();
    match &hung.reach {
        // "(connecting)" when its request needed a new connection and the
        // frozen process's listen queue was full.
        Reach::Down(Some(why)) => assert!(why.starts_with("timeout after 2s"), "{why}"),
        other => panic!("{other:?}"),
    }
    let (second, took2) = timed_refresh(&mut source).await;
    check(&second, true);
    assert!(second.taken_at > first.taken_at);
    fleetdeck::errln!(
        "400 targets, 200 hung, timeout {TIMEOUT:?}, concurrency {CONCURRENCY}: refreshes took {took1:?} and {took2:?} (budget {:?})",
        refresh_budget(TIMEOUT, CONCURRENCY, 400)
    );

    // Thawed, they come back at the next refresh.
    lab.hung.thaw();
    let (back, _) = timed_refresh(&mut source).await;
    assert!(
        back.devices.iter().all(|d| d.reach == Reach::Up),
        "{:?}",
        back.devices.iter().find(|d| d.reach != Reach::Up)
    );
    // Their scrapes from before the freeze were kept: rates at once, no warm-up.
    for d in back.devices.iter().filter(|d| d.id.starts_with("hung-")) {
        assert!(
            d.figures.get(Figure::Throughput).is_some(),
            "{} lost its rate base while it hung",
            d.id
        );
    }
    drop(lab.healthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_worker_keeps_publishing_while_exporters_hang() {
    let mut lab = lab();
    lab.hung.freeze();
    let source = Source::Scrape(Box::new(
        ScrapeSource::new(options(&lab.inventory)).unwrap(),
    ));
    // Longer than a refresh with hung targets (about 2.7 s here): healthy
    // devices must be updated every `every`, not every `every` + a timeout.
    let every = Duration::from_secs(5);
    let (_refresher, mut rx) = fleetdeck::runtime::refresh::spawn(
        source,
        Default::default(),
        every,
        fleetdeck::runtime::refresh_deadline(TIMEOUT, every),
    );
    let mut last_taken = None;
    let mut published = Vec::new();
    for generation in 1..=4u64 {
        let wait = bound() + every;
        let event = tokio::time::timeout(wait, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("refresh {generation} not published within {wait:?}"))
            .expect("worker alive");
        published.push(Instant::now());
        let Event::Fleet {
            generation: g,
            result,
            ..
        } = event
        else {
            panic!("not a fleet event: {event:?}");
        };
        assert_eq!(g, generation);
        let fleet = result.unwrap_or_else(|e| panic!("refresh {generation} failed: {e}"));
        assert_eq!(fleet.total.devices, 400);
        assert_eq!(fleet.total.down, 200, "refresh {generation}");
        assert_eq!(fleet.total.stale, 0, "refresh {generation}");
        for d in &fleet.devices {
            let healthy = d.id().starts_with("ok-");
            assert_eq!(
                d.health == Health::Down,
                !healthy,
                "{}: {:?}",
                d.id(),
                d.health
            );
        }
        assert!(
            fleet.taken_at > last_taken,
            "refresh {generation} is not newer"
        );
        last_taken = fleet.taken_at;
    }
    // After the warm-up pair, refreshes start every `every` whatever they last.
    for (i, pair) in published.windows(2).enumerate().skip(1) {
        let gap = pair[1] - pair[0];
        fleetdeck::errln!(
            "worker: refresh {} published {gap:?} after the previous",
            i + 2
        );
        assert!(
            gap < every + Duration::from_millis(1500),
            "healthy devices updated every {gap:?}, not every {every:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_one_shot_answers_with_hung_exporters() {
    let mut lab = lab();
    lab.hung.freeze();
    let config = lab.inventory.with_file_name("config.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nkind = \"scrape\"\ninventory = {:?}\ntimeout = \"2s\"\nconcurrency = {CONCURRENCY}\n",
            lab.inventory.display().to_string()
        ),
    )
    .unwrap();
    // Two refreshes (rates) and the sample between them.
    let sample = Duration::from_secs(1);
    let limit = bound() * 2 + sample + Duration::from_secs(3);
    let t0 = Instant::now();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("--config")
        .arg(&config)
        .args(["status", "--json", "--sample", "1s"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(limit, child)
        .await
        .unwrap_or_else(|_| panic!("fleetdeck status did not finish within {limit:?}"))
        .expect("fleetdeck status runs");
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status failed: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let devices = v["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 400);
    for d in devices {
        let id = d["id"].as_str().unwrap();
        if id.starts_with("ok-") {
            assert_ne!(d["health"], "down", "{id}: {d}");
        } else {
            assert_eq!(d["health"], "down", "{id}");
            assert!(d["reason"].as_str().unwrap().contains("timeout"), "{d}");
        }
    }
    fleetdeck::errln!("fleetdeck status with 200 of 400 hung took {took:?}");
}

/// More hung targets than requests may be open (40 hung before 10 healthy in
/// the inventory, concurrency 2, so 8 open at most): the refresh still ends
/// within its budget, what was not scraped is down with a timeout reason and
/// a warning says so, and the next refresh scrapes the healthy ones first.
/// The hung exporter is a real HTTP server that reads requests and never
/// answers (an in-process one: only the request count is needed here).
#[tokio::test]
async fn more_hung_than_open_requests_still_publish_and_healthy_go_first() {
    use exporter::{Exporter, Reply, inventory, options};
    let hung = Exporter::start().await;
    hung.set("/h", Reply::Hang);
    let fine = Exporter::start().await;
    fine.set("/f", Reply::Text("npu_utilization_ratio 0.5\n".into()));
    let mut names: Vec<(std::net::SocketAddr, String, &str)> = (0..40)
        .map(|i| (hung.addr, format!("hung-{i:02}"), "/h"))
        .collect();
    names.extend((0..10).map(|i| (fine.addr, format!("ok-{i:02}"), "/f")));
    let targets: Vec<_> = names.iter().map(|(a, n, p)| (*a, n.as_str(), *p)).collect();
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory.json");
    std::fs::write(&inv, inventory(&targets)).unwrap();
    let timeout = Duration::from_secs(1);
    let mut source = Source::Scrape(Box::new(
        ScrapeSource::new(options(&inv, timeout, 2)).unwrap(),
    ));
    let limit = refresh_budget(timeout, 2, 50) + MARGIN;
    let refresh = async |source: &mut Source| {
        tokio::time::timeout(limit, source.refresh())
            .await
            .unwrap_or_else(|_| panic!("refresh stalled beyond {limit:?}"))
            .expect("inventory fine")
    };

    // Just before the first requests time out, the open ones are all there is.
    let probe = async {
        tokio::time::sleep(timeout * 9 / 10).await;
        hung.hits()
    };
    let (first, open) = tokio::join!(refresh(&mut source), probe);
    assert_eq!(first.devices.len(), 50);
    for d in first.devices.iter().filter(|d| d.id.starts_with("hung-")) {
        match &d.reach {
            Reach::Down(Some(why)) => assert!(why.contains("timeout"), "{}: {why}", d.id),
            other => panic!("{}: {other:?}", d.id),
        }
    }
    assert!(open <= 8, "{open} requests open at once, limit 4 × 2");
    assert!(
        open > 2,
        "slots of hung requests were never handed on ({open} open)"
    );
    let warnings = source.warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("did not answer within the refresh deadline")),
        "{warnings:?}"
    );

    let second = refresh(&mut source).await;
    for d in second.devices.iter().filter(|d| d.id.starts_with("ok-")) {
        assert_eq!(d.reach, Reach::Up, "{} not scraped first", d.id);
        assert_eq!(d.figures.get(Figure::Npu), Some(0.5));
    }
}
