//! `file_sd` inventories: fixtures under tests/fixtures/scrape, each invalid one
//! asserting the text the operator reads.

use fleetdeck::metrics::scrape::{ScrapeSource, read_inventory};
use fleetdeck::metrics::{LabelNames, ScrapeOptions, SourceError};
use std::path::PathBuf;
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scrape")
        .join(name)
}

/// The reason of an inventory error, checking it names the file.
fn reason(name: &str) -> String {
    match read_inventory(&fixture(name), &LabelNames::default()) {
        Err(SourceError::Inventory { path, reason }) => {
            assert!(path.ends_with(name), "{path}");
            reason
        }
        other => panic!("{name}: expected an inventory error, got {other:?}"),
    }
}

#[test]
fn good_inventory() {
    let t = read_inventory(&fixture("good.json"), &LabelNames::default()).unwrap();
    assert_eq!(t.len(), 4);
    assert_eq!(t[0].id, "10.1.0.11:9100");
    assert_eq!(t[0].address, "10.1.0.11:9100");
    assert_eq!(t[0].url, "https://10.1.0.11:9100/exporter/metrics");
    assert_eq!(
        (t[0].site.as_str(), t[0].group.as_str()),
        ("ams-1", "canary")
    );
    assert!(t[0].labels.keys().all(|k| !k.starts_with("__")));
    assert_eq!(t[2].id, "pi-ams-0003");
    assert_eq!(t[2].url, "http://pi-ams-0003.local:9100/metrics");
    assert_eq!(t[2].labels.get("rack").map(String::as_str), Some("r4"));
    assert_eq!((t[3].site.as_str(), t[3].group.as_str()), ("-", "-"));
    assert!(t[3].labels.is_empty());
}

#[test]
fn custom_label_names() {
    let names = LabelNames {
        device: "rack".into(),
        site: "group".into(),
        group: "site".into(),
    };
    let t = read_inventory(&fixture("good.json"), &names).unwrap();
    assert_eq!(t[2].id, "r4");
    assert_eq!(t[2].site, "wave-2");
    assert_eq!(t[2].group, "ams-1");
}

#[test]
fn missing_file() {
    let r = reason("does-not-exist.json");
    assert!(r.starts_with("file not found"), "{r}");
    assert!(
        r.contains("\"targets\""),
        "says what the file should hold: {r}"
    );
}

#[test]
fn bad_json_names_line_and_column() {
    let r = reason("bad_json.json");
    assert!(r.starts_with("not valid JSON"), "{r}");
    assert!(r.contains("line 4 column 32"), "{r}");
}

#[test]
fn wrong_shape_says_what_was_expected() {
    let r = reason("wrong_shape.json");
    assert!(r.contains("wrong shape at the top level"), "{r}");
    assert!(r.contains("expected a sequence"), "{r}");
    assert!(r.contains("file_sd list"), "{r}");

    let r = reason("wrong_type.json");
    assert!(r.contains("wrong shape at [1].labels.site"), "{r}");
    assert!(r.contains("line 3"), "{r}");

    let r = reason("missing_targets.json");
    assert!(r.contains("missing field `targets`"), "{r}");
}

#[test]
fn duplicate_devices_are_refused() {
    let r = reason("duplicate_device.json");
    assert!(
        r.contains("device 'pi-1' appears twice ([0].targets[0] and [1].targets[0])"),
        "{r}"
    );
}

#[tokio::test]
async fn refresh_reports_the_inventory_error() {
    let opts = ScrapeOptions {
        inventory: fixture("bad_json.json"),
        timeout: Duration::from_secs(1),
        concurrency: 4,
        labels: LabelNames::default(),
        defs: Default::default(),
    };
    let mut source = ScrapeSource::new(opts).unwrap();
    let err = source.refresh().await.unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("inventory "), "{text}");
    assert!(text.contains("bad_json.json: not valid JSON"), "{text}");
}

#[test]
fn bad_options_are_refused() {
    let mut opts = ScrapeOptions {
        inventory: fixture("good.json"),
        timeout: Duration::from_secs(1),
        concurrency: 0,
        labels: LabelNames::default(),
        defs: Default::default(),
    };
    assert!(matches!(
        ScrapeSource::new(opts.clone()),
        Err(SourceError::Setup { .. })
    ));
    opts.concurrency = 1;
    opts.timeout = Duration::ZERO;
    assert!(matches!(
        ScrapeSource::new(opts),
        Err(SourceError::Setup { .. })
    ));
}

/// The error and how long it took, for an inventory that is not a regular file.
fn refused(path: &std::path::Path) -> (String, Duration) {
    let t0 = std::time::Instant::now();
    let r = match read_inventory(path, &LabelNames::default()) {
        Err(e @ SourceError::Inventory { .. }) => e.to_string(),
        other => panic!(
            "{}: expected an inventory error, got {other:?}",
            path.display()
        ),
    };
    (r, t0.elapsed())
}

#[test]
fn devices_and_directories_fail_at_once_naming_the_file() {
    // Before bounded reads, /dev/zero grew memory until killed.
    let (r, took) = refused(std::path::Path::new("/dev/zero"));
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(
        r.starts_with("inventory /dev/zero: not a regular file (a character device)"),
        "{r}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (r, _) = refused(dir.path());
    assert!(r.contains("not a regular file (a directory)"), "{r}");
    // A FIFO without a writer would block an open() for ever.
    let fifo = dir.path().join("inventory.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (r, took) = refused(&fifo);
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(
        r.contains("inventory.fifo: not a regular file (a FIFO)"),
        "{r}"
    );
}

#[test]
fn an_oversized_inventory_is_refused_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    let f = std::fs::File::create(&big).unwrap();
    // Sparse: no disk space used.
    f.set_len(fleetdeck::files::cap::INVENTORY + 1).unwrap();
    let (r, _) = refused(&big);
    assert!(r.contains("big.json: larger than"), "{r}");
}

#[tokio::test]
async fn refresh_with_dev_zero_fails_at_once() {
    let mut source = ScrapeSource::new(ScrapeOptions {
        inventory: "/dev/zero".into(),
        timeout: Duration::from_secs(1),
        concurrency: 4,
        labels: LabelNames::default(),
        defs: Default::default(),
    })
    .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(2), source.refresh())
        .await
        .expect("fails at once, not after reading gigabytes")
        .unwrap_err();
    assert!(
        err.to_string().contains("/dev/zero: not a regular file"),
        "{err}"
    );
}
