//! Test support shared by the integration tests. Include it with `mod support;`.
//!
//! Each test binary uses a different part of it, hence `dead_code` is allowed.
#![allow(dead_code)]

pub mod git;
pub mod netns;
pub mod prometheus;
pub mod registry;
pub mod sshd;
pub mod tls;
pub mod token;
