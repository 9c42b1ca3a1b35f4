//! `fleetdeck demo`'s world: a temporary directory ([`super::demo_dir`])
//! with a GitOps rollout repository the simulated devices follow, the
//! simulator itself (exporters, update agents, OCI registry), its inventory
//! and signing key, and the config that points the console at all of it.
//! The CLI loads the user's config, calls [`start`], runs the console, then
//! [`Demo::shutdown`].

use super::{SimHandle, SimOptions};
use crate::config::{Config, RolloutConfig};
use crate::metrics::ScrapeOptions;
use crate::metrics::SourceConfig;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The running demo: the simulator and the directory it lives in.
pub struct Demo {
    pub sim: SimHandle,
    pub dir: PathBuf,
}

/// The simulator of a demo with `devices` devices over `sites` sites whose
/// agents follow `repo`: a few devices offline, one site hot and one slow,
/// one device stuck and one drifted (from 50 devices), and the [`UNSIGNED`]
/// release served without signatures.
pub fn options(devices: usize, sites: usize, repo: PathBuf) -> SimOptions {
    let names = super::site_names(sites.max(1));
    SimOptions {
        devices,
        sites,
        offline: (devices / 75).clamp(1, 20).min(devices),
        hot: names.get(1).cloned().into_iter().collect(),
        slow: names.get(4).cloned().into_iter().collect(),
        rollout_repo: Some(repo),
        stuck: usize::from(devices >= 50),
        // One device on a hand-installed build: what drift looks like.
        drifted: usize::from(devices >= 50),
        unsigned: vec![UNSIGNED.to_string()],
        ..SimOptions::default()
    }
}

/// Sets the demo up in [`super::demo_dir`] and points `cfg` at it: direct
/// scrape of the simulator's inventory every 2 s, its registry and signing
/// key trusted ([`add_trust`]), its rollout repository with commits by
/// `author`. The user's own settings (theme, keys, thresholds, `[signing]`)
/// are kept.
pub async fn start(
    cfg: &mut Config,
    devices: usize,
    sites: usize,
    author: String,
) -> io::Result<Demo> {
    let dir = super::demo_dir();
    std::fs::create_dir_all(&dir)?;
    // A GitOps repository with one rollout in its canary wave, which the
    // simulated devices follow like update agents.
    let repo = dir.join("gitops");
    create_repo(&repo).map_err(|e| io::Error::other(format!("demo rollout repository: {e}")))?;
    let opts = options(devices, sites, repo.clone());
    let sim = SimHandle::start(opts, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let inventory = dir.join("inventory.json");
    sim.write_inventory(&inventory)?;
    add_trust(cfg, &sim, &dir)?;
    cfg.source = SourceConfig::Scrape(ScrapeOptions {
        inventory,
        timeout: Duration::from_secs(2),
        concurrency: 128,
        labels: cfg.labels.clone(),
        defs: cfg.defs.clone(),
    });
    cfg.refresh = Duration::from_secs(2);
    cfg.rollout = RolloutConfig {
        repo: Some(repo.display().to_string()),
        author_name: Some(author),
        author_email: Some("demo@fleetdeck.invalid".into()),
        ..RolloutConfig::default()
    };
    Ok(Demo { sim, dir })
}

impl Demo {
    /// Stops the simulator (bounded: a connection that will not close must
    /// not keep the demo alive) and removes the directory.
    pub async fn shutdown(self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.sim.shutdown()).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The demo's deliberately unsigned release (the `vision-1.5.1` hotfix).
pub const UNSIGNED: &str = "1.5.1";

/// Points the demo's config at the simulator's registry and key: the key is
/// written to `dir/cosign.pub` and added to `[signing] keys` (a user's own
/// `[signing]` config is kept and the demo key added to it, so the demo's
/// signed releases verify either way); `registry.local` is mirrored to the
/// simulated registry, which is listed as insecure (plain HTTP on loopback).
pub fn add_trust(cfg: &mut Config, sim: &SimHandle, dir: &Path) -> io::Result<()> {
    let key = dir.join("cosign.pub");
    std::fs::write(&key, sim.signing_public_key_pem())?;
    cfg.signing.keys.push(key);
    let registry = sim.registry_addr().to_string();
    cfg.registry.insecure.push(registry.clone());
    cfg.registry
        .mirrors
        .insert(super::REGISTRY_HOST.to_string(), registry);
    Ok(())
}

/// Creates the demo's rollout repository: `vision-1.5.0` replacing the
/// release the simulated devices run, canary wave released 20 minutes ago;
/// then `vision-1.5.1`, an unsigned hotfix of 1.5.0 that has released
/// nothing yet (wave 0, progressing), so the console shows a signed and an
/// unsigned release and refuses to promote the latter.
pub fn create_repo(repo: &Path) -> io::Result<()> {
    use crate::rollout::plan::Plan;
    std::fs::create_dir_all(repo.join("rollouts"))?;
    let git = |args: &[&str]| -> io::Result<()> {
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
            Err(io::Error::other(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    };
    git(&["init", "-q", "-b", "main"])?;
    let mut plan = Plan::new(
        "vision-1.5.0",
        super::release_spec_for("1.5.0"),
        super::release_spec_for("1.4.0"),
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
        super::release_spec_for(UNSIGNED),
        super::release_spec_for("1.5.0"),
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
