//! terminal UI
