//! Theme files (TOML, every role optional) → a [`Theme`] the views ask for styles by [`Role`].
//!
//! A theme file looks like this:
//!
//! ```toml
//! name = "dark"           # optional, defaults to the file stem
//! inherits = "default"    # optional: unspecified roles come from this theme
//! [roles]
//! text = "#c0caf5"                                   # shorthand: a foreground colour
//! selected = { fg = "black", bg = "#7aa2f7", bold = true }
//! ```
//!
//! A role that a file does not set comes from the theme it `inherits`, or else
//! from the built-in default theme — never from the terminal's defaults, so a
//! half-written theme still looks like a theme. A role that a file does set is
//! replaced as a whole: what is written is what is drawn.
//!
//! Every mistake in a file is an error naming the file, the line and column,
//! the key and what to write instead; nothing falls back silently.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::diag::{echo, line_col};
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// The hint every colour error ends with, so users learn the accepted forms.
const COLOR_HINT: &str = "expected a colour like '#ff8800', 'bright-red', 'reset' or 0-255";

/// The themes compiled into the binary, so it works from any directory.
const BUILTINS: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("colorblind", include_str!("../../themes/colorblind.toml")),
    ("ansi16", include_str!("../../themes/ansi16.toml")),
];

const BUILTIN_NAMES: &[&str] = &["default", "light", "high-contrast", "colorblind", "ansi16"];

/// Names of the themes shipped inside the binary, `default` first.
pub fn builtin_names() -> &'static [&'static str] {
    BUILTIN_NAMES
}

/// Where user themes live: `<config dir>/fleetdeck/themes` (`~/.config/fleetdeck/themes` on Linux).
pub fn user_theme_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "fleetdeck").map(|dirs| dirs.config_dir().join("themes"))
}

macro_rules! roles {
    ($($(#[doc = $doc:literal])* $variant:ident => $key:literal,)*) => {
        /// What a piece of the screen means; the views ask the theme for a role, never for a colour.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Role {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Role {
            /// Every role, in the order theme files conventionally list them.
            pub const ALL: &'static [Role] = &[$(Role::$variant,)*];

            /// The key of this role under `[roles]` in a theme file.
            pub fn key(&self) -> &'static str {
                match self {
                    $(Role::$variant => $key,)*
                }
            }
        }
    };
}

roles! {
    /// Ordinary text.
    Text => "text",
    /// Secondary text: units, ages, placeholders.
    Muted => "muted",
    /// Applied to the whole frame first; `reset` keeps the terminal's own background.
    Background => "background",
    /// Borders of panes that do not have focus.
    Border => "border",
    /// The border of the pane that has focus.
    BorderFocused => "border_focused",
    /// Pane titles.
    Title => "title",
    /// Table header rows.
    Header => "header",
    /// The selected row.
    Selected => "selected",
    /// The breadcrumb showing where the user is (fleet › site › device).
    Breadcrumb => "breadcrumb",
    /// The status bar.
    StatusBar => "status_bar",
    /// The status bar while it reports an error.
    StatusError => "status_error",
    /// The `:` command line.
    CommandLine => "command_line",
    /// The `/` filter line and matched text.
    Filter => "filter",
    /// Keys shown in the help and hint bars.
    KeyHint => "key_hint",
    /// A device or gate that is healthy.
    HealthUp => "health_up",
    /// Working but degraded (thermal throttling, slow inference).
    HealthDegraded => "health_degraded",
    /// Down or failed.
    HealthDown => "health_down",
    /// No fresh data: the last known state is too old to trust.
    HealthStale => "health_stale",
    /// Warnings.
    Warning => "warning",
    /// Errors.
    Error => "error",
    /// Emphasis that carries no state: counters, highlights.
    Accent => "accent",
    /// The filled part of gauges and progress bars.
    GaugeFilled => "gauge_filled",
    /// The unfilled track of gauges and progress bars.
    GaugeEmpty => "gauge_empty",
    /// Sparklines.
    Sparkline => "sparkline",
    /// The body of dialogs (confirmations, help).
    Dialog => "dialog",
    /// The border of dialogs.
    DialogBorder => "dialog_border",
}

impl Role {
    /// The role written as `key` in a theme file.
    pub fn from_key(key: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|role| role.key() == key)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A file:line:column position in a theme file, printed the way editors accept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file path, or `themes/<name>.toml (built-in)` for shipped themes.
    pub origin: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", echo(&self.origin), self.line, self.column)
    }
}

/// Why a theme could not be loaded; every variant tells the user what to do.
/// Names, paths, keys and values in the messages are echoed with
/// [`crate::text::echo`]: a hostile file name or value never reaches the
/// terminal raw, and never at length.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error(
        "cannot read theme file '{}': {}",
        crate::diag::echo_path(path),
        crate::files::read_reason(source)
    )]
    Read {
        path: PathBuf,
        source: crate::files::ReadError,
    },
    /// Bad TOML syntax or a bad value; `key` is the dotted path (`roles.health_up.fg`) when known.
    #[error(
        "{at}: {}{}",
        key.as_ref().map(|k| format!("{}: ", echo(k))).unwrap_or_default(),
        crate::text::sanitize_max(message, MESSAGE_MAX)
    )]
    Invalid {
        at: Location,
        key: Option<String>,
        message: String,
    },
    #[error(
        "unknown theme '{}'; available themes: {} (or give a path to a .toml file)",
        echo(name),
        names_list(available)
    )]
    UnknownTheme {
        name: String,
        available: Vec<String>,
    },
    #[error(
        "{at}: inherits: theme inheritance cycle {}; remove one of these 'inherits' lines",
        cycle.iter().map(|c| echo(c)).collect::<Vec<_>>().join(" -> ")
    )]
    InheritsCycle { at: Location, cycle: Vec<String> },
}

/// Longest theme error message: one line (the console shows it in its status
/// bar), values inside cut shorter; the CLI wraps its lists
/// (`diag::ConfigError`).
const MESSAGE_MAX: usize = 1000;

/// Theme names for a message: each echoed, at most 20 of them.
fn names_list(names: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut out: Vec<String> = names
        .iter()
        .take(SHOWN)
        .map(|n| echo(n).into_owned())
        .collect();
    if names.len() > SHOWN {
        out.push(format!(
            "… ({} more: fleetdeck themes)",
            names.len() - SHOWN
        ));
    }
    out.join(", ")
}

/// Styles for every [`Role`], resolved once at load time so drawing never fails.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// Shown in `:theme` and the help; from the file's `name`, else its file stem.
    pub name: String,
    styles: [Style; Role::ALL.len()],
}

impl Default for Theme {
    fn default() -> Self {
        Theme::builtin_default()
    }
}

impl Theme {
    /// The style the views should draw `role` with.
    pub fn style(&self, role: Role) -> Style {
        self.styles[role.index()]
    }

    /// Replaces one role's style (for callers that tweak a theme at run time, and for tests).
    pub fn set_style(&mut self, role: Role, style: Style) {
        self.styles[role.index()] = style;
    }

    /// The shipped dark theme. It sets every role (a test checks), so it needs no fallback.
    pub fn builtin_default() -> Theme {
        let (_, src) = BUILTINS[0];
        let loader = Loader { user_dir: None };
        let source = Source::Builtin("default");
        match loader.parse(&source, src, &mut Vec::new()) {
            Ok(theme) => theme,
            // Unreachable while the shipped file is valid (tests load it); a
            // readable monochrome theme beats a panic if someone breaks it.
            Err(_) => Theme::blank("default").without_colors(),
        }
    }

    /// Loads a theme by name: a file `<user_dir>/<name>.toml` (user themes override
    /// built-ins), a built-in name, or a path to a `.toml` file.
    pub fn load(name: &str, user_dir: Option<&Path>) -> Result<Theme, ThemeError> {
        let loader = Loader { user_dir };
        let source = match loader.resolve(name, None, None) {
            Some(source) => source,
            None => {
                return Err(ThemeError::UnknownTheme {
                    name: name.to_string(),
                    available: Theme::available(user_dir),
                });
            }
        };
        loader.load_source(&source, &mut Vec::new())
    }

    /// Parses a theme from text; `origin` names it in error messages and its
    /// file stem is the default name. `inherits` may name built-in themes or
    /// paths relative to `origin`.
    pub fn from_toml(src: &str, origin: &str) -> Result<Theme, ThemeError> {
        let loader = Loader { user_dir: None };
        let source = Source::Text(origin.to_string());
        loader.parse(&source, src, &mut Vec::new())
    }

    /// Built-in themes plus `*.toml` files in `user_dir`, sorted and deduplicated.
    pub fn available(user_dir: Option<&Path>) -> Vec<String> {
        let mut names: Vec<String> = BUILTIN_NAMES.iter().map(|n| n.to_string()).collect();
        if let Some(entries) = user_dir.and_then(|dir| std::fs::read_dir(dir).ok()) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|ext| ext == "toml")
                    && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                {
                    names.push(stem.to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// The theme for `NO_COLOR` (<https://no-color.org>): every colour is dropped,
    /// modifiers are kept, and the selected row is drawn reversed so it stays visible.
    pub fn without_colors(mut self) -> Theme {
        for style in &mut self.styles {
            *style = Style::new()
                .add_modifier(style.add_modifier)
                .remove_modifier(style.sub_modifier);
        }
        let selected = self.style(Role::Selected).add_modifier(Modifier::REVERSED);
        self.set_style(Role::Selected, selected);
        self
    }

    /// True when the `NO_COLOR` environment variable is set and not empty.
    pub fn no_color_requested() -> bool {
        std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty())
    }

    fn blank(name: &str) -> Theme {
        Theme {
            name: name.to_string(),
            styles: [Style::new(); Role::ALL.len()],
        }
    }
}

/// Where a theme's text comes from; also its identity for cycle detection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Builtin(&'static str),
    File(PathBuf),
    /// Text handed to [`Theme::from_toml`]; the string is its origin.
    Text(String),
}

impl Source {
    fn origin(&self) -> String {
        match self {
            Source::Builtin(name) => format!("themes/{name}.toml (built-in)"),
            Source::File(path) => path.display().to_string(),
            Source::Text(origin) => origin.clone(),
        }
    }

    /// The theme name used when the file has no `name`, and in cycle messages.
    fn stem(&self) -> String {
        match self {
            Source::Builtin(name) => name.to_string(),
            Source::File(path) => stem_of(path),
            Source::Text(origin) => stem_of(Path::new(origin)),
        }
    }

    /// The directory relative `inherits` paths are resolved against.
    fn dir(&self) -> Option<&Path> {
        match self {
            Source::Builtin(_) => None,
            Source::File(path) => path.parent(),
            Source::Text(origin) => Path::new(origin).parent(),
        }
    }
}

fn stem_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn looks_like_path(name: &str) -> bool {
    name.ends_with(".toml") || name.contains('/') || name.contains(std::path::MAIN_SEPARATOR)
}

struct Loader<'a> {
    user_dir: Option<&'a Path>,
}

impl Loader<'_> {
    /// Finds the theme `name`. `from` is the theme whose `inherits` names it:
    /// relative paths resolve against its directory, and a user theme that
    /// inherits its own name means the built-in of that name (the usual way to
    /// tweak a shipped theme).
    fn resolve(
        &self,
        name: &str,
        from: Option<&Source>,
        from_dir: Option<&Path>,
    ) -> Option<Source> {
        if looks_like_path(name) {
            let path = Path::new(name);
            let path = match from_dir {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path.to_path_buf(),
            };
            return Some(Source::File(path));
        }
        let builtin = BUILTIN_NAMES.iter().copied().find(|b| *b == name);
        if let Some(dir) = self.user_dir {
            let candidate = dir.join(format!("{name}.toml"));
            let is_self = from == Some(&Source::File(candidate.clone()));
            if candidate.is_file() && !(is_self && builtin.is_some()) {
                return Some(Source::File(candidate));
            }
        }
        builtin.map(Source::Builtin)
    }

    fn load_source(&self, source: &Source, chain: &mut Vec<Source>) -> Result<Theme, ThemeError> {
        match source {
            Source::Builtin(name) => {
                let src = BUILTINS
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, src)| *src)
                    .unwrap_or_default();
                self.parse(source, src, chain)
            }
            Source::File(path) => {
                // Bounded, regular file only: `--theme /dev/zero` fails at once.
                let src = crate::files::read_text_capped(path, crate::files::cap::THEME).map_err(
                    |source| ThemeError::Read {
                        path: path.clone(),
                        source,
                    },
                )?;
                self.parse(source, &src, chain)
            }
            // Text sources are parsed directly by `from_toml`; nothing can inherit one.
            Source::Text(_) => Err(ThemeError::UnknownTheme {
                name: source.origin(),
                available: Theme::available(self.user_dir),
            }),
        }
    }

    fn parse(
        &self,
        source: &Source,
        src: &str,
        chain: &mut Vec<Source>,
    ) -> Result<Theme, ThemeError> {
        let origin = source.origin();
        let file = parse_file(src, &origin)?;
        chain.push(source.clone());

        let mut theme = match &file.inherits {
            Some(parent) => {
                let at = location(&origin, src, parent.span().start);
                let parent_name = parent.get_ref();
                let Some(parent_source) = self.resolve(parent_name, Some(source), source.dir())
                else {
                    return Err(ThemeError::Invalid {
                        at,
                        key: Some("inherits".to_string()),
                        message: format!(
                            "unknown theme '{}'; available themes: {}",
                            echo(parent_name),
                            names_list(&Theme::available(self.user_dir))
                        ),
                    });
                };
                if let Some(start) = chain.iter().position(|s| *s == parent_source) {
                    let mut cycle: Vec<String> = chain[start..].iter().map(Source::stem).collect();
                    cycle.push(parent_source.stem());
                    return Err(ThemeError::InheritsCycle { at, cycle });
                }
                self.load_source(&parent_source, chain)?
            }
            None if *source == Source::Builtin("default") => Theme::blank("default"),
            None => Theme::builtin_default(),
        };

        theme.name = file.name.unwrap_or_else(|| source.stem());
        for (role, spec) in file.roles {
            theme.set_style(role, spec.to_style());
        }
        Ok(theme)
    }
}

/// The file as written; only what the user wrote, resolution happens in [`Loader`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    inherits: Option<toml::Spanned<String>>,
    #[serde(default)]
    roles: BTreeMap<Role, RoleSpec>,
}

fn parse_file(src: &str, origin: &str) -> Result<ThemeFile, ThemeError> {
    crate::diag::deserialize_located(src).map_err(|failure| {
        // Not located (toml gave no span and the key is not written): the
        // top of the file, as editors accept it.
        let (line, column) = match (failure.line, failure.column) {
            (0, _) => (1, 1),
            at => at,
        };
        let at = Location {
            origin: origin.to_string(),
            line,
            column,
        };
        let message = humanize(&crate::diag::tame(&failure.message));
        if failure.syntax {
            ThemeError::Invalid {
                at,
                key: None,
                message: format!(
                    "{message}; fix the TOML syntax (strings need double quotes, inline tables look like {{ fg = \"red\", bold = true }})"
                ),
            }
        } else {
            ThemeError::Invalid {
                at,
                key: (!failure.key.is_empty()).then_some(failure.key),
                message,
            }
        }
    })
}

/// serde writes values in backticks and says "field"; users edit TOML keys and
/// read values in single quotes.
fn humanize(message: &str) -> String {
    let message = message
        .trim()
        .replace('\n', "; ")
        .replace('`', "'")
        .replace("expected a map", "expected a table");
    match message.strip_prefix("unknown field ") {
        Some(rest) => format!(
            "unknown key {}",
            rest.replace(", expected one of", "; valid keys here are")
                .replace(", expected", "; the only valid key here is")
                .replace(", there are no fields", "; no keys are allowed here")
        ),
        None => message,
    }
}

/// Where `offset` of `src` is, for an error about `origin`.
fn location(origin: &str, src: &str, offset: usize) -> Location {
    let (line, column) = line_col(src, offset);
    Location {
        origin: origin.to_string(),
        line,
        column,
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RoleVisitor;
        impl Visitor<'_> for RoleVisitor {
            type Value = Role;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a role name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Role, E> {
                Role::from_key(key).ok_or_else(|| {
                    let valid: Vec<&str> = Role::ALL.iter().map(Role::key).collect();
                    let suggestion = closest_role(key)
                        .map(|r| format!("did you mean '{}'? ", r.key()))
                        .unwrap_or_default();
                    E::custom(format!(
                        "unknown role '{}'; {suggestion}valid roles are: {}",
                        echo(key),
                        valid.join(", ")
                    ))
                })
            }
        }
        deserializer.deserialize_str(RoleVisitor)
    }
}

/// The role a typo most likely meant, if one is close enough to be a useful hint.
fn closest_role(key: &str) -> Option<Role> {
    Role::ALL
        .iter()
        .map(|role| (strsim::levenshtein(key, role.key()), *role))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, role)| role)
}

/// One role as written: a bare colour (the foreground) or a table.
#[derive(Debug, Clone, PartialEq)]
enum RoleSpec {
    Fg(Color),
    Table(RoleTable),
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleTable {
    fg: Option<ColorSpec>,
    bg: Option<ColorSpec>,
    bold: Option<Flag>,
    italic: Option<Flag>,
    underline: Option<Flag>,
    reversed: Option<Flag>,
    dim: Option<Flag>,
}

impl RoleSpec {
    fn to_style(&self) -> Style {
        match self {
            RoleSpec::Fg(color) => Style::new().fg(*color),
            RoleSpec::Table(table) => {
                let mut style = Style::new();
                if let Some(ColorSpec(fg)) = table.fg {
                    style = style.fg(fg);
                }
                if let Some(ColorSpec(bg)) = table.bg {
                    style = style.bg(bg);
                }
                let flags = [
                    (table.bold, Modifier::BOLD),
                    (table.italic, Modifier::ITALIC),
                    (table.underline, Modifier::UNDERLINED),
                    (table.reversed, Modifier::REVERSED),
                    (table.dim, Modifier::DIM),
                ];
                for (flag, modifier) in flags {
                    style = match flag {
                        Some(Flag(true)) => style.add_modifier(modifier),
                        // An explicit `false` also removes the modifier when a view
                        // patches this style over another one.
                        Some(Flag(false)) => style.remove_modifier(modifier),
                        None => style,
                    };
                }
                style
            }
        }
    }
}

impl<'de> Deserialize<'de> for RoleSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RoleSpecVisitor;
        impl<'de> Visitor<'de> for RoleSpecVisitor {
            type Value = RoleSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a colour like '#ff8800', 'bright-red' or 0-255, or a table like { fg = \"black\", bg = \"#7aa2f7\", bold = true }",
                )
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<RoleSpec, E> {
                parse_color(value).map(RoleSpec::Fg).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<RoleSpec, E> {
                color_index(value).map(RoleSpec::Fg).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<RoleSpec, E> {
                self.visit_i64(i64::try_from(value).unwrap_or(i64::MAX))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RoleSpec, A::Error> {
                RoleTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RoleSpec::Table)
            }
        }
        deserializer.deserialize_any(RoleSpecVisitor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct ColorSpec(Color);

impl<'de> Deserialize<'de> for ColorSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ColorVisitor;
        impl Visitor<'_> for ColorVisitor {
            type Value = ColorSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a colour like '#ff8800', 'bright-red', 'reset' or 0-255")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<ColorSpec, E> {
                parse_color(value).map(ColorSpec).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<ColorSpec, E> {
                color_index(value).map(ColorSpec).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<ColorSpec, E> {
                self.visit_i64(i64::try_from(value).unwrap_or(i64::MAX))
            }
        }
        deserializer.deserialize_any(ColorVisitor)
    }
}

/// A modifier switch; its own type so `bold = "yes"` gets an error that says what to write.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl Visitor<'_> for FlagVisitor {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Flag, E> {
                Ok(Flag(value))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Flag, E> {
                Err(E::custom(format!(
                    "'{}' is not a switch; expected true or false without quotes",
                    echo(value)
                )))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Flag, E> {
                Err(E::custom(format!(
                    "'{value}' is not a switch; expected true or false"
                )))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Flag, E> {
                Err(E::custom(format!(
                    "'{value}' is not a switch; expected true or false"
                )))
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}

/// The 16 ANSI colours by their conventional names. ratatui names them
/// differently (ANSI "white" is `Gray`, "bright-black" is `DarkGray`,
/// "bright-white" is `White`); users write the ANSI names.
const ANSI_NAMES: &[(&str, Color)] = &[
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("white", Color::Gray),
    ("bright-black", Color::DarkGray),
    ("bright-red", Color::LightRed),
    ("bright-green", Color::LightGreen),
    ("bright-yellow", Color::LightYellow),
    ("bright-blue", Color::LightBlue),
    ("bright-magenta", Color::LightMagenta),
    ("bright-cyan", Color::LightCyan),
    ("bright-white", Color::White),
];

/// Parses `#rrggbb`, an ANSI name, `reset` or `colorN` (N in 0-255).
fn parse_color(text: &str) -> Result<Color, String> {
    let invalid = || format!("'{}' is not a colour; {COLOR_HINT}", echo(text));
    if text == "reset" {
        return Ok(Color::Reset);
    }
    if let Some((_, color)) = ANSI_NAMES.iter().find(|(name, _)| *name == text) {
        return Ok(*color);
    }
    if let Some(hex) = text.strip_prefix('#') {
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let channel = |i: usize| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(invalid)
        };
        return Ok(Color::Rgb(channel(0)?, channel(2)?, channel(4)?));
    }
    // Digits only: `parse` alone would also accept "color+5".
    if let Some(index) = text.strip_prefix("color")
        && index.bytes().all(|b| b.is_ascii_digit())
    {
        return index
            .parse::<u8>()
            .map(Color::Indexed)
            .map_err(|_| invalid());
    }
    Err(invalid())
}

fn color_index(value: i64) -> Result<Color, String> {
    u8::try_from(value)
        .map(Color::Indexed)
        .map_err(|_| format!("'{value}' is not a colour index; {COLOR_HINT}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_text(src: &str) -> String {
        match Theme::from_toml(src, "t.toml") {
            Ok(theme) => panic!("expected an error, got {theme:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn parses_every_colour_form() {
        assert_eq!(parse_color("#ff8800"), Ok(Color::Rgb(0xff, 0x88, 0x00)));
        assert_eq!(parse_color("#E69F00"), Ok(Color::Rgb(0xe6, 0x9f, 0x00)));
        assert_eq!(parse_color("reset"), Ok(Color::Reset));
        assert_eq!(parse_color("red"), Ok(Color::Red));
        assert_eq!(parse_color("white"), Ok(Color::Gray));
        assert_eq!(parse_color("bright-black"), Ok(Color::DarkGray));
        assert_eq!(parse_color("bright-white"), Ok(Color::White));
        assert_eq!(parse_color("bright-red"), Ok(Color::LightRed));
        assert_eq!(parse_color("color0"), Ok(Color::Indexed(0)));
        assert_eq!(parse_color("color255"), Ok(Color::Indexed(255)));
        assert_eq!(color_index(42), Ok(Color::Indexed(42)));
        assert_eq!(ANSI_NAMES.len(), 16);
    }

    #[test]
    fn rejects_bad_colours_with_a_hint() {
        for bad in [
            "#ff880",
            "#ff88001",
            "#gg0000",
            "#",
            "brightred",
            "Red",
            "gray",
            "dark-gray",
            "color256",
            "color",
            "color-1",
            "colour42",
            "",
            " red",
        ] {
            let err = parse_color(bad).expect_err(bad);
            assert!(err.contains(&format!("'{bad}'")), "{err}");
            assert!(err.contains("'#ff8800', 'bright-red'"), "{err}");
        }
        assert!(color_index(256).is_err());
        assert!(color_index(-1).is_err());
    }

    #[test]
    fn integer_colours_and_table_roles() {
        let theme = Theme::from_toml(
            r##"
            [roles]
            text = 42
            muted = "color8"
            selected = { fg = "black", bg = "#7aa2f7", bold = true, reversed = false }
            health_down = { fg = "bright-red", bold = true, italic = true, underline = true, dim = true }
            "##,
            "t.toml",
        )
        .expect("valid theme");
        assert_eq!(theme.style(Role::Text), Style::new().fg(Color::Indexed(42)));
        assert_eq!(theme.style(Role::Muted), Style::new().fg(Color::Indexed(8)));
        assert_eq!(
            theme.style(Role::Selected),
            Style::new()
                .fg(Color::Black)
                .bg(Color::Rgb(0x7a, 0xa2, 0xf7))
                .add_modifier(Modifier::BOLD)
                .remove_modifier(Modifier::REVERSED)
        );
        assert_eq!(
            theme.style(Role::HealthDown),
            Style::new().fg(Color::LightRed).add_modifier(
                Modifier::BOLD | Modifier::ITALIC | Modifier::UNDERLINED | Modifier::DIM
            )
        );
        assert_eq!(theme.name, "t");
    }

    #[test]
    fn unspecified_roles_come_from_the_builtin_default() {
        let default = Theme::builtin_default();
        let theme = Theme::from_toml("name = \"mine\"\n[roles]\ntext = \"red\"\n", "x.toml")
            .expect("valid theme");
        assert_eq!(theme.name, "mine");
        assert_eq!(theme.style(Role::Text), Style::new().fg(Color::Red));
        for role in Role::ALL.iter().filter(|r| **r != Role::Text) {
            assert_eq!(theme.style(*role), default.style(*role), "{role:?}");
        }
    }

    #[test]
    fn inherits_takes_unspecified_roles_from_the_parent() {
        let light = Theme::load("light", None).expect("light loads");
        let theme = Theme::from_toml(
            "inherits = \"light\"\n[roles]\nhealth_up = \"blue\"\n",
            "mine.toml",
        )
        .expect("valid theme");
        assert_eq!(theme.style(Role::HealthUp), Style::new().fg(Color::Blue));
        assert_eq!(theme.style(Role::Text), light.style(Role::Text));
        assert_ne!(
            theme.style(Role::Text),
            Theme::builtin_default().style(Role::Text)
        );
    }

    #[test]
    fn default_theme_sets_every_role_and_loads_by_name() {
        let file: ThemeFile = toml::from_str(BUILTINS[0].1).expect("default.toml parses");
        for role in Role::ALL {
            assert!(
                file.roles.contains_key(role),
                "default.toml lacks {}",
                role.key()
            );
        }
        let theme = Theme::builtin_default();
        assert_eq!(theme.name, "default");
        assert_eq!(Theme::load("default", None).ok(), Some(theme));
    }

    #[test]
    fn errors_name_key_line_column_and_value() {
        let text = err_text("[roles]\ntext = \"#12345\"\n");
        assert!(
            text.starts_with("t.toml:2:8: roles.text: '#12345' is not a colour"),
            "{text}"
        );

        let text = err_text("[roles]\nhealth_up = { fg = \"grene\" }\n");
        assert!(
            text.starts_with("t.toml:2:20: roles.health_up.fg: 'grene'"),
            "{text}"
        );

        let text = err_text("[roles]\nhelth_up = \"red\"\n");
        assert!(
            text.starts_with("t.toml:2:1: roles.helth_up: unknown role 'helth_up'"),
            "{text}"
        );
        assert!(text.contains("did you mean 'health_up'?"), "{text}");
        assert!(text.contains("dialog_border"), "{text}");

        let text = err_text("[roles]\ntext = { fg = \"red\", blink = true }\n");
        assert!(
            text.contains("roles.text.blink: unknown key 'blink'"),
            "{text}"
        );

        let text = err_text("[roles]\ntitle = { bold = \"yes\" }\n");
        assert!(
            text.contains("roles.title.bold: 'yes' is not a switch"),
            "{text}"
        );

        let text = err_text("[roles]\ntext = 300\n");
        assert!(
            text.contains("roles.text: '300' is not a colour index"),
            "{text}"
        );
    }

    #[test]
    fn inheriting_an_unknown_theme_lists_the_available_ones() {
        let text = err_text("inherits = \"dracula\"\n");
        assert!(
            text.starts_with("t.toml:1:12: inherits: unknown theme 'dracula'"),
            "{text}"
        );
        assert!(text.contains("high-contrast"), "{text}");
    }

    #[test]
    fn no_color_drops_colours_keeps_modifiers_and_reverses_selection() {
        let mut theme = Theme::blank("t");
        theme.set_style(
            Role::HealthDown,
            Style::new()
                .fg(Color::Red)
                .bg(Color::Black)
                .add_modifier(Modifier::BOLD),
        );
        theme.set_style(
            Role::Selected,
            Style::new()
                .fg(Color::Black)
                .bg(Color::Blue)
                .remove_modifier(Modifier::REVERSED),
        );
        let plain = theme.without_colors();
        assert_eq!(
            plain.style(Role::HealthDown),
            Style::new().add_modifier(Modifier::BOLD)
        );
        assert_eq!(
            plain.style(Role::Selected),
            Style::new().add_modifier(Modifier::REVERSED)
        );
        for role in Role::ALL {
            let style = plain.style(*role);
            assert_eq!((style.fg, style.bg), (None, None), "{role:?}");
        }
    }

    #[test]
    fn role_keys_round_trip() {
        assert_eq!(Role::ALL.len(), 26);
        for role in Role::ALL {
            assert_eq!(Role::from_key(role.key()), Some(*role));
        }
        assert_eq!(Role::from_key("nope"), None);
    }

    #[test]
    fn locations_count_characters_not_bytes() {
        let loc = location("f", "a = \"é\"\nbé = 1", 12);
        assert_eq!((loc.line, loc.column), (2, 3));
    }
}
