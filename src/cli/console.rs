//! The console (no subcommand) and `fleetdeck demo`, which opens it on the
//! simulated world [`crate::sim::demo`] sets up.

use super::setup::{load_config, load_keymap, load_theme, open_source, operator};
use super::{Cli, CliError, DemoArgs, Exit};
use crate::app::{App, Settings};
use crate::config::Config;
use crate::metrics::Source;
use crate::tui::theme::Theme;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// No subcommand: the console on the configured source (exit 2 when it
/// cannot be built).
pub(crate) async fn configured(cli: &Cli) -> Result<Exit, CliError> {
    let cfg = load_config(cli)?;
    let source = open_source(&cfg)?;
    console(cfg, source).await
}

/// `fleetdeck demo`: the console on a simulated fleet. The user's config
/// (theme, keys, thresholds) applies; a setup step that fails is exit 1.
pub(crate) async fn demo(cli: &Cli, a: &DemoArgs) -> Result<Exit, CliError> {
    let mut cfg = load_config(cli)?;
    let author = operator(&cfg);
    let demo = crate::sim::demo::start(&mut cfg, a.devices, a.sites, author)
        .await
        .map_err(|e| Exit::Failed.with(e))?;
    // The demo's own scrape source: a failure to build it is the demo's, not
    // the user's config (exit 1).
    let source = Source::from_config(&cfg.source).map_err(|e| Exit::Failed.with(e))?;
    let result = console(cfg, source).await;
    demo.shutdown().await;
    result
}

/// Opens the TUI on a source. The config is fully checked before the
/// terminal is touched. No terminal is exit 2; the console ending for any
/// other reason than an error (quit, hang-up, a signal) is exit 0.
pub(crate) async fn console(cfg: Config, source: Source) -> Result<Exit, CliError> {
    let keymap = load_keymap(&cfg)?;
    let theme = load_theme(&cfg)?;
    let user_dir = crate::tui::theme::user_theme_dir();
    let settings = Settings {
        read_only: cfg.read_only,
        stale_after: cfg.thresholds.stale_after.max(cfg.refresh * 3),
        sparkline: cfg.sparkline,
        themes: Theme::available(user_dir.as_deref()),
        remote_history: matches!(source, Source::Prometheus(_)),
        history_span: cfg.history,
        operator: operator(&cfg),
        rollouts_configured: cfg.rollout.repo.is_some(),
        allow_shell_read_only: cfg.remote.allow_shell_read_only,
    };
    let mut app = App::new(
        settings,
        keymap,
        source.describe(),
        theme.name.clone(),
        SystemTime::now(),
    );
    // A key file that cannot be read is a config error: trust must never be
    // weaker than the config says.
    let verifier =
        crate::signature::policy::ReleaseVerifier::from_config(&cfg.signing, &cfg.registry)
            .map_err(|e| Exit::Usage.with(format!("[signing]/[registry]: {e}")))?;
    app.signatures.enabled = true;
    app.tunnels.interface = cfg
        .remote
        .wireguard_interface
        .as_deref()
        .map(|n| crate::text::sanitize(n).into_owned());
    app.tunnels.allow_offline_shell = cfg.remote.allow_offline_shell;
    let mut runtime = crate::runtime::Runtime::new();
    runtime.start_tunnels(&cfg.remote, crate::runtime::tunnels::EVERY);
    // The console is useful without rollouts: a repository that cannot be
    // opened is shown as an error in the rollouts view, not a refusal to start.
    if cfg.rollout.repo.is_some() {
        match crate::rollout::store::Store::open(&cfg.rollout).await {
            Ok(store) => {
                // Actions record the commit identity as who acted; without
                // one the store refuses them (shown on the status line).
                if let Ok((name, _)) = store.author() {
                    app.settings.operator = name.to_string();
                }
                runtime.start_rollouts(Arc::new(store), cfg.refresh.max(Duration::from_secs(5)))
            }
            Err(e) => app.rollouts.error = Some(e.to_string()),
        }
    }
    if let Some(client) = source.history_client() {
        runtime.start_history(client);
    }
    runtime.start_verify(Arc::new(verifier));
    let deadline = crate::runtime::refresh_deadline(cfg.default_timeout(), cfg.refresh);
    runtime.start_refresh(source, cfg.thresholds.clone(), cfg.refresh, deadline);
    let parts = crate::tui::LoopParts {
        theme,
        no_color: Theme::no_color_requested(),
        user_theme_dir: user_dir,
        remote: cfg.remote.clone(),
        runtime,
    };
    crate::tui::run(app, parts).await.map_err(|e| {
        let exit = if e.to_string() == crate::tui::NO_TTY {
            Exit::Usage
        } else {
            Exit::Failed
        };
        exit.with(e)
    })?;
    Ok(Exit::Ok)
}
