//! Progressive rollouts, GitOps style: plan files in a git repository
//! ([`plan`], [`store`]), wave membership and desired releases ([`wave`]),
//! observed progress ([`progress`]), health gates ([`gate`]) and the actions
//! that move a rollout ([`action`]). No terminal code here.

pub mod action;
pub mod gate;
pub mod plan;
pub mod progress;
pub mod store;
pub mod wave;
