//! Alerts and silences against a real Alertmanager (tests/support/alertmanager.rs).

mod cli;
mod rules;
