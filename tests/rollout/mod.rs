//! Rollouts: plans, gates, the git store, the CLI, promotion policy.

mod e2e;
mod e2e_sites;
mod flows;
mod gates;
mod git;
mod history;
mod hostile;
mod hostile_cli;
mod identity;
mod overlap_cli;
mod overlap_tui;
mod selection;
mod signature;
mod site_gates;
