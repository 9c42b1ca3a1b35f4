//! Progressive rollouts, GitOps style: plan files in a git repository
//! ([`plan`]), wave membership and desired releases ([`wave`]).
//! No terminal code here.

pub mod action;
pub mod plan;
pub mod store;
pub mod wave;
