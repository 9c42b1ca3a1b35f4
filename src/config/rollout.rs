//! `[rollout]`: where rollout plans live.

use super::Ctx;
use crate::diag::{ConfigError, Dur, echo};
use crate::text;
use serde::Deserialize;

pub use crate::rollout::RolloutConfig;
use std::path::{Path, PathBuf};

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
