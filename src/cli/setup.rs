//! What every command starts from: the checked config (and its keymap and
//! theme), the metric source, one look at the fleet, who is acting. Each
//! error says which exit it is (docs/ARCHITECTURE.md, "Exit codes").

use super::{Cli, CliError, Exit};
use crate::app::keymap::Keymap;
use crate::config::Config;
use crate::fleet::{Fleet, Snapshot};
use crate::metrics::Source;
use crate::tui::theme::Theme;
use std::time::Duration;

/// The config every command and the console start from, through the one
/// validation path `check-config` runs ([`crate::config::load_checked`]).
/// Any problem is exit 2.
pub(crate) fn load_config(cli: &Cli) -> Result<Config, CliError> {
    crate::config::load_checked(cli.config.as_deref(), cli.theme.as_deref(), cli.read_only)
        .map_err(|e| Exit::Usage.with(e))
}

pub(crate) fn load_keymap(cfg: &Config) -> Result<Keymap, CliError> {
    Keymap::from_config(&cfg.keys)
        .map_err(|e| Exit::Usage.with(cfg.error_at(&e.key, e.message, e.hint)))
}

pub(crate) fn load_theme(cfg: &Config) -> Result<Theme, CliError> {
    let theme = cfg
        .load_theme(crate::tui::theme::user_theme_dir().as_deref())
        .map_err(|e| Exit::Usage.with(e))?;
    Ok(if Theme::no_color_requested() {
        theme.without_colors()
    } else {
        theme
    })
}

/// The configured metric source; one that cannot be built is exit 2.
pub(crate) fn open_source(cfg: &Config) -> Result<Source, CliError> {
    Source::from_config(&cfg.source).map_err(|e| Exit::Usage.with(e))
}

/// Who is acting: the configured commit author, else `$USER@host`.
pub fn operator(cfg: &Config) -> String {
    if let Some(n) = &cfg.rollout.author_name {
        return n.clone();
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

/// One refresh (two for direct scrape, so rates exist), then the fleet
/// model. A source that fails or does not answer in time is exit 1.
pub(crate) async fn refresh_once(
    cfg: &Config,
    source: &mut Source,
    sample: Duration,
) -> Result<(Fleet, Vec<String>), CliError> {
    let deadline = crate::runtime::refresh_deadline(cfg.default_timeout(), Duration::ZERO);
    let mut snap = refresh_within(source, deadline).await?;
    if source.needs_warmup() {
        // Rates and quantiles need a second scrape; a few seconds of requests
        // make them steady enough to judge health by.
        tokio::time::sleep(sample).await;
        snap = refresh_within(source, deadline).await?;
    }
    let warnings = source.warnings();
    Ok((Fleet::build(snap, None, &cfg.thresholds), warnings))
}

async fn refresh_within(source: &mut Source, deadline: Duration) -> Result<Snapshot, CliError> {
    match tokio::time::timeout(deadline, source.refresh()).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(Exit::Failed.with(e)),
        Err(_) => Err(Exit::Failed.with(format!(
            "{} did not answer within {deadline:?}",
            source.describe()
        ))),
    }
}
