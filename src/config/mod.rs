//! TOML → [`Config`]. Every error names the file, line and column, the key,
//! and what to do about it; unknown keys are errors, never silently ignored.
//!
//! One file per section: each reads its table as written (`File…`) and
//! resolves it into the type its domain uses; `resolve` calls them in
//! order. Errors are located with toml's spans ([`crate::diag`]).

mod alertmanager;
mod keys;
mod metrics;
mod registry;
mod remote;
mod rollout;
mod signing;
mod source;
mod thresholds;

pub use alertmanager::AlertmanagerConfig;
pub use keys::KeyList;
pub use registry::{RegistryAuth, RegistryConfig, check_host_port};
pub use remote::RemoteConfig;
pub use rollout::RolloutConfig;
pub use signing::{Identity, SigningConfig, check_regex};

use crate::diag::{ConfigError, Dur, Located, deserialize, echo_path};
use crate::files::read_reason;
use crate::fleet::Thresholds;
use crate::metrics::def::MetricDefs;
use crate::metrics::{LabelNames, SourceConfig};
use crate::tui::theme::Theme;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

// ---- the file as written -------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    theme: Option<String>,
    #[serde(default)]
    read_only: bool,
    source: Option<source::FileSource>,
    #[serde(default)]
    labels: source::FileLabels,
    #[serde(default)]
    thresholds: thresholds::FileThresholds,
    #[serde(default)]
    metrics: metrics::FileMetrics,
    #[serde(default)]
    ui: FileUi,
    #[serde(default)]
    keys: BTreeMap<String, KeyList>,
    #[serde(default)]
    rollout: rollout::FileRollout,
    #[serde(default)]
    signing: signing::FileSigning,
    #[serde(default)]
    registry: registry::FileRegistry,
    #[serde(default)]
    remote: remote::FileRemote,
    alertmanager: Option<alertmanager::FileAlertmanager>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileUi {
    history: Option<Dur>,
    sparkline: Option<Dur>,
}

// ---- the resolved configuration -------------------------------------------

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file this came from, `None` for built-in defaults.
    pub path: Option<PathBuf>,
    /// The file's text, kept so later checks (files, theme) are located in it.
    pub text: String,
    pub theme: Option<String>,
    /// Set when `--theme` overrode the file (errors then blame the flag).
    pub theme_from_cli: Option<String>,
    pub read_only: bool,
    pub source: SourceConfig,
    /// How often the source is refreshed.
    pub refresh: Duration,
    pub labels: LabelNames,
    pub thresholds: Thresholds,
    pub defs: MetricDefs,
    /// How much per-device history is kept in memory (direct scrape).
    pub history: Duration,
    /// The span of the device-detail sparklines.
    pub sparkline: Duration,
    /// Keymap overrides: action name → keys.
    pub keys: BTreeMap<String, Vec<String>>,
    pub rollout: RolloutConfig,
    pub signing: SigningConfig,
    pub registry: RegistryConfig,
    pub remote: RemoteConfig,
    /// `[alertmanager]`; `None`: no alerts.
    pub alertmanager: Option<AlertmanagerConfig>,
}

pub const DEFAULT_REFRESH: Duration = Duration::from_secs(5);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_CONCURRENCY: usize = 64;

impl Default for Config {
    fn default() -> Self {
        Config {
            path: None,
            text: String::new(),
            theme: None,
            theme_from_cli: None,
            read_only: false,
            source: SourceConfig::Unset,
            refresh: DEFAULT_REFRESH,
            labels: LabelNames::default(),
            thresholds: Thresholds::default(),
            defs: MetricDefs::default(),
            history: Duration::from_secs(3600),
            sparkline: Duration::from_secs(1800),
            keys: BTreeMap::new(),
            rollout: RolloutConfig::default(),
            signing: SigningConfig::default(),
            registry: RegistryConfig::default(),
            remote: RemoteConfig::default(),
            alertmanager: None,
        }
    }
}

/// The platform's default config file (`~/.config/fleetdeck/config.toml` on Linux).
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "fleetdeck").map(|d| d.config_dir().join("config.toml"))
}

impl Config {
    /// Loads `explicit` (which must exist), else the default file when it exists,
    /// else the built-in defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => match default_path() {
                Some(p) if p.exists() => p,
                _ => return Ok(Config::default()),
            },
        };
        let text =
            crate::files::read_text_capped(&path, crate::files::cap::CONFIG).map_err(|e| {
                ConfigError {
                    file: echo_path(&path),
                    line: 0,
                    column: 0,
                    key: String::new(),
                    message: format!("cannot read the config file: {}", read_reason(&e)),
                    hint: if explicit.is_some() {
                        "check the path given to --config".into()
                    } else {
                        "fix the file's permissions or remove it to use the defaults".into()
                    },
                }
            })?;
        let cfg = Config::parse(&text, &path)?;
        cfg.check_files()?;
        Ok(cfg)
    }

    /// Parses config text; `path` is used for messages and to resolve relative
    /// paths. Checks every value, and reads the secret files it names; the
    /// other files it names are checked by [`Config::check_files`].
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file_name = echo_path(path);
        let file: FileConfig = deserialize(text, &file_name)?;
        let ctx = Ctx {
            text,
            file: &file_name,
            base: path.parent().unwrap_or(Path::new(".")),
        };
        let mut cfg = resolve(file, &ctx)?;
        cfg.path = Some(path.to_path_buf());
        cfg.text = text.to_string();
        Ok(cfg)
    }

    pub fn default_timeout(&self) -> Duration {
        match &self.source {
            SourceConfig::Prometheus(p) => p.timeout,
            SourceConfig::Scrape(s) => s.timeout,
            SourceConfig::Unset => DEFAULT_TIMEOUT,
        }
    }

    /// Checks every file the config names (CA bundles, `[signing]` keys,
    /// roots and Rekor keys, the scrape inventory, SSH identity files and
    /// known_hosts) the way the commands and the console will read them: a
    /// regular file under its size cap, in the expected format. The error
    /// names the file and the key, located in the config.
    pub fn check_files(&self) -> Result<(), ConfigError> {
        let path_err = |key: &str, path: &Path, why: String, hint: &str| {
            self.error_at(
                key,
                format!("'{}': {why}", echo_path(path)),
                hint.to_string(),
            )
        };
        const CA_HINT: &str =
            "give the path of a PEM file with the CA certificate(s) (-----BEGIN CERTIFICATE-----)";
        if let SourceConfig::Prometheus(p) = &self.source
            && let Some(ca) = &p.ca_file
        {
            crate::files::load_ca_bundle(ca)
                .map_err(|why| path_err("source.ca_file", ca, why, CA_HINT))?;
        }
        if let Some(ca) = self.alertmanager.as_ref().and_then(|a| a.ca_file.as_ref()) {
            crate::files::load_ca_bundle(ca)
                .map_err(|why| path_err("alertmanager.ca_file", ca, why, CA_HINT))?;
        }
        if let Some(ca) = &self.registry.ca_file {
            crate::files::load_ca_bundle(ca)
                .map_err(|why| path_err("registry.ca_file", ca, why, CA_HINT))?;
        }
        let sg = &self.signing;
        for (i, key) in sg.keys.iter().enumerate() {
            crate::signature::load_public_key(key, "signing key").map_err(|e| {
                self.error_at(
                    &format!("signing.keys[{i}]"),
                    e.to_string(),
                    "a PEM ECDSA P-256 public key, as written by `cosign generate-key-pair` (cosign.pub)"
                        .into(),
                )
            })?;
        }
        for (i, root) in sg.roots.iter().enumerate() {
            crate::signature::load_root_certs(root).map_err(|e| {
                self.error_at(
                    &format!("signing.roots[{i}]"),
                    e.to_string(),
                    "PEM CA certificates keyless certificates chain to (e.g. Fulcio's root)".into(),
                )
            })?;
        }
        for (i, key) in sg.rekor_keys.iter().enumerate() {
            crate::signature::load_public_key(key, "Rekor key").map_err(|e| {
                self.error_at(
                    &format!("signing.rekor_keys[{i}]"),
                    e.to_string(),
                    "the Rekor log's PEM ECDSA P-256 public key".into(),
                )
            })?;
        }
        if let SourceConfig::Scrape(s) = &self.source {
            const INV_HINT: &str =
                "a Prometheus file_sd JSON file: [{\"targets\": [\"host:port\"], \"labels\": {…}}]";
            // Looked at before it is read: a FIFO or a device must fail here,
            // whatever the loader does with it.
            regular_under(&s.inventory, crate::files::cap::INVENTORY)
                .map_err(|why| path_err("source.inventory", &s.inventory, why, INV_HINT))?;
            crate::metrics::scrape::read_inventory(&s.inventory, &s.labels).map_err(|e| {
                self.error_at(
                    "source.inventory",
                    e.to_string(),
                    "a Prometheus file_sd JSON file: [{\"targets\": [\"host:port\"], \"labels\": {…}}]"
                        .into(),
                )
            })?;
        }
        // SSH: a missing file is skipped (identity) or created on the first
        // accepted key (known_hosts), as OpenSSH does; anything else that
        // exists must be a regular file under the cap.
        let rm = &self.remote;
        let ssh_files = rm
            .identity_files
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("remote.identity_files[{i}]"), p))
            .chain(
                rm.known_hosts
                    .iter()
                    .map(|p| ("remote.known_hosts".to_string(), p)),
            );
        for (key, p) in ssh_files {
            match crate::files::read_capped(p, crate::files::cap::SSH) {
                Ok(_) => {}
                Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => {}
                Err(e) => {
                    return Err(path_err(
                        &key,
                        p,
                        read_reason(&e),
                        "point it at a regular file (an OpenSSH private key, or a known_hosts file)",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The theme the config (or `--theme`) names, loaded as the console will
    /// load it. A theme named in the file is located there.
    pub fn load_theme(&self, user_dir: Option<&Path>) -> Result<Theme, ConfigError> {
        let name = self.theme.as_deref().unwrap_or("default");
        Theme::load(name, user_dir).map_err(|e| {
            use crate::tui::theme::ThemeError;
            let hint = match &e {
                ThemeError::UnknownTheme { .. } => {
                    "pick one of the available themes (fleetdeck themes), or give a path to a .toml file"
                }
                ThemeError::Read { .. } => "point it at a regular theme file (TOML)",
                _ => "fix the theme file; the built-in themes/default.toml sets every role",
            };
            let standalone = |file: String| ConfigError {
                file,
                line: 0,
                column: 0,
                key: String::new(),
                message: e.to_string(),
                hint: hint.into(),
            };
            if self.theme_from_cli.is_some() {
                standalone("--theme".into())
            } else if self.theme.is_some() {
                self.error_at("theme", e.to_string(), hint.into())
            } else {
                standalone(format!("built-in theme '{name}'"))
            }
        })
    }

    /// Builds a [`ConfigError`] located at `key` in this config's file.
    pub fn error_at(&self, key: &str, message: String, hint: String) -> ConfigError {
        let file = self
            .path
            .as_ref()
            .map(|p| echo_path(p))
            .unwrap_or_else(|| "(built-in config)".into());
        Located {
            text: &self.text,
            file: &file,
        }
        .err(key, message, hint)
    }
}

/// The one start-up path: the config file (every value, and every file it
/// names), then the command line's `--read-only` and `--theme`, then the theme
/// and the keymap. `check-config` runs exactly this and nothing else, so what
/// it accepts every command and the console accept.
pub fn load_checked(
    explicit: Option<&Path>,
    theme: Option<&str>,
    read_only: bool,
) -> Result<Config, ConfigError> {
    let mut cfg = Config::load(explicit)?;
    if read_only {
        cfg.read_only = true;
    }
    if let Some(t) = theme {
        cfg.theme = Some(t.to_string());
        cfg.theme_from_cli = Some(t.to_string());
    }
    cfg.load_theme(crate::tui::theme::user_theme_dir().as_deref())?;
    // Checked in `parse` already (located there); kept here so this function
    // alone states everything the console needs.
    crate::app::keymap::Keymap::from_config(&cfg.keys)
        .map_err(|e| cfg.error_at(&e.key, e.message, e.hint))?;
    Ok(cfg)
}

/// Without reading it: `path` is a regular file of at most `cap` bytes.
fn regular_under(path: &Path, cap: u64) -> Result<(), String> {
    let m = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        _ => e.to_string(),
    })?;
    if !m.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        let kind = if t.is_dir() {
            "a directory"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else if t.is_fifo() {
            "a FIFO"
        } else {
            "a socket or other special file"
        };
        return Err(format!("not a regular file ({kind})"));
    }
    if m.len() > cap {
        return Err(format!(
            "larger than {cap} bytes ({} bytes); is this the right file?",
            m.len()
        ));
    }
    Ok(())
}

/// The file being resolved: its text and name (for errors) and its directory
/// (relative paths in it are relative to the file).
struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
    base: &'a Path,
}

impl Ctx<'_> {
    /// An error located at `key` in the file.
    fn err(&self, key: &str, message: impl Into<String>, hint: impl Into<String>) -> ConfigError {
        Located {
            text: self.text,
            file: self.file,
        }
        .err(key, message, hint)
    }

    /// `p` relative to the config file's directory.
    fn abs(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// A timeout of zero would fail every request: refused where it is written.
    fn positive(&self, key: &str, d: Duration) -> Result<(), ConfigError> {
        if d.is_zero() {
            return Err(self.err(
                key,
                "a timeout of 0s would fail every request",
                "give a positive duration, e.g. '5s'",
            ));
        }
        Ok(())
    }

    /// The trimmed content of a secret file `key` names.
    fn read_secret(&self, key: &str, path: &Path) -> Result<String, ConfigError> {
        match crate::files::read_text_capped(path, crate::files::cap::SECRET) {
            Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Ok(_) => Err(self.err(
                key,
                format!("'{}' is empty", echo_path(path)),
                "put the secret in the file",
            )),
            Err(e) => Err(self.err(
                key,
                format!("cannot read '{}': {}", echo_path(path), read_reason(&e)),
                "point it at a regular file holding only the secret; check its permissions",
            )),
        }
    }
}

/// The file as written → [`Config`], section by section, in the order the
/// checks have always run (the first error found is the one reported).
fn resolve(file: FileConfig, ctx: &Ctx<'_>) -> Result<Config, ConfigError> {
    let labels = source::resolve_labels(file.labels, ctx)?;
    let thresholds = thresholds::resolve(&file.thresholds, ctx)?;
    let d = Config::default();
    let history = file.ui.history.map_or(d.history, |v| v.0);
    let sparkline = file.ui.sparkline.map_or(d.sparkline, |v| v.0);
    let defs = metrics::resolve(&file.metrics, ctx)?;
    let keys = keys::resolve(&file.keys, ctx)?;
    let signing = signing::resolve(&file.signing, ctx)?;
    let registry = registry::resolve(&file.registry, ctx)?;
    let remote = remote::resolve(&file.remote, ctx)?;
    let rollout = rollout::resolve(file.rollout, ctx)?;
    let (source, refresh) = match file.source {
        Some(src) => source::resolve(src, &labels, &defs, ctx)?,
        None => (SourceConfig::Unset, d.refresh),
    };
    let alertmanager = alertmanager::resolve(file.alertmanager, &labels, ctx)?;
    Ok(Config {
        theme: file.theme,
        read_only: file.read_only,
        source,
        refresh,
        labels,
        thresholds,
        defs,
        history,
        sparkline,
        keys,
        rollout,
        signing,
        registry,
        remote,
        alertmanager,
        ..d
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::def::{Agg, Figure, MetricKind};
    use crate::text;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/fleetdeck/test.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").expect("empty config is valid");
        assert_eq!(c.source, SourceConfig::Unset);
        assert_eq!(c.thresholds, Thresholds::default());
        assert_eq!(c.defs, MetricDefs::default());
    }

    #[test]
    fn scrape_source_resolves_relative_paths() {
        let c = parse("[source]\nkind = \"scrape\"\ninventory = \"inv.json\"\nrefresh = \"2s\"\n")
            .expect("valid");
        match c.source {
            SourceConfig::Scrape(s) => {
                assert_eq!(s.inventory, Path::new("/etc/fleetdeck/inv.json"));
                assert_eq!(s.concurrency, DEFAULT_CONCURRENCY);
            }
            other => panic!("expected scrape source, got {other:?}"),
        }
        assert_eq!(c.refresh, Duration::from_secs(2));
    }

    #[test]
    fn unknown_key_is_located() {
        let e = parse("[source]\nkind = \"scrape\"\ninventory = \"x\"\nrefersh = \"5s\"\n")
            .expect_err("unknown key");
        assert_eq!((e.line, e.column), (4, 1), "{e}");
        assert_eq!(e.key, "source.refersh");
        assert!(e.message.contains("unknown field `refersh`"), "{e}");
        assert!(
            e.to_string().starts_with("/etc/fleetdeck/test.toml:4:1: "),
            "{e}"
        );
    }

    #[test]
    fn registry_mirrors_parse_and_bad_ones_are_located() {
        let c = parse(
            "[registry]\ninsecure = [\"127.0.0.1:5000\"]\nmirrors = { \"registry.local\" = \"127.0.0.1:5000\", \"docker.io\" = \"[::1]:5001\" }\n",
        )
        .expect("valid mirrors");
        assert_eq!(
            c.registry.mirrors.get("registry.local").map(String::as_str),
            Some("127.0.0.1:5000")
        );
        assert_eq!(
            c.registry.mirrors.get("docker.io").map(String::as_str),
            Some("[::1]:5001")
        );
        assert!(parse("").expect("empty").registry.mirrors.is_empty());
        for (bad, why) in [
            ("http://127.0.0.1:5000", "scheme"),
            ("127.0.0.1:5000/v2", "host[:port]"),
            ("127.0.0.1:0", "port"),
            ("127.0.0.1:99999", "port"),
            ("", "empty"),
            ("registry.local", "itself"),
        ] {
            let text = format!(
                "[registry]\ntimeout = \"5s\"\nmirrors = {{ \"registry.local\" = \"{bad}\" }}\n"
            );
            let e = parse(&text).expect_err(bad);
            assert_eq!(e.key, "registry.mirrors.\"registry.local\"", "{bad}: {e}");
            assert_eq!(e.line, 3, "{bad}: {e}");
            assert!(e.message.contains(why), "{bad}: {e}");
        }
        let e = parse("[registry.mirrors]\n\"reg istry\" = \"127.0.0.1:5000\"\n")
            .expect_err("bad source host");
        assert!(e.message.contains("registry 'reg istry'"), "{e}");
        // The entry's own line (the text scan stopped at the table header).
        assert_eq!((e.line, e.column), (2, 1), "{e}");
    }

    #[test]
    fn bad_variant_names_the_key() {
        let e = parse("[source]\nkind = \"promethues\"\n").expect_err("bad kind");
        assert_eq!(e.key, "source.kind");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("promethues"), "{e}");
    }

    #[test]
    fn missing_url_is_explained() {
        let e = parse("[source]\nkind = \"prometheus\"\n").expect_err("no url");
        assert_eq!(e.key, "source.url");
        assert!(e.hint.contains("url ="), "{e}");
    }

    #[test]
    fn metric_patch_merges_over_default() {
        let c = parse("[metrics.cpu_temp]\nmetric = \"soc_temp_celsius\"\nlabels = {}\n")
            .expect("valid");
        let d = c.defs.get(Figure::CpuTemp);
        assert_eq!(d.metric, "soc_temp_celsius");
        assert_eq!(d.kind, MetricKind::Gauge);
        assert_eq!(d.agg, Agg::Max);
        assert!(d.labels.is_empty());
    }

    #[test]
    fn invalid_metric_def_points_at_its_table() {
        let e = parse("\n[metrics.latency_p95]\nquantile = 2.0\n").expect_err("bad quantile");
        assert_eq!(e.key, "metrics.latency_p95.quantile");
        assert_eq!(e.line, 3);
    }

    #[test]
    fn rollout_section() {
        let c = parse("[rollout]\nrepo = \"gitops\"\nbranch = \"prod\"\ngit_timeout = \"5s\"\n")
            .expect("valid");
        assert_eq!(c.rollout.repo.as_deref(), Some("/etc/fleetdeck/gitops"));
        assert_eq!(c.rollout.branch, "prod");
        assert_eq!(c.rollout.git_timeout, Duration::from_secs(5));
        let c = parse("[rollout]\nrepo = \"git@github.com:acme/fleet.git\"\n").expect("valid");
        assert_eq!(
            c.rollout.repo.as_deref(),
            Some("git@github.com:acme/fleet.git")
        );
        let e = parse("[rollout]\nbranch = \"--force\"\n").expect_err("bad branch");
        assert_eq!(e.key, "rollout.branch");
    }

    #[test]
    fn hostile_values_are_echoed_safe_and_cut() {
        let evil = format!("\u{1b}]2;PWNED\u{7}\u{202e}{}", "x".repeat(100_000));
        let toml_evil = evil
            .replace('\u{1b}', "\\u001b")
            .replace('\u{7}', "\\u0007");
        for text in [
            format!("[source]\nkind = \"scrape\"\ninventory = \"i\"\ntimeout = \"{toml_evil}\"\n"),
            format!("[source]\nkind = \"{toml_evil}\"\n"),
            format!("\"{toml_evil}\" = 1\n"),
            format!("read_only = \"{toml_evil}\"\n"),
            format!("[labels]\ndevice = \"{toml_evil}\"\n"),
            format!("[rollout]\nbranch = \"{toml_evil}\"\n"),
            format!("[source]\nkind = \"prometheus\"\nurl = \"{toml_evil}\"\n"),
            format!("[registry.mirrors]\n\"{toml_evil}\" = \"h:1\"\n"),
            format!("[keys]\nquit = \"{toml_evil}\"\n"),
        ] {
            let e = parse(&text).expect_err("hostile");
            let shown = e.to_string();
            assert!(text::is_clean(&shown.replace('\n', "")), "{shown}");
            assert!(shown.lines().all(|l| l.chars().count() < 400), "{shown}");
            assert!(!shown.contains(&"x".repeat(122)), "echoed whole: {shown}");
        }
    }

    #[test]
    fn values_the_runtime_refuses_are_refused_here() {
        let scrape = "[source]\nkind = \"scrape\"\ninventory = \"i\"\n";
        let e = parse(&format!("{scrape}timeout = \"0s\"\n")).expect_err("0s");
        assert_eq!((e.key.as_str(), e.line), ("source.timeout", 4), "{e}");
        let prom = "[source]\nkind = \"prometheus\"\nurl = \"http://p:9090\"\n";
        let e = parse(&format!("{prom}tenant = \"a\\r\\nb\"\n")).expect_err("crlf");
        assert_eq!(e.key, "source.tenant", "{e}");
        assert!(e.to_string().contains("a\\r\\nb"), "{e}");
        let e = parse("[source]\nkind = \"prometheus\"\nurl = \"http://\"\n").expect_err("no host");
        assert_eq!(e.key, "source.url", "{e}");
        let e = parse("[signing]\nidentities = [{ subject_regex = \"(\", issuer = \"i\" }]\n")
            .expect_err("regex");
        assert_eq!(e.key, "signing.identities[0].subject_regex", "{e}");
        assert_eq!((e.line, e.column), (2, 17), "{e}");
        assert!(!e.message.contains('\n'), "{e}");
        for key in [
            "registry.timeout",
            "rollout.git_timeout",
            "remote.connect_timeout",
        ] {
            let (table, k) = key.split_once('.').expect("dotted");
            let e = parse(&format!("[{table}]\n{k} = \"0ms\"\n")).expect_err(key);
            assert_eq!(e.key, key, "{e}");
        }
        let e = parse("[keys]\nabort = \"q\"\n").expect_err("abort on q");
        assert_eq!(
            (e.key.as_str(), e.line, e.column),
            ("keys.abort", 2, 9),
            "{e}"
        );
        let e = parse("[keys]\nquit = [\"x\", \"j\"]\n").expect_err("j is down's");
        assert_eq!(
            (e.key.as_str(), e.line, e.column),
            ("keys.quit", 2, 14),
            "{e}"
        );
    }
}
