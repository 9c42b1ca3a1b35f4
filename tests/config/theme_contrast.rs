//! Issue 9, case 10: text on screen stays readable in every theme.
//!
//! Every view is drawn with every theme file in `themes/*.toml`, at 80×24 and
//! 160×48, into a test buffer; for every cell that holds text the WCAG 2
//! contrast ratio between its foreground and background must be at least
//! 4.5:1 — in normal rows, on the highlight bar of the selected row, in the
//! status line, dialogs, the command and filter lines. The pairs are not
//! listed by hand: whatever a view draws is what is judged, so a role pair a
//! view starts using later is judged too.
//!
//! How colours are judged:
//! - `#rrggbb` as written; 256-colour indexes and the 16 ANSI names
//!   (`red`, `bright-black`…) as xterm's default RGB values
//!   (`fleetdeck::tui::color::ansi_rgb`: red #cd0000, bright-black #7f7f7f…);
//! - `reset` is the terminal's own colour, taken as xterm's default white
//!   #e5e5e5 on black #000000 (the `ansi16` theme keeps the terminal's own
//!   foreground and background: judged on a dark terminal);
//! - `reversed` swaps foreground and background; `dim` text counts as its
//!   colour halfway to the background (what terminals draw for faint);
//! - box drawing, block elements and braille (borders, gauges, sparklines,
//!   the input cursor) are graphics, not text, and are not judged;
//! - `NO_COLOR` draws no colour at all: every cell is the terminal's own pair
//!   (or reversed), which the test checks instead of a ratio.

use crate::support::fixture;
use crate::support::tunnels;

use fixture::*;
use fleetdeck::app::keymap::KeyCode;
use fleetdeck::app::{App, Event, HostKeyProblem};
use fleetdeck::rollout::plan::Status;
use fleetdeck::tui::color::{ColorDepth, ansi_rgb, for_depth};
use fleetdeck::tui::theme::Theme;
use fleetdeck::tui::views;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use std::collections::BTreeMap;
use std::path::PathBuf;

const MIN_RATIO: f64 = 4.5;

/// As written (truecolor), and as drawn on a 256-colour terminal (TERM=xterm
/// without COLORTERM, most SSH sessions; see `fleetdeck::tui::color`): the
/// approximation must stay readable too. On a 16-colour terminal the
/// terminal's own palette decides every shade, so the truecolor themes are
/// not judged there; the `ansi16` theme, made for it, is judged as written.
const DEPTHS: [ColorDepth; 2] = [ColorDepth::TrueColor, ColorDepth::Ansi256];
const TERMINAL_FG: (u8, u8, u8) = (0xe5, 0xe5, 0xe5);
const TERMINAL_BG: (u8, u8, u8) = (0x00, 0x00, 0x00);

/// WCAG 2 relative luminance (written out here, not taken from the crate:
/// the test is the oracle).
fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let lin = |v: u8| {
        let c = f64::from(v) / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

fn ratio(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

fn rgb(c: Color, default: (u8, u8, u8)) -> (u8, u8, u8) {
    ansi_rgb(c).unwrap_or(default)
}

fn is_graphics(symbol: &str) -> bool {
    symbol.chars().all(|c| {
        c.is_whitespace()
            || ('\u{2500}'..='\u{259f}').contains(&c)
            || ('\u{2800}'..='\u{28ff}').contains(&c)
    })
}

fn theme_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("themes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("themes/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the shipped themes: {files:?}");
    files
}

fn render(app: &mut App, theme: &Theme, w: u16, h: u16) -> Buffer {
    let rows = views::table_rows_for(app, w, h);
    app.update(Event::Viewport { rows });
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    term.draw(|f| views::draw(f, app, theme)).expect("draw");
    term.backend().buffer().clone()
}

/// The screens judged: every view, the selection on rows of each health,
/// overlays, dialogs, the status line in each of its states.
/// A named screen and how to build the app that shows it.
type Screen = (&'static str, Box<dyn Fn() -> App>);

fn screens() -> Vec<Screen> {
    fn fleet_app(keys: &'static [Event2]) -> Box<dyn Fn() -> App> {
        Box::new(move || {
            let mut a = app(120, 8);
            for k in keys {
                a.update(k.event());
            }
            a
        })
    }
    fn rollout(keys: &'static [Event2]) -> Box<dyn Fn() -> App> {
        Box::new(move || {
            let mut a = rollout_app(rollout_plan(1, Status::Progressing), false);
            for k in keys {
                a.update(k.event());
            }
            a
        })
    }
    use Event2::*;
    let mut v: Vec<Screen> = vec![
        ("sites", fleet_app(&[])),
        ("sites, 2nd row", fleet_app(&[K('j')])),
        ("sites, 3rd row", fleet_app(&[K('j'), K('j')])),
        ("groups", fleet_app(&[K('2')])),
        ("devices (down selected)", fleet_app(&[K('3')])),
        (
            "devices (degraded selected)",
            fleet_app(&[K('3'), K('j'), K('j')]),
        ),
        ("devices (last row)", fleet_app(&[K('3'), K('G')])),
        ("device detail", fleet_app(&[K('3'), Enter])),
        ("help", fleet_app(&[K('?')])),
        ("command line", fleet_app(&[K(':'), K('x')])),
        ("filter line", fleet_app(&[K('3'), K('/'), K('p')])),
        ("error flash", fleet_app(&[K(':'), K('x'), Enter])),
        (
            "info flash",
            fleet_app(&[K(':'), K('t'), K('h'), K('e'), K('m'), K('e'), Enter]),
        ),
        ("rollouts", rollout(&[])),
        ("rollout detail", rollout(&[Enter])),
        ("rollout detail, 2nd row", rollout(&[Enter, K('j')])),
        ("abort dialog", rollout(&[K('A')])),
        ("refused promote dialog", rollout(&[Enter, K('p'), Tab])),
        ("inspector", rollout(&[K('i')])),
    ];
    v.push((
        "stale after a failed refresh",
        Box::new(|| {
            let mut a = app(120, 8);
            a.update(Event::Fleet {
                generation: 2,
                result: Err("cannot reach http://prom:9090".into()),
                warnings: vec![],
            });
            a.update(Event::Tick(t(T0 + 95)));
            a
        }),
    ));
    v.push((
        "warning and read-only badge",
        Box::new(|| {
            let mut s = settings();
            s.read_only = true;
            let mut a = App::new(
                s,
                Default::default(),
                "test".into(),
                "default".into(),
                t(T0 + 2),
            );
            a.update(Event::Fleet {
                generation: 1,
                result: Ok(fleet(120, 8)),
                warnings: vec!["figure npu: no series".into()],
            });
            a
        }),
    ));
    v.push((
        "devices with tunnels",
        Box::new(|| {
            let mut a = app(120, 8);
            a.tunnels.interface = Some("wg-fleet".into());
            let now = a.now;
            a.update(Event::Tunnels {
                result: Ok(tunnels::reading(120, now)),
            });
            a.update(fixture::key('3'));
            for _ in 0..3 {
                a.update(fixture::key('>'));
            }
            a
        }),
    ));
    for (name, problem) in [
        (
            "unknown host key dialog",
            HostKeyProblem::Unknown {
                addr: "10.8.0.1:22".into(),
                fingerprint: "SHA256:Qx4rZ0bYq0R0y1o3g3w0Zb3gkq2XbH6c3Jc2m1s1V2A".into(),
            },
        ),
        (
            "changed host key dialog",
            HostKeyProblem::Changed {
                addr: "10.8.0.1:22".into(),
                old: "SHA256:old".into(),
                new: "SHA256:new".into(),
                known_hosts_line: "/home/a/.ssh/known_hosts:3".into(),
            },
        ),
    ] {
        v.push((
            name,
            Box::new(move || {
                let mut a = app(120, 8);
                a.update(fixture::key('3'));
                a.update(Event::HostKey {
                    device: "pi-00001".into(),
                    problem: problem.clone(),
                });
                a
            }),
        ));
    }
    v
}

/// A key for the static screen lists (`Event` is not `Clone`).
enum Event2 {
    K(char),
    Enter,
    Tab,
}

impl Event2 {
    fn event(&self) -> Event {
        match self {
            Event2::K(c) => fixture::key(*c),
            Event2::Enter => special(KeyCode::Enter),
            Event2::Tab => special(KeyCode::Tab),
        }
    }
}

#[test]
fn every_text_cell_of_every_view_has_contrast_4_5_in_every_theme() {
    // (theme, fg, bg) → (worst ratio, an example)
    let mut failures: BTreeMap<(String, String, String), (f64, String)> = BTreeMap::new();
    let mut judged = 0usize;
    for (file, depth) in theme_files()
        .into_iter()
        .flat_map(|f| DEPTHS.iter().map(move |d| (f.clone(), *d)))
    {
        let theme = Theme::load(&file.to_string_lossy(), None)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let theme = for_depth(theme, depth);
        for (name, make) in screens() {
            for (w, h) in [(80, 24), (160, 48)] {
                let mut app = make();
                let buf = render(&mut app, &theme, w, h);
                for y in 0..h {
                    for x in 0..w {
                        let cell = &buf[(x, y)];
                        if is_graphics(cell.symbol()) {
                            continue;
                        }
                        let mut fg = rgb(cell.fg, TERMINAL_FG);
                        let mut bg = rgb(cell.bg, TERMINAL_BG);
                        if cell.modifier.contains(Modifier::REVERSED) {
                            std::mem::swap(&mut fg, &mut bg);
                        }
                        if cell.modifier.contains(Modifier::DIM) {
                            let half = |a: u8, b: u8| ((u16::from(a) + u16::from(b)) / 2) as u8;
                            fg = (half(fg.0, bg.0), half(fg.1, bg.1), half(fg.2, bg.2));
                        }
                        judged += 1;
                        let r = ratio(fg, bg);
                        if r < MIN_RATIO {
                            let line: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
                            let key = (
                                format!("{} at {depth:?}", theme.name),
                                format!("{:?}", cell.fg),
                                format!("{:?}", cell.bg),
                            );
                            let e = failures.entry(key).or_insert((r, String::new()));
                            if e.1.is_empty() {
                                e.1 = format!(
                                    "{name} {w}x{h} row {y} col {x} '{}': {}",
                                    cell.symbol(),
                                    line.trim_end()
                                );
                            }
                            e.0 = e.0.min(r);
                        }
                    }
                }
            }
        }
    }
    assert!(judged > 200_000, "judged only {judged} cells");
    let report: Vec<String> = failures
        .iter()
        .map(|((theme, fg, bg), (r, example))| {
            format!("{theme}: fg {fg} on bg {bg}: {r:.2}:1 — e.g. {example}")
        })
        .collect();
    assert!(
        report.is_empty(),
        "{} colour pairs below {MIN_RATIO}:1:\n{}",
        report.len(),
        report.join("\n")
    );
}

/// `NO_COLOR`: no cell carries a colour, so every cell is the terminal's own
/// foreground on its own background, and the selected row is reversed.
#[test]
fn no_color_draws_only_the_terminals_own_pair() {
    for file in theme_files() {
        let theme = Theme::load(&file.to_string_lossy(), None)
            .expect("theme")
            .without_colors();
        for (name, make) in screens() {
            let mut app = make();
            let buf = render(&mut app, &theme, 160, 48);
            for cell in buf.content() {
                assert!(
                    cell.fg == Color::Reset && cell.bg == Color::Reset,
                    "{} {name}: a colour under NO_COLOR: {cell:?}",
                    file.display()
                );
            }
        }
        let mut app = app(120, 8);
        app.update(fixture::key('3'));
        let buf = render(&mut app, &theme, 160, 48);
        // the first table row (y: header line 0, border 1, table header 2)
        assert!(
            buf[(2, 3)].modifier.contains(Modifier::REVERSED),
            "{}: the selected row is reversed",
            file.display()
        );
    }
}

/// The oracle itself: the classic WCAG examples.
#[test]
fn the_wcag_formula_gives_the_known_ratios() {
    assert!((ratio((0, 0, 0), (255, 255, 255)) - 21.0).abs() < 1e-9);
    assert!((ratio((0x76, 0x76, 0x76), (255, 255, 255)) - 4.54).abs() < 0.01);
    // xterm's red on black, as the ansi16 theme is judged
    let red = ansi_rgb(Color::Red).expect("named colour");
    assert_eq!(red, (0xcd, 0, 0));
}
