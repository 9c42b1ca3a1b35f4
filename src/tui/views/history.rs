//! `H`: the commits that changed a rollout's plan, newest first — a table
//! (time, action, wave, who, commit) and the selected commit in full below
//! (author, status, reason, what a forced promote overrode). Commit messages
//! and identities are outside text: every field is sanitised here.

use super::{empty_state, pane};
use crate::app::App;
use crate::format;
use crate::rollout::history::HistoryEntry;
use crate::text::sanitize;
use crate::tui::theme::{Role, Theme};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

/// Rows of the selected commit's panel, borders included (for the viewport).
pub const DETAIL_PANEL: u16 = 7;

/// "2026-12-03 17:00" (UTC, to the minute: the panel has the second).
fn short_time(e: &HistoryEntry) -> String {
    format::utc(e.time)
        .replace('T', " ")
        .chars()
        .take(16)
        .collect()
}

fn action_cell<'a>(e: &HistoryEntry, theme: &Theme) -> Cell<'a> {
    let role = match e.action.as_str() {
        _ if e.forced => Role::Warning,
        "abort" => Role::Error,
        "halt" => Role::Warning,
        "edit" => Role::Muted,
        _ => Role::Text,
    };
    let text = if e.forced {
        format!("{} FORCED", e.action)
    } else {
        e.action.clone()
    };
    let style = theme.style(role);
    Cell::from(text).style(if e.forced {
        style.add_modifier(Modifier::BOLD)
    } else {
        style
    })
}

/// What the row says after the action: the wave reached, or an edit's subject.
fn what(e: &HistoryEntry) -> String {
    if !e.is_action() {
        return sanitize(&e.subject).into_owned();
    }
    match &e.wave {
        Some(w) => sanitize(w.rsplit(" → ").next().unwrap_or(w)).into_owned(),
        None => String::new(),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, name: &str) {
    let screen = app.screen();
    let history = app.rollouts.history.as_ref().filter(|h| h.rollout == name);
    let count = history.map_or(0, |h| h.len());
    let title = match history.and_then(|h| h.result.as_ref()) {
        Some(Ok(_)) if count > 0 => format!(
            "history of {name} ({}/{count}, newest first)",
            screen.selected + 1
        ),
        _ => format!("history of {name}"),
    };
    let block = pane(title, app, theme);
    let text = match history.and_then(|h| h.result.as_ref()) {
        None => Some(format!(
            "reading the history of {} from git…",
            sanitize(name)
        )),
        Some(Err(e)) => Some(format!("cannot read the history: {}", sanitize(e))),
        Some(Ok(v)) if v.is_empty() => Some("no commit changed this plan".into()),
        Some(Ok(_)) => None,
    };
    if let Some(text) = text {
        return empty_state(frame, area, block, text, theme);
    }
    let entries = history.map_or(&[][..], |h| h.entries());
    let [list, detail] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(DETAIL_PANEL)]).areas(area);
    let inner = block.inner(list);
    frame.render_widget(block, list);
    let header = Row::new(vec![
        "time (UTC)",
        "action",
        "wave / subject",
        "by",
        "commit",
    ])
    .style(theme.style(Role::Header));
    let visible = usize::from(inner.height.saturating_sub(1));
    let rows = screen
        .rows
        .iter()
        .enumerate()
        .skip(screen.offset)
        .take(visible)
        .filter_map(|(i, &idx)| {
            let e = entries.get(idx)?;
            let by = e.by.as_deref().unwrap_or(&e.author);
            let row = Row::new(vec![
                Cell::from(short_time(e)),
                action_cell(e, theme),
                Cell::from(what(e)),
                Cell::from(sanitize(by).into_owned()),
                Cell::from(sanitize(&e.short_id()).into_owned()).style(theme.style(Role::Muted)),
            ]);
            Some(if i == screen.selected {
                row.style(theme.style(Role::Selected))
            } else {
                row.style(theme.style(Role::Text))
            })
        });
    let widths = [
        Constraint::Length(16),
        Constraint::Length(14),
        Constraint::Min(12),
        Constraint::Min(10),
        Constraint::Length(10),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), inner);
    super::paint_selected(frame, inner, screen.selected, screen.offset, theme);
    if count > visible {
        let more = screen.rows.len().saturating_sub(screen.offset + visible);
        if more > 0 {
            let hint = Rect {
                x: list.x + 2,
                y: list.y + list.height.saturating_sub(1),
                width: list.width.saturating_sub(4).min(24),
                height: 1,
            };
            frame.render_widget(
                Paragraph::new(format!(" ↓ {more} more ")).style(theme.style(Role::Muted)),
                hint,
            );
        }
    }
    let selected = screen
        .rows
        .get(screen.selected)
        .and_then(|&i| entries.get(i));
    if let Some(e) = selected {
        draw_detail(frame, detail, app, theme, e);
    }
}

fn draw_detail(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, e: &HistoryEntry) {
    let label = |s: &'static str| Span::styled(s, theme.style(Role::Muted));
    let text = |s: &str| Span::styled(sanitize(s).into_owned(), theme.style(Role::Text));
    let mut lines = vec![Line::from(vec![
        label("commit "),
        text(&e.id),
        label("  "),
        text(&format::utc(e.time)),
    ])];
    let mut who = vec![label("author "), text(&e.author)];
    if let Some(by) = &e.by {
        who.extend([label("  by "), text(by)]);
    }
    lines.push(Line::from(who));
    if e.is_action() {
        let mut l = vec![label("wave "), text(e.wave.as_deref().unwrap_or("?"))];
        if let Some(s) = &e.status {
            l.extend([label("  status "), text(s)]);
        }
        lines.push(Line::from(l));
        lines.push(Line::from(vec![
            label("reason "),
            text(e.reason.as_deref().unwrap_or("(none given)")),
        ]));
    } else {
        lines.push(Line::from(vec![label("edit "), text(&e.subject)]));
    }
    if e.forced {
        let warn = theme.style(Role::Warning).add_modifier(Modifier::BOLD);
        let overrode: Vec<String> = e
            .overrode
            .iter()
            .map(|o| sanitize(o).into_owned())
            .collect();
        lines.push(Line::from(vec![
            Span::styled("FORCED ", warn),
            Span::styled(
                if overrode.is_empty() {
                    "(no check was failing)".to_string()
                } else {
                    format!("overrode: {}", overrode.join("; "))
                },
                theme.style(Role::Warning),
            ),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(pane(
            "selected commit".into(),
            app,
            theme,
        )),
        area,
    );
}
