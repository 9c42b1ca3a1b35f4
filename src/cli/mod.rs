//! The command line: arguments (`args`), the one table of exit codes
//! ([`exit`]), what every command starts from (`setup`), and the commands:
//! the console and the demo (`console`), `status` (`status`), `verify`,
//! `tunnels` and `ssh` ([`remote`]), `rollout …` and `gate` ([`rollout`]);
//! `sim`, `check-config`, `rules` and `themes` are here.
//!
//! Every command returns `Result<Exit, CliError>`; each error site says
//! which exit it is (docs/ARCHITECTURE.md, "Exit codes").

mod alerts;
mod args;
mod console;
pub mod exit;
pub mod remote;
pub mod rollout;
mod setup;
pub mod status;

pub use args::{
    ActionArgs, Cli, Command, DemoArgs, RolloutCommand, SilenceAddArgs, SilenceCommand, SimArgs,
};
pub use exit::{CliError, Exit};
pub use setup::operator;
pub use status::{status_json, status_text};

use crate::metrics::SourceConfig;
use crate::tui::theme::Theme;
use setup::{load_config, load_keymap, load_theme};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<Exit, CliError> {
    match &cli.command {
        Some(Command::Sim(a)) => sim(a).await,
        Some(Command::CheckConfig) => check_config(&cli),
        Some(Command::Verify {
            reference,
            key,
            json,
        }) => remote::verify(&cli, reference, key, *json).await,
        Some(Command::Tunnels { json }) => remote::tunnels(&cli, *json).await,
        Some(Command::Ssh { device, command }) => remote::ssh(&cli, device, command).await,
        Some(Command::Rollout(r)) => rollout::run(&cli, r).await,
        Some(Command::Gate {
            name,
            watch,
            auto_abort,
        }) => rollout::gate(&cli, name, *watch, *auto_abort).await,
        Some(Command::Themes) => Ok(themes()),
        Some(Command::Rules { alerts }) => rules(&cli, *alerts),
        Some(Command::Alerts { json }) => alerts::alerts(&cli, *json).await,
        Some(Command::Silence(s)) => alerts::silence(&cli, s).await,
        Some(Command::Status { json, sample }) => status::status(&cli, *json, *sample).await,
        Some(Command::Demo(a)) => console::demo(&cli, a).await,
        None => console::configured(&cli).await,
    }
}

/// `sim`: serve until SIGINT or SIGTERM; a failure to start or serve is exit 1.
async fn sim(a: &SimArgs) -> Result<Exit, CliError> {
    let opts = crate::sim::SimOptions {
        devices: a.devices,
        sites: a.sites,
        seed: a.seed,
        offline: a.offline,
        hot: a.hot.clone(),
        slow: a.slow.clone(),
        errors: a.errors.clone(),
        rollout_repo: a.rollout_repo.clone(),
        bad_release: a.bad_release.clone(),
        stuck: a.stuck,
        drifted: a.drifted,
        unsigned: a.unsigned.clone(),
        ..crate::sim::SimOptions::default()
    };
    crate::sim::run_until_signal(opts, a.listen, &a.inventory, a.public_key.as_deref())
        .await
        .map_err(|e| Exit::Failed.with(e))?;
    Ok(Exit::Ok)
}

/// `rules [--alerts]`: Prometheus recording rules for the configured
/// figures, and with `--alerts` alerting rules over `[thresholds]`.
fn rules(cli: &Cli, alerts: bool) -> Result<Exit, CliError> {
    let cfg = load_config(cli)?;
    let job = match &cfg.source {
        SourceConfig::Prometheus(p) => p.job.clone(),
        _ => None,
    };
    crate::out!(
        "{}",
        crate::metrics::promql::recording_rules(&cfg.defs, job.as_deref(), &cfg.labels)
    );
    if alerts {
        crate::out!(
            "{}",
            crate::alerts::rules::alerting_rules(
                &cfg.defs,
                job.as_deref(),
                &cfg.labels,
                &cfg.thresholds
            )
        );
    }
    Ok(Exit::Ok)
}

/// `check-config`: exactly the start-up path of every command and the
/// console ([`load_config`]: config values, every file it names, theme,
/// keymap), then one line saying what was checked. Any problem is exit 2.
fn check_config(cli: &Cli) -> Result<Exit, CliError> {
    let cfg = load_config(cli)?;
    load_keymap(&cfg)?;
    load_theme(&cfg)?;
    let what = cfg
        .path
        .as_ref()
        .map_or("no config file; built-in defaults".to_string(), |p| {
            crate::diag::echo_path(p)
        });
    let source = match &cfg.source {
        SourceConfig::Prometheus(p) => format!("prometheus {}", crate::diag::echo(&p.url)),
        SourceConfig::Scrape(s) => format!("scrape {}", crate::diag::echo_path(&s.inventory)),
        SourceConfig::Unset => "no source (only `fleetdeck demo` will run)".into(),
    };
    crate::outln!("{what}: ok ({source})");
    Ok(Exit::Ok)
}

/// `themes`: built-in and user themes, one per line. A user theme's name is
/// its file name: echoed (escapes visible, cut), never printed raw.
fn themes() -> Exit {
    for t in Theme::available(crate::tui::theme::user_theme_dir().as_deref()) {
        crate::outln!("{}", crate::diag::echo(&t));
    }
    Exit::Ok
}
