//! Remote access (local stub; the lead merges with the wg mod.rs).
pub mod known_hosts;
pub mod ssh;
