//! The sites, groups and devices tables. Only the visible rows are built, so a
//! 10,000-device table costs the same to draw as a 20-device one.

use super::{empty_state, health_style, pane};
use crate::app::{App, DeviceCol, RollupCol, ViewKind};
use crate::fleet::{Breach, Device, Health, Rollup};
use crate::format;
use crate::metrics::def::Figure;
use crate::text::sanitize;
use crate::tui::theme::{Role, Theme};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use std::collections::BTreeMap;

pub(super) const SUMMARY_HEIGHT: u16 = 5;

/// How many table rows fit in the body for the current view, given the whole
/// terminal size (the loop tells the app, which keeps the selection visible).
pub fn table_rows_for(app: &App, width: u16, height: u16) -> usize {
    let _ = width;
    // header line, status line, bottom line; pane borders (2) and table header (1).
    let body = height.saturating_sub(3);
    let table = match app.screen().kind {
        ViewKind::Sites | ViewKind::Groups => body.saturating_sub(SUMMARY_HEIGHT),
        ViewKind::Rollout(_) => body
            .saturating_sub(super::rollouts::DETAIL_HEADER)
            .saturating_sub(super::rollouts::GATE_PANEL),
        ViewKind::History(_) => body.saturating_sub(super::history::DETAIL_PANEL),
        _ => body,
    };
    table.saturating_sub(3).max(1) as usize
}

fn sort_title(title: &str, sorted: bool, descending: bool) -> String {
    if sorted {
        format!("{title}{}", if descending { "▼" } else { "▲" })
    } else {
        title.to_string()
    }
}

fn release_mix(releases: &BTreeMap<String, usize>, max: usize) -> String {
    let mut v: Vec<(&String, &usize)> = releases.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut out: Vec<String> = v
        .iter()
        .take(max)
        .map(|(r, n)| format!("{}×{n}", sanitize(r)))
        .collect();
    if v.len() > max {
        out.push(format!("+{}", v.len() - max));
    }
    if out.is_empty() {
        "n/a".into()
    } else {
        out.join(" ")
    }
}

/// The fleet summary above the sites/groups table: totals, releases, and what
/// needs attention first.
fn draw_summary(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let t = &app.fleet.total;
    let totals = Line::from(vec![
        Span::styled(format!("{} devices  ", t.devices), theme.style(Role::Text)),
        Span::styled(
            format!("{} {} up  ", Health::Up.symbol(), t.up),
            theme.style(Role::HealthUp),
        ),
        Span::styled(
            format!("{} {} degraded  ", Health::Degraded.symbol(), t.degraded),
            theme.style(Role::HealthDegraded),
        ),
        Span::styled(
            format!("{} {} down  ", Health::Down.symbol(), t.down),
            theme.style(Role::HealthDown),
        ),
        Span::styled(
            format!("{} {} stale", Health::Stale.symbol(), t.stale),
            theme.style(Role::HealthStale),
        ),
    ]);
    let figures = Line::from(vec![
        Span::styled("p95 ", theme.style(Role::Muted)),
        Span::styled(
            format::figure(Figure::LatencyP95, t.p95_latency),
            theme.style(Role::Text),
        ),
        Span::styled("  worst ", theme.style(Role::Muted)),
        Span::styled(
            format::figure(Figure::LatencyP95, t.p95_latency_max),
            theme.style(Role::Text),
        ),
        Span::styled("  errors ", theme.style(Role::Muted)),
        Span::styled(
            format::figure(Figure::ErrorRate, t.error_rate),
            theme.style(Role::Text),
        ),
        Span::styled("  max temp ", theme.style(Role::Muted)),
        Span::styled(
            format::figure(Figure::CpuTemp, t.max_temp),
            theme.style(Role::Text),
        ),
        Span::styled("  releases ", theme.style(Role::Muted)),
        Span::styled(release_mix(&t.releases, 3), theme.style(Role::Text)),
        super::rollouts::drift_span(app, theme),
    ]);
    let mut attention = vec![Span::styled("attention: ", theme.style(Role::Muted))];
    let mut worst: Vec<&Rollup> = app
        .fleet
        .sites
        .iter()
        .filter(|s| s.attention() > 0)
        .collect();
    worst.sort_by(|a, b| b.attention().cmp(&a.attention()).then(a.name.cmp(&b.name)));
    if worst.is_empty() && t.devices > 0 {
        attention.push(Span::styled(
            "nothing — every device is up",
            theme.style(Role::HealthUp),
        ));
    }
    for (i, s) in worst.iter().take(4).enumerate() {
        if i > 0 {
            attention.push(Span::styled(" · ", theme.style(Role::Muted)));
        }
        let h = s.worst();
        let mut what = Vec::new();
        if s.down > 0 {
            what.push(format!("{} down", s.down));
        }
        if s.degraded > 0 {
            what.push(format!("{} degraded", s.degraded));
        }
        if s.stale > 0 {
            what.push(format!("{} stale", s.stale));
        }
        let mut text = what.join(", ");
        let bad = s.degraded + s.down;
        if bad == s.devices {
            text.push_str(" (all)");
        } else if bad > 0 {
            text.push_str(&format!(" ({:.0}%)", bad as f64 * 100.0 / s.devices as f64));
        }
        // The site-level figures past their thresholds.
        let past: Vec<String> = s
            .breaches
            .iter()
            .filter_map(|b| match b {
                Breach::Latency => Some(format!(
                    "p95 {}",
                    format::figure(Figure::LatencyP95, s.p95_latency)
                )),
                Breach::Errors => Some(format!(
                    "errors {}",
                    format::figure(Figure::ErrorRate, s.error_rate)
                )),
                Breach::Temperature => Some(format::figure(Figure::CpuTemp, s.max_temp)),
                Breach::Throttling => Some("throttled".into()),
                Breach::NoUsableFigures => None,
            })
            .collect();
        if !past.is_empty() {
            text.push_str(&format!(": {}", past.join(", ")));
        }
        attention.push(Span::styled(
            format!("{} {} {text}", h.symbol(), sanitize(&s.name)),
            health_style(theme, h),
        ));
    }
    if worst.len() > 4 {
        attention.push(Span::styled(
            format!(" · +{} sites", worst.len() - 4),
            theme.style(Role::Muted),
        ));
    }
    let block = pane("fleet".into(), app, theme);
    frame.render_widget(
        Paragraph::new(vec![totals, figures, Line::from(attention)]).block(block),
        area,
    );
}

/// A site's or group's figure, coloured like a device's: bold degraded when
/// past its threshold, muted when there is none.
fn rollup_figure(theme: &Theme, s: &Rollup, f: Figure, v: Option<f64>, b: Breach) -> Cell<'static> {
    let cell = Cell::from(format::figure(f, v));
    if s.breaches.contains(&b) {
        cell.style(
            theme
                .style(Role::HealthDegraded)
                .add_modifier(Modifier::BOLD),
        )
    } else if v.is_none() {
        cell.style(theme.style(Role::Muted))
    } else {
        cell
    }
}

pub fn draw_rollups(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let [summary, table_area] =
        Layout::vertical([Constraint::Length(SUMMARY_HEIGHT), Constraint::Min(3)]).areas(area);
    draw_summary(frame, summary, app, theme);
    let screen = app.screen();
    let (list, what) = match screen.kind {
        ViewKind::Groups => (&app.fleet.groups, "groups"),
        _ => (&app.fleet.sites, "sites"),
    };
    let title = format!("{what} ({} of {})", screen.rows.len(), list.len());
    let block = pane(title, app, theme);
    if screen.rows.is_empty() {
        let text = if list.is_empty() {
            "no data yet".to_string()
        } else {
            format!(
                "no {what} match the filter '{}'",
                sanitize(&screen.filter.text)
            )
        };
        return empty_state(frame, table_area, block, text, theme);
    }
    let header_cells = [
        (RollupCol::Name, "name"),
        (RollupCol::Devices, "total"),
        (RollupCol::Up, "● up"),
        (RollupCol::Degraded, "▲ degr"),
        (RollupCol::Down, "✖ down"),
        (RollupCol::Stale, "◌ stale"),
        (RollupCol::P95, "p95"),
        (RollupCol::Errors, "errors"),
        (RollupCol::Temp, "max °C"),
    ];
    let sorted = RollupCol::ALL[screen.sort.column.min(RollupCol::ALL.len() - 1)];
    let mut header: Vec<Cell> = vec![Cell::from(sort_title(
        "",
        sorted == RollupCol::Attention,
        screen.sort.descending,
    ))];
    header.extend(
        header_cells
            .iter()
            .map(|(c, t)| Cell::from(sort_title(t, *c == sorted, screen.sort.descending))),
    );
    header.push(Cell::from("releases"));
    let visible = table_rows_for(app, frame.area().width, frame.area().height);
    let rows = screen
        .rows
        .iter()
        .enumerate()
        .skip(screen.offset)
        .take(visible)
        .map(|(i, &r)| {
            let s = &list[r];
            let h = s.worst();
            let count = |n: usize, role: Role| {
                Cell::from(n.to_string()).style(if n > 0 {
                    theme.style(role)
                } else {
                    theme.style(Role::Muted)
                })
            };
            let row = Row::new(vec![
                Cell::from(h.symbol()).style(health_style(theme, h)),
                Cell::from(sanitize(&s.name).into_owned()),
                Cell::from(s.devices.to_string()),
                count(s.up, Role::HealthUp),
                count(s.degraded, Role::HealthDegraded),
                count(s.down, Role::HealthDown),
                count(s.stale, Role::HealthStale),
                rollup_figure(theme, s, Figure::LatencyP95, s.p95_latency, Breach::Latency),
                rollup_figure(theme, s, Figure::ErrorRate, s.error_rate, Breach::Errors),
                rollup_figure(theme, s, Figure::CpuTemp, s.max_temp, Breach::Temperature),
                Cell::from(release_mix(&s.releases, 2)),
            ]);
            if i == screen.selected {
                row.style(theme.style(Role::Selected))
            } else {
                row.style(theme.style(Role::Text))
            }
        });
    let widths = [
        Constraint::Length(2),
        Constraint::Min(8),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Min(8),
    ];
    let inner = block.inner(table_area);
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.style(Role::Header)))
        .block(block);
    frame.render_widget(table, table_area);
    super::paint_selected(frame, inner, screen.selected, screen.offset, theme);
}

/// Columns of the devices table in order of importance: narrow terminals drop
/// the last ones first.
const DEVICE_COLUMNS: &[(DeviceCol, u16)] = &[
    (DeviceCol::Health, 10),
    (DeviceCol::Id, 12),
    (DeviceCol::Site, 8),
    (DeviceCol::Figure(Figure::LatencyP95), 6),
    (DeviceCol::Figure(Figure::ErrorRate), 6),
    (DeviceCol::Figure(Figure::CpuTemp), 7),
    (DeviceCol::Tunnel, 10),
    (DeviceCol::Group, 8),
    (DeviceCol::Figure(Figure::Throttled), 8),
    (DeviceCol::Release, 8),
    (DeviceCol::Figure(Figure::Cpu), 5),
    (DeviceCol::Figure(Figure::Memory), 5),
    (DeviceCol::Figure(Figure::Disk), 5),
    (DeviceCol::Figure(Figure::Npu), 5),
    (DeviceCol::LastSeen, 6),
];

fn device_cell(app: &App, d: &Device, col: DeviceCol, theme: &Theme) -> Cell<'static> {
    match col {
        DeviceCol::Health => Cell::from(format!("{} {}", d.health.symbol(), d.health.key()))
            .style(health_style(theme, d.health)),
        DeviceCol::Id => Cell::from(sanitize(d.id()).into_owned()),
        DeviceCol::Site => Cell::from(sanitize(d.site()).into_owned()),
        DeviceCol::Group => Cell::from(sanitize(d.group()).into_owned()),
        DeviceCol::Figure(f) => {
            let v = d.figure(f);
            let breached = match f {
                Figure::LatencyP95 => d.breaches.contains(&crate::fleet::Breach::Latency),
                Figure::ErrorRate => d.breaches.contains(&crate::fleet::Breach::Errors),
                Figure::CpuTemp => d.breaches.contains(&crate::fleet::Breach::Temperature),
                Figure::Throttled => d.breaches.contains(&crate::fleet::Breach::Throttling),
                _ => false,
            };
            let cell = Cell::from(format::figure(f, v));
            if breached {
                cell.style(
                    theme
                        .style(Role::HealthDegraded)
                        .add_modifier(Modifier::BOLD),
                )
            } else if v.is_none() {
                cell.style(theme.style(Role::Muted))
            } else {
                cell
            }
        }
        DeviceCol::Release => {
            let v = d
                .version()
                .map_or("n/a".into(), |v| sanitize(v).into_owned());
            if app.signatures.drift.contains_key(d.id()) {
                Cell::from(format!("⚑ {v}")).style(theme.style(Role::Warning))
            } else {
                Cell::from(v)
            }
        }
        DeviceCol::Tunnel => super::remote::tunnel_cell(app, d.id(), theme),
        DeviceCol::LastSeen => Cell::from(match d.last_seen {
            Some(t) => format::age(app.now.duration_since(t).unwrap_or_default()),
            None => "never".into(),
        }),
    }
}

pub fn draw_devices(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let screen = app.screen();
    let mut title = format!(
        "{} ({} of {})",
        screen.title(),
        screen.rows.len(),
        app.fleet.devices.len()
    );
    if !screen.filter.is_empty() {
        title.push_str(&format!(" /{}", screen.filter.text));
    }
    let block = pane(title, app, theme);
    if screen.rows.is_empty() {
        let text = if app.fleet.devices.is_empty() {
            "no data yet".to_string()
        } else {
            format!(
                "no devices match '{}' — esc clears the filter",
                sanitize(&screen.filter.text)
            )
        };
        return empty_state(frame, area, block, text, theme);
    }
    // Pick the columns that fit.
    let inner_width = area.width.saturating_sub(2);
    let mut used = 0u16;
    let cols: Vec<(DeviceCol, u16)> = super::remote::device_columns(app, DEVICE_COLUMNS)
        .into_iter()
        .filter(|(_, w)| {
            if used + w < inner_width {
                used += w + 1;
                true
            } else {
                false
            }
        })
        .collect();
    let sorted = DeviceCol::ALL[screen.sort.column.min(DeviceCol::ALL.len() - 1)];
    let header = Row::new(
        cols.iter()
            .map(|(c, _)| Cell::from(sort_title(c.title(), *c == sorted, screen.sort.descending)))
            .collect::<Vec<_>>(),
    )
    .style(theme.style(Role::Header));
    let visible = table_rows_for(app, frame.area().width, frame.area().height);
    let rows = screen
        .rows
        .iter()
        .enumerate()
        .skip(screen.offset)
        .take(visible)
        .map(|(i, &r)| {
            let d = &app.fleet.devices[r];
            let row = Row::new(
                cols.iter()
                    .map(|(c, _)| device_cell(app, d, *c, theme))
                    .collect::<Vec<_>>(),
            );
            if i == screen.selected {
                row.style(theme.style(Role::Selected))
            } else {
                row.style(theme.style(Role::Text))
            }
        });
    let mut widths: Vec<Constraint> = cols.iter().map(|(_, w)| Constraint::Length(*w)).collect();
    // The id column takes what is left.
    if let Some(w) = widths.get_mut(1) {
        *w = Constraint::Min(12);
    }
    let inner = block.inner(area);
    let table = Table::new(rows, widths).header(header).block(block);
    frame.render_widget(table, area);
    super::paint_selected(frame, inner, screen.selected, screen.offset, theme);
}
