//! TOML → [`Config`]. Every error names the file, line and column, the key,
//! and what to do about it; unknown keys are errors, never silently ignored.

use crate::fleet::Thresholds;
use crate::metrics::def::{Agg, Figure, MetricDef, MetricDefs, MetricKind};
use crate::metrics::{BasicAuth, LabelNames, PrometheusOptions, ScrapeOptions};
use crate::text;
use crate::theme::Theme;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration problem, located in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the problem is not tied to a place in the file.
    pub line: usize,
    pub column: usize,
    /// Dotted key path, e.g. `source.kind`.
    pub key: String,
    pub message: String,
    pub hint: String,
}

/// [`text::echo`], bounded in what it prints too: an escape takes up to ten
/// characters (`\u{e007f}`), so 120 input characters could print as 1,200
/// (30 U+2028 printed 240). Cut at [`text::ECHO_LEN`] printed characters,
/// never inside an escape. Every echo of config and theme input uses this.
pub fn echo(s: &str) -> Cow<'_, str> {
    bounded(s, text::ECHO_LEN)
}

/// `s` made safe and cut at `max` *printed* characters, never inside an
/// escape, with `…` when cut.
fn bounded(s: &str, max: usize) -> Cow<'_, str> {
    let e = text::sanitize_max(s, max);
    if e.chars().count() <= max + 1 {
        return e;
    }
    let mut out = String::with_capacity(max * 4);
    let mut n = 0;
    let mut chars = e.chars().peekable();
    while let Some(c) = chars.next() {
        // One printed unit: a character, or a whole escape (`\u{…}`, `\n`).
        let mut unit = String::from(c);
        if c == '\\' {
            match chars.next() {
                Some('u') if chars.peek() == Some(&'{') => {
                    unit.push('u');
                    for d in chars.by_ref() {
                        unit.push(d);
                        if d == '}' {
                            break;
                        }
                    }
                }
                Some(d) => unit.push(d),
                None => {}
            }
        }
        let len = unit.chars().count();
        if n + len > max {
            out.push('…');
            return Cow::Owned(out);
        }
        n += len;
        out.push_str(&unit);
    }
    Cow::Owned(out)
}

/// A path echoed like [`echo`].
pub fn echo_path(p: &Path) -> String {
    echo(&p.to_string_lossy()).into_owned()
}

/// Longest message or hint shown: values inside are already cut at
/// [`text::ECHO_LEN`]; this bounds whatever a library wrote around them.
const MESSAGE_MAX: usize = 300;

impl fmt::Display for ConfigError {
    // Everything here may hold outside text (a hostile path, key or value):
    // each part is made safe and cut, whoever built the error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = echo(&self.file);
        let mut head = if self.line > 0 {
            format!("{file}:{}:{}: ", self.line, self.column)
        } else {
            format!("{file}: ")
        };
        if !self.key.is_empty() {
            head.push_str(&format!("key '{}': ", echo(&self.key)));
        }
        // The first line shares its width with the file and the key; a list
        // of what is valid goes on wrapped lines of its own.
        let budget = LINE_MAX.saturating_sub(head.chars().count()).max(80);
        let (first, list) = split_list(&self.message);
        write!(f, "{head}{}", bounded(first, budget))?;
        if let Some(list) = list {
            for l in wrap(&bounded(list, 4000), 96) {
                write!(f, "\n  {l}")?;
            }
        }
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", safe_lines(&self.hint))?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A hint over one or more lines: every line made safe and cut at
/// [`MESSAGE_MAX`] printed characters. Values inside were echoed where the
/// text was built, so a line break here is the text's own, never the input's.
fn safe_lines(s: &str) -> String {
    s.split('\n')
        .map(|l| bounded(l, MESSAGE_MAX))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A message whose tail lists what is valid ("…? valid roles are: a, b…",
/// "…; available themes: …"): (head with its ';' or '?', the list).
fn split_list(message: &str) -> (&str, Option<&str>) {
    let at = ["; valid ", "? valid ", "; available "]
        .iter()
        .filter_map(|m| message.find(m))
        .min();
    match at {
        Some(i) => (&message[..=i], Some(&message[i + 2..])),
        None => (message, None),
    }
}

/// Words of `s` in lines of at most `width` characters (a longer word, at
/// most an echo, gets a line of its own).
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split(' ') {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Longest line an error prints (its first line: file, key and message).
const LINE_MAX: usize = 300;

/// A duration written as `"5s"`, `"250ms"`, `"2m"`, `"1h30m"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses `"5s"`, `"250ms"`, `"2m"`, `"1h30m"`, `"1.5s"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "'{}' is not a duration; write it like '5s', '250ms', '2m' or '1h30m'",
            echo(s)
        )
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += n * factor;
    }
    if !total.is_finite() || total > 1e9 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

// ---- the file as written -------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    theme: Option<String>,
    #[serde(default)]
    read_only: bool,
    source: Option<FileSource>,
    #[serde(default)]
    labels: FileLabels,
    #[serde(default)]
    thresholds: FileThresholds,
    #[serde(default)]
    metrics: FileMetrics,
    #[serde(default)]
    ui: FileUi,
    #[serde(default)]
    keys: BTreeMap<String, KeyList>,
    #[serde(default)]
    rollout: FileRollout,
    #[serde(default)]
    signing: FileSigning,
    #[serde(default)]
    registry: FileRegistry,
    #[serde(default)]
    remote: FileRemote,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSigning {
    #[serde(default)]
    keys: Vec<PathBuf>,
    #[serde(default)]
    identities: Vec<Identity>,
    #[serde(default)]
    roots: Vec<PathBuf>,
    #[serde(default)]
    rekor_keys: Vec<PathBuf>,
    #[serde(default)]
    require_rekor: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileRegistry {
    #[serde(default)]
    insecure: Vec<String>,
    ca_file: Option<PathBuf>,
    timeout: Option<Dur>,
    #[serde(default)]
    auth: BTreeMap<String, FileRegistryAuth>,
    #[serde(default)]
    mirrors: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRegistryAuth {
    username: Option<String>,
    password_file: Option<PathBuf>,
    token_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileRemote {
    wireguard_interface: Option<String>,
    address_label: Option<String>,
    user: Option<String>,
    port: Option<u16>,
    identity_files: Option<Vec<PathBuf>>,
    known_hosts: Option<PathBuf>,
    connect_timeout: Option<Dur>,
    keepalive: Option<Dur>,
    allow_shell_read_only: Option<bool>,
    allow_offline_shell: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileRollout {
    repo: Option<String>,
    branch: Option<String>,
    author_name: Option<String>,
    author_email: Option<String>,
    clone_dir: Option<PathBuf>,
    git_timeout: Option<Dur>,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum SourceKind {
    Prometheus,
    Scrape,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSource {
    kind: SourceKind,
    url: Option<String>,
    job: Option<String>,
    bearer_token_file: Option<PathBuf>,
    basic_auth: Option<FileBasicAuth>,
    tenant: Option<String>,
    ca_file: Option<PathBuf>,
    inventory: Option<PathBuf>,
    concurrency: Option<usize>,
    recording_rules: Option<bool>,
    timeout: Option<Dur>,
    refresh: Option<Dur>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBasicAuth {
    username: String,
    password: Option<String>,
    password_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileLabels {
    device: Option<String>,
    site: Option<String>,
    group: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileThresholds {
    latency_p95: Option<Dur>,
    error_rate: Option<f64>,
    cpu_temp: Option<f64>,
    throttled_mask: Option<u64>,
    stale_after: Option<Dur>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileUi {
    history: Option<Dur>,
    sparkline: Option<Dur>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileMetrics {
    release_info: Option<String>,
    agent_state: Option<String>,
    agent_state_label: Option<String>,
    latency_p50: Option<MetricPatch>,
    latency_p95: Option<MetricPatch>,
    latency_p99: Option<MetricPatch>,
    throughput: Option<MetricPatch>,
    error_rate: Option<MetricPatch>,
    confidence_median: Option<MetricPatch>,
    low_confidence: Option<MetricPatch>,
    cpu_temp: Option<MetricPatch>,
    throttled: Option<MetricPatch>,
    cpu: Option<MetricPatch>,
    memory: Option<MetricPatch>,
    disk: Option<MetricPatch>,
    npu: Option<MetricPatch>,
}

impl FileMetrics {
    fn patch(&self, f: Figure) -> Option<&MetricPatch> {
        match f {
            Figure::LatencyP50 => self.latency_p50.as_ref(),
            Figure::LatencyP95 => self.latency_p95.as_ref(),
            Figure::LatencyP99 => self.latency_p99.as_ref(),
            Figure::Throughput => self.throughput.as_ref(),
            Figure::ErrorRate => self.error_rate.as_ref(),
            Figure::ConfidenceMedian => self.confidence_median.as_ref(),
            Figure::LowConfidence => self.low_confidence.as_ref(),
            Figure::CpuTemp => self.cpu_temp.as_ref(),
            Figure::Throttled => self.throttled.as_ref(),
            Figure::Cpu => self.cpu.as_ref(),
            Figure::Memory => self.memory.as_ref(),
            Figure::Disk => self.disk.as_ref(),
            Figure::Npu => self.npu.as_ref(),
        }
    }
}

/// A figure's definition as written: every field optional, merged over the default.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MetricPatch {
    kind: Option<MetricKind>,
    metric: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    denominator: Option<String>,
    denominator_labels: Option<BTreeMap<String, String>>,
    quantile: Option<f64>,
    le: Option<f64>,
    window: Option<Dur>,
    agg: Option<Agg>,
    one_minus: Option<bool>,
    promql: Option<String>,
}

impl MetricPatch {
    fn apply(&self, mut d: MetricDef) -> MetricDef {
        if let Some(k) = self.kind {
            if k != d.kind {
                // A different kind starts from a clean slate of kind-specific fields.
                d.denominator = None;
                d.denominator_labels = None;
                d.quantile = None;
                d.le = None;
                d.one_minus = false;
                d.agg = Agg::Sum;
            }
            d.kind = k;
        }
        if let Some(m) = &self.metric {
            d.metric = m.clone();
        }
        if let Some(l) = &self.labels {
            d.labels = l.clone();
        }
        if let Some(x) = &self.denominator {
            d.denominator = Some(x.clone());
        }
        if let Some(x) = &self.denominator_labels {
            d.denominator_labels = Some(x.clone());
        }
        if let Some(q) = self.quantile {
            d.quantile = Some(q);
        }
        if let Some(le) = self.le {
            d.le = Some(le);
        }
        if let Some(w) = self.window {
            d.window = w.0;
        }
        if let Some(a) = self.agg {
            d.agg = a;
        }
        if let Some(o) = self.one_minus {
            d.one_minus = o;
        }
        if let Some(p) = &self.promql {
            d.promql = Some(p.clone());
        }
        d
    }
}

/// One key or several: `quit = "q"` or `quit = ["q", "ctrl-c"]`.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    pub fn keys(&self) -> Vec<String> {
        match self {
            KeyList::One(k) => vec![k.clone()],
            KeyList::Many(v) => v.clone(),
        }
    }
}

// ---- the resolved configuration -------------------------------------------

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

/// An expected keyless signer: certificate subject (SAN: e-mail or URI) and
/// OIDC issuer, each exact or a regular expression.
#[derive(Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub subject: Option<String>,
    pub subject_regex: Option<String>,
    pub issuer: Option<String>,
    pub issuer_regex: Option<String>,
}

/// Who may sign releases (`[signing]`). Paths are resolved; files are read by
/// the signature module.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SigningConfig {
    /// PEM public keys (ECDSA P-256) accepted for key-based signatures.
    pub keys: Vec<PathBuf>,
    /// Accepted keyless identities.
    pub identities: Vec<Identity>,
    /// PEM CA certificates that keyless certificates must chain to (e.g. Fulcio's).
    pub roots: Vec<PathBuf>,
    /// PEM public keys of the Rekor transparency logs trusted for bundles.
    pub rekor_keys: Vec<PathBuf>,
    /// A signature without a verified Rekor bundle fails.
    pub require_rekor: bool,
}

impl SigningConfig {
    /// No trust configured: nothing can verify, so promotion refuses (fails closed).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.identities.is_empty()
    }
}

/// Credentials for one registry host.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RegistryAuth {
    pub username: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
}

/// How to reach OCI registries (`[registry]`).
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryConfig {
    /// `host:port` entries reached over plain HTTP (loopback test registries).
    pub insecure: Vec<String>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    /// Credentials per `host[:port]`.
    pub auth: BTreeMap<String, RegistryAuth>,
    /// Registry as written in references → `host[:port]` actually fetched
    /// from. Reports keep the reference as written; the mirror needs its own
    /// `insecure` entry for plain HTTP and its own `auth` entry.
    pub mirrors: BTreeMap<String, String>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure: Vec::new(),
            ca_file: None,
            timeout: Duration::from_secs(10),
            auth: BTreeMap::new(),
            mirrors: BTreeMap::new(),
        }
    }
}

/// `host`, `host:port` or `[v6]:port`: what a registry or mirror is named by
/// (no scheme, no path, no credentials).
pub fn check_host_port(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.contains("://") {
        return Err(
            "has a scheme: write host[:port] (plain HTTP is chosen by [registry] insecure)".into(),
        );
    }
    if s.contains('/') || s.contains('@') || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("is not host[:port] (no path, no credentials, no spaces)".into());
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| "has '[' without ']'".to_string())?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("'[{}]' is not an IPv6 address", echo(v6)));
        }
        match after {
            "" => (v6, None),
            p => (
                v6,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| "has text after ']' that is not :port".to_string())?,
                ),
            ),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if !s.starts_with('[')
        && (host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)))
    {
        return Err(format!("'{}' is not a host name or address", echo(host)));
    }
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |n| n == 0)
    {
        return Err(format!("port '{}' is not 1-65535", echo(p)));
    }
    Ok(())
}

/// Remote access to devices (`[remote]`).
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteConfig {
    /// The fleet's WireGuard interface (e.g. `wg-fleet`).
    pub wireguard_interface: Option<String>,
    /// Label holding a device's tunnel address; default: the host of its scrape target.
    pub address_label: Option<String>,
    pub user: String,
    pub port: u16,
    /// Private keys tried after ssh-agent; default `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`.
    pub identity_files: Vec<PathBuf>,
    /// Default `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    /// Whether `--read-only` still allows shells (read-only is about actions).
    pub allow_shell_read_only: bool,
    /// Allow a shell to a device whose tunnel is not live without asking.
    pub allow_offline_shell: bool,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            wireguard_interface: None,
            address_label: None,
            user: "pi".into(),
            port: 22,
            identity_files: Vec::new(),
            known_hosts: None,
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(15),
            allow_shell_read_only: true,
            allow_offline_shell: false,
        }
    }
}

/// Where metrics come from.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceConfig {
    Prometheus(PrometheusOptions),
    Scrape(ScrapeOptions),
    /// No `[source]` table: only the demo and the simulator can run.
    Unset,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file this came from, `None` for built-in defaults.
    pub path: Option<PathBuf>,
    /// The file's text, kept so later checks (keymap) can point at a line.
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
        let base = path.parent().unwrap_or(Path::new("."));
        let ctx = Ctx {
            text,
            file: &file_name,
        };
        resolve(file, &ctx, base, path, text)
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
            load_ca_bundle(ca).map_err(|why| path_err("source.ca_file", ca, why, CA_HINT))?;
        }
        if let Some(ca) = &self.registry.ca_file {
            load_ca_bundle(ca).map_err(|why| path_err("registry.ca_file", ca, why, CA_HINT))?;
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
            use crate::theme::ThemeError;
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
        let (line, column) = locate(&self.text, key).unwrap_or((0, 0));
        ConfigError {
            file,
            line,
            column,
            key: key.into(),
            message,
            hint,
        }
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
    cfg.load_theme(crate::theme::user_theme_dir().as_deref())?;
    // Checked in `parse` already (located there); kept here so this function
    // alone states everything the console needs.
    crate::tui::keymap::Keymap::from_config(&cfg.keys)
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

/// Reads a PEM CA bundle (`ca_file`) as the HTTP clients do: a regular file
/// under [`crate::files::cap::KEY`] with at least one certificate. The error
/// says why, not which file (the caller names it).
pub fn load_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem =
        crate::files::read_capped(path, crate::files::cap::KEY).map_err(|e| read_reason(&e))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("not PEM certificates ({})", tame(&e.to_string())))?;
    if certs.is_empty() {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into());
    }
    Ok(certs)
}

struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, key: &str, message: impl Into<String>, hint: impl Into<String>) -> ConfigError {
        let (line, column) = locate(self.text, key).unwrap_or((0, 0));
        ConfigError {
            file: self.file.to_string(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// Deserialises TOML text into `T`, turning any error into a [`ConfigError`]
/// located in `file` with the dotted key path (used for plan files too).
pub fn deserialize<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
) -> Result<T, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, file, "", &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        toml_error(text, file, &path, e.inner())
    })
}

fn toml_error(text: &str, file: &str, path: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = e
        .span()
        .map(|s| line_col(text, s.start))
        .or_else(|| locate(text, path))
        .unwrap_or((0, 0));
    let raw = e.message().trim();
    // serde lists what is valid after the value: that goes to the hint, so the
    // first line stays short whatever was written.
    let (head, valid) = match raw.split_once(", expected ") {
        Some((h, v)) if raw.starts_with("unknown field") || raw.starts_with("unknown variant") => {
            (h, Some(v))
        }
        _ => (raw, None),
    };
    let message = tame(head);
    let mut hint = hint_for(&message);
    if let Some(v) = valid {
        let v = v.strip_prefix("one of ").unwrap_or(v).replace('`', "");
        hint = if message.starts_with("unknown field") {
            format!("valid here: {v}; remove this key or fix its spelling")
        } else {
            format!("use one of: {v}")
        };
    }
    // For an unknown field, serde's path stops at the table: add the field itself.
    let key = match (unknown_field_name(head), path.is_empty()) {
        (Some(f), true) => f,
        (Some(f), false) if !path.ends_with(&f) => format!("{path}.{f}"),
        _ => path.to_string(),
    };
    ConfigError {
        file: file.to_string(),
        line,
        column,
        key,
        message,
        hint,
    }
}

/// A library's message about the input, with every quoted part (`…` or
/// "…") echoed: made safe and cut at [`text::ECHO_LEN`], so a 4 MB value is
/// not repeated whole. The rest is made safe too.
pub(crate) fn tame(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(i) = next_quote(rest) {
        let quote = rest.as_bytes()[i] as char;
        out.push_str(&text::sanitize_max(&rest[..i], UNQUOTED_MAX));
        out.push(quote);
        let after = &rest[i + 1..];
        // Debug-quoted strings escape their quotes: skip `\"`.
        let mut end = None;
        let mut escaped = false;
        for (j, c) in after.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' && quote == '"' {
                escaped = true;
            } else if c == quote && (quote != '\'' || closes(&after[j + 1..])) {
                end = Some(j);
                break;
            }
        }
        match end {
            Some(j) => {
                out.push_str(&echo(&after[..j]));
                out.push(quote);
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&echo(after));
                rest = "";
            }
        }
    }
    out.push_str(&text::sanitize_max(rest, UNQUOTED_MAX));
    out
}

/// The library's own words around quoted input (lists of valid keys): made
/// safe, cut only as a safety net; the printers cut lines further.
const UNQUOTED_MAX: usize = 2000;

/// The next opening quote: ` or " anywhere, ' only where a word starts (not
/// an apostrophe).
fn next_quote(s: &str) -> Option<usize> {
    s.char_indices()
        .find(|&(i, c)| {
            c == '`'
                || c == '"'
                || (c == '\''
                    && s[..i]
                        .chars()
                        .next_back()
                        .is_none_or(|p| p.is_whitespace() || "([{:=".contains(p)))
        })
        .map(|(i, _)| i)
}

/// Whether a ' followed by `rest` closes a quote (end, space or punctuation).
fn closes(rest: &str) -> bool {
    rest.chars()
        .next()
        .is_none_or(|c| c.is_whitespace() || ";,:.)]?!".contains(c))
}

fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

fn hint_for(message: &str) -> String {
    if message.starts_with("unknown field") {
        "remove this key or fix its spelling; config.example.toml documents every key".into()
    } else if message.starts_with("unknown variant") {
        "use one of the values listed above".into()
    } else if message.starts_with("invalid type") {
        "change the value to the type shown above; strings need quotes, durations are strings like '5s'".into()
    } else if message.contains("is not a duration") {
        "durations are strings like '5s', '250ms', '2m'".into()
    } else if message.contains("sha256") || message.contains("digest") {
        "pin images by digest: REPO@sha256:<64 hex digits>".into()
    } else if message.starts_with("missing field") {
        "add the missing key".into()
    } else {
        "see config.example.toml for the expected form".into()
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit_once('\n')
        .map_or(before, |(_, l)| l)
        .chars()
        .count()
        + 1;
    (line, col)
}

/// Finds where a dotted key is written (`source.kind` → the `kind = ` line inside
/// `[source]`; `metrics.cpu` → the `[metrics.cpu]` header). Best effort: good for
/// the ordinary layout of a config file, `None` when it cannot tell.
pub fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    if key.is_empty() {
        return None;
    }
    // `signing.keys[1]` is written on the `keys = [...]` line.
    let stripped = strip_indices(key);
    let key = stripped.as_str();
    let mut table = String::new();
    let mut best: Option<(usize, usize)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        let indent = raw.len() - line.len();
        if line.starts_with('#') {
            continue;
        }
        if let Some(h) = line.strip_prefix('[') {
            let h = h.trim_start_matches('[');
            let name = h
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .replace(['"', ' '], "");
            if name == key {
                return Some((i + 1, indent + 1));
            }
            if key.starts_with(&format!("{name}.")) && best.is_none() {
                best = Some((i + 1, indent + 1));
            }
            table = name;
            continue;
        }
        if let Some((k, _)) = line.split_once('=') {
            let k = k.trim().trim_matches('"');
            let full = if table.is_empty() {
                k.to_string()
            } else {
                format!("{table}.{k}")
            };
            if full == key {
                return Some((i + 1, indent + 1));
            }
            if let Some(rest) = key.strip_prefix(&format!("{full}.")) {
                // An inline table: point at the field when it is on this line.
                let field = rest.split('.').next().unwrap_or(rest);
                let col = field_column(raw, field).unwrap_or(indent + 1);
                best = Some((i + 1, col));
            }
        }
    }
    best
}

fn strip_indices(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut rest = key;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find(']') {
            Some(j) if j > 0 && after[..j].bytes().all(|b| b.is_ascii_digit()) => {
                rest = &after[j + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// 1-based character column of `field =` inside an inline table on `line`.
fn field_column(line: &str, field: &str) -> Option<usize> {
    let (_, value) = line.split_once('=')?;
    let start = line.len() - value.len();
    let mut from = 0;
    while let Some(i) = value[from..].find(field) {
        let at = from + i;
        let before = value[..at].chars().next_back();
        let after = value[at + field.len()..].trim_start();
        if matches!(before, Some('{' | ',' | ' ' | '"'))
            && (after.starts_with('=') || after.starts_with("\" ="))
        {
            return Some(line[..start + at].chars().count() + 1);
        }
        from = at + field.len();
    }
    None
}

fn resolve(
    file: FileConfig,
    ctx: &Ctx<'_>,
    base: &Path,
    path: &Path,
    text: &str,
) -> Result<Config, ConfigError> {
    let mut cfg = Config {
        path: Some(path.to_path_buf()),
        text: text.to_string(),
        theme: file.theme,
        read_only: file.read_only,
        ..Config::default()
    };

    let labels = LabelNames {
        device: file.labels.device.unwrap_or(cfg.labels.device),
        site: file.labels.site.unwrap_or(cfg.labels.site),
        group: file.labels.group.unwrap_or(cfg.labels.group),
    };
    for (k, v) in [
        ("labels.device", &labels.device),
        ("labels.site", &labels.site),
        ("labels.group", &labels.group),
    ] {
        if !crate::metrics::def::is_label_name(v) {
            return Err(ctx.err(
                k,
                format!("'{}' is not a valid Prometheus label name", echo(v)),
                "label names are letters, digits and '_', not starting with a digit",
            ));
        }
    }
    cfg.labels = labels;

    let t = &mut cfg.thresholds;
    let th = file.thresholds;
    if let Some(v) = th.latency_p95 {
        t.latency_p95 = v.0.as_secs_f64();
    }
    if let Some(v) = th.error_rate {
        if !(0.0..=1.0).contains(&v) {
            return Err(ctx.err(
                "thresholds.error_rate",
                format!("'{v}' is not a share between 0 and 1"),
                "write 3 % as 0.03",
            ));
        }
        t.error_rate = v;
    }
    if let Some(v) = th.cpu_temp {
        if !v.is_finite() {
            return Err(ctx.err(
                "thresholds.cpu_temp",
                format!("'{v}' is not a temperature"),
                "degrees Celsius, e.g. 80",
            ));
        }
        t.cpu_temp = v;
    }
    if let Some(v) = th.throttled_mask {
        t.throttled_mask = v;
    }
    if let Some(v) = th.stale_after {
        t.stale_after = v.0;
    }

    if let Some(v) = file.ui.history {
        cfg.history = v.0;
    }
    if let Some(v) = file.ui.sparkline {
        cfg.sparkline = v.0;
    }

    let m = &file.metrics;
    if let Some(x) = &m.release_info {
        cfg.defs.release_info = x.clone();
    }
    if let Some(x) = &m.agent_state {
        cfg.defs.agent_state = x.clone();
    }
    if let Some(x) = &m.agent_state_label {
        cfg.defs.agent_state_label = x.clone();
    }
    for f in Figure::ALL {
        if let Some(p) = m.patch(f) {
            let def = p.apply(cfg.defs.get(f).clone());
            // A raw PromQL override needs no other field.
            if def.promql.is_none()
                && let Err((field, why)) = def.validate()
            {
                return Err(ctx.err(
                    &format!("metrics.{}.{field}", f.key()),
                    tame(&why),
                    format!(
                        "a '{}' metric needs the keys shown in config.example.toml",
                        kind_name(def.kind)
                    ),
                ));
            }
            *cfg.defs.get_mut(f) = def;
        }
    }

    cfg.keys = file
        .keys
        .iter()
        .map(|(k, v)| (k.clone(), v.keys()))
        .collect();
    // Conflicts and unsafe bindings are config errors, located in the file.
    crate::tui::keymap::Keymap::from_config(&cfg.keys).map_err(|e| {
        let mut err = ctx.err(&e.key, e.message, e.hint);
        // Point at the key in the list, when it is on the located line.
        if let Some(spec) = &e.spec
            && let Some(line) = text.lines().nth(err.line.wrapping_sub(1))
            && let Some(at) = line.find(&format!("\"{spec}\""))
        {
            err.column = line[..at].chars().count() + 1;
        }
        err
    })?;

    let abs = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let sg = &file.signing;
    cfg.signing = SigningConfig {
        keys: sg.keys.iter().map(|p| abs(p)).collect(),
        identities: sg.identities.clone(),
        roots: sg.roots.iter().map(|p| abs(p)).collect(),
        rekor_keys: sg.rekor_keys.iter().map(|p| abs(p)).collect(),
        require_rekor: sg.require_rekor,
    };
    for (i, id) in cfg.signing.identities.iter().enumerate() {
        let key = format!("signing.identities[{i}]");
        if id.subject.is_none() && id.subject_regex.is_none() {
            return Err(ctx.err(
                &key,
                "an identity needs subject or subject_regex",
                "e.g. { subject = \"release@example.com\", issuer = \"https://accounts.google.com\" }",
            ));
        }
        if id.issuer.is_none() && id.issuer_regex.is_none() {
            return Err(ctx.err(
                &key,
                "an identity needs issuer or issuer_regex (the OIDC issuer)",
                "without an issuer anyone who can get a certificate for that subject anywhere would pass",
            ));
        }
        for (field, re) in [
            ("subject_regex", &id.subject_regex),
            ("issuer_regex", &id.issuer_regex),
        ] {
            if let Some(re) = re {
                check_regex(re).map_err(|why| {
                    ctx.err(
                        &format!("{key}.{field}"),
                        format!("'{}' is not a valid regular expression: {why}", echo(re)),
                        "Rust regex syntax (https://docs.rs/regex); anchor it: ^release@example\\.com$",
                    )
                })?;
            }
        }
    }
    let rg = &file.registry;
    cfg.registry.insecure = rg.insecure.clone();
    cfg.registry.ca_file = rg.ca_file.as_ref().map(|p| abs(p));
    if let Some(t) = rg.timeout {
        positive(ctx, "registry.timeout", t.0)?;
        cfg.registry.timeout = t.0;
    }
    for (from, to) in &rg.mirrors {
        let key = format!("registry.mirrors.\"{from}\"");
        let hint = "e.g. mirrors = { \"registry.local\" = \"127.0.0.1:5000\" }; list the mirror in insecure for plain HTTP";
        check_host_port(from)
            .map_err(|why| ctx.err(&key, format!("registry '{}' {why}", echo(from)), hint))?;
        check_host_port(to)
            .map_err(|why| ctx.err(&key, format!("mirror '{}' {why}", echo(to)), hint))?;
        if from == to {
            return Err(ctx.err(
                &key,
                format!("'{}' is mirrored to itself", echo(from)),
                hint,
            ));
        }
    }
    cfg.registry.mirrors = rg.mirrors.clone();
    for (host, a) in &rg.auth {
        let key = format!("registry.auth.{host}");
        let password = match &a.password_file {
            Some(p) => Some(read_secret(ctx, &format!("{key}.password_file"), &abs(p))?),
            None => None,
        };
        let token = match &a.token_file {
            Some(p) => Some(read_secret(ctx, &format!("{key}.token_file"), &abs(p))?),
            None => None,
        };
        cfg.registry.auth.insert(
            host.clone(),
            RegistryAuth {
                username: a.username.clone(),
                password,
                token,
            },
        );
    }
    let rm = &file.remote;
    let d = RemoteConfig::default();
    if let Some(t) = rm.connect_timeout {
        positive(ctx, "remote.connect_timeout", t.0)?;
    }
    cfg.remote = RemoteConfig {
        wireguard_interface: rm.wireguard_interface.clone(),
        address_label: rm.address_label.clone(),
        user: rm.user.clone().unwrap_or(d.user),
        port: rm.port.unwrap_or(d.port),
        identity_files: rm
            .identity_files
            .as_ref()
            .map(|v| v.iter().map(|p| abs(p)).collect())
            .unwrap_or_default(),
        known_hosts: rm.known_hosts.as_ref().map(|p| abs(p)),
        connect_timeout: rm.connect_timeout.map_or(d.connect_timeout, |t| t.0),
        keepalive: rm.keepalive.map_or(d.keepalive, |t| t.0),
        allow_shell_read_only: rm.allow_shell_read_only.unwrap_or(d.allow_shell_read_only),
        allow_offline_shell: rm.allow_offline_shell.unwrap_or(d.allow_offline_shell),
    };

    let r = file.rollout;
    if let Some(repo) = r.repo {
        // A relative local path is relative to the config file; URLs stay as written.
        let is_url = repo.contains("://") || (repo.contains('@') && repo.contains(':'));
        cfg.rollout.repo = Some(if is_url || Path::new(&repo).is_absolute() {
            repo
        } else {
            base.join(&repo).display().to_string()
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
        cfg.rollout.branch = b;
    }
    cfg.rollout.author_name = r.author_name;
    cfg.rollout.author_email = r.author_email;
    cfg.rollout.clone_dir = r
        .clone_dir
        .map(|p| if p.is_absolute() { p } else { base.join(p) });
    if let Some(t) = r.git_timeout {
        positive(ctx, "rollout.git_timeout", t.0)?;
        cfg.rollout.git_timeout = t.0;
    }

    if let Some(src) = file.source {
        let timeout = src.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
        positive(ctx, "source.timeout", timeout)?;
        cfg.refresh = src.refresh.map_or(DEFAULT_REFRESH, |d| d.0);
        if cfg.refresh < Duration::from_millis(200) {
            return Err(ctx.err(
                "source.refresh",
                "refresh interval shorter than 200ms",
                "use '1s' or more",
            ));
        }
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        cfg.source = match src.kind {
            SourceKind::Prometheus => {
                for (k, present) in [
                    ("source.inventory", src.inventory.is_some()),
                    ("source.concurrency", src.concurrency.is_some()),
                ] {
                    if present {
                        return Err(ctx.err(
                            k,
                            "this key belongs to kind = \"scrape\", not \"prometheus\"",
                            "remove it, or set kind = \"scrape\"",
                        ));
                    }
                }
                let url = src.url.ok_or_else(|| {
                    ctx.err(
                        "source.url",
                        "kind = \"prometheus\" needs a url",
                        "add url = \"http://prometheus:9090\"",
                    )
                })?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ctx.err(
                        "source.url",
                        format!("'{}' is not an http:// or https:// URL", echo(&url)),
                        "write the base URL of the Prometheus API, e.g. http://127.0.0.1:9090",
                    ));
                }
                // What the client will parse at start-up, parsed here first.
                match reqwest::Url::parse(url.trim_end_matches('/')) {
                    Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => {}
                    Ok(_) => {
                        return Err(ctx.err(
                            "source.url",
                            format!("'{}' has no host", echo(&url)),
                            "write the base URL of the Prometheus API, e.g. http://127.0.0.1:9090",
                        ));
                    }
                    Err(e) => {
                        return Err(ctx.err(
                            "source.url",
                            format!("'{}' is not a URL: {e}", echo(&url)),
                            "write the base URL of the Prometheus API, e.g. http://127.0.0.1:9090",
                        ));
                    }
                }
                if url.chars().any(|c| c.is_whitespace() || text::is_unsafe(c)) {
                    return Err(ctx.err(
                        "source.url",
                        format!("'{}' holds spaces or control characters", echo(&url)),
                        "percent-encode them, e.g. %20",
                    ));
                }
                if let Some(t) = &src.tenant {
                    check_tenant(t).map_err(|why| {
                        ctx.err(
                            "source.tenant",
                            format!("'{}' {why}", echo(t)),
                            "a tenant ID is one line of visible ASCII (sent as the X-Scope-OrgID header), e.g. tenant = \"edge\"",
                        )
                    })?;
                }
                let bearer_token = match &src.bearer_token_file {
                    Some(p) => Some(read_secret(ctx, "source.bearer_token_file", &abs(p))?),
                    None => None,
                };
                let basic_auth = match &src.basic_auth {
                    Some(b) => {
                        let password = match (&b.password, &b.password_file) {
                            (Some(p), None) => p.clone(),
                            (None, Some(f)) => {
                                read_secret(ctx, "source.basic_auth.password_file", &abs(f))?
                            }
                            _ => {
                                return Err(ctx.err(
                                    "source.basic_auth",
                                    "give exactly one of password and password_file",
                                    "prefer password_file so the secret is not in the config",
                                ));
                            }
                        };
                        Some(BasicAuth {
                            username: b.username.clone(),
                            password,
                        })
                    }
                    None => None,
                };
                if bearer_token.is_some() && basic_auth.is_some() {
                    return Err(ctx.err(
                        "source.basic_auth",
                        "both bearer_token_file and basic_auth are set",
                        "keep the one your Prometheus expects",
                    ));
                }
                let ca_file = src.ca_file.as_ref().map(|p| abs(p));
                if let Some(ca) = &ca_file
                    && !ca.is_file()
                {
                    return Err(ctx.err(
                        "source.ca_file",
                        format!("'{}' is not a file", echo_path(ca)),
                        "give the path of a PEM file with the CA certificate",
                    ));
                }
                SourceConfig::Prometheus(PrometheusOptions {
                    url: url.trim_end_matches('/').to_string(),
                    job: src.job,
                    bearer_token,
                    basic_auth,
                    tenant: src.tenant,
                    ca_file,
                    timeout,
                    labels: cfg.labels.clone(),
                    defs: cfg.defs.clone(),
                    recording_rules: src.recording_rules.unwrap_or(false),
                })
            }
            SourceKind::Scrape => {
                for (k, present) in [
                    ("source.url", src.url.is_some()),
                    ("source.job", src.job.is_some()),
                    ("source.bearer_token_file", src.bearer_token_file.is_some()),
                    ("source.basic_auth", src.basic_auth.is_some()),
                    ("source.tenant", src.tenant.is_some()),
                    ("source.ca_file", src.ca_file.is_some()),
                    ("source.recording_rules", src.recording_rules.is_some()),
                ] {
                    if present {
                        return Err(ctx.err(
                            k,
                            "this key belongs to kind = \"prometheus\", not \"scrape\"",
                            "remove it, or set kind = \"prometheus\"",
                        ));
                    }
                }
                let inventory = src.inventory.ok_or_else(|| {
                    ctx.err(
                        "source.inventory",
                        "kind = \"scrape\" needs an inventory file",
                        "add inventory = \"inventory.json\" (Prometheus file_sd JSON)",
                    )
                })?;
                let concurrency = src.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
                if concurrency == 0 {
                    return Err(ctx.err(
                        "source.concurrency",
                        "concurrency 0 would never scrape anything",
                        "use a number like 64",
                    ));
                }
                SourceConfig::Scrape(ScrapeOptions {
                    inventory: abs(&inventory),
                    timeout,
                    concurrency,
                    labels: cfg.labels.clone(),
                    defs: cfg.defs.clone(),
                })
            }
        };
    }
    Ok(cfg)
}

/// A timeout of zero would fail every request: refused where it is written.
fn positive(ctx: &Ctx<'_>, key: &str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() {
        return Err(ctx.err(
            key,
            "a timeout of 0s would fail every request",
            "give a positive duration, e.g. '5s'",
        ));
    }
    Ok(())
}

/// A tenant ID for the `X-Scope-OrgID` header (Cortex, Mimir, Thanos).
fn check_tenant(t: &str) -> Result<(), &'static str> {
    if t.is_empty() {
        return Err("is empty");
    }
    if t.chars().count() > 150 {
        return Err("is longer than 150 characters");
    }
    if !t.chars().all(|c| c.is_ascii_graphic()) {
        return Err(
            "holds characters a header cannot carry (spaces, line breaks, controls or non-ASCII)",
        );
    }
    Ok(())
}

/// Compiles `re` as the signature checks will, and says why not in one line.
pub fn check_regex(re: &str) -> Result<(), String> {
    match regex::Regex::new(re) {
        Ok(_) => Ok(()),
        Err(regex::Error::Syntax(s)) => {
            // The regex crate draws a caret under the pattern on several
            // lines; keep its last line, the reason.
            let why = s.lines().last().unwrap_or("syntax error").trim();
            Err(tame(why.strip_prefix("error: ").unwrap_or(why)))
        }
        Err(e) => Err(tame(&e.to_string().replace('\n', " "))),
    }
}

fn kind_name(k: MetricKind) -> &'static str {
    match k {
        MetricKind::Gauge => "gauge",
        MetricKind::GaugeRatio => "gauge_ratio",
        MetricKind::CounterRate => "counter_rate",
        MetricKind::CounterRatio => "counter_ratio",
        MetricKind::HistogramQuantile => "histogram_quantile",
        MetricKind::HistogramFraction => "histogram_fraction",
    }
}

fn read_secret(ctx: &Ctx<'_>, key: &str, path: &Path) -> Result<String, ConfigError> {
    match crate::files::read_text_capped(path, crate::files::cap::SECRET) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Ok(_) => Err(ctx.err(
            key,
            format!("'{}' is empty", echo_path(path)),
            "put the secret in the file",
        )),
        Err(e) => Err(ctx.err(
            key,
            format!("cannot read '{}': {}", echo_path(path), read_reason(&e)),
            "point it at a regular file holding only the secret; check its permissions",
        )),
    }
}

/// Why a file could not be read, without its name (the caller names it).
pub fn read_reason(e: &crate::files::ReadError) -> String {
    use crate::files::ReadError;
    match e {
        ReadError::Io { source, .. } => source.to_string(),
        ReadError::NotRegular { kind, .. } => format!("not a regular file ({kind})"),
        ReadError::TooLarge { size, cap, .. } => {
            format!("larger than {cap} bytes ({size} bytes); is this the right file?")
        }
        ReadError::NotUtf8 { .. } => "not UTF-8 text".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/fleetdeck/test.toml"))
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
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
        assert_eq!(e.line, 1, "{e}");
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
    fn locate_finds_keys_and_tables() {
        let t = "# c\n[source]\nkind = \"x\"\n\n[metrics.cpu]\n  metric = \"y\"\n";
        assert_eq!(locate(t, "source.kind"), Some((3, 1)));
        assert_eq!(locate(t, "metrics.cpu"), Some((5, 1)));
        assert_eq!(locate(t, "metrics.cpu.metric"), Some((6, 3)));
        assert_eq!(locate(t, "metrics.cpu.quantile"), Some((5, 1)));
        assert_eq!(locate(t, "nothing"), None);
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

    #[test]
    fn echo_is_bounded_in_printed_characters() {
        // 120 escapes would print as 1,000+ characters through text::echo.
        let seps = "\u{2028}".repeat(500);
        let e = echo(&seps);
        assert!(e.chars().count() <= text::ECHO_LEN + 1, "{e}");
        assert!(e.ends_with("\\u{2028}…"), "never cut inside an escape: {e}");
        assert_eq!(echo("plain"), "plain");
    }

    #[test]
    fn tame_echoes_quoted_input() {
        let m = format!(
            "invalid type: string \"{}\u{1b}\", expected a boolean",
            "y".repeat(5000)
        );
        let t = tame(&m);
        assert!(text::is_clean(&t), "{t}");
        assert!(t.chars().count() < 200, "{t}");
        assert!(t.ends_with("expected a boolean"), "{t}");
    }

    #[test]
    fn locate_points_into_arrays_and_inline_tables() {
        let t = "[signing]\nkeys = [\"a.pub\", \"b.pub\"]\nidentities = [{ subject = \"x\", subject_regex = \"(\" }]\n";
        assert_eq!(locate(t, "signing.keys[1]"), Some((2, 1)));
        assert_eq!(
            locate(t, "signing.identities[0].subject_regex"),
            Some((3, 32))
        );
    }
}
