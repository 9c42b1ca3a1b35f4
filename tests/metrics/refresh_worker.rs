//! The refresh worker keeps at most one result in flight: while the app loop
//! is away (an SSH session holds the terminal), fleets do not pile up in the
//! channel; when the loop takes the last one in, a fresh refresh follows at
//! once. Against the real simulator over loopback, scraped directly.

use fleetdeck::app::Event;
use fleetdeck::metrics::{LabelNames, ScrapeOptions, Source};
use fleetdeck::sim::{SimHandle, SimOptions};
use std::net::SocketAddr;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_wait_for_the_app_instead_of_piling_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = SimHandle::start(
        SimOptions {
            devices: 20,
            sites: 2,
            ..SimOptions::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .expect("the simulator starts");
    let inventory = dir.path().join("inventory.json");
    sim.write_inventory(&inventory).expect("inventory");
    let source = Source::Scrape(Box::new(
        fleetdeck::metrics::scrape::ScrapeSource::new(ScrapeOptions {
            inventory,
            timeout: Duration::from_secs(2),
            concurrency: 8,
            labels: LabelNames::default(),
            defs: Default::default(),
        })
        .expect("scrape source"),
    ));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // Every 20 ms: without the hand-shake, dozens would queue up below.
    let refresher = fleetdeck::workers::spawn_refresh(
        source,
        Default::default(),
        Duration::from_millis(20),
        Duration::from_secs(5),
        tx,
    );
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a first refresh")
        .expect("worker alive");
    assert!(
        matches!(first, Event::Fleet { generation: 1, .. }),
        "{first:?}"
    );
    // The loop is "away": nothing else arrives, however long it stays away.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        rx.try_recv().is_err(),
        "a second fleet was queued while the first was not taken in"
    );
    // Back: taking the first in brings the next refresh.
    refresher.taken();
    let next = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the next refresh follows once the first was taken in")
        .expect("worker alive");
    assert!(
        matches!(next, Event::Fleet { generation: 2, .. }),
        "{next:?}"
    );
    sim.shutdown().await;
}
