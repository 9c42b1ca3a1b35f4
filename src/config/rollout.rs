//! `[rollout]`: where rollout plans live.

use super::Ctx;
use crate::diag::{ConfigError, Dur, echo};
use crate::text;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRollout {
    repo: Option<String>,
    branch: Option<String>,
    author_name: Option<String>,
    author_email: Option<String>,
    clone_dir: Option<PathBuf>,
    git_timeout: Option<Dur>,
}

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

pub(super) fn resolve(r: FileRollout, ctx: &Ctx<'_>) -> Result<RolloutConfig, ConfigError> {
    let mut cfg = RolloutConfig::default();
    if let Some(repo) = r.repo {
        // A relative local path is relative to the config file; URLs stay as written.
        let is_url = repo.contains("://") || (repo.contains('@') && repo.contains(':'));
        cfg.repo = Some(if is_url || Path::new(&repo).is_absolute() {
            repo
        } else {
            ctx.base.join(&repo).display().to_string()
        });
    }
    if let Some(b) = r.branch {
        // git check-ref-format's rules, roughly: no control or invisible
        // characters, no space, none of ~^:?*[\ and no "..".
        if b.is_empty()
            || b.starts_with('-')
            || b.contains("..")
            || b.chars()
                .any(|c| c.is_whitespace() || text::is_unsafe(c) || "~^:?*[\\".contains(c))
        {
            return Err(ctx.err(
                "rollout.branch",
                format!("'{}' is not a branch name", echo(&b)),
                "e.g. branch = \"main\"",
            ));
        }
        cfg.branch = b;
    }
    cfg.author_name = r.author_name;
    cfg.author_email = r.author_email;
    cfg.clone_dir = r.clone_dir.map(|p| ctx.abs(&p));
    if let Some(t) = r.git_timeout {
        ctx.positive("rollout.git_timeout", t.0)?;
        cfg.git_timeout = t.0;
    }
    Ok(cfg)
}
