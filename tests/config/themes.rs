//! Shipped themes, invalid theme fixtures, user theme directories, and a widget rendered with a theme.

use std::path::{Path, PathBuf};

use fleetdeck::tui::theme::{Role, Theme, ThemeError, builtin_names};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::widgets::{Paragraph, Widget};

const ANSI_NAMES: &[&str] = &[
    "black",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "white",
    "bright-black",
    "bright-red",
    "bright-green",
    "bright-yellow",
    "bright-blue",
    "bright-magenta",
    "bright-cyan",
    "bright-white",
];

const OKABE_ITO: &[&str] = &[
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
];

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn invalid_dir() -> PathBuf {
    repo_path("tests/fixtures/themes/invalid")
}

fn shipped_file(name: &str) -> String {
    let path = repo_path(&format!("themes/{name}.toml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every colour value written under `[roles]`, as TOML values (strings or integers).
fn role_colours(src: &str) -> Vec<(String, toml::Value)> {
    let table: toml::Table = toml::from_str(src).expect("shipped theme is valid TOML");
    let roles = table
        .get("roles")
        .and_then(toml::Value::as_table)
        .expect("a [roles] table");
    let mut colours = Vec::new();
    for (role, value) in roles {
        match value {
            toml::Value::Table(parts) => {
                for key in ["fg", "bg"] {
                    if let Some(colour) = parts.get(key) {
                        colours.push((format!("{role}.{key}"), colour.clone()));
                    }
                }
            }
            colour => colours.push((role.clone(), colour.clone())),
        }
    }
    colours
}

#[test]
fn every_shipped_theme_loads_by_name_and_sets_every_role() {
    assert_eq!(
        builtin_names(),
        ["default", "light", "high-contrast", "colorblind", "ansi16"]
    );
    for name in builtin_names() {
        let theme = Theme::load(name, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(theme.name, *name);

        let src = shipped_file(name);
        assert!(
            src.starts_with("# "),
            "themes/{name}.toml must start with a comment saying what it is for"
        );
        let table: toml::Table = toml::from_str(&src).expect("valid TOML");
        let roles = table["roles"].as_table().expect("[roles]");
        for role in Role::ALL {
            assert!(
                roles.contains_key(role.key()),
                "themes/{name}.toml does not set '{}'",
                role.key()
            );
        }
    }
}

#[test]
fn available_lists_builtins_sorted() {
    let mut expected: Vec<String> = builtin_names().iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(Theme::available(None), expected);
}

#[test]
fn ansi16_uses_only_named_colours() {
    let src = shipped_file("ansi16");
    for (key, value) in role_colours(&src) {
        let name = value
            .as_str()
            .unwrap_or_else(|| panic!("ansi16 {key} = {value}: only named colours allowed"));
        assert!(
            name == "reset" || ANSI_NAMES.contains(&name),
            "ansi16 {key} = '{name}' is not one of the 16 ANSI names"
        );
    }
    // Belt and braces on the raw text, so a value added in a form the walk
    // above misses still fails here.
    for line in src.lines().filter(|l| !l.trim_start().starts_with('#')) {
        assert!(!line.contains("\"#"), "hex colour in ansi16: {line}");
        assert!(!line.contains("color"), "indexed colour in ansi16: {line}");
    }
    let theme = Theme::load("ansi16", None).expect("ansi16 loads");
    for role in Role::ALL {
        let style = theme.style(*role);
        for colour in [style.fg, style.bg].into_iter().flatten() {
            assert!(
                !matches!(colour, Color::Rgb(..) | Color::Indexed(_)),
                "{role:?} resolved to {colour:?}"
            );
        }
    }
}

#[test]
fn colorblind_uses_only_okabe_ito_colours() {
    let src = shipped_file("colorblind");
    for (key, value) in role_colours(&src) {
        let text = value
            .as_str()
            .unwrap_or_else(|| panic!("colorblind {key} = {value}: use a hex or a name"));
        let allowed = ["reset", "black", "white"].contains(&text)
            || OKABE_ITO.iter().any(|hex| hex.eq_ignore_ascii_case(text));
        assert!(allowed, "colorblind {key} = '{text}' is not Okabe-Ito");
    }
    // The three health states that carry meaning must differ in colour.
    let theme = Theme::load("colorblind", None).expect("colorblind loads");
    let up = theme.style(Role::HealthUp).fg;
    let degraded = theme.style(Role::HealthDegraded).fg;
    let down = theme.style(Role::HealthDown).fg;
    assert!(up != degraded && degraded != down && up != down);
}

/// Loads a fixture by path, with the fixture directory as the user theme dir
/// (so `inherits = "cycle-b"` finds its sibling).
fn fixture_error(file: &str) -> (ThemeError, String) {
    let path = invalid_dir().join(file);
    let path = path.to_str().expect("UTF-8 fixture path");
    match Theme::load(path, Some(&invalid_dir())) {
        Ok(theme) => panic!("{file} loaded as {theme:?}; expected an error"),
        Err(err) => {
            let text = err.to_string();
            (err, text)
        }
    }
}

#[test]
fn every_invalid_fixture_is_reported_with_location_key_and_hint() {
    let cases: &[(&str, &[&str])] = &[
        (
            "bad-colour.toml",
            &[
                "bad-colour.toml:3:20: ",
                "roles.health_up.fg: ",
                "'brigth-green' is not a colour",
                "expected a colour like '#ff8800', 'bright-red', 'reset' or 0-255",
            ],
        ),
        (
            "unknown-role.toml",
            &[
                "unknown-role.toml:4:1: ",
                "roles.helth_down: ",
                "unknown role 'helth_down'",
                "did you mean 'health_down'?",
                "valid roles are: text, muted, background,",
                "dialog_border",
            ],
        ),
        (
            "bad-syntax.toml",
            &["bad-syntax.toml:3:", "fix the TOML syntax"],
        ),
        (
            "unknown-top-level.toml",
            &[
                "unknown-top-level.toml:3:1: ",
                "colours: ",
                "unknown key 'colours'",
                "valid keys here are 'name', 'inherits', 'roles'",
            ],
        ),
        (
            "wrong-type.toml",
            &[
                "wrong-type.toml:3:",
                "roles.title.bold: ",
                "'yes' is not a switch",
                "expected true or false",
            ],
        ),
        (
            "wrong-type-role.toml",
            &[
                "wrong-type-role.toml:3:8: ",
                "roles.text: ",
                "invalid type: boolean 'true'",
                "expected a colour like '#ff8800'",
            ],
        ),
        (
            "index-out-of-range.toml",
            &[
                "index-out-of-range.toml:3:17: ",
                "roles.accent.fg: ",
                "'256' is not a colour index",
                "0-255",
            ],
        ),
        (
            "unknown-inherits.toml",
            &[
                "unknown-inherits.toml:2:12: ",
                "inherits: ",
                "unknown theme 'tokyo-night'",
                "high-contrast",
            ],
        ),
        (
            "cycle-a.toml",
            &[
                "cycle-",
                "inheritance cycle cycle-a -> cycle-b -> cycle-a",
                "remove one of these 'inherits' lines",
            ],
        ),
    ];

    let mut covered: Vec<&str> = Vec::new();
    for (file, expected) in cases {
        let (_, text) = fixture_error(file);
        for part in *expected {
            assert!(
                text.contains(part),
                "{file}: error text lacks {part:?}\n  got: {text}"
            );
        }
        covered.push(file);
    }

    // A new fixture without an expectation fails here instead of being skipped.
    let mut on_disk: Vec<String> = std::fs::read_dir(invalid_dir())
        .expect("fixture dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name != "cycle-b.toml")
        .collect();
    on_disk.sort();
    covered.sort();
    assert_eq!(on_disk, covered);
}

#[test]
fn the_cycle_is_a_typed_error_from_either_end() {
    let (err, _) = fixture_error("cycle-b.toml");
    match err {
        ThemeError::InheritsCycle { cycle, .. } => {
            assert_eq!(cycle, ["cycle-b", "cycle-a", "cycle-b"]);
        }
        other => panic!("expected InheritsCycle, got {other}"),
    }
}

#[test]
fn unknown_theme_name_lists_the_available_ones() {
    let err = Theme::load("solarised", Some(&invalid_dir())).expect_err("no such theme");
    let text = err.to_string();
    assert!(text.contains("unknown theme 'solarised'"), "{text}");
    assert!(
        text.contains("ansi16, bad-colour, bad-syntax, colorblind, cycle-a"),
        "{text}"
    );
    assert!(text.contains("path to a .toml file"), "{text}");
}

#[test]
fn missing_theme_file_names_the_path() {
    let err = Theme::load("/nonexistent/dir/mine.toml", None).expect_err("missing file");
    assert!(matches!(err, ThemeError::Read { .. }));
    assert!(
        err.to_string()
            .contains("cannot read theme file '/nonexistent/dir/mine.toml'"),
        "{err}"
    );
}

#[test]
fn user_theme_dir_overrides_builtins_and_adds_themes() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Overrides the built-in `light`, tweaking it by inheriting the built-in of the same name.
    std::fs::write(
        dir.path().join("light.toml"),
        "inherits = \"light\"\n[roles]\nhealth_down = { fg = \"#ff0000\", bold = true }\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("night-shift.toml"),
        "# Dim for the 3 a.m. pager.\ninherits = \"default\"\n[roles]\ntext = \"color244\"\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("notes.txt"), "not a theme").expect("write");

    let available = Theme::available(Some(dir.path()));
    assert_eq!(
        available,
        [
            "ansi16",
            "colorblind",
            "default",
            "high-contrast",
            "light",
            "night-shift"
        ]
    );

    let builtin_light = Theme::load("light", None).expect("built-in light");
    let user_light = Theme::load("light", Some(dir.path())).expect("user light");
    assert_eq!(user_light.name, "light");
    assert_eq!(
        user_light.style(Role::HealthDown).fg,
        Some(Color::Rgb(0xff, 0, 0))
    );
    assert_ne!(user_light, builtin_light);
    assert_eq!(
        user_light.style(Role::Text),
        builtin_light.style(Role::Text)
    );

    let night = Theme::load("night-shift", Some(dir.path())).expect("user theme");
    assert_eq!(night.name, "night-shift");
    assert_eq!(night.style(Role::Text).fg, Some(Color::Indexed(244)));
    assert_eq!(
        night.style(Role::Selected),
        Theme::builtin_default().style(Role::Selected)
    );

    // Without the user dir, the user theme is unknown rather than silently replaced.
    assert!(matches!(
        Theme::load("night-shift", None),
        Err(ThemeError::UnknownTheme { .. })
    ));
}

#[test]
fn a_theme_file_can_inherit_a_sibling_by_relative_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("base.toml"), "[roles]\naccent = \"cyan\"\n").expect("write");
    let child = dir.path().join("child.toml");
    std::fs::write(
        &child,
        "inherits = \"base.toml\"\n[roles]\ntext = \"red\"\n",
    )
    .expect("write");
    let theme = Theme::load(child.to_str().expect("UTF-8"), None).expect("loads");
    assert_eq!(theme.name, "child");
    assert_eq!(theme.style(Role::Accent).fg, Some(Color::Cyan));
    assert_eq!(theme.style(Role::Text).fg, Some(Color::Red));
}

#[test]
fn no_color_keeps_every_shipped_theme_readable() {
    for name in builtin_names() {
        let theme = Theme::load(name, None).expect("loads").without_colors();
        for role in Role::ALL {
            let style = theme.style(*role);
            assert_eq!((style.fg, style.bg), (None, None), "{name} {role:?}");
        }
        assert!(
            theme
                .style(Role::Selected)
                .add_modifier
                .contains(Modifier::REVERSED),
            "{name}: selection invisible without colour"
        );
    }
}

#[test]
fn a_paragraph_drawn_with_health_down_carries_the_theme_style() {
    let theme = Theme::builtin_default();
    let area = Rect::new(0, 0, 8, 1);
    let mut buffer = Buffer::empty(area);
    Paragraph::new("DOWN")
        .style(theme.style(Role::HealthDown))
        .render(area, &mut buffer);

    let cell = &buffer[(0, 0)];
    assert_eq!(cell.symbol(), "D");
    assert_eq!(cell.fg, Color::Rgb(0xf7, 0x76, 0x8e));
    assert!(cell.modifier.contains(Modifier::BOLD));
    // The paragraph's style fills its whole area, not only the text.
    assert_eq!(buffer[(7, 0)].fg, Color::Rgb(0xf7, 0x76, 0x8e));

    // A zero-sized area must not panic.
    let empty = Rect::new(0, 0, 0, 0);
    let mut buffer = Buffer::empty(empty);
    Paragraph::new("DOWN")
        .style(theme.style(Role::HealthDown))
        .render(empty, &mut buffer);
}

/// Issue 9 case 5: a theme path naming a device or a directory fails at once
/// (the old read grew without bound on /dev/zero), naming the file.
#[test]
fn unreadable_theme_files_fail_at_once_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.toml");
    std::fs::File::create(&big)
        .expect("create")
        .set_len(64 << 20)
        .expect("sparse file");
    for (path, why) in [
        ("/dev/zero".to_string(), "character device"),
        (format!("{}/", dir.path().display()), "directory"),
        (big.display().to_string(), "larger than"),
    ] {
        let err = Theme::load(&path, None).expect_err(&path);
        assert!(matches!(err, ThemeError::Read { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(path.trim_end_matches('/')) && text.contains(why),
            "{text}"
        );
    }
}

/// Issue 9 case 2: a user theme's file name is outside text: listed among
/// the available themes escaped, never raw.
#[test]
fn hostile_user_theme_names_are_echoed_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let evil = "x\u{1b}]2;PWNED\u{7}\u{202e}";
    std::fs::write(dir.path().join(format!("{evil}.toml")), "").expect("write");
    let err = Theme::load("nope", Some(dir.path())).expect_err("unknown");
    let text = err.to_string();
    assert!(fleetdeck::text::is_clean(&text), "{text:?}");
    assert!(text.contains("x\\u{1b}]2;PWNED\\u{7}\\u{202e}"), "{text}");
}
