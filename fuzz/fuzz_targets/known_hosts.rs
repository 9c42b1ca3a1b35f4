//! known_hosts text looked up for a fixed host and key.
#![no_main]
use fleetdeck::remote::known_hosts;
use libfuzzer_sys::fuzz_target;

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDIIDURuk5EvoP/1BwBPHEcx2RE2XiV93F9WaT1iu6GZ";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let key = russh::keys::PublicKey::from_openssh(KEY).expect("key");
    let _ = known_hosts::check_str(&text, "pi-07", 22, &key);
    let _ = known_hosts::check_str(&text, "10.8.0.7", 2222, &key);
});
