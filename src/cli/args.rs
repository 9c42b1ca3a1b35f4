//! The command line, as clap parses it. `--config`, `--theme` and
//! `--read-only` are global: accepted before or after any subcommand.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Print Prometheus recording rules for fleetdeck's figures (with
    /// --alerts: alerting rules too).
    Rules {
        /// Also print alerting rules (device down, hot, throttled, p95 and
        /// error rate over [thresholds]) keeping the device/site/group labels.
        #[arg(long)]
        alerts: bool,
    },
    /// Firing alerts from [alertmanager], grouped by site, then device.
    Alerts {
        #[arg(long)]
        json: bool,
    },
    /// Alertmanager silences: add, list, expire.
    #[command(subcommand)]
    Silence(SilenceCommand),
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
        /// Redraw every refresh until the rollout completes (exit 0) or is
        /// aborted (exit 1); ctrl-c exits 130. Piped, each new state is
        /// printed after a blank line instead of clearing the screen.
        #[arg(long, conflicts_with = "json")]
        watch: bool,
        /// With --watch: time between redraws (default: the source's refresh).
        #[arg(long, value_name = "DURATION", value_parser = parse_dur_arg, requires = "watch")]
        interval: Option<Duration>,
    },
    /// Every commit that changed the plan: time, author, action, wave,
    /// reason, forced and what was overridden, commit id. Newest first.
    History {
        name: String,
        #[arg(long)]
        json: bool,
        /// Only the newest N commits.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
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

#[derive(Subcommand, Debug)]
pub enum SilenceCommand {
    /// Silence the alerts the matchers select (all of them must match).
    Add(SilenceAddArgs),
    /// Every silence Alertmanager keeps (active, pending, expired).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Expire a silence now.
    Expire {
        id: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args, Debug)]
pub struct SilenceAddArgs {
    /// A device ID ([labels] device). Repeatable.
    #[arg(long, value_name = "ID")]
    pub device: Vec<String>,
    /// A site ([labels] site). Repeatable.
    #[arg(long, value_name = "NAME")]
    pub site: Vec<String>,
    /// An alert name. Repeatable.
    #[arg(long, value_name = "NAME")]
    pub alertname: Vec<String>,
    /// Any matcher: k=v, k!=v, k=~regex, k!~regex. Repeatable.
    #[arg(long, value_name = "K=V")]
    pub matcher: Vec<String>,
    /// How long the silence lasts.
    #[arg(long = "for", value_name = "DURATION", default_value = "2h", value_parser = parse_dur_arg)]
    pub duration: Duration,
    /// Why (required; Alertmanager shows it).
    #[arg(long)]
    pub comment: String,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
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

fn parse_dur_arg(s: &str) -> Result<Duration, String> {
    crate::diag::parse_duration(s)
}
