//! The simulator: HTTP, Prometheus, its registry, update agents (its signal handling: tests/sim_signal.rs).

mod http;
mod prometheus;
mod registry;
mod rollout;
