//! Drawing. Every function here reads the [`App`] and never changes it.
//!
//! Layout of every screen: a header line (breadcrumbs, source, data age,
//! badges), the body of the current view, a status line (last error, flash,
//! warnings) and a bottom line (command or filter input, or key hints).

mod device;
mod history;
mod inspector;
mod remote;
mod rollouts;
mod tables;

use crate::app::keymap::Action;
use crate::app::{App, DataState, Level, Mode, ViewKind};
use crate::format;
use crate::text::sanitize;
use crate::tui::theme::{Role, Theme};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Wrap};

pub use tables::table_rows_for;

/// The smallest terminal the current view is usable in (columns, rows):
/// header, status and key lines, the view's fixed panels and a table with at
/// least one row. Below it the console says so instead of drawing empty panes.
pub fn min_size(app: &App) -> (u16, u16) {
    // header + status + bottom lines, a pane's borders and a table header + 1 row.
    const CHROME: u16 = 3;
    const TABLE: u16 = 4;
    let height = match app.screen().kind {
        ViewKind::Sites | ViewKind::Groups => CHROME + tables::SUMMARY_HEIGHT + TABLE,
        ViewKind::Rollout(_) => CHROME + rollouts::DETAIL_HEADER + TABLE + rollouts::GATE_PANEL,
        ViewKind::Device(_) => CHROME + 10,
        ViewKind::Devices(_) | ViewKind::Rollouts | ViewKind::Inspect(_) => CHROME + TABLE + 2,
        ViewKind::History(_) => CHROME + TABLE + history::DETAIL_PANEL,
    };
    (MIN_WIDTH, height)
}

/// Narrower than this, the tables lose the columns that say what a row is.
pub const MIN_WIDTH: u16 = 60;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    frame.render_widget(Block::new().style(theme.style(Role::Background)), area);
    let (need_w, need_h) = min_size(app);
    if area.width < need_w || area.height < need_h {
        let text = format!(
            "terminal too small (need {need_w}×{need_h}; now {}×{})",
            area.width, area.height
        );
        frame.render_widget(
            Paragraph::new(text)
                .style(theme.style(Role::Warning))
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let [header, body, status, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, header, app, theme);
    match &app.screen().kind {
        ViewKind::Sites | ViewKind::Groups => tables::draw_rollups(frame, body, app, theme),
        ViewKind::Devices(_) => tables::draw_devices(frame, body, app, theme),
        ViewKind::Device(id) => device::draw(frame, body, app, theme, id),
        ViewKind::Rollouts => rollouts::draw_list(frame, body, app, theme),
        ViewKind::Rollout(name) => rollouts::draw_detail(frame, body, app, theme, name),
        ViewKind::Inspect(target) => inspector::draw(frame, body, app, theme, target),
        ViewKind::History(name) => history::draw(frame, body, app, theme, name),
    }
    draw_status(frame, status, app, theme);
    draw_bottom(frame, bottom, app, theme);
    if let Mode::Help { scroll } = app.mode {
        draw_help(frame, body, app, theme, scroll);
    }
    if let Mode::Confirm(c) = &app.mode {
        rollouts::draw_confirm(frame, body, c, theme);
    }
    if let Mode::Ask(a) = &app.mode {
        remote::draw_ask(frame, body, a, theme);
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut left = vec![Span::styled(" fleetdeck ", theme.style(Role::Title))];
    for (i, s) in app.stack.iter().enumerate() {
        if i > 0 {
            left.push(Span::styled(" › ", theme.style(Role::Muted)));
        }
        let style = if i + 1 == app.stack.len() {
            theme.style(Role::Breadcrumb).add_modifier(Modifier::BOLD)
        } else {
            theme.style(Role::Breadcrumb)
        };
        left.push(Span::styled(sanitize(&s.title()).into_owned(), style));
    }

    let mut right: Vec<Span> = Vec::new();
    if app.settings.read_only {
        right.push(Span::styled(
            " READ-ONLY ",
            theme.style(Role::Warning).add_modifier(Modifier::REVERSED),
        ));
        right.push(Span::raw(" "));
    }
    match (&app.data, app.data_age()) {
        (DataState::Loading, _) => right.push(Span::styled("loading…", theme.style(Role::Muted))),
        (_, Some(age)) if app.is_stale() => right.push(Span::styled(
            format!(" STALE {} ", format::age(age)),
            theme
                .style(Role::HealthStale)
                .add_modifier(Modifier::REVERSED),
        )),
        (_, Some(age)) => right.push(Span::styled(
            format!("data {} old", format::age(age)),
            theme.style(Role::Muted),
        )),
        (_, None) => right.push(Span::styled(
            " NO DATA ",
            theme.style(Role::Error).add_modifier(Modifier::REVERSED),
        )),
    }
    right.push(Span::styled(
        format!("  {} ", sanitize(&app.source)),
        theme.style(Role::Muted),
    ));
    let right_width: u16 = right.iter().map(|s| s.width() as u16).sum();
    let [l, r] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(right_width.min(area.width / 2 + 10)),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(Line::from(left)), l);
    frame.render_widget(Paragraph::new(Line::from(right)).right_aligned(), r);
}

fn draw_status(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let line = if let Mode::Ask(a) = &app.mode {
        remote::ask_status_line(a, theme)
    } else if let DataState::Failed { error, since } = &app.data {
        let for_ = app.now.duration_since(*since).unwrap_or_default();
        Line::from(vec![
            Span::styled(
                " ✖ refresh failed ",
                theme.style(Role::StatusError).add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                format!(
                    "({} ago, showing last good data): {}",
                    format::age(for_),
                    sanitize(error)
                ),
                theme.style(Role::StatusError),
            ),
        ])
    } else if let Some(f) = &app.flash {
        let style = match f.level {
            Level::Info => theme.style(Role::StatusBar),
            Level::Error => theme.style(Role::StatusError),
        };
        Line::styled(format!(" {}", sanitize(&f.text)), style)
    } else if let Some(w) = app.warnings.first() {
        let more = if app.warnings.len() > 1 {
            format!(" (+{} more)", app.warnings.len() - 1)
        } else {
            String::new()
        };
        // The status bar has its own background: the text takes its own
        // foreground, which the theme pairs with it (colours made for the
        // normal background are not readable there).
        Line::styled(
            format!(" ▲ {}{more}", sanitize(w)),
            theme.style(Role::StatusBar).add_modifier(Modifier::BOLD),
        )
    } else {
        let t = &app.fleet.total;
        let bar = theme.style(Role::StatusBar);
        let count = |n: usize| {
            if n > 0 {
                bar.add_modifier(Modifier::BOLD)
            } else {
                bar
            }
        };
        Line::from(vec![
            Span::styled(format!(" {} devices  ", t.devices), bar),
            Span::styled(format!("● {} up  ", t.up), bar),
            Span::styled(format!("▲ {} degraded  ", t.degraded), count(t.degraded)),
            Span::styled(format!("✖ {} down  ", t.down), count(t.down)),
            Span::styled(format!("◌ {} stale", t.stale), count(t.stale)),
        ])
    };
    frame.render_widget(
        Paragraph::new(line).style(theme.style(Role::StatusBar)),
        area,
    );
}

fn draw_bottom(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let line = match &app.mode {
        Mode::Command(buf) => Line::from(vec![
            Span::styled(
                ":",
                theme.style(Role::CommandLine).add_modifier(Modifier::BOLD),
            ),
            Span::styled(sanitize(buf).into_owned(), theme.style(Role::CommandLine)),
            Span::styled("█", theme.style(Role::CommandLine)),
        ]),
        Mode::Help { .. } => {
            Line::styled(" esc/ctrl-c close · j/k scroll", theme.style(Role::Muted))
        }
        Mode::Ask(a) => remote::ask_hints(a, theme),
        Mode::Confirm(_) => Line::styled(
            " type a reason · tab force · enter commit · esc/ctrl-c cancel",
            theme.style(Role::KeyHint),
        ),
        Mode::Filter(buf) => Line::from(vec![
            Span::styled("/", theme.style(Role::Filter).add_modifier(Modifier::BOLD)),
            Span::styled(sanitize(buf).into_owned(), theme.style(Role::Filter)),
            Span::styled("█", theme.style(Role::Filter)),
            Span::styled(
                format!(
                    "   {} rows · enter keep · esc clear",
                    app.screen().rows.len()
                ),
                theme.style(Role::Muted),
            ),
        ]),
        _ => {
            let km = &app.keymap;
            let mut hints: Vec<(String, &str)> = vec![
                (km.keys_text(Action::Help), "help"),
                (km.keys_text(Action::Command), "command"),
            ];
            if app.screen().columns() > 0 {
                hints.push((km.keys_text(Action::Filter), "filter"));
                hints.push((km.keys_text(Action::Open), "open"));
                hints.push((km.keys_text(Action::SortNext), "sort"));
            }
            if app.stack.len() > 1 {
                hints.push((km.keys_text(Action::Back), "back"));
            }
            hints.push((km.keys_text(Action::Quit), "quit"));
            let mut spans = Vec::new();
            let f = &app.screen().filter;
            if !f.is_empty() {
                spans.push(Span::styled(
                    format!(" /{} ", sanitize(&f.text)),
                    theme.style(Role::Filter),
                ));
            }
            for (k, what) in hints {
                spans.push(Span::styled(format!(" <{k}>"), theme.style(Role::KeyHint)));
                spans.push(Span::styled(format!(" {what}"), theme.style(Role::Muted)));
            }
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_help(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, scroll: usize) {
    let rows_data = app.keymap.help_rows();
    let total = rows_data.len();
    let fits = area.height.saturating_sub(3) as usize;
    let scroll = scroll.min(total.saturating_sub(fits));
    let more = if total > fits {
        format!(
            " {}–{} of {total} · j/k scroll ",
            scroll + 1,
            (scroll + fits).min(total)
        )
    } else {
        String::new()
    };
    let width = area.width.min(90);
    let height = area.height.min(rows_data.len() as u16 + 4);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let rows = rows_data
        .into_iter()
        .skip(scroll)
        .map(|(section, keys, help)| {
            Row::new(vec![
                Span::styled(section, theme.style(Role::Muted)),
                Span::styled(keys, theme.style(Role::KeyHint)),
                Span::styled(help, theme.style(Role::Text)),
            ])
        });
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Length(18),
            Constraint::Min(10),
        ],
    )
    .header(Row::new(vec!["", "keys", "action"]).style(theme.style(Role::Header)))
    .block(
        Block::new()
            .borders(Borders::ALL)
            .title(" help — esc to close · keys remappable in [keys] ")
            .title_bottom(Line::from(more).right_aligned())
            .border_style(theme.style(Role::DialogBorder))
            .style(theme.style(Role::Dialog)),
    );
    frame.render_widget(table, popup);
}

/// A bordered block titled with the view's title and the data state.
fn pane<'a>(title: String, app: &App, theme: &Theme) -> Block<'a> {
    let mut spans = vec![Span::styled(
        format!(" {} ", sanitize(&title)),
        theme.style(Role::Title),
    )];
    if app.is_stale()
        && let Some(age) = app.data_age()
    {
        spans.push(Span::styled(
            format!("[stale {}] ", format::age(age)),
            theme.style(Role::HealthStale),
        ));
    }
    Block::new()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Border))
        .title(Line::from(spans))
}

/// A paragraph in a pane for empty states ("no devices match", "loading").
fn empty_state(frame: &mut Frame, area: Rect, block: Block, text: String, theme: &Theme) {
    frame.render_widget(
        Paragraph::new(text)
            .style(theme.style(Role::Muted))
            .wrap(Wrap { trim: true })
            .block(block),
        area,
    );
}

/// Draws the selected row of a table drawn in `inner` (inside its borders,
/// one header line, one line per row) wholly in the `selected` role: the
/// colours of its cells (health, counts, verdicts) would not be readable on
/// the highlight bar. The symbols and words (✖ down, ▲ degraded) still say
/// what the colours said.
fn paint_selected(frame: &mut Frame, inner: Rect, selected: usize, offset: usize, theme: &Theme) {
    let Some(n) = selected.checked_sub(offset) else {
        return;
    };
    let y = u32::from(inner.y) + 1 + n as u32;
    if y >= u32::from(inner.y) + u32::from(inner.height) {
        return;
    }
    let row = Rect {
        x: inner.x,
        y: y as u16,
        width: inner.width,
        height: 1,
    };
    let area = frame.area().intersection(row);
    frame
        .buffer_mut()
        .set_style(area, theme.style(Role::Selected));
}

fn health_style(theme: &Theme, h: crate::fleet::Health) -> Style {
    use crate::fleet::Health;
    theme.style(match h {
        Health::Up => Role::HealthUp,
        Health::Degraded => Role::HealthDegraded,
        Health::Down => Role::HealthDown,
        Health::Stale => Role::HealthStale,
    })
}
