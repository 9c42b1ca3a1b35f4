//! Rollouts: plans, gates, the git store, the CLI, promotion policy.

mod e2e;
mod flows;
mod gates;
mod git;
mod hostile;
mod hostile_cli;
mod identity;
mod overlap_cli;
mod overlap_tui;
mod selection;
mod signature;
