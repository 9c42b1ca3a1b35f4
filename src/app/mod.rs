//! The application state and its one transition function, [`App::update`].
//!
//! `update` is pure: given the state and an [`Event`] (a key, a worker result,
//! a clock tick) it changes the state and returns [`Effect`]s for the loop to
//! carry out (refresh now, fetch a device's history, load a theme, quit). Key
//! flows are tested by feeding events, without a terminal or a network.

mod history;
pub mod keymap;
mod remote;
mod rollouts;
mod signatures;

pub use history::PlanHistory;
pub use remote::{Ask, AskKind, HostKeyProblem, TunnelReading, TunnelState, TunnelView};
pub use rollouts::{Confirm, RolloutEntry, Rollouts};
pub use signatures::{InspectLine, InspectTarget, SigState, Signatures, Tone};

use crate::fleet::{Device, Fleet, Health, Rollup, cmp_present, missing_rank};
use crate::history::History;
use crate::metrics::DeviceHistory;
use crate::metrics::def::Figure;
use crate::rollout::action::{ActionKind, ActionRequest, PromoteChecks};
use crate::rollout::drift::Drift;
use crate::rollout::plan::Plan;
use keymap::{Action, Key, KeyCode, Keymap};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Something that happened.
#[derive(Debug)]
pub enum Event {
    Key(Key),
    /// A refresh finished. `Err` keeps the last good data, marked stale.
    Fleet {
        generation: u64,
        result: Result<Arc<Fleet>, String>,
        /// Problems that did not fail the refresh (e.g. one figure's query).
        warnings: Vec<String>,
    },
    /// History of one device (Prometheus range queries).
    History {
        device: String,
        result: Result<DeviceHistory, String>,
    },
    /// The wall clock moved (ages and countdowns are drawn from `now`).
    Tick(SystemTime),
    /// The number of table rows that fit on screen changed.
    Viewport {
        rows: usize,
    },
    /// A `:theme` request finished.
    ThemeLoaded {
        name: String,
        result: Result<(), String>,
    },
    /// The rollout plans were (re)read from the repository. Each plan is parsed
    /// on its own: a malformed file is an `Err` with its located message.
    Rollouts {
        result: Result<Vec<Result<Plan, String>>, String>,
    },
    /// An SSH session ended (or could not start): how, for the status line.
    ShellEnded {
        device: String,
        message: String,
        ok: bool,
    },
    /// A rollout action finished: the plan as committed and a line about the
    /// commit, or why it did not happen (refused, conflict, git error).
    ActionDone {
        rollout: String,
        result: Result<(Box<Plan>, String), String>,
    },
    /// The terminal went away (hang-up, closed pty): the console ends.
    InputGone {
        reason: String,
    },
    /// The signature worker verified (or could not read) one image reference.
    Signature {
        reference: String,
        result: Result<Arc<crate::signature::Report>, String>,
    },
    /// The tunnel worker read the WireGuard interface (or could not).
    Tunnels {
        result: Result<TunnelReading, String>,
    },
    /// An SSH session did not start because of the server's host key.
    HostKey {
        device: String,
        problem: HostKeyProblem,
    },
    /// The commits that changed a rollout's plan, newest first (or why not).
    RolloutHistory {
        rollout: String,
        result: Result<Vec<crate::rollout::history::HistoryEntry>, String>,
    },
}

/// Something the loop must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    RefreshNow,
    FetchHistory {
        device: String,
    },
    LoadTheme {
        name: String,
    },
    /// Re-read the rollout repository now.
    LoadRollouts,
    /// Hand the terminal to an SSH session on this device.
    Shell {
        device: String,
    },
    /// Like `Shell`, accepting (and recording) the unknown host key with this
    /// fingerprint, which the operator was shown and accepted.
    ShellAcceptKey {
        device: String,
        fingerprint: String,
    },
    /// Carry out a confirmed rollout action (one commit, pushed).
    Act {
        request: ActionRequest,
        checks: PromoteChecks,
    },
    /// Verify these image references (cosign signatures, attestations, SBOMs).
    Verify {
        references: Vec<String>,
    },
    /// Read the commits that changed this rollout's plan (`git log`).
    LoadRolloutHistory {
        rollout: String,
    },
}

/// The state of the fleet data, drawn in every pane.
#[derive(Debug, Clone, PartialEq)]
pub enum DataState {
    Loading,
    Loaded,
    /// The last refresh failed; `fleet` still holds the last good data.
    Failed {
        error: String,
        since: SystemTime,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Site(String),
    Group(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViewKind {
    Sites,
    Groups,
    Devices(Scope),
    Device(String),
    Rollouts,
    /// One rollout: site × wave matrix and gate panel.
    Rollout(String),
    /// The supply-chain inspector of a rollout's releases or a device's digests.
    Inspect(InspectTarget),
    /// The commits that changed a rollout's plan.
    History(String),
}

/// A sortable column of the sites/groups tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollupCol {
    Attention,
    Name,
    Devices,
    Up,
    Degraded,
    Down,
    Stale,
    P95,
    Errors,
    Temp,
}

impl RollupCol {
    pub const ALL: [RollupCol; 10] = [
        RollupCol::Attention,
        RollupCol::Name,
        RollupCol::Devices,
        RollupCol::Up,
        RollupCol::Degraded,
        RollupCol::Down,
        RollupCol::Stale,
        RollupCol::P95,
        RollupCol::Errors,
        RollupCol::Temp,
    ];
    pub fn title(self) -> &'static str {
        match self {
            RollupCol::Attention => "attention",
            RollupCol::Name => "name",
            RollupCol::Devices => "devices",
            RollupCol::Up => "up",
            RollupCol::Degraded => "degraded",
            RollupCol::Down => "down",
            RollupCol::Stale => "stale",
            RollupCol::P95 => "p95",
            RollupCol::Errors => "errors",
            RollupCol::Temp => "max temp",
        }
    }
    fn cmp(self, a: &Rollup, b: &Rollup) -> Ordering {
        match self {
            RollupCol::Attention => a.attention().cmp(&b.attention()),
            RollupCol::Name => a.name.cmp(&b.name),
            RollupCol::Devices => a.devices.cmp(&b.devices),
            RollupCol::Up => a.up.cmp(&b.up),
            RollupCol::Degraded => a.degraded.cmp(&b.degraded),
            RollupCol::Down => a.down.cmp(&b.down),
            RollupCol::Stale => a.stale.cmp(&b.stale),
            RollupCol::P95 => cmp_present(a.p95_latency, b.p95_latency),
            RollupCol::Errors => cmp_present(a.error_rate, b.error_rate),
            RollupCol::Temp => cmp_present(a.max_temp, b.max_temp),
        }
    }
    /// Missing figures sink to the end whichever the direction.
    fn missing(self, r: &Rollup) -> u8 {
        match self {
            RollupCol::P95 => missing_rank(r.p95_latency),
            RollupCol::Errors => missing_rank(r.error_rate),
            RollupCol::Temp => missing_rank(r.max_temp),
            _ => 0,
        }
    }
}

/// A sortable column of the devices table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceCol {
    Health,
    Id,
    Site,
    Group,
    Figure(Figure),
    Release,
    LastSeen,
    /// WireGuard tunnel status (sorted in `compute_rows`: it lives in the app, not the fleet).
    Tunnel,
}

impl DeviceCol {
    pub const ALL: [DeviceCol; 15] = [
        DeviceCol::Health,
        DeviceCol::Id,
        DeviceCol::Site,
        DeviceCol::Group,
        DeviceCol::Figure(Figure::LatencyP95),
        DeviceCol::Figure(Figure::ErrorRate),
        DeviceCol::Figure(Figure::CpuTemp),
        DeviceCol::Figure(Figure::Throttled),
        DeviceCol::Figure(Figure::Cpu),
        DeviceCol::Figure(Figure::Memory),
        DeviceCol::Figure(Figure::Disk),
        DeviceCol::Figure(Figure::Npu),
        DeviceCol::Release,
        DeviceCol::LastSeen,
        DeviceCol::Tunnel,
    ];
    pub fn title(self) -> &'static str {
        match self {
            DeviceCol::Health => "health",
            DeviceCol::Id => "device",
            DeviceCol::Site => "site",
            DeviceCol::Group => "group",
            DeviceCol::Figure(Figure::LatencyP95) => "p95",
            DeviceCol::Figure(Figure::ErrorRate) => "err%",
            DeviceCol::Figure(Figure::CpuTemp) => "temp",
            DeviceCol::Figure(Figure::Throttled) => "thr",
            DeviceCol::Figure(Figure::Cpu) => "cpu",
            DeviceCol::Figure(Figure::Memory) => "mem",
            DeviceCol::Figure(Figure::Disk) => "disk",
            DeviceCol::Figure(Figure::Npu) => "npu",
            DeviceCol::Figure(f) => f.key(),
            DeviceCol::Release => "release",
            DeviceCol::LastSeen => "seen",
            DeviceCol::Tunnel => "tunnel",
        }
    }
    fn cmp(self, a: &Device, b: &Device) -> Ordering {
        match self {
            DeviceCol::Health => a.health.severity().cmp(&b.health.severity()),
            DeviceCol::Id => a.id().cmp(b.id()),
            DeviceCol::Site => a.site().cmp(b.site()),
            DeviceCol::Group => a.group().cmp(b.group()),
            DeviceCol::Figure(f) => cmp_present(a.figure(f), b.figure(f)),
            DeviceCol::Release => a.version().cmp(&b.version()),
            DeviceCol::LastSeen => a.last_seen.cmp(&b.last_seen),
            DeviceCol::Tunnel => Ordering::Equal,
        }
    }
    /// Missing figures sink to the end whichever the direction.
    fn missing(self, d: &Device) -> u8 {
        match self {
            DeviceCol::Figure(f) => missing_rank(d.figure(f)),
            DeviceCol::Release => u8::from(d.version().is_none()),
            _ => 0,
        }
    }
}

/// One parsed filter term.
#[derive(Clone, Debug, PartialEq)]
enum Term {
    Text(String),
    Site(String),
    Group(String),
    Health(Vec<Health>),
    /// `drift:yes` / `drift:no`: flagged as drift (see [`Drift`]).
    Drift(bool),
    Not(Box<Term>),
}

/// A `/` filter: space-separated terms that must all match. `site:ams`,
/// `group:canary`, `health:down,degraded`, `drift:yes`, `!term` negates, anything else is
/// a case-insensitive substring of id, site, group or release.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub text: String,
    terms: Vec<Term>,
}

impl Filter {
    pub fn parse(text: &str) -> Filter {
        fn term(t: &str) -> Term {
            if let Some(rest) = t.strip_prefix('!').filter(|r| !r.is_empty()) {
                return Term::Not(Box::new(term(rest)));
            }
            let lower = t.to_lowercase();
            if let Some(v) = lower.strip_prefix("site:") {
                Term::Site(v.to_string())
            } else if let Some(v) = lower.strip_prefix("group:") {
                Term::Group(v.to_string())
            } else if let Some(v) = lower.strip_prefix("health:") {
                Term::Health(v.split(',').filter_map(Health::from_key).collect())
            } else if let Some(v) = lower.strip_prefix("drift:") {
                Term::Drift(!matches!(v, "no" | "n" | "false" | "0"))
            } else {
                Term::Text(lower)
            }
        }
        Filter {
            text: text.to_string(),
            terms: text.split_whitespace().map(term).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    fn matches_device(&self, d: &Device, drift: &HashMap<String, Drift>) -> bool {
        fn contains_ci(hay: &str, needle: &str) -> bool {
            // Needles are lower-case already; most ids are ASCII, avoid allocating then.
            if hay.is_ascii() && needle.is_ascii() {
                hay.as_bytes()
                    .windows(needle.len().max(1))
                    .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
                    || needle.is_empty()
            } else {
                hay.to_lowercase().contains(needle)
            }
        }
        fn one(t: &Term, d: &Device, drift: &HashMap<String, Drift>) -> bool {
            match t {
                Term::Text(s) => {
                    contains_ci(d.id(), s)
                        || contains_ci(d.site(), s)
                        || contains_ci(d.group(), s)
                        || d.version().is_some_and(|v| contains_ci(v, s))
                }
                Term::Site(s) => contains_ci(d.site(), s),
                Term::Group(s) => contains_ci(d.group(), s),
                Term::Health(hs) => hs.contains(&d.health),
                Term::Drift(want) => drift.contains_key(d.id()) == *want,
                Term::Not(t) => !one(t, d, drift),
            }
        }
        self.terms.iter().all(|t| one(t, d, drift))
    }

    fn matches_rollup(&self, r: &Rollup) -> bool {
        fn one(t: &Term, r: &Rollup) -> bool {
            match t {
                Term::Text(s) | Term::Site(s) | Term::Group(s) => r.name.to_lowercase().contains(s),
                Term::Health(hs) => hs.iter().any(|h| r.count(*h) > 0),
                Term::Drift(_) => true,
                Term::Not(t) => !one(t, r),
            }
        }
        self.terms.iter().all(|t| one(t, r))
    }
}

/// The sort of a table: a column index and a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub column: usize,
    pub descending: bool,
}

/// One entry of the navigation stack.
#[derive(Clone, Debug)]
pub struct Screen {
    pub kind: ViewKind,
    pub filter: Filter,
    pub sort: Sort,
    pub selected: usize,
    pub offset: usize,
    /// Indices into `fleet.devices`, `fleet.sites` or `fleet.groups`, filtered and sorted.
    pub rows: Vec<usize>,
}

impl Screen {
    fn new(kind: ViewKind) -> Screen {
        let sort = match kind {
            // Worst first: what needs attention comes first.
            ViewKind::Sites | ViewKind::Groups => Sort {
                column: 0,
                descending: true,
            },
            _ => Sort {
                column: 0,
                descending: true,
            },
        };
        Screen {
            kind,
            filter: Filter::default(),
            sort,
            selected: 0,
            offset: 0,
            rows: Vec::new(),
        }
    }

    pub fn columns(&self) -> usize {
        match self.kind {
            ViewKind::Sites | ViewKind::Groups => RollupCol::ALL.len(),
            ViewKind::Devices(_) => DeviceCol::ALL.len(),
            ViewKind::Device(_)
            | ViewKind::Rollout(_)
            | ViewKind::Inspect(_)
            | ViewKind::History(_) => 0,
            ViewKind::Rollouts => 1,
        }
    }

    pub fn title(&self) -> String {
        match &self.kind {
            ViewKind::Sites => "sites".into(),
            ViewKind::Groups => "groups".into(),
            ViewKind::Devices(Scope::All) => "devices".into(),
            ViewKind::Devices(Scope::Site(s)) => format!("site {s}"),
            ViewKind::Devices(Scope::Group(g)) => format!("group {g}"),
            ViewKind::Device(id) => id.clone(),
            ViewKind::Rollouts => "rollouts".into(),
            ViewKind::Rollout(name) => format!("rollout {name}"),
            ViewKind::Inspect(InspectTarget::Rollout(name)) => format!("inspect rollout {name}"),
            ViewKind::Inspect(InspectTarget::Device(id)) => format!("inspect {id}"),
            ViewKind::History(_) => "history".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Normal,
    Command(String),
    Filter(String),
    /// The help overlay, scrolled by this many rows.
    Help {
        scroll: usize,
    },
    /// A destructive action waiting for confirmation.
    Confirm(Box<Confirm>),
    /// A yes/no question about a shell (tunnel not live, unknown host key).
    Ask(Box<Ask>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// A message in the status bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Flash {
    pub text: String,
    pub level: Level,
    pub at: SystemTime,
}

/// Settings the app needs from the config.
#[derive(Clone, Debug)]
pub struct Settings {
    pub read_only: bool,
    pub stale_after: Duration,
    pub sparkline: Duration,
    /// Names offered by `T` (next theme).
    pub themes: Vec<String>,
    /// Whether the source is Prometheus (history by range query) or keeps history here.
    pub remote_history: bool,
    pub history_span: Duration,
    /// Who is acting, recorded in rollout commits (`user@host`).
    pub operator: String,
    /// Whether a rollout repository is configured.
    pub rollouts_configured: bool,
    /// `--read-only` still allows shells ([remote] allow_shell_read_only).
    pub allow_shell_read_only: bool,
}

pub struct App {
    pub settings: Settings,
    pub keymap: Keymap,
    pub fleet: Arc<Fleet>,
    pub data: DataState,
    pub warnings: Vec<String>,
    pub source: String,
    pub stack: Vec<Screen>,
    pub mode: Mode,
    pub theme: String,
    pub flash: Option<Flash>,
    pub now: SystemTime,
    /// Table rows that fit on screen, told by the terminal loop.
    pub viewport_rows: usize,
    /// Kept samples (direct scrape).
    pub history: Option<History>,
    /// The selected device's history from a range query (Prometheus).
    pub device_history: Option<DeviceHistory>,
    pub generation: u64,
    pub quit: bool,
    pub rollouts: Rollouts,
    /// Signature verdicts, drift, and what the inspector shows.
    pub signatures: Signatures,
    /// WireGuard tunnel status per device, from the tunnel worker.
    pub tunnels: TunnelState,
}

/// esc or ctrl-c: cancels a dialog or an input line.
fn is_cancel(key: Key) -> bool {
    match key.code {
        KeyCode::Esc => !key.ctrl,
        KeyCode::Char('c') => key.ctrl && !key.alt,
        _ => false,
    }
}

impl App {
    pub fn new(
        settings: Settings,
        keymap: Keymap,
        source: String,
        theme: String,
        now: SystemTime,
    ) -> App {
        let history = (!settings.remote_history).then(|| History::new(settings.history_span, 120));
        App {
            settings,
            keymap,
            fleet: Arc::new(Fleet::default()),
            data: DataState::Loading,
            warnings: Vec::new(),
            source,
            stack: vec![Screen::new(ViewKind::Sites)],
            mode: Mode::Normal,
            theme,
            flash: None,
            now,
            viewport_rows: 20,
            history,
            device_history: None,
            generation: 0,
            quit: false,
            rollouts: Rollouts::default(),
            signatures: Signatures::default(),
            tunnels: TunnelState::default(),
        }
    }

    pub fn screen(&self) -> &Screen {
        // The stack is never empty: `back` stops at the root.
        &self.stack[self.stack.len() - 1]
    }

    fn screen_mut(&mut self) -> &mut Screen {
        let n = self.stack.len() - 1;
        &mut self.stack[n]
    }

    /// Age of the data on screen.
    pub fn data_age(&self) -> Option<Duration> {
        self.fleet
            .taken_at
            .map(|t| self.now.duration_since(t).unwrap_or_default())
    }

    /// Whether the data on screen should be drawn as stale.
    pub fn is_stale(&self) -> bool {
        matches!(self.data, DataState::Failed { .. })
            || self
                .data_age()
                .is_some_and(|a| a > self.settings.stale_after)
    }

    pub fn update(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::Key(k) => self.on_key(k),
            Event::Tick(now) => {
                self.now = now;
                self.rollouts.now = Some(now);
                if self.flash.as_ref().is_some_and(|f| {
                    now.duration_since(f.at).unwrap_or_default() > Duration::from_secs(8)
                }) {
                    self.flash = None;
                }
                Vec::new()
            }
            Event::Viewport { rows } => {
                self.viewport_rows = rows.max(1);
                self.clamp_selection();
                Vec::new()
            }
            Event::Fleet {
                generation,
                result,
                warnings,
            } => {
                if generation < self.generation {
                    return Vec::new();
                }
                self.generation = generation;
                self.warnings = warnings;
                match result {
                    Ok(fleet) => {
                        if let Some(h) = &mut self.history {
                            h.record(&fleet);
                        }
                        self.fleet = fleet;
                        self.data = DataState::Loaded;
                        self.source = self.fleet.source.clone();
                        self.refresh_rollout_views();
                        self.recompute_drift();
                        self.rebuild_all_rows();
                        match &self.screen().kind {
                            ViewKind::Device(id) if self.settings.remote_history => {
                                vec![Effect::FetchHistory { device: id.clone() }]
                            }
                            _ => Vec::new(),
                        }
                    }
                    Err(error) => {
                        if !matches!(self.data, DataState::Failed { .. }) {
                            Arc::make_mut(&mut self.fleet).mark_stale();
                            self.rebuild_all_rows();
                        }
                        let since = match &self.data {
                            DataState::Failed { since, .. } => *since,
                            _ => self.now,
                        };
                        self.data = DataState::Failed { error, since };
                        Vec::new()
                    }
                }
            }
            Event::History { device, result } => {
                match result {
                    Ok(h) if matches!(&self.screen().kind, ViewKind::Device(id) if *id == device) =>
                    {
                        self.device_history = Some(h);
                    }
                    Ok(_) => {}
                    Err(e) => self.set_flash(format!("history of {device}: {e}"), Level::Error),
                }
                Vec::new()
            }
            Event::ThemeLoaded { name, result } => {
                match result {
                    Ok(()) => {
                        self.set_flash(format!("theme {name}"), Level::Info);
                        self.theme = name;
                    }
                    Err(e) => self.set_flash(e, Level::Error),
                }
                Vec::new()
            }
            Event::ShellEnded {
                device,
                message,
                ok,
            } => {
                let level = if ok { Level::Info } else { Level::Error };
                self.set_flash(format!("{device}: {message}"), level);
                Vec::new()
            }
            Event::Rollouts { result } => {
                self.on_rollouts(result);
                let mut effects = self.on_plans_for_signatures();
                effects.extend(self.reload_history());
                effects
            }
            Event::ActionDone { rollout, result } => {
                self.on_action_done(rollout, result);
                let mut effects = self.on_plans_for_signatures();
                effects.extend(self.reload_history());
                effects
            }
            Event::RolloutHistory { rollout, result } => {
                self.on_rollout_history(rollout, result);
                Vec::new()
            }
            Event::InputGone { reason } => {
                self.set_flash(format!("terminal gone: {reason}"), Level::Error);
                self.quit = true;
                vec![Effect::Quit]
            }
            Event::Signature { reference, result } => {
                self.on_signature(reference, result);
                Vec::new()
            }
            Event::Tunnels { result } => {
                self.on_tunnels(result);
                Vec::new()
            }
            Event::HostKey { device, problem } => {
                self.on_host_key(device, problem);
                Vec::new()
            }
        }
    }

    pub(crate) fn set_flash(&mut self, text: String, level: Level) {
        self.flash = Some(Flash {
            text,
            level,
            at: self.now,
        });
    }

    fn on_key(&mut self, key: Key) -> Vec<Effect> {
        match self.mode.clone() {
            // esc and ctrl-c close every dialog and input line, whatever the
            // keymap says, and never do anything else (issue 9, case 1).
            Mode::Help { .. } | Mode::Command(_) if is_cancel(key) => {
                self.mode = Mode::Normal;
                Vec::new()
            }
            Mode::Filter(_) if is_cancel(key) => {
                // As in k9s: leaving the filter line this way clears the filter.
                self.mode = Mode::Normal;
                self.set_filter(String::new());
                Vec::new()
            }
            Mode::Confirm(c) if is_cancel(key) => {
                self.mode = Mode::Normal;
                self.set_flash(
                    format!("{} cancelled: nothing was committed", c.kind.key()),
                    Level::Info,
                );
                Vec::new()
            }
            Mode::Help { scroll } => {
                match (key.code, self.keymap.action(key)) {
                    (KeyCode::Char('q') | KeyCode::Char('?'), _) => self.mode = Mode::Normal,
                    (_, Some(Action::Down | Action::PageDown)) => {
                        let max = keymap::BINDINGS.len().saturating_sub(1);
                        self.mode = Mode::Help {
                            scroll: (scroll + 1).min(max),
                        };
                    }
                    (_, Some(Action::Up | Action::PageUp)) => {
                        self.mode = Mode::Help {
                            scroll: scroll.saturating_sub(1),
                        };
                    }
                    _ => {}
                }
                Vec::new()
            }
            Mode::Command(mut buf) => match key.code {
                KeyCode::Enter => {
                    self.mode = Mode::Normal;
                    self.run_command(&buf)
                }
                KeyCode::Backspace => {
                    if buf.pop().is_none() {
                        self.mode = Mode::Normal;
                    } else {
                        self.mode = Mode::Command(buf);
                    }
                    Vec::new()
                }
                KeyCode::Char(c) if !key.ctrl && !key.alt => {
                    buf.push(c);
                    self.mode = Mode::Command(buf);
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Mode::Filter(mut buf) => {
                match key.code {
                    KeyCode::Enter => self.mode = Mode::Normal,
                    KeyCode::Backspace => {
                        buf.pop();
                        self.set_filter(buf.clone());
                        self.mode = Mode::Filter(buf);
                    }
                    KeyCode::Char(c) if !key.ctrl && !key.alt => {
                        buf.push(c);
                        self.set_filter(buf.clone());
                        self.mode = Mode::Filter(buf);
                    }
                    _ => {}
                }
                Vec::new()
            }
            Mode::Confirm(c) => self.on_confirm_key(*c, key),
            Mode::Ask(a) => self.on_ask_key(*a, key),
            // The inspector is a dialog over the rollout or device: esc and
            // ctrl-c close it (back to where it was opened), never quit.
            Mode::Normal
                if is_cancel(key) && matches!(self.screen().kind, ViewKind::Inspect(_)) =>
            {
                self.on_action(Action::Back)
            }
            Mode::Normal => match self.keymap.action(key) {
                Some(a) => self.on_action(a),
                None => Vec::new(),
            },
        }
    }

    fn on_action(&mut self, action: Action) -> Vec<Effect> {
        let page = self.viewport_rows.max(1);
        if let ViewKind::Inspect(target) = &self.screen().kind {
            let delta: Option<isize> = match action {
                Action::Up => Some(-1),
                Action::Down => Some(1),
                Action::PageUp => Some(-(page as isize)),
                Action::PageDown => Some(page as isize),
                Action::Top => Some(isize::MIN / 2),
                Action::Bottom => Some(isize::MAX / 2),
                _ => None,
            };
            if let Some(delta) = delta {
                let lines = self.inspector_lines(&target.clone()).len();
                let max = lines.saturating_sub(page);
                let s = self.screen_mut();
                s.offset = s.offset.saturating_add_signed(delta).min(max);
                return Vec::new();
            }
        }
        match action {
            Action::Quit => {
                self.quit = true;
                return vec![Effect::Quit];
            }
            Action::Back => {
                if !self.screen().filter.is_empty() {
                    self.set_filter(String::new());
                } else if self.stack.len() > 1 {
                    self.stack.pop();
                    self.device_history = None;
                    self.rebuild_rows();
                }
            }
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(page as isize)),
            Action::PageDown => self.move_by(page as isize),
            Action::Top => self.move_to(0),
            Action::Bottom => self.move_to(usize::MAX),
            Action::Open => return self.open_selected(),
            Action::Help => self.mode = Mode::Help { scroll: 0 },
            Action::Command => self.mode = Mode::Command(String::new()),
            Action::Filter => {
                if self.screen().columns() > 0 {
                    self.mode = Mode::Filter(self.screen().filter.text.clone());
                }
            }
            Action::Sites => self.goto_root(ViewKind::Sites),
            Action::Groups => self.goto_root(ViewKind::Groups),
            Action::Devices => self.goto_root(ViewKind::Devices(Scope::All)),
            Action::SortNext | Action::SortPrev => {
                let n = self.screen().columns();
                if n > 0 {
                    let s = self.screen_mut();
                    s.sort.column = if action == Action::SortNext {
                        (s.sort.column + 1) % n
                    } else {
                        (s.sort.column + n - 1) % n
                    };
                    // Numbers are most useful worst-first; names A→Z.
                    s.sort.descending = !matches!(
                        (&s.kind, s.sort.column),
                        (ViewKind::Devices(_), 1..=3) | (ViewKind::Sites | ViewKind::Groups, 1)
                    );
                    self.rebuild_rows_keep_selection();
                }
            }
            Action::SortReverse => {
                if self.screen().columns() > 0 {
                    let s = self.screen_mut();
                    s.sort.descending = !s.sort.descending;
                    self.rebuild_rows_keep_selection();
                }
            }
            Action::Refresh => return vec![Effect::RefreshNow],
            Action::Rollouts => {
                self.goto_root(ViewKind::Rollouts);
                return vec![Effect::LoadRollouts];
            }
            Action::Shell => {
                let device = match &self.screen().kind {
                    ViewKind::Device(id) => Some(id.clone()),
                    ViewKind::Devices(_) => self.selected_key(),
                    _ => None,
                };
                match device {
                    None => self.set_flash("select a device first (devices view or device detail)".into(), Level::Error),
                    Some(_) if self.settings.read_only && !self.settings.allow_shell_read_only => self.set_flash(
                        "read-only mode: shells are disabled ([remote] allow_shell_read_only = false)".into(),
                        Level::Error,
                    ),
                    Some(device) => return self.request_shell(device),
                }
            }
            Action::ToggleMatrix => {
                self.rollouts.by_group = !self.rollouts.by_group;
                self.rebuild_rows();
            }
            Action::Inspect => return self.inspect(),
            Action::History => return self.open_history(),
            Action::Promote => return self.begin_action(ActionKind::Promote),
            Action::Halt => return self.begin_action(ActionKind::Halt),
            Action::Resume => return self.begin_action(ActionKind::Resume),
            Action::Abort => return self.begin_action(ActionKind::Abort),
            Action::Retry => return self.begin_action(ActionKind::Retry),
            Action::NextTheme => {
                let themes = &self.settings.themes;
                if !themes.is_empty() {
                    let i = themes
                        .iter()
                        .position(|t| *t == self.theme)
                        .map_or(0, |i| (i + 1) % themes.len());
                    return vec![Effect::LoadTheme {
                        name: themes[i].clone(),
                    }];
                }
            }
        }
        Vec::new()
    }

    fn run_command(&mut self, line: &str) -> Vec<Effect> {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let arg: Vec<&str> = words.collect();
        let arg = arg.join(" ");
        match (cmd, arg.as_str()) {
            ("", _) => {}
            ("q" | "q!" | "quit" | "exit", _) => {
                self.quit = true;
                return vec![Effect::Quit];
            }
            ("sites" | "site" | "s", "") => self.goto_root(ViewKind::Sites),
            ("groups" | "group" | "g", "") => self.goto_root(ViewKind::Groups),
            ("devices" | "device" | "dev" | "d" | "dp", "") => {
                self.goto_root(ViewKind::Devices(Scope::All))
            }
            ("devices" | "dev", filter) => {
                self.goto_root(ViewKind::Devices(Scope::All));
                self.set_filter(filter.to_string());
            }
            ("device" | "d", id) => {
                if self.fleet.device(id).is_some() {
                    return self.push(ViewKind::Device(id.to_string()));
                }
                self.set_flash(format!("no device '{id}' in the fleet"), Level::Error);
            }
            ("site" | "s", name) => {
                if self.fleet.site(name).is_some() {
                    return self.push(ViewKind::Devices(Scope::Site(name.to_string())));
                }
                self.set_flash(format!("no site '{name}'"), Level::Error);
            }
            ("group" | "g", name) => {
                if self.fleet.group(name).is_some() {
                    return self.push(ViewKind::Devices(Scope::Group(name.to_string())));
                }
                self.set_flash(format!("no group '{name}'"), Level::Error);
            }
            ("theme", "") => {
                let names = self.settings.themes.join(", ");
                self.set_flash(format!("theme {}; available: {names}", self.theme), Level::Info);
            }
            ("theme", name) => {
                return vec![Effect::LoadTheme {
                    name: name.to_string(),
                }];
            }
            ("rollouts" | "rollout" | "ro", "") => {
                self.goto_root(ViewKind::Rollouts);
                return vec![Effect::LoadRollouts];
            }
            ("rollout" | "ro", name) => {
                if self.rollouts.get(name).is_some() {
                    return self.push(ViewKind::Rollout(name.to_string()));
                }
                self.set_flash(format!("no rollout '{name}'"), Level::Error);
            }
            ("help" | "h" | "?", _) => self.mode = Mode::Help { scroll: 0 },
            ("refresh", _) => return vec![Effect::RefreshNow],
            _ => self.set_flash(
                format!("unknown command ':{line}' — try :sites :groups :devices :device ID :theme NAME :q"),
                Level::Error,
            ),
        }
        Vec::new()
    }

    fn goto_root(&mut self, kind: ViewKind) {
        self.stack.truncate(1);
        if self.stack[0].kind != kind {
            self.stack[0] = Screen::new(kind);
        }
        self.device_history = None;
        self.rebuild_rows();
    }

    pub(crate) fn push(&mut self, kind: ViewKind) -> Vec<Effect> {
        let effects = match &kind {
            ViewKind::Device(id) if self.settings.remote_history => {
                vec![Effect::FetchHistory { device: id.clone() }]
            }
            _ => Vec::new(),
        };
        self.device_history = None;
        self.stack.push(Screen::new(kind));
        self.rebuild_rows();
        effects
    }

    fn open_selected(&mut self) -> Vec<Effect> {
        let s = self.screen();
        let Some(&row) = s.rows.get(s.selected) else {
            return Vec::new();
        };
        let next = match &s.kind {
            ViewKind::Sites => ViewKind::Devices(Scope::Site(self.fleet.sites[row].name.clone())),
            ViewKind::Groups => {
                ViewKind::Devices(Scope::Group(self.fleet.groups[row].name.clone()))
            }
            ViewKind::Devices(_) => ViewKind::Device(self.fleet.devices[row].id().to_string()),
            ViewKind::Rollouts => match self.rollouts.entries.get(row) {
                Some(e) => ViewKind::Rollout(e.plan.name.clone()),
                None => return Vec::new(),
            },
            ViewKind::Device(_)
            | ViewKind::Rollout(_)
            | ViewKind::Inspect(_)
            | ViewKind::History(_) => {
                return Vec::new();
            }
        };
        self.push(next)
    }

    /// The id (device) or name (site/group) of the selected row.
    pub fn selected_key(&self) -> Option<String> {
        let s = self.screen();
        let &row = s.rows.get(s.selected)?;
        Some(match &s.kind {
            ViewKind::Sites => self.fleet.sites.get(row)?.name.clone(),
            ViewKind::Groups => self.fleet.groups.get(row)?.name.clone(),
            ViewKind::Devices(_) => self.fleet.devices.get(row)?.id().to_string(),
            ViewKind::Device(id) => id.clone(),
            ViewKind::Rollouts => self.rollouts.entries.get(row)?.plan.name.clone(),
            ViewKind::Rollout(name) | ViewKind::History(name) => name.clone(),
            ViewKind::Inspect(InspectTarget::Rollout(n) | InspectTarget::Device(n)) => n.clone(),
        })
    }

    fn move_by(&mut self, delta: isize) {
        let s = self.screen();
        let target = if delta < 0 {
            s.selected.saturating_sub(delta.unsigned_abs())
        } else {
            s.selected.saturating_add(delta as usize)
        };
        self.move_to(target);
    }

    fn move_to(&mut self, index: usize) {
        let s = self.screen_mut();
        s.selected = index.min(s.rows.len().saturating_sub(1));
        self.clamp_selection();
    }

    /// Keeps the selection inside the rows and visible in the viewport.
    fn clamp_selection(&mut self) {
        let rows = self.viewport_rows.max(1);
        let s = self.screen_mut();
        s.selected = s.selected.min(s.rows.len().saturating_sub(1));
        if s.selected < s.offset {
            s.offset = s.selected;
        } else if s.selected >= s.offset + rows {
            s.offset = s.selected + 1 - rows;
        }
        s.offset = s.offset.min(s.rows.len().saturating_sub(rows));
    }

    fn set_filter(&mut self, text: String) {
        self.screen_mut().filter = Filter::parse(&text);
        self.rebuild_rows_keep_selection();
    }

    pub(crate) fn rebuild_all_rows(&mut self) {
        let top = self.stack.len() - 1;
        for i in 0..self.stack.len() {
            let key = (i == top).then(|| self.selected_key()).flatten();
            let rows = compute_rows(
                &self.fleet,
                &self.rollouts,
                &self.signatures.drift,
                &self.tunnels,
                self.now,
                &self.stack[i],
            );
            self.stack[i].rows = rows;
            if let Some(k) = key {
                self.reselect(&k);
            }
        }
        self.clamp_selection();
    }

    fn rebuild_rows(&mut self) {
        let rows = compute_rows(
            &self.fleet,
            &self.rollouts,
            &self.signatures.drift,
            &self.tunnels,
            self.now,
            self.screen(),
        );
        self.screen_mut().rows = rows;
        self.clamp_selection();
    }

    fn rebuild_rows_keep_selection(&mut self) {
        let key = self.selected_key();
        self.rebuild_rows();
        match key {
            Some(k) => self.reselect(&k),
            None => self.move_to(0),
        }
    }

    fn reselect(&mut self, key: &str) {
        let fleet = Arc::clone(&self.fleet);
        let names: Vec<String> = self
            .rollouts
            .entries
            .iter()
            .map(|e| e.plan.name.clone())
            .collect();
        let s = self.screen_mut();
        let pos = s.rows.iter().position(|&r| match &s.kind {
            ViewKind::Sites => fleet.sites.get(r).is_some_and(|x| x.name == key),
            ViewKind::Groups => fleet.groups.get(r).is_some_and(|x| x.name == key),
            ViewKind::Devices(_) => fleet.devices.get(r).is_some_and(|d| d.id() == key),
            ViewKind::Rollouts => names.get(r).is_some_and(|n| n == key),
            ViewKind::Device(_)
            | ViewKind::Rollout(_)
            | ViewKind::Inspect(_)
            | ViewKind::History(_) => false,
        });
        if let Some(p) = pos {
            s.selected = p;
        }
        self.clamp_selection();
    }
}

/// Filtered and sorted row indices of a table screen.
pub fn compute_rows(
    fleet: &Fleet,
    rollouts: &Rollouts,
    drift: &HashMap<String, Drift>,
    tunnels: &TunnelState,
    now: SystemTime,
    screen: &Screen,
) -> Vec<usize> {
    let sort = screen.sort;
    let dir = |o: Ordering| if sort.descending { o.reverse() } else { o };
    match &screen.kind {
        ViewKind::Sites | ViewKind::Groups => {
            let list = if screen.kind == ViewKind::Sites {
                &fleet.sites
            } else {
                &fleet.groups
            };
            let col = RollupCol::ALL[sort.column.min(RollupCol::ALL.len() - 1)];
            let mut rows: Vec<usize> = (0..list.len())
                .filter(|&i| screen.filter.matches_rollup(&list[i]))
                .collect();
            rows.sort_by(|&a, &b| {
                col.missing(&list[a])
                    .cmp(&col.missing(&list[b]))
                    .then_with(|| dir(col.cmp(&list[a], &list[b])))
                    .then_with(|| list[a].name.cmp(&list[b].name))
            });
            rows
        }
        ViewKind::Devices(scope) => {
            let col = DeviceCol::ALL[sort.column.min(DeviceCol::ALL.len() - 1)];
            let d = &fleet.devices;
            let mut rows: Vec<usize> = (0..d.len())
                .filter(|&i| match scope {
                    Scope::All => true,
                    Scope::Site(s) => d[i].site() == s,
                    Scope::Group(g) => d[i].group() == g,
                })
                .filter(|&i| screen.filter.is_empty() || screen.filter.matches_device(&d[i], drift))
                .collect();
            if col == DeviceCol::Tunnel {
                remote::sort_by_tunnel(&mut rows, d, tunnels, now, sort.descending);
                return rows;
            }
            // Devices are sorted by id already: a stable sort keeps ties in id order.
            rows.sort_by(|&a, &b| {
                col.missing(&d[a])
                    .cmp(&col.missing(&d[b]))
                    .then_with(|| dir(col.cmp(&d[a], &d[b])))
            });
            rows
        }
        ViewKind::Rollouts => rollouts.rows(&screen.filter.text),
        ViewKind::Rollout(name) => {
            let n = rollouts.get(name).map_or(0, |e| {
                if rollouts.by_group {
                    e.progress.groups.len()
                } else {
                    e.progress.sites.len()
                }
            });
            (0..n).collect()
        }
        ViewKind::History(_) => {
            (0..rollouts.history.as_ref().map_or(0, PlanHistory::len)).collect()
        }
        ViewKind::Device(_) | ViewKind::Inspect(_) => Vec::new(),
    }
}
