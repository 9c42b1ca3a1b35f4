//! Plan TOML: Ok or an error naming the file; a plan that parses writes and
//! parses back equal.
#![no_main]
use fleetdeck::rollout::plan::Plan;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("/nonexistent/p.toml");
    match Plan::parse(&text, path) {
        Ok(plan) => {
            let written = plan.to_toml();
            let back = Plan::parse(&written, path).expect("a written plan parses");
            assert!(back == plan, "round trip changed the plan:\n{written}");
        }
        Err(e) => assert!(e.to_string().contains("p.toml")),
    }
});
