//! Config TOML: Ok, or an error naming the file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = fleetdeck::config::Config::parse(&text, Path::new("/nonexistent/config.toml")) {
        assert!(e.to_string().contains("config.toml"));
    }
});
