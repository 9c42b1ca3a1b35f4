//! file_sd inventories (read from a file, as the scrape source does).
#![no_main]
use fleetdeck::metrics::LabelNames;
use fleetdeck::metrics::scrape::read_inventory;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("fleetdeck-fuzz-inventory-{}.json", std::process::id()));
    std::fs::write(&path, data).expect("write the input");
    if let Ok(targets) = read_inventory(&path, &LabelNames::default()) {
        for t in targets {
            assert!(t.url.starts_with("http://") || t.url.starts_with("https://"));
        }
    }
});
