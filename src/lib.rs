//! fleetdeck: a terminal console for fleets of edge-inference devices.
//!
//! Module map (backends never import ratatui or crossterm):
//!
//! - [`cli`]      clap arguments, the exit codes ([`cli::Exit`]) and every subcommand
//!   (`cli::remote`: `verify`, `tunnels`, `ssh`; `cli::rollout`: `rollout …`, `gate`).
//! - [`config`]   TOML → [`config::Config`], one file per section; errors carry file:line:column, the key and a fix.
//! - [`diag`]     located errors for TOML files (config, themes, plans) from toml's spans; durations.
//! - [`text`]     sanitising of every string that came from outside before it reaches a screen.
//! - [`fleet`]    devices, sites, groups, health and roll-ups: the model every view reads.
//! - [`format`]   how figures, ages and times are written for people.
//! - [`history`]  bounded in-memory history of every figure (direct-scrape sparklines).
//! - [`metrics`]  the metric sources (Prometheus HTTP API, direct scrape) behind one interface.
//! - [`remote`]   WireGuard tunnel status per device (and SSH over the tunnel).
//! - [`rollout`]  rollout plans in a git repo, waves, gates, progress, drift, actions.
//! - [`signature`] OCI registry client, cosign signature / attestation / SBOM verification, reports.
//! - [`sim`]      the simulated fleet used by the demo, the tests and the benchmarks.
//! - [`app`]      state + `update(event) -> effects`, the keymap; no I/O.
//! - [`runtime`]  the workers (tokio tasks doing the I/O, one result in flight each) and the effect loop.
//! - [`tui`]      terminal guard, event loop, key conversion, views, theme files → styles (`tui::theme`).

pub mod alerts;
pub mod app;
pub mod cli;
pub mod config;
pub mod diag;
pub mod files;
pub mod fleet;
pub mod format;
pub mod history;
pub mod http;
pub mod metrics;
pub mod out;
pub mod remote;
pub mod rollout;
pub mod runtime;
pub mod signature;
pub mod sim;
pub mod text;
pub mod tui;
