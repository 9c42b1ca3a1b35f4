//! Command-line arguments and the headless subcommands.
//!
//! `--config`, `--theme` and `--read-only` are global: accepted before or after
//! any subcommand.

use crate::app::{App, Settings};
use crate::config::Config;
use crate::fleet::{Device, Fleet, Rollup};
use crate::format;
use crate::metrics::SourceConfig;
use crate::metrics::def::Figure;
use crate::metrics::{ScrapeOptions, Source};
use crate::text::sanitize;
use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[derive(Parser, Debug)]
#[command(
    name = "fleetdeck",
    version,
    about = "Terminal console for fleets of edge-inference devices",
    long_about = "Terminal console for fleets of edge-inference devices: live health from \
Prometheus or direct scrape, per site, group and device.\n\nWithout a subcommand it opens the \
console on the configured source. `fleetdeck demo` needs no external service."
)]
pub struct Cli {
    /// Config file (default: the platform config dir, ~/.config/fleetdeck/config.toml on Linux).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Theme name (default, light, high-contrast, colorblind, ansi16, or a user theme) or a .toml path.
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,
    /// Make every action impossible (also `read_only = true` in the config).
    #[arg(long, global = true)]
    pub read_only: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Open the console against a built-in simulated fleet (no external service needed).
    Demo(DemoArgs),
    /// Run a simulated fleet that exports metrics over HTTP on loopback, until SIGINT/SIGTERM.
    Sim(SimArgs),
    /// One refresh of the configured source, then the fleet summary.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Direct scrape only: time between the two scrapes that rates and
        /// quantiles are computed from (longer is steadier).
        #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_dur_arg)]
        sample: Duration,
    },
    /// Check the config file (and its theme and keymap); exit non-zero on the first problem.
    CheckConfig,
    /// Print Prometheus recording rules for fleetdeck's figures.
    Rules,
    /// List the available themes.
    Themes,
    /// Progressive rollouts: plans in the [rollout] git repository.
    #[command(subcommand)]
    Rollout(RolloutCommand),
    /// Verify the cosign signatures, attestations and SBOMs of an image; exit 0 only when trusted.
    Verify {
        /// REPO[:TAG][@sha256:…] (a tag is resolved and warned about).
        reference: String,
        /// Extra trusted public key (PEM), besides [signing] keys. Repeatable.
        #[arg(long, value_name = "FILE")]
        key: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// WireGuard tunnel status of every device ([remote] wireguard_interface).
    Tunnels {
        #[arg(long)]
        json: bool,
    },
    /// A shell on a device over its tunnel, or run COMMAND and exit with its status.
    Ssh {
        device: String,
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Evaluate a rollout's health gates (once, or every interval with --watch).
    /// Exit 0 pass, 1 failed, 3 inconclusive.
    Gate {
        name: String,
        /// Keep evaluating every gates.interval.
        #[arg(long)]
        watch: bool,
        /// Abort the rollout (one commit) when the verdict is Failed.
        #[arg(long)]
        auto_abort: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RolloutCommand {
    /// Write a new plan with the default waves (canary group, 25 %, 50 %, 100 %) and commit it.
    Init {
        name: String,
        /// Version of the new release.
        #[arg(long)]
        version: String,
        /// New image, pinned: REPO@sha256:<64 hex>.
        #[arg(long)]
        image: String,
        /// The image it replaces, pinned.
        #[arg(long)]
        previous: String,
        /// Version of the release it replaces.
        #[arg(long, default_value = "previous")]
        previous_version: String,
        /// New model, pinned (optional).
        #[arg(long)]
        model: Option<String>,
    },
    /// Every rollout with its status.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One rollout: plan, observed progress per wave and site, gates.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Release the next wave (refused while gates fail, soak runs or the signature does not verify).
    Promote(ActionArgs),
    /// Freeze the rollout: nobody new gets the release.
    Halt(ActionArgs),
    /// Continue a halted rollout.
    Resume(ActionArgs),
    /// Roll back: every targeted device returns to the previous release.
    Abort(ActionArgs),
    /// Restart an aborted rollout from the first wave.
    Retry(ActionArgs),
}

#[derive(Args, Debug)]
pub struct ActionArgs {
    pub name: String,
    /// Why: recorded in the commit.
    #[arg(long)]
    pub reason: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Override a refusal (failing gates, soak, signature); needs --reason; recorded.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Number of simulated devices.
    #[arg(long, default_value_t = 300)]
    pub devices: usize,
    /// Number of sites.
    #[arg(long, default_value_t = 12)]
    pub sites: usize,
}

#[derive(Args, Debug)]
pub struct SimArgs {
    #[arg(long, default_value_t = 300)]
    pub devices: usize,
    #[arg(long, default_value_t = 12)]
    pub sites: usize,
    /// Address to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub listen: SocketAddr,
    /// Where to write the Prometheus file_sd inventory.
    #[arg(long, default_value = "fleetdeck-inventory.json")]
    pub inventory: PathBuf,
    /// Seed of the fleet layout.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of devices that stop answering.
    #[arg(long, default_value_t = 0)]
    pub offline: usize,
    /// Site whose devices run hot (85 °C, throttled). Repeatable.
    #[arg(long, value_name = "SITE")]
    pub hot: Vec<String>,
    /// Site whose p95 latency is ~450 ms. Repeatable.
    #[arg(long, value_name = "SITE")]
    pub slow: Vec<String>,
    /// Site with ~8 % errors. Repeatable.
    #[arg(long, value_name = "SITE")]
    pub errors: Vec<String>,
    /// Follow the rollout plans of this git repository like update agents.
    #[arg(long, value_name = "DIR")]
    pub rollout_repo: Option<PathBuf>,
    /// Devices running VERSION (optionally only on SITE) are slow and error-prone. Repeatable.
    #[arg(long, value_name = "VERSION[@SITE]")]
    pub bad_release: Vec<crate::sim::BadRelease>,
    /// Number of devices that fail to install any release.
    #[arg(long, default_value_t = 0)]
    pub stuck: usize,
    /// Number of devices on a hand-installed build ("1.4.0-hotpatch") with their agent off: drift.
    #[arg(long, default_value_t = 0)]
    pub drifted: usize,
    /// A version the simulated registry serves without signatures. Repeatable.
    #[arg(long, value_name = "VERSION")]
    pub unsigned: Vec<String>,
    /// Write the PEM public key the simulated releases are signed with here.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
}

/// An error for the operator, with the exit code it deserves.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError {
            message: e.to_string(),
            code: 1,
        }
    }
}

pub(crate) fn fail(message: impl Into<String>, code: u8) -> CliError {
    CliError {
        message: message.into(),
        code,
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match &cli.command {
        Some(Command::Sim(a)) => {
            let opts = sim_options(a);
            crate::sim::run_until_signal(opts, a.listen, &a.inventory, a.public_key.as_deref())
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::CheckConfig) => check_config(&cli),
        Some(Command::Verify {
            reference,
            key,
            json,
        }) => crate::cli_remote::verify(&cli, reference, key, *json).await,
        Some(Command::Tunnels { json }) => crate::cli_remote::tunnels(&cli, *json).await,
        Some(Command::Ssh { device, command }) => {
            crate::cli_remote::ssh(&cli, device, command).await
        }
        Some(Command::Rollout(r)) => crate::cli_rollout::run(&cli, r).await,
        Some(Command::Gate {
            name,
            watch,
            auto_abort,
        }) => crate::cli_rollout::gate(&cli, name, *watch, *auto_abort).await,
        Some(Command::Themes) => themes(),
        Some(Command::Rules) => {
            let cfg = load_config(&cli)?;
            let job = match &cfg.source {
                SourceConfig::Prometheus(p) => p.job.clone(),
                _ => None,
            };
            crate::out!(
                "{}",
                crate::metrics::promql::recording_rules(&cfg.defs, job.as_deref(), &cfg.labels)
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Status { json, sample }) => status(&cli, *json, *sample).await,
        Some(Command::Demo(a)) => demo(&cli, a).await,
        None => {
            let cfg = load_config(&cli)?;
            let source = Source::from_config(&cfg.source).map_err(|e| fail(e.to_string(), 2))?;
            console(&cli, cfg, source).await
        }
    }
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

fn sim_options(a: &SimArgs) -> crate::sim::SimOptions {
    crate::sim::SimOptions {
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
    }
}

/// The config every command and the console start from, through the one
/// validation path `check-config` runs ([`crate::config::load_checked`]).
pub(crate) fn load_config(cli: &Cli) -> Result<Config, CliError> {
    crate::config::load_checked(cli.config.as_deref(), cli.theme.as_deref(), cli.read_only)
        .map_err(|e| fail(e.to_string(), 2))
}

fn load_keymap(cfg: &Config) -> Result<Keymap, CliError> {
    Keymap::from_config(&cfg.keys)
        .map_err(|e| fail(cfg.error_at(&e.key, e.message, e.hint).to_string(), 2))
}

fn load_theme(cfg: &Config) -> Result<Theme, CliError> {
    let theme = cfg
        .load_theme(crate::tui::theme::user_theme_dir().as_deref())
        .map_err(|e| fail(e.to_string(), 2))?;
    Ok(if Theme::no_color_requested() {
        theme.without_colors()
    } else {
        theme
    })
}

/// `check-config`: exactly the start-up path of every command and the
/// console ([`load_config`]: config values, every file it names, theme,
/// keymap), then one line saying what was checked.
fn check_config(cli: &Cli) -> Result<ExitCode, CliError> {
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
    Ok(ExitCode::SUCCESS)
}

/// `themes`: built-in and user themes, one per line. A user theme's name is
/// its file name: echoed (escapes visible, cut), never printed raw.
fn themes() -> Result<ExitCode, CliError> {
    for t in Theme::available(crate::tui::theme::user_theme_dir().as_deref()) {
        crate::outln!("{}", crate::diag::echo(&t));
    }
    Ok(ExitCode::SUCCESS)
}

/// One refresh (two for direct scrape, so rates exist), then the fleet model.
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

fn parse_dur_arg(s: &str) -> Result<Duration, String> {
    crate::diag::parse_duration(s)
}

async fn refresh_within(
    source: &mut Source,
    deadline: Duration,
) -> Result<crate::fleet::Snapshot, CliError> {
    match tokio::time::timeout(deadline, source.refresh()).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(fail(e.to_string(), 1)),
        Err(_) => Err(fail(
            format!("{} did not answer within {deadline:?}", source.describe()),
            1,
        )),
    }
}

async fn status(cli: &Cli, as_json: bool, sample: Duration) -> Result<ExitCode, CliError> {
    let cfg = load_config(cli)?;
    let mut source = Source::from_config(&cfg.source).map_err(|e| fail(e.to_string(), 2))?;
    let (fleet, warnings) = refresh_once(&cfg, &mut source, sample).await?;
    if as_json {
        let v = status_json(&fleet, &warnings);
        crate::out::json(&v)?;
    } else {
        crate::out!("{}", status_text(&fleet, &warnings));
    }
    Ok(ExitCode::SUCCESS)
}

/// A number for JSON: non-finite values become the strings "NaN", "+Inf", "-Inf"
/// (JSON has no such numbers, and null already means "not exported").
fn num(v: Option<f64>) -> Value {
    match v {
        None => Value::Null,
        Some(x) if x.is_nan() => json!("NaN"),
        Some(x) if x == f64::INFINITY => json!("+Inf"),
        Some(x) if x == f64::NEG_INFINITY => json!("-Inf"),
        Some(x) => json!(x),
    }
}

fn rollup_json(r: &Rollup) -> Value {
    json!({
        "name": r.name,
        "devices": r.devices,
        "up": r.up,
        "degraded": r.degraded,
        "down": r.down,
        "stale": r.stale,
        "p95_latency_seconds": num(r.p95_latency),
        "p95_latency_max_seconds": num(r.p95_latency_max),
        "error_rate": num(r.error_rate),
        "max_temp_celsius": num(r.max_temp),
        "releases": r.releases,
    })
}

fn device_json(d: &Device) -> Value {
    let figures: serde_json::Map<String, Value> = Figure::ALL
        .iter()
        .map(|f| (f.key().to_string(), num(d.figure(*f))))
        .collect();
    json!({
        "id": d.id(),
        "site": d.site(),
        "group": d.group(),
        "health": d.health,
        "breaches": d.breaches,
        "reason": match &d.sample.reach {
            crate::fleet::Reach::Down(why) => json!(why),
            crate::fleet::Reach::Up => Value::Null,
        },
        "version": d.version(),
        "release": d.sample.release,
        "agent_state": d.sample.agent_state,
        "target": d.sample.target,
        "labels": d.sample.labels,
        "figures": figures,
    })
}

pub fn status_json(fleet: &Fleet, warnings: &[String]) -> Value {
    json!({
        "source": fleet.source,
        "taken_at": fleet.taken_at.map(format::utc),
        "total": rollup_json(&fleet.total),
        "sites": fleet.sites.iter().map(rollup_json).collect::<Vec<_>>(),
        "groups": fleet.groups.iter().map(rollup_json).collect::<Vec<_>>(),
        "devices": fleet.devices.iter().map(device_json).collect::<Vec<_>>(),
        "warnings": warnings,
    })
}

pub fn status_text(fleet: &Fleet, warnings: &[String]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let t = &fleet.total;
    let _ = writeln!(
        out,
        "{}  at {}\n{} devices: {} up, {} degraded, {} down, {} stale\n",
        sanitize(&fleet.source),
        fleet.taken_at.map(format::utc).unwrap_or_default(),
        t.devices,
        t.up,
        t.degraded,
        t.down,
        t.stale
    );
    let _ = writeln!(
        out,
        "{:<16} {:>7} {:>5} {:>8} {:>5} {:>5} {:>7} {:>7} {:>8}",
        "SITE", "DEVICES", "UP", "DEGRADED", "DOWN", "STALE", "P95", "ERRORS", "MAX TEMP"
    );
    let mut sites: Vec<&Rollup> = fleet.sites.iter().collect();
    sites.sort_by(|a, b| b.attention().cmp(&a.attention()).then(a.name.cmp(&b.name)));
    for s in sites {
        let _ = writeln!(
            out,
            "{:<16} {:>7} {:>5} {:>8} {:>5} {:>5} {:>7} {:>7} {:>8}",
            sanitize(&s.name),
            s.devices,
            s.up,
            s.degraded,
            s.down,
            s.stale,
            format::figure(Figure::LatencyP95, s.p95_latency),
            format::figure(Figure::ErrorRate, s.error_rate),
            format::figure(Figure::CpuTemp, s.max_temp),
        );
    }
    for w in warnings {
        let _ = writeln!(out, "warning: {}", sanitize(w));
    }
    out
}

async fn demo(cli: &Cli, a: &DemoArgs) -> Result<ExitCode, CliError> {
    let mut cfg = load_config(cli)?;
    let names = crate::sim::site_names(a.sites.max(1));
    let dir = std::env::temp_dir().join(format!("fleetdeck-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // A GitOps repository with one rollout in its canary wave, which the
    // simulated devices follow like update agents.
    let repo = dir.join("gitops");
    demo_repo(&repo).map_err(|e| fail(format!("demo rollout repository: {e}"), 1))?;
    let opts = crate::sim::SimOptions {
        devices: a.devices,
        sites: a.sites,
        offline: (a.devices / 75).clamp(1, 20).min(a.devices),
        hot: names.get(1).cloned().into_iter().collect(),
        slow: names.get(4).cloned().into_iter().collect(),
        rollout_repo: Some(repo.clone()),
        stuck: usize::from(a.devices >= 50),
        // One device on a hand-installed build: what drift looks like.
        drifted: usize::from(a.devices >= 50),
        unsigned: vec![DEMO_UNSIGNED.to_string()],
        ..crate::sim::SimOptions::default()
    };
    let sim = crate::sim::SimHandle::start(opts, "127.0.0.1:0".parse()?).await?;
    let inventory = dir.join("inventory.json");
    sim.write_inventory(&inventory)?;
    demo_trust(&mut cfg, &sim, &dir)?;
    cfg.source = SourceConfig::Scrape(ScrapeOptions {
        inventory: inventory.clone(),
        timeout: Duration::from_secs(2),
        concurrency: 128,
        labels: cfg.labels.clone(),
        defs: cfg.defs.clone(),
    });
    cfg.refresh = Duration::from_secs(2);
    cfg.rollout = crate::config::RolloutConfig {
        repo: Some(repo.display().to_string()),
        author_name: Some(operator(&cfg)),
        author_email: Some("demo@fleetdeck.invalid".into()),
        ..crate::config::RolloutConfig::default()
    };
    let source = Source::from_config(&cfg.source)?;
    let result = console(cli, cfg, source).await;
    // Bounded: a connection that will not close must not keep the demo alive.
    let _ = tokio::time::timeout(Duration::from_secs(2), sim.shutdown()).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The demo's deliberately unsigned release (the `vision-1.5.1` hotfix).
pub const DEMO_UNSIGNED: &str = "1.5.1";

/// Points the demo's config at the simulator's registry and key: the key is
/// written to `dir/cosign.pub` and added to `[signing] keys` (a user's own
/// `[signing]` config is kept and the demo key added to it, so the demo's
/// signed releases verify either way); `registry.local` is mirrored to the
/// simulated registry, which is listed as insecure (plain HTTP on loopback).
pub fn demo_trust(
    cfg: &mut Config,
    sim: &crate::sim::SimHandle,
    dir: &std::path::Path,
) -> std::io::Result<()> {
    let key = dir.join("cosign.pub");
    std::fs::write(&key, sim.signing_public_key_pem())?;
    cfg.signing.keys.push(key);
    let registry = sim.registry_addr().to_string();
    cfg.registry.insecure.push(registry.clone());
    cfg.registry
        .mirrors
        .insert(crate::sim::REGISTRY_HOST.to_string(), registry);
    Ok(())
}

/// Creates the demo's rollout repository: `vision-1.5.0` replacing the
/// release the simulated devices run, canary wave released 20 minutes ago;
/// then `vision-1.5.1`, an unsigned hotfix of 1.5.0 that has released
/// nothing yet (wave 0, progressing), so the console shows a signed and an
/// unsigned release and refuses to promote the latter.
pub fn demo_repo(repo: &std::path::Path) -> std::io::Result<()> {
    use crate::rollout::plan::Plan;
    std::fs::create_dir_all(repo.join("rollouts"))?;
    let git = |args: &[&str]| -> std::io::Result<()> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(repo)
            .args([
                "-c",
                "user.name=fleetdeck demo",
                "-c",
                "user.email=demo@fleetdeck.invalid",
            ])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    };
    git(&["init", "-q", "-b", "main"])?;
    let mut plan = Plan::new(
        "vision-1.5.0",
        crate::sim::release_spec_for("1.5.0"),
        crate::sim::release_spec_for("1.4.0"),
    );
    plan.description = Some("demo: new detection model and runtime".into());
    plan.state.wave = 1;
    plan.state.wave_started = Some(SystemTime::now() - Duration::from_secs(1200));
    plan.state.updated_by = Some("fleetdeck demo".into());
    plan.state.reason = Some("start with the canary group".into());
    plan.gates.interval = Duration::from_secs(10);
    std::fs::write(repo.join("rollouts/vision-1.5.0.toml"), plan.to_toml())?;
    git(&["add", "rollouts"])?;
    git(&[
        "commit",
        "-q",
        "-m",
        "rollout vision-1.5.0: promote — wave 1/4 (canary)",
    ])?;
    let mut hotfix = Plan::new(
        "vision-1.5.1",
        crate::sim::release_spec_for(DEMO_UNSIGNED),
        crate::sim::release_spec_for("1.5.0"),
    );
    hotfix.description = Some(
        "demo: hotfix for night-time false positives (built outside the pipeline: unsigned)".into(),
    );
    hotfix.state.updated_by = Some("fleetdeck demo".into());
    hotfix.gates.interval = Duration::from_secs(10);
    std::fs::write(repo.join("rollouts/vision-1.5.1.toml"), hotfix.to_toml())?;
    git(&["add", "rollouts"])?;
    git(&[
        "commit",
        "-q",
        "-m",
        "rollout vision-1.5.1: init — wave 0/4 (none released)",
    ])?;
    Ok(())
}

/// Opens the TUI on a source. The config is fully checked before the terminal is touched.
async fn console(_cli: &Cli, cfg: Config, source: Source) -> Result<ExitCode, CliError> {
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
            .map_err(|e| fail(format!("[signing]/[registry]: {e}"), 2))?;
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
    crate::tui::run(app, parts).await?;
    Ok(ExitCode::SUCCESS)
}
