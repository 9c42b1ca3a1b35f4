//! Exposition text: parsed (all lines, and only the needed ones) and every
//! figure computed against a previous scrape.
#![no_main]
use fleetdeck::metrics::compute::{self, Needed, ScrapeData};
use fleetdeck::metrics::def::MetricDefs;
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let defs = MetricDefs::default();
    let needed = Needed::from_defs(&defs);
    let t0 = Instant::now();
    let prev = ScrapeData::parse(&text, t0);
    let cur = ScrapeData::parse_needed(&text, t0 + Duration::from_secs(15), &needed);
    let _ = compute::compute(&defs, Some(&prev), &cur);
    let _ = compute::release(&defs, &cur);
    let _ = compute::agent_state(&defs, &cur);
});
