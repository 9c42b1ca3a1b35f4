//! The console: App flows, rendered views, the real TUI in tmux.

mod app_flows;
mod app_remote;
mod shell_tmux;
mod tmux;
mod views;
