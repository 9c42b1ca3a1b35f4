//! The terminal backend: crossterm's for everything but drawing cells, which
//! is done here so that colours are written the way the terminal understands
//! them (see [`super::color`]).
//!
//! crossterm writes every colour in the 256-colour form, the 16 ANSI colours
//! included (`38;5;1` for red), which a 16-colour terminal (the Linux console,
//! old SSH clients) does not know. Here the 16 ANSI colours are written with
//! the classic codes (`31`, `91`, `41`, `101`), 256-colour indexes as `38;5;n`
//! and RGB as `38;2;r;g;b`; each change of style is one complete SGR sequence
//! starting with a reset, so no attribute is left over from the cell before.

use super::color::ansi_index;
use ratatui::backend::{Backend as RatatuiBackend, ClearType, CrosstermBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use ratatui::style::{Color, Modifier};
use std::fmt::Write as _;
use std::io::{self, Write};

/// [`CrosstermBackend`] with fleetdeck's own cell drawing.
pub struct Backend<W: Write> {
    inner: CrosstermBackend<W>,
}

impl<W: Write> Backend<W> {
    pub fn new(writer: W) -> Backend<W> {
        Backend {
            inner: CrosstermBackend::new(writer),
        }
    }
}

/// The SGR parameters of a colour (`fg` selects 3x/9x/38 or 4x/10x/48).
fn color_params(out: &mut String, c: Color, fg: bool) {
    match c {
        Color::Reset => {}
        Color::Rgb(r, g, b) => {
            let _ = write!(out, ";{};2;{r};{g};{b}", if fg { 38 } else { 48 });
        }
        Color::Indexed(i) => {
            let _ = write!(out, ";{};5;{i}", if fg { 38 } else { 48 });
        }
        named => {
            if let Some(i) = ansi_index(named) {
                let base = match (fg, i < 8) {
                    (true, true) => 30,
                    (true, false) => 90 - 8,
                    (false, true) => 40,
                    (false, false) => 100 - 8,
                };
                let _ = write!(out, ";{}", base + u16::from(i));
            }
        }
    }
}

/// One SGR sequence that sets exactly this style (after a reset).
pub fn sgr(fg: Color, bg: Color, m: Modifier) -> String {
    let mut s = String::from("\x1b[0");
    for (flag, code) in [
        (Modifier::BOLD, "1"),
        (Modifier::DIM, "2"),
        (Modifier::ITALIC, "3"),
        (Modifier::UNDERLINED, "4"),
        (Modifier::SLOW_BLINK, "5"),
        (Modifier::RAPID_BLINK, "6"),
        (Modifier::REVERSED, "7"),
        (Modifier::HIDDEN, "8"),
        (Modifier::CROSSED_OUT, "9"),
    ] {
        if m.contains(flag) {
            s.push(';');
            s.push_str(code);
        }
    }
    color_params(&mut s, fg, true);
    color_params(&mut s, bg, false);
    s.push('m');
    s
}

impl<W: Write> RatatuiBackend for Backend<W> {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        let mut style: Option<(Color, Color, Modifier)> = None;
        let mut last: Option<Position> = None;
        let mut out = String::with_capacity(4096);
        for (x, y, cell) in content {
            if !matches!(last, Some(p) if x == p.x + 1 && y == p.y) {
                let _ = write!(out, "\x1b[{};{}H", u32::from(y) + 1, u32::from(x) + 1);
            }
            last = Some(Position { x, y });
            let now = (cell.fg, cell.bg, cell.modifier);
            if style != Some(now) {
                out.push_str(&sgr(now.0, now.1, now.2));
                style = Some(now);
            }
            out.push_str(cell.symbol());
            if out.len() > 32 * 1024 {
                self.inner.write_all(out.as_bytes())?;
                out.clear();
            }
        }
        out.push_str("\x1b[0m");
        self.inner.write_all(out.as_bytes())
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        self.inner.hide_cursor()
    }

    /// Never fails: ratatui's `Terminal` shows the cursor when it is dropped
    /// and reports a failure with `eprintln!`, which panics when the terminal
    /// is gone (EIO on stderr): the exit code 101 of a lost SSH session.
    /// [`super::restore`] shows the cursor again anyway.
    fn show_cursor(&mut self) -> io::Result<()> {
        let _ = self.inner.show_cursor();
        Ok(())
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        self.inner.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.inner.set_cursor_position(position)
    }

    fn clear(&mut self) -> io::Result<()> {
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner.clear_region(clear_type)
    }

    fn append_lines(&mut self, n: u16) -> io::Result<()> {
        self.inner.append_lines(n)
    }

    fn size(&self) -> io::Result<Size> {
        self.inner.size()
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.inner.window_size()
    }

    fn flush(&mut self) -> io::Result<()> {
        RatatuiBackend::flush(&mut self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test can read after the backend wrote to it.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn drawn(cells: &[(Color, Color, Modifier)]) -> String {
        let shared = Shared::default();
        let mut b = Backend::new(shared.clone());
        let cells: Vec<Cell> = cells
            .iter()
            .map(|&(fg, bg, m)| {
                let mut c = Cell::new("x");
                c.set_fg(fg).set_bg(bg);
                c.modifier = m;
                c
            })
            .collect();
        b.draw(cells.iter().enumerate().map(|(i, c)| (i as u16, 0, c)))
            .expect("draw into a Vec");
        let bytes = shared.0.lock().expect("lock").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    /// Issue 9, case 9: `ansi16` sent `38;5;n`, which 16-colour terminals do
    /// not know. The 16 ANSI colours are written with their classic codes.
    #[test]
    fn the_16_ansi_colours_use_the_classic_codes() {
        let s = drawn(&[
            (Color::Red, Color::Reset, Modifier::empty()),
            (Color::LightRed, Color::Black, Modifier::BOLD),
            (Color::Gray, Color::White, Modifier::empty()),
            (Color::Black, Color::Cyan, Modifier::REVERSED),
        ]);
        assert!(!s.contains(";5;"), "no 256-colour form: {s:?}");
        assert!(!s.contains(";2;"), "no RGB form: {s:?}");
        assert!(s.contains("\x1b[0;31mx"), "{s:?}");
        assert!(s.contains("\x1b[0;1;91;40mx"), "{s:?}");
        assert!(s.contains("\x1b[0;37;107mx"), "{s:?}");
        assert!(s.contains("\x1b[0;7;30;46mx"), "{s:?}");
        assert!(s.ends_with("\x1b[0m"));
    }

    #[test]
    fn indexes_and_rgb_keep_their_forms() {
        let s = drawn(&[
            (Color::Indexed(208), Color::Indexed(234), Modifier::empty()),
            (Color::Rgb(1, 2, 3), Color::Rgb(4, 5, 6), Modifier::ITALIC),
        ]);
        assert!(s.contains("\x1b[0;38;5;208;48;5;234mx"), "{s:?}");
        assert!(s.contains("\x1b[0;3;38;2;1;2;3;48;2;4;5;6mx"), "{s:?}");
    }

    #[test]
    fn one_sequence_per_change_and_moves_only_when_needed() {
        let s = drawn(&[
            (Color::Red, Color::Reset, Modifier::empty()),
            (Color::Red, Color::Reset, Modifier::empty()),
        ]);
        assert_eq!(s, "\x1b[1;1H\x1b[0;31mxx\x1b[0m");
    }
}
