//! metric sources
