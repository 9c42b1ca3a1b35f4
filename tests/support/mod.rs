//! Test support shared by the integration tests (tests/it.rs).

pub mod alertmanager;
pub mod config;
pub mod exporter;
pub mod fixture;
pub mod git;
pub mod netns;
pub mod prometheus;
pub mod registry;
pub mod run;
pub mod sshd;
pub mod tls;
pub mod tmux;
pub mod token;
pub mod tunnels;
