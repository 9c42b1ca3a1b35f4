//! terminal UI

pub mod keymap;
