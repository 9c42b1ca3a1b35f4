//! The integration tests: one test binary (each test binary links fleetdeck
//! and all its dependencies again, so one link instead of forty), grouped by
//! area. Run one area with `cargo test --test it rollout::` or one file with
//! `cargo test --test it rollout::git::`.
//!
//! Tests run in parallel threads of this one process: anything a test names
//! on the machine (tmux sockets, network namespaces, temp dirs, ports) must be
//! unique per test, not per process (tests/support). Every child process a
//! test starts runs under a deadline (tests/support/run.rs).

// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

mod support;

mod alerts;
mod cli;
mod config;
mod metrics;
mod props;
mod remote;
mod rollout;
mod signature;
mod sim;
mod tui;
