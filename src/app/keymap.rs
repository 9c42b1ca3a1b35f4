//! The keymap: one table of actions, their default keys and their help text.
//! The same table dispatches keys and generates the `?` help, so the help can
//! never disagree with what the keys do. Users remap any action in `[keys]`.

use crate::diag::echo;
use std::collections::BTreeMap;
use std::fmt;

/// A key press, independent of the terminal library.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCode {
    /// A printable character; shifted letters are upper case.
    Char(char),
    Enter,
    Esc,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Tab,
    BackTab,
    Backspace,
    Delete,
    F(u8),
}

impl Key {
    pub const fn plain(code: KeyCode) -> Key {
        Key {
            code,
            ctrl: false,
            alt: false,
        }
    }
    pub const fn char(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }
    pub const fn ctrl(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            ctrl: true,
            alt: false,
        }
    }

    /// Parses `q`, `G`, `?`, `ctrl-r`, `alt-x`, `enter`, `esc`, `pgdn`, `f5`, `space`…
    pub fn parse(spec: &str) -> Result<Key, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = spec;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.chars().count() > 1 && lower.starts_with("ctrl-") {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.chars().count() > 1 && lower.starts_with("alt-") {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => {
                KeyCode::Char(if ctrl { c.to_ascii_lowercase() } else { c })
            }
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "pgup" | "pageup" => KeyCode::PageUp,
                "pgdn" | "pagedown" => KeyCode::PageDown,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "tab" => KeyCode::Tab,
                "backtab" | "shift-tab" => KeyCode::BackTab,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "space" => KeyCode::Char(' '),
                f if f.starts_with('f') && f.len() > 1 => match f[1..].parse::<u8>() {
                    Ok(n @ 1..=12) => KeyCode::F(n),
                    _ => return Err(format!("'{}' is not a key", echo(spec))),
                },
                _ => {
                    return Err(format!(
                        "'{}' is not a key; write keys like 'q', 'G', 'ctrl-r', 'enter', 'pgdn', 'f5'",
                        echo(spec)
                    ));
                }
            },
        };
        Ok(Key { code, ctrl, alt })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("del"),
            KeyCode::F(n) => write!(f, "f{n}"),
        }
    }
}

/// Everything a key can ask for in the normal (browsing) mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    Back,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Help,
    Command,
    Filter,
    Sites,
    Groups,
    Devices,
    SortNext,
    SortPrev,
    SortReverse,
    Refresh,
    NextTheme,
    Rollouts,
    Shell,
    Inspect,
    ToggleMatrix,
    History,
    Promote,
    Halt,
    Resume,
    Abort,
    Retry,
}

/// One row of the keymap table.
pub struct Binding {
    pub action: Action,
    /// Name used in `[keys]` of the config.
    pub name: &'static str,
    pub defaults: &'static [&'static str],
    pub help: &'static str,
    pub section: &'static str,
    /// Destructive actions may not be bound to ctrl-letters: one slip of the
    /// finger must not promote or abort (docs/ARCHITECTURE.md, "The terminal").
    pub destructive: bool,
}

const fn d(
    action: Action,
    name: &'static str,
    defaults: &'static [&'static str],
    help: &'static str,
) -> Binding {
    Binding {
        action,
        name,
        defaults,
        help,
        section: "rollout",
        destructive: true,
    }
}

const fn b(
    action: Action,
    name: &'static str,
    defaults: &'static [&'static str],
    section: &'static str,
    help: &'static str,
) -> Binding {
    Binding {
        action,
        name,
        defaults,
        help,
        section,
        destructive: false,
    }
}

/// The table. Order is the order of the help screen.
pub const BINDINGS: &[Binding] = &[
    b(Action::Help, "help", &["?"], "general", "this help"),
    b(Action::Quit, "quit", &["q", "ctrl-c"], "general", "quit"),
    b(
        Action::Refresh,
        "refresh",
        &["ctrl-r"],
        "general",
        "refresh now",
    ),
    b(
        Action::NextTheme,
        "next_theme",
        &["T"],
        "general",
        "next theme",
    ),
    b(Action::Up, "up", &["k", "up"], "move", "previous row"),
    b(Action::Down, "down", &["j", "down"], "move", "next row"),
    b(
        Action::PageUp,
        "page_up",
        &["pgup", "ctrl-b"],
        "move",
        "page up",
    ),
    b(
        Action::PageDown,
        "page_down",
        &["pgdn", "ctrl-f"],
        "move",
        "page down",
    ),
    b(Action::Top, "top", &["g", "home"], "move", "first row"),
    b(Action::Bottom, "bottom", &["G", "end"], "move", "last row"),
    b(
        Action::Open,
        "open",
        &["enter", "l", "right"],
        "move",
        "open the selected site, group or device",
    ),
    b(
        Action::Back,
        "back",
        &["esc", "h", "left"],
        "move",
        "back to the previous view",
    ),
    b(
        Action::Sites,
        "sites",
        &["1"],
        "views",
        "sites (fleet overview)",
    ),
    b(Action::Groups, "groups", &["2"], "views", "groups"),
    b(Action::Devices, "devices", &["3"], "views", "all devices"),
    b(
        Action::Filter,
        "filter",
        &["/"],
        "views",
        "filter: text, site:NAME group:NAME health:down drift:yes",
    ),
    b(
        Action::Command,
        "command",
        &[":"],
        "views",
        "command: :sites :groups :devices :rollouts :device ID :theme NAME :q",
    ),
    b(Action::Rollouts, "rollouts", &["4"], "views", "rollouts"),
    b(
        Action::Shell,
        "shell",
        &["s"],
        "views",
        "shell on the selected device over its tunnel (SSH)",
    ),
    b(
        Action::Inspect,
        "inspect",
        &["i"],
        "views",
        "supply chain: signatures, attestations, SBOM of the selected rollout or device",
    ),
    b(
        Action::SortNext,
        "sort_next",
        &[">", "o"],
        "table",
        "sort by the next column",
    ),
    b(
        Action::SortPrev,
        "sort_prev",
        &["<"],
        "table",
        "sort by the previous column",
    ),
    b(
        Action::SortReverse,
        "sort_reverse",
        &["O"],
        "table",
        "reverse the sort order",
    ),
    b(
        Action::ToggleMatrix,
        "toggle_matrix",
        &["tab"],
        "rollout",
        "site × wave ⇄ group × wave matrix",
    ),
    b(
        Action::History,
        "history",
        &["H"],
        "rollout",
        "history: every commit that changed the rollout (who, what, why, forced)",
    ),
    d(
        Action::Promote,
        "promote",
        &["p"],
        "promote: release the next wave (confirmed)",
    ),
    d(
        Action::Halt,
        "halt",
        &["z"],
        "halt: freeze the rollout (confirmed)",
    ),
    d(
        Action::Resume,
        "resume",
        &["r"],
        "resume a halted rollout (confirmed)",
    ),
    d(
        Action::Abort,
        "abort",
        &["A"],
        "abort: roll every targeted device back (confirmed)",
    ),
    d(
        Action::Retry,
        "retry",
        &["R"],
        "retry an aborted rollout from the first wave (confirmed)",
    ),
];

/// Why `key` is no place for a destructive action (promote, halt, resume,
/// abort, retry), or `None`. What a k9s or less user presses by reflex must
/// never start one: ctrl and alt keys (ctrl-c twice to get out; esc then a
/// letter arrives as alt-letter), the keys that move, open, go back, confirm
/// or cancel (enter, esc, tab, arrows, pages, home/end, space, backspace, del),
/// y/n (answers in dialogs), and every default key of a non-destructive action
/// (q quits, j/k move, / filters…) even when the user moved that action.
/// Plain letters, digits, punctuation and f1-f12 that no action uses by
/// default are fine: they are confirmed anyway.
pub fn unsafe_for_destructive(key: Key) -> Option<String> {
    if key.ctrl {
        return Some("a ctrl key".into());
    }
    if key.alt {
        return Some("an alt key (esc followed by a key arrives as alt-key)".into());
    }
    match key.code {
        KeyCode::Char(' ') => return Some("space".into()),
        KeyCode::Char('y' | 'Y' | 'n' | 'N') => {
            return Some("an answer to the console's yes/no questions".into());
        }
        KeyCode::Char(_) | KeyCode::F(_) => {}
        _ => return Some("a navigation or dialog key".into()),
    }
    BINDINGS
        .iter()
        .find(|b| !b.destructive && b.defaults.iter().any(|d| Key::parse(d) == Ok(key)))
        .map(|b| format!("the default key of '{}'", b.name))
}

/// Key → action dispatch, with the keys of each action for the help.
#[derive(Clone, Debug)]
pub struct Keymap {
    by_key: BTreeMap<Key, Action>,
    keys: BTreeMap<Action, Vec<Key>>,
}

/// A `[keys]` entry fleetdeck cannot use.
#[derive(Clone, Debug, PartialEq)]
pub struct KeymapError {
    /// `keys.<action>`
    pub key: String,
    /// The key as written, when one key of the list is the problem (the
    /// config points its column at it).
    pub spec: Option<String>,
    pub message: String,
    pub hint: String,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::from_config(&BTreeMap::new()).unwrap_or_else(|_| Keymap {
            by_key: BTreeMap::new(),
            keys: BTreeMap::new(),
        })
    }
}

impl Keymap {
    /// The defaults with the config's `[keys]` overrides (action name → keys).
    /// An override replaces that action's default keys.
    pub fn from_config(overrides: &BTreeMap<String, Vec<String>>) -> Result<Keymap, KeymapError> {
        for name in overrides.keys() {
            if !BINDINGS.iter().any(|b| b.name == name) {
                let names: Vec<&str> = BINDINGS.iter().map(|b| b.name).collect();
                return Err(KeymapError {
                    key: format!("keys.{name}"),
                    spec: None,
                    message: format!("'{}' is not an action", echo(name)),
                    hint: format!("actions are: {}", names.join(", ")),
                });
            }
        }
        let mut by_key: BTreeMap<Key, Action> = BTreeMap::new();
        let mut keys: BTreeMap<Action, Vec<Key>> = BTreeMap::new();
        let name_of = |a: Action| {
            BINDINGS
                .iter()
                .find(|b| b.action == a)
                .map_or("?", |b| b.name)
        };
        // Every binding lives in one context (browsing: `App::on_key` looks
        // every key up in this one map), so two actions on one key conflict,
        // whether the other one is the user's or a default the user left alone.
        for bind in BINDINGS {
            let Some(specs) = overrides.get(bind.name) else {
                continue;
            };
            let config_key = format!("keys.{}", bind.name);
            if specs.is_empty() {
                return Err(KeymapError {
                    key: config_key,
                    spec: None,
                    message: "no key given".into(),
                    hint: "give at least one key, e.g. [\"x\"]".into(),
                });
            }
            for spec in specs {
                let shown = echo(spec);
                let key = Key::parse(spec).map_err(|m| KeymapError {
                    key: config_key.clone(),
                    spec: Some(spec.clone()),
                    message: m,
                    hint: "see the keymap in README.md".into(),
                })?;
                if bind.destructive
                    && let Some(why) = unsafe_for_destructive(key)
                {
                    return Err(KeymapError {
                        key: config_key.clone(),
                        spec: Some(spec.clone()),
                        message: format!(
                            "'{shown}' is {why}; '{}' is destructive and must not be one reflex away",
                            bind.name
                        ),
                        hint: "bind destructive actions to a plain letter no other action uses by default (e.g. the defaults p z r A R); they are confirmed anyway".into(),
                    });
                }
                if key == Key::ctrl('c') && bind.action != Action::Quit {
                    return Err(KeymapError {
                        key: config_key.clone(),
                        spec: Some(spec.clone()),
                        message: format!(
                            "'{shown}' always quits or cancels; it cannot be '{}'",
                            bind.name
                        ),
                        hint: "pick another key".into(),
                    });
                }
                if let Some(other) = by_key.insert(key, bind.action)
                    && other != bind.action
                {
                    let other_name = name_of(other);
                    return Err(KeymapError {
                        key: config_key.clone(),
                        spec: Some(spec.clone()),
                        message: format!("'{shown}' is already bound to '{other_name}'"),
                        hint: format!("give '{other_name}' or '{}' another key", bind.name),
                    });
                }
                if let Some(owner) = BINDINGS.iter().find(|b| {
                    b.action != bind.action
                        && !overrides.contains_key(b.name)
                        && b.defaults.iter().any(|d| Key::parse(d) == Ok(key))
                }) {
                    return Err(KeymapError {
                        key: config_key.clone(),
                        spec: Some(spec.clone()),
                        message: format!(
                            "'{shown}' is already the key of '{}' (its default); '{}' would take it over",
                            owner.name, bind.name
                        ),
                        hint: format!(
                            "pick a free key for '{}', or give '{}' other keys too (keys.{} = [\"…\"])",
                            bind.name, owner.name, owner.name
                        ),
                    });
                }
                keys.entry(bind.action).or_default().push(key);
            }
        }
        for bind in BINDINGS {
            if overrides.contains_key(bind.name) {
                continue;
            }
            for spec in bind.defaults {
                let key = Key::parse(spec).map_err(|m| KeymapError {
                    key: format!("keys.{}", bind.name),
                    spec: None,
                    message: m,
                    hint: "this is a built-in default: please report it".into(),
                })?;
                if by_key.contains_key(&key) {
                    continue;
                }
                by_key.insert(key, bind.action);
                keys.entry(bind.action).or_default().push(key);
            }
            if !keys.contains_key(&bind.action) {
                return Err(KeymapError {
                    key: format!("keys.{}", bind.name),
                    spec: None,
                    message: format!(
                        "every default key of '{}' ({}) is taken by your other bindings",
                        bind.name,
                        bind.defaults.join(", ")
                    ),
                    hint: format!("add keys.{} = [\"…\"] with a free key", bind.name),
                });
            }
        }
        Ok(Keymap { by_key, keys })
    }

    pub fn action(&self, key: Key) -> Option<Action> {
        self.by_key.get(&key).copied()
    }

    pub fn keys(&self, action: Action) -> &[Key] {
        self.keys.get(&action).map_or(&[], Vec::as_slice)
    }

    /// "k/↑" for hints.
    pub fn keys_text(&self, action: Action) -> String {
        self.keys(action)
            .iter()
            .map(Key::to_string)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The help table: (section, keys, description) in table order.
    pub fn help_rows(&self) -> Vec<(&'static str, String, &'static str)> {
        BINDINGS
            .iter()
            .map(|b| (b.section, self.keys_text(b.action), b.help))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_specs() {
        assert_eq!(Key::parse("q"), Ok(Key::char('q')));
        assert_eq!(Key::parse("G"), Ok(Key::char('G')));
        assert_eq!(Key::parse("ctrl-r"), Ok(Key::ctrl('r')));
        assert_eq!(Key::parse("CTRL-R"), Ok(Key::ctrl('r')));
        assert_eq!(Key::parse("pgdn"), Ok(Key::plain(KeyCode::PageDown)));
        assert_eq!(Key::parse("f5"), Ok(Key::plain(KeyCode::F(5))));
        assert_eq!(Key::parse("-"), Ok(Key::char('-')));
        assert!(Key::parse("hyper-x").is_err());
        assert!(Key::parse("f13").is_err());
        assert!(Key::parse("").is_err());
    }

    #[test]
    fn display_round_trips_for_ascii_keys() {
        for s in [
            "q", "G", "ctrl-r", "enter", "esc", "pgdn", "f5", "space", "tab",
        ] {
            let k = Key::parse(s).expect(s);
            assert_eq!(Key::parse(&k.to_string()), Ok(k), "{s}");
        }
    }

    #[test]
    fn defaults_have_no_conflicts_and_cover_every_action() {
        let km = Keymap::from_config(&BTreeMap::new()).expect("defaults are valid");
        for b in BINDINGS {
            assert!(!km.keys(b.action).is_empty(), "{} has no key", b.name);
            assert!(
                !(b.destructive && km.keys(b.action).iter().any(|k| k.ctrl)),
                "{} is destructive on a ctrl key",
                b.name
            );
        }
        assert_eq!(km.action(Key::char('j')), Some(Action::Down));
        assert_eq!(km.action(Key::char('x')), None);
    }

    #[test]
    fn overrides_replace_defaults() {
        let mut o = BTreeMap::new();
        o.insert("quit".to_string(), vec!["x".to_string()]);
        let km = Keymap::from_config(&o).expect("valid");
        assert_eq!(km.action(Key::char('x')), Some(Action::Quit));
        assert_eq!(km.action(Key::char('q')), None);
        assert!(
            km.help_rows()
                .iter()
                .any(|(_, k, h)| k == "x" && *h == "quit")
        );
    }

    /// Issue 9 case 6: `quit = "j"` silently took `j` from `down`.
    #[test]
    fn a_user_binding_on_another_actions_default_is_a_conflict() {
        let mut o = BTreeMap::new();
        o.insert("quit".to_string(), vec!["j".to_string()]);
        let e = Keymap::from_config(&o).expect_err("j is down's");
        assert_eq!(e.key, "keys.quit");
        assert!(
            e.message.contains("'j' is already the key of 'down'"),
            "{e:?}"
        );
        assert!(e.hint.contains("keys.down"), "{e:?}");
        // Moving `down` too makes it deliberate: accepted.
        o.insert("down".to_string(), vec!["n".to_string()]);
        let km = Keymap::from_config(&o).expect("valid once down moved");
        assert_eq!(km.action(Key::char('j')), Some(Action::Quit));
        assert_eq!(km.keys(Action::Down), &[Key::char('n')]);
    }

    /// Issue 9 case 6: `abort = "q"` was accepted.
    #[test]
    fn destructive_actions_refuse_reflex_keys() {
        for (action, spec, why) in [
            ("abort", "q", "default key of 'quit'"),
            ("promote", "j", "default key of 'down'"),
            ("halt", "enter", "navigation or dialog key"),
            ("resume", "esc", "navigation or dialog key"),
            ("retry", "ctrl-c", "ctrl key"),
            ("abort", "alt-x", "alt key"),
            ("promote", "y", "yes/no"),
            ("halt", "space", "space"),
            ("abort", "tab", "navigation or dialog key"),
        ] {
            let mut o = BTreeMap::new();
            o.insert(action.to_string(), vec![spec.to_string()]);
            // Even with quit moved away, q stays a reflex.
            o.insert("quit".to_string(), vec!["f10".to_string()]);
            let e = Keymap::from_config(&o).expect_err(spec);
            assert_eq!(e.key, format!("keys.{action}"), "{spec}: {e:?}");
            assert!(e.message.contains(why), "{spec}: {e:?}");
            assert!(e.message.contains("destructive"), "{spec}: {e:?}");
        }
        let mut o = BTreeMap::new();
        o.insert("abort".to_string(), vec!["X".to_string(), "f8".to_string()]);
        let km = Keymap::from_config(&o).expect("free letters and f-keys are fine");
        assert_eq!(km.action(Key::char('X')), Some(Action::Abort));
        let mut o = BTreeMap::new();
        o.insert("refresh".to_string(), vec!["ctrl-c".to_string()]);
        let e = Keymap::from_config(&o).expect_err("ctrl-c is quit's");
        assert!(e.message.contains("always quits or cancels"), "{e:?}");
    }

    #[test]
    fn hostile_specs_are_echoed_safely() {
        let mut o = BTreeMap::new();
        o.insert(
            "quit".to_string(),
            vec![format!("\u{1b}]2;X\u{7}{}", "y".repeat(10_000))],
        );
        let e = Keymap::from_config(&o).expect_err("not a key");
        assert!(crate::text::is_clean(&e.message), "{e:?}");
        assert!(e.message.chars().count() < 300, "{e:?}");
        let mut o = BTreeMap::new();
        o.insert("\u{202e}quit".to_string(), vec!["x".to_string()]);
        let e = Keymap::from_config(&o).expect_err("not an action");
        assert!(crate::text::is_clean(&e.message), "{e:?}");
    }

    #[test]
    fn conflicts_and_unknown_actions_are_errors() {
        let mut o = BTreeMap::new();
        o.insert("help".to_string(), vec!["x".to_string()]);
        o.insert("quit".to_string(), vec!["x".to_string()]);
        let e = Keymap::from_config(&o).expect_err("conflict");
        assert_eq!(e.key, "keys.quit");
        assert!(e.message.contains("already bound to 'help'"), "{e:?}");
        let mut o = BTreeMap::new();
        o.insert("refresh".to_string(), vec!["1".to_string()]);
        let e = Keymap::from_config(&o).expect_err("1 is the key of sites");
        assert_eq!(e.key, "keys.refresh");
        assert!(e.message.contains("'sites'"), "{e:?}");
        let mut o = BTreeMap::new();
        o.insert("explode".to_string(), vec!["x".to_string()]);
        let e = Keymap::from_config(&o).expect_err("unknown");
        assert_eq!(e.key, "keys.explode");
        assert!(e.hint.contains("quit"));
    }
}
