//! Progressive rollouts, GitOps style: plan files in a git repository
//! ([`plan`], [`store`]), wave membership and desired releases ([`wave`]),
//! observed progress ([`progress`]), health gates ([`gate`]), the audit
//! trail of every commit to a plan ([`history`]), rollouts that fight over
//! devices ([`overlap`]), devices that
//! run what no rollout names ([`drift`]) and the actions that move a rollout
//! ([`action`]). No terminal code here.

pub mod action;
pub mod drift;
pub mod gate;
pub mod history;
mod options;
pub mod overlap;
pub mod plan;
pub mod progress;
pub mod store;
pub mod wave;

pub use options::RolloutConfig;
