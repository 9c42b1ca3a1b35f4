//! Colours as the terminal can draw them.
//!
//! Themes are written in 24-bit colour (`#7aa2f7`), 256-colour indexes or the
//! 16 ANSI names. Before a theme reaches the screen its colours are brought
//! down to what the terminal says it supports ([`ColorDepth::detect`]):
//!
//! - `COLORTERM=truecolor` or `24bit` (or a `*-direct` TERM): RGB as written;
//! - otherwise 256 colours: RGB becomes the nearest colour of the xterm-256
//!   cube or grey ramp (never 0–15, whose shades the user's palette decides);
//! - `TERM=linux`, `vt100`, `*-16color`, `*-8color`, `dumb` or no TERM: the
//!   16 ANSI colours only, each RGB or index mapped to the nearest of them.
//!
//! [`Backend`](super::backend::Backend) then writes the 16 ANSI colours with the classic
//! SGR codes (`31`, `91`, `41`…), which every terminal knows, instead of the
//! `38;5;n` form crossterm uses for them.
//!
//! Contrast is judged with the WCAG 2 relative luminance; the 16 ANSI colours
//! count as xterm's default RGB values ([`ansi_rgb`]).

use crate::tui::theme::{Role, Theme};
use ratatui::style::{Color, Style};

/// What the terminal can draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColorDepth {
    /// The 16 ANSI colours.
    Ansi16,
    /// The xterm 256-colour palette.
    Ansi256,
    /// 24-bit RGB.
    TrueColor,
}

impl ColorDepth {
    /// From the environment (`COLORTERM`, `TERM`).
    pub fn detect() -> ColorDepth {
        let colorterm = std::env::var("COLORTERM").ok();
        let term = std::env::var("TERM").ok();
        ColorDepth::from_env(colorterm.as_deref(), term.as_deref())
    }

    /// The rule of [`detect`](Self::detect), for given values.
    pub fn from_env(colorterm: Option<&str>, term: Option<&str>) -> ColorDepth {
        let colorterm = colorterm.unwrap_or("").trim().to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" {
            return ColorDepth::TrueColor;
        }
        let term = term.unwrap_or("").trim().to_ascii_lowercase();
        if term.ends_with("-direct") || term.contains("-direct-") {
            return ColorDepth::TrueColor;
        }
        let sixteen = term.is_empty()
            || matches!(
                term.as_str(),
                "dumb" | "linux" | "vt100" | "vt102" | "vt220" | "ansi" | "cons25" | "xterm-color"
            )
            || term.ends_with("-16color")
            || term.ends_with("-8color")
            || term.ends_with("-mono");
        if sixteen {
            ColorDepth::Ansi16
        } else {
            ColorDepth::Ansi256
        }
    }
}

/// The 16 ANSI colours in ratatui's names, in SGR order (30–37, then 90–97).
pub const ANSI16: [Color; 16] = [
    Color::Black,
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::Gray,
    Color::DarkGray,
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
    Color::White,
];

/// xterm's default RGB values of the 16 ANSI colours (same order as [`ANSI16`]).
const XTERM16: [(u8, u8, u8); 16] = [
    (0x00, 0x00, 0x00),
    (0xcd, 0x00, 0x00),
    (0x00, 0xcd, 0x00),
    (0xcd, 0xcd, 0x00),
    (0x00, 0x00, 0xee),
    (0xcd, 0x00, 0xcd),
    (0x00, 0xcd, 0xcd),
    (0xe5, 0xe5, 0xe5),
    (0x7f, 0x7f, 0x7f),
    (0xff, 0x00, 0x00),
    (0x00, 0xff, 0x00),
    (0xff, 0xff, 0x00),
    (0x5c, 0x5c, 0xff),
    (0xff, 0x00, 0xff),
    (0x00, 0xff, 0xff),
    (0xff, 0xff, 0xff),
];

/// The index 0–15 of a named ANSI colour.
pub fn ansi_index(c: Color) -> Option<u8> {
    ANSI16.iter().position(|a| *a == c).map(|i| i as u8)
}

/// The RGB a colour is judged by: as written, or xterm's default for the 16
/// ANSI colours and the 256-colour palette. `None` for `Reset` (the
/// terminal's own colour).
pub fn ansi_rgb(c: Color) -> Option<(u8, u8, u8)> {
    match c {
        Color::Reset => None,
        Color::Rgb(r, g, b) => Some((r, g, b)),
        Color::Indexed(i) => Some(indexed_rgb(i)),
        named => ansi_index(named).map(|i| XTERM16[usize::from(i)]),
    }
}

const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// xterm's RGB of a 256-colour index.
pub fn indexed_rgb(i: u8) -> (u8, u8, u8) {
    match i {
        0..=15 => XTERM16[usize::from(i)],
        16..=231 => {
            let n = i - 16;
            (
                CUBE[usize::from(n / 36)],
                CUBE[usize::from(n / 6 % 6)],
                CUBE[usize::from(n % 6)],
            )
        }
        _ => {
            let v = 8 + 10 * (i - 232);
            (v, v, v)
        }
    }
}

fn distance((r1, g1, b1): (u8, u8, u8), (r2, g2, b2): (u8, u8, u8)) -> u32 {
    // "redmean"-free weights: close enough to perceived distance for picking.
    let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).unsigned_abs();
    2 * d(r1, r2).pow(2) + 4 * d(g1, g2).pow(2) + 3 * d(b1, b2).pow(2)
}

/// The nearest colour of the xterm-256 cube or grey ramp (16–255).
pub fn nearest_256(rgb: (u8, u8, u8)) -> u8 {
    let level = |v: u8| {
        (0..6)
            .min_by_key(|&k| (i32::from(CUBE[k]) - i32::from(v)).unsigned_abs())
            .unwrap_or(0)
    };
    let (r, g, b) = (level(rgb.0), level(rgb.1), level(rgb.2));
    let cube = (16 + 36 * r + 6 * g + b) as u8;
    let avg = (u32::from(rgb.0) + u32::from(rgb.1) + u32::from(rgb.2)) / 3;
    let grey = 232 + ((avg.saturating_sub(3)) / 10).min(23) as u8;
    if distance(indexed_rgb(grey), rgb) < distance(indexed_rgb(cube), rgb) {
        grey
    } else {
        cube
    }
}

/// The closest of the 16 ANSI colours: greys (low saturation) by lightness,
/// colours by hue (the nearest RGB alone turns a pink into grey), the bright
/// variant when light.
pub fn nearest_16((r, g, b): (u8, u8, u8)) -> Color {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let chroma = max - min;
    // HSL lightness and HSV saturation, 0–1 (a pale lavender is a grey).
    let l = (f64::from(max) + f64::from(min)) / 510.0;
    let sat = f64::from(chroma) / f64::from(max.max(1));
    if chroma < 32 || sat < 0.3 {
        return match l {
            l if l < 0.25 => Color::Black,
            l if l < 0.6 => Color::DarkGray,
            l if l < 0.87 => Color::Gray,
            _ => Color::White,
        };
    }
    let (rf, gf, bf, c) = (f64::from(r), f64::from(g), f64::from(b), f64::from(chroma));
    let h = if max == r {
        ((gf - bf) / c).rem_euclid(6.0)
    } else if max == g {
        (bf - rf) / c + 2.0
    } else {
        (rf - gf) / c + 4.0
    } * 60.0;
    // Hue ranges as people name the colours (a yellow-green is green).
    let hue: usize = match h {
        h if h < 20.0 => 1,  // red
        h if h < 70.0 => 3,  // yellow (orange too)
        h if h < 165.0 => 2, // green
        h if h < 210.0 => 6, // cyan
        h if h < 260.0 => 4, // blue
        h if h < 330.0 => 5, // magenta
        _ => 1,              // red
    };
    let index = hue + if l > 0.6 || max >= 0xf0 { 8 } else { 0 };
    ANSI16[index]
}

/// `c` as a terminal of `depth` can draw it.
pub fn downgrade(c: Color, depth: ColorDepth) -> Color {
    match (depth, c) {
        (ColorDepth::TrueColor, c) => c,
        (ColorDepth::Ansi256, Color::Rgb(r, g, b)) => Color::Indexed(nearest_256((r, g, b))),
        (ColorDepth::Ansi256, c) => c,
        (ColorDepth::Ansi16, Color::Indexed(i)) if i < 16 => ANSI16[usize::from(i)],
        (ColorDepth::Ansi16, c @ (Color::Rgb(..) | Color::Indexed(_))) => {
            ansi_rgb(c).map_or(Color::Reset, nearest_16)
        }
        (ColorDepth::Ansi16, c) => c,
    }
}

fn downgrade_style(s: Style, depth: ColorDepth) -> Style {
    Style {
        fg: s.fg.map(|c| downgrade(c, depth)),
        bg: s.bg.map(|c| downgrade(c, depth)),
        ..s
    }
}

/// Every role of `theme` with its colours brought down to `depth`.
pub fn for_depth(mut theme: Theme, depth: ColorDepth) -> Theme {
    if depth == ColorDepth::TrueColor {
        return theme;
    }
    for role in Role::ALL {
        let s = downgrade_style(theme.style(*role), depth);
        theme.set_style(*role, s);
    }
    theme
}

/// The theme as the console draws it: `NO_COLOR` drops every colour, else the
/// colours are brought down to the terminal's depth.
pub fn prepare(theme: Theme, no_color: bool, depth: ColorDepth) -> Theme {
    if no_color {
        theme.without_colors()
    } else {
        for_depth(theme, depth)
    }
}

/// WCAG 2 relative luminance of an sRGB colour.
pub fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let lin = |v: u8| {
        let c = f64::from(v) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

/// WCAG 2 contrast ratio (1–21) of two colours.
pub fn contrast(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_follows_colorterm_then_term() {
        use ColorDepth::*;
        let d = ColorDepth::from_env;
        assert_eq!(d(Some("truecolor"), Some("xterm")), TrueColor);
        assert_eq!(d(Some("24bit"), Some("screen")), TrueColor);
        // The case of the issue: TERM=xterm without COLORTERM is not truecolor.
        assert_eq!(d(None, Some("xterm")), Ansi256);
        assert_eq!(d(None, Some("xterm-256color")), Ansi256);
        assert_eq!(d(None, Some("tmux-256color")), Ansi256);
        assert_eq!(d(Some(""), Some("screen")), Ansi256);
        assert_eq!(d(None, Some("xterm-direct")), TrueColor);
        assert_eq!(d(None, Some("linux")), Ansi16);
        assert_eq!(d(None, Some("xterm-16color")), Ansi16);
        assert_eq!(d(None, Some("vt100")), Ansi16);
        assert_eq!(d(None, None), Ansi16);
    }

    #[test]
    fn rgb_becomes_the_nearest_xterm_256_colour() {
        assert_eq!(nearest_256((0, 0, 0)), 16);
        assert_eq!(nearest_256((255, 255, 255)), 231);
        assert_eq!(nearest_256((0xff, 0x87, 0x00)), 208);
        assert_eq!(nearest_256((0x1a, 0x1b, 0x26)), 234, "near-black grey");
        assert_eq!(nearest_256((0x80, 0x80, 0x80)), 244);
        // Never one of the 16 palette colours the user may have changed.
        for rgb in [(0x7a, 0xa2, 0xf7), (0xf7, 0x76, 0x8e), (0x9e, 0xce, 0x6a)] {
            assert!(nearest_256(rgb) >= 16);
        }
    }

    #[test]
    fn each_depth_keeps_only_what_it_can_draw() {
        let rgb = Color::Rgb(0xf7, 0x76, 0x8e);
        assert_eq!(downgrade(rgb, ColorDepth::TrueColor), rgb);
        assert!(matches!(
            downgrade(rgb, ColorDepth::Ansi256),
            Color::Indexed(i) if i >= 16
        ));
        let c16 = downgrade(rgb, ColorDepth::Ansi16);
        assert!(ansi_index(c16).is_some(), "{c16:?}");
        assert_eq!(c16, Color::LightRed);
        assert_eq!(
            downgrade(Color::Indexed(9), ColorDepth::Ansi16),
            Color::LightRed
        );
        assert_eq!(
            downgrade(Color::Indexed(21), ColorDepth::Ansi16),
            Color::LightBlue
        );
        assert_eq!(
            nearest_16((0x73, 0x7a, 0xa2)),
            Color::DarkGray,
            "a muted grey-blue"
        );
        assert_eq!(nearest_16((0x1a, 0x1b, 0x26)), Color::Black);
        assert_eq!(nearest_16((0xc0, 0xca, 0xf5)), Color::Gray);
        assert_eq!(nearest_16((0x9e, 0xce, 0x6a)), Color::LightGreen);
        assert_eq!(nearest_16((0x7d, 0xcf, 0xff)), Color::LightCyan);
        assert_eq!(nearest_16((0x1a, 0x7f, 0x37)), Color::Green);
        assert_eq!(nearest_16((0xe0, 0xaf, 0x68)), Color::LightYellow);
        assert_eq!(nearest_16((0xcd, 0x00, 0x00)), Color::Red);
        assert_eq!(downgrade(Color::Red, ColorDepth::Ansi16), Color::Red);
        assert_eq!(downgrade(Color::Reset, ColorDepth::Ansi16), Color::Reset);
        assert_eq!(downgrade(Color::Red, ColorDepth::Ansi256), Color::Red);
    }

    #[test]
    fn themes_brought_down_keep_no_colour_above_their_depth() {
        for name in crate::tui::theme::builtin_names() {
            let theme = Theme::load(name, None).expect("built-in theme");
            let t16 = for_depth(theme.clone(), ColorDepth::Ansi16);
            let t256 = for_depth(theme.clone(), ColorDepth::Ansi256);
            for role in Role::ALL {
                for c in [t16.style(*role).fg, t16.style(*role).bg]
                    .into_iter()
                    .flatten()
                {
                    assert!(
                        c == Color::Reset || ansi_index(c).is_some(),
                        "{name} {role:?} {c:?} at 16 colours"
                    );
                }
                for c in [t256.style(*role).fg, t256.style(*role).bg]
                    .into_iter()
                    .flatten()
                {
                    assert!(
                        !matches!(c, Color::Rgb(..)),
                        "{name} {role:?} {c:?} at 256 colours"
                    );
                }
            }
        }
    }

    #[test]
    fn wcag_contrast() {
        assert!((contrast((0, 0, 0), (255, 255, 255)) - 21.0).abs() < 1e-9);
        assert!((contrast((10, 20, 30), (10, 20, 30)) - 1.0).abs() < 1e-9);
        // #767676 on white is the classic 4.54:1.
        let c = contrast((0x76, 0x76, 0x76), (255, 255, 255));
        assert!((c - 4.54).abs() < 0.01, "{c}");
    }
}
