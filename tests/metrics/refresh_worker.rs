//! The refresh worker keeps at most one result in flight (the runtime's
//! worker rule, docs/ARCHITECTURE.md "Runtime"): while the app loop is away
//! (an SSH session holds the terminal), fleets do not pile up in the channel
//! and no refresh runs; when the loop takes the last one in, a fresh refresh
//! follows at once. Against the real simulator over loopback, scraped directly.

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
    // Every 20 ms: without the rule, dozens would queue up below.
    let (_refresher, mut rx) = fleetdeck::runtime::refresh::spawn(
        source,
        Default::default(),
        Duration::from_millis(20),
        Duration::from_secs(5),
    );
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a first refresh")
        .expect("worker alive");
    assert!(
        matches!(first, Event::Fleet { generation: 1, .. }),
        "{first:?}"
    );
    // The loop is "away" (taking nothing in): one result in flight at most,
    // however long it stays away, and no refresh is done for nobody.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rx.len(), 1, "fleets piled up while the loop was away");
    let waiting = rx.try_recv().expect("the one result in flight");
    assert!(
        matches!(waiting, Event::Fleet { generation: 2, .. }),
        "refreshes ran while the last result was not taken in: {waiting:?}"
    );
    // Back: taking it in brings the next refresh (it fell due long ago).
    let next = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the next refresh follows once the last was taken in")
        .expect("worker alive");
    assert!(
        matches!(next, Event::Fleet { generation: 3, .. }),
        "{next:?}"
    );
    sim.shutdown().await;
}
