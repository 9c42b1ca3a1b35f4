//! `[rollout]` options: owned by the rollout module, filled in by `config`
//! (docs/ARCHITECTURE.md, "Module map").

use std::path::PathBuf;
use std::time::Duration;

/// Where rollout plans live (`[rollout]`).
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutConfig {
    /// A local path to a git work tree, or a remote URL cloned into `clone_dir`.
    /// `None`: no rollouts configured.
    pub repo: Option<String>,
    pub branch: String,
    /// Commit author; default: git's own `user.name` / `user.email`.
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    /// Where a remote repo is cloned (default: the platform data dir).
    pub clone_dir: Option<PathBuf>,
    /// Longest a git command (fetch, push) may take.
    pub git_timeout: Duration,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        RolloutConfig {
            repo: None,
            branch: "main".into(),
            author_name: None,
            author_email: None,
            clone_dir: None,
            git_timeout: Duration::from_secs(30),
        }
    }
}
