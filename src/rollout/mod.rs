//! Progressive rollouts, GitOps style: plan files in a git repository
//! ([`plan`], [`store`]), wave membership and desired releases ([`wave`]),
//! observed progress ([`progress`]), health gates ([`gate`]), rollouts that
//! fight over devices ([`overlap`]), devices that
//! run what no rollout names ([`drift`]) and the actions that move a rollout
//! ([`action`]). No terminal code here.

pub mod action;
pub mod drift;
pub mod gate;
pub mod overlap;
pub mod plan;
pub mod progress;
pub mod store;
pub mod wave;
