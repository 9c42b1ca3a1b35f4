//! PLACEHOLDER until the theme branch lands: same API, built-in default only.
use ratatui::style::{Color, Modifier, Style};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Text,
    Muted,
    Background,
    Border,
    BorderFocused,
    Title,
    Header,
    Selected,
    Breadcrumb,
    StatusBar,
    StatusError,
    CommandLine,
    Filter,
    KeyHint,
    HealthUp,
    HealthDegraded,
    HealthDown,
    HealthStale,
    Warning,
    Error,
    Accent,
    GaugeFilled,
    GaugeEmpty,
    Sparkline,
    Dialog,
    DialogBorder,
}

#[derive(Clone, Debug)]
pub struct Theme {
    pub name: String,
}

pub fn builtin_names() -> &'static [&'static str] {
    &["default"]
}

impl Theme {
    pub fn builtin_default() -> Theme {
        Theme {
            name: "default".into(),
        }
    }
    pub fn load(name: &str, _user_dir: Option<&std::path::Path>) -> Result<Theme, String> {
        Ok(Theme { name: name.into() })
    }
    pub fn available(_user_dir: Option<&std::path::Path>) -> Vec<String> {
        vec!["default".into()]
    }
    pub fn without_colors(self) -> Theme {
        self
    }
    pub fn no_color_requested() -> bool {
        false
    }
    pub fn style(&self, role: Role) -> Style {
        match role {
            Role::Selected => Style::new().add_modifier(Modifier::REVERSED),
            Role::HealthDown | Role::Error | Role::StatusError => Style::new().fg(Color::Red),
            Role::HealthDegraded | Role::Warning => Style::new().fg(Color::Yellow),
            Role::HealthUp => Style::new().fg(Color::Green),
            Role::Muted | Role::HealthStale => Style::new().fg(Color::DarkGray),
            Role::Header | Role::Title => Style::new().add_modifier(Modifier::BOLD),
            _ => Style::new(),
        }
    }
}

pub fn user_theme_dir() -> Option<std::path::PathBuf> {
    None
}
