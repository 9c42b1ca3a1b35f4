//! Rollouts: the list (what needs a decision first), one rollout's site × wave
//! (or group × wave) progress matrix with its gate panel, and the confirmation
//! dialog of an action.

use super::{empty_state, pane};
use crate::app::{App, Confirm, RolloutEntry};
use crate::format;
use crate::rollout::gate::{Outcome, Verdict};
use crate::rollout::plan::{DigestRef, ReleaseSpec, Status};
use crate::rollout::progress::Cell as Progress;
use crate::text::sanitize;
use crate::tui::theme::{Role, Theme};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

/// Rows above and below the matrix in the detail view (for the viewport).
pub const DETAIL_HEADER: u16 = 6;
pub const GATE_PANEL: u16 = 8;

fn status_style(theme: &Theme, e: &RolloutEntry) -> Style {
    match (e.plan.state.status, &e.verdict) {
        (Status::Aborted, _) => theme.style(Role::Error).add_modifier(Modifier::BOLD),
        (Status::Paused, _) => theme.style(Role::Warning).add_modifier(Modifier::BOLD),
        (_, Verdict::Failed { .. } | Verdict::Failing { .. }) => theme.style(Role::HealthDown),
        (Status::Complete, _) => theme.style(Role::HealthUp),
        (Status::Progressing, Verdict::Pass) => theme.style(Role::HealthUp),
        (Status::Progressing, _) => theme.style(Role::Warning),
    }
}

fn status_symbol(e: &RolloutEntry) -> &'static str {
    match (e.plan.state.status, &e.verdict) {
        (Status::Aborted, _) => "⏪",
        (Status::Paused, _) => "⏸",
        (_, Verdict::Failed { .. } | Verdict::Failing { .. }) => "✖",
        (Status::Complete, _) => "✔",
        (Status::Progressing, Verdict::Pass) => "▶",
        (Status::Progressing, _) => "?",
    }
}

/// The verdict in a table cell.
fn verdict_short(v: &Verdict) -> String {
    match v {
        Verdict::Pass => "✔ pass".into(),
        Verdict::Failing {
            failures, limit, ..
        } => format!("✖ {failures}/{limit}"),
        Verdict::Failed { .. } => "✖ FAILED".into(),
        Verdict::Inconclusive { .. } => "? no data".into(),
        Verdict::Pending => "… pending".into(),
    }
}

/// What the rollout needs next; a release that does not verify says so first,
/// since no promote will go through until it does.
fn needs_cell(app: &App, e: &RolloutEntry, theme: &Theme) -> Cell<'static> {
    use crate::rollout::action::Check;
    let p = &e.plan;
    if p.state.status == Status::Progressing
        && p.next_wave().is_some()
        && matches!(app.release_check(&p.release), Check::Fail(_))
    {
        return Cell::from("✖ release does not verify: promote refused (i)")
            .style(theme.style(Role::HealthDown));
    }
    // The phrase names the plan's previous version: outside text.
    let needs = sanitize(&e.needs(app.now).1).into_owned();
    if !e.taken.is_empty() {
        return Cell::from(format!("✖ {needs}")).style(theme.style(Role::HealthDown));
    }
    if !e.overlaps.is_empty() {
        return Cell::from(format!("▲ {} · {needs}", overlap_text(e)))
            .style(theme.style(Role::Warning));
    }
    Cell::from(needs)
}

/// "overlaps vision-1.5.1 (6 devices)": the other rollouts sharing devices.
fn overlap_text(e: &RolloutEntry) -> String {
    let who: Vec<String> = e
        .overlaps
        .iter()
        .map(|o| {
            format!(
                "{} ({} device{})",
                sanitize(&o.other),
                o.devices,
                if o.devices == 1 { "" } else { "s" }
            )
        })
        .collect();
    format!("overlaps {}", who.join(", "))
}

/// The release's signature verdict, short: "✔ signed", "✖ unsigned", "? …".
fn sig_span(app: &App, spec: &ReleaseSpec, theme: &Theme, long: bool) -> Span<'static> {
    use crate::rollout::action::Check;
    match app.release_check(spec) {
        Check::Pass => Span::styled(
            if long { "  ✔ signed" } else { "✔" },
            theme.style(Role::HealthUp),
        ),
        Check::Fail(_) => Span::styled(
            if long {
                "  ✖ signature does not verify (i inspects)"
            } else {
                "✖"
            },
            theme.style(Role::HealthDown).add_modifier(Modifier::BOLD),
        ),
        Check::Inconclusive(_) | Check::NotApplicable => Span::styled(
            if long {
                "  ? signature not verified (i inspects)"
            } else {
                "?"
            },
            theme.style(Role::Warning),
        ),
    }
}

fn short(r: &DigestRef) -> String {
    sanitize(&crate::format::short_reference(&r.to_string())).into_owned()
}

fn wave_text(e: &RolloutEntry) -> String {
    let p = &e.plan;
    let m = p.waves.len();
    match p.state.wave.checked_sub(1).and_then(|i| p.waves.get(i)) {
        Some(w) => format!("{}/{m} {}", p.state.wave, sanitize(&w.label())),
        None => format!("0/{m} not started"),
    }
}

fn share(n: usize, d: usize) -> String {
    if d == 0 {
        "n/a".into()
    } else {
        format!("{:.0}%", n as f64 * 100.0 / d as f64)
    }
}

pub fn draw_list(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let screen = app.screen();
    let r = &app.rollouts;
    let mut title = format!("rollouts ({})", r.entries.len());
    if let Some(t) = r.loaded_at {
        title.push_str(&format!(
            " · read {} ago",
            format::age(app.now.duration_since(t).unwrap_or_default())
        ));
    }
    let block = pane(title, app, theme);
    if !app.settings.rollouts_configured && r.entries.is_empty() {
        return empty_state(
            frame,
            area,
            block,
            "no rollout repository configured: set [rollout] repo = \"PATH or URL\" in the config (see config.example.toml)".into(),
            theme,
        );
    }
    if let Some(e) = &r.error
        && r.entries.is_empty()
    {
        return empty_state(
            frame,
            area,
            block,
            format!("cannot read the rollout repository: {}", sanitize(e)),
            theme,
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let extra = r.invalid.len().min(3) as u16 + u16::from(r.error.is_some());
    let [table_area, notes] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(extra)]).areas(inner);
    let header = Row::new(vec![
        "", "rollout", "release", "status", "wave", "on new", "gates", "needs",
    ])
    .style(theme.style(Role::Header));
    let visible = super::table_rows_for(app, frame.area().width, frame.area().height);
    let rows = screen
        .rows
        .iter()
        .enumerate()
        .skip(screen.offset)
        .take(visible)
        .filter_map(|(i, &idx)| {
            let e = r.entries.get(idx)?;
            let p = &e.plan;
            let t = &e.progress;
            let row = Row::new(vec![
                Cell::from(status_symbol(e)).style(status_style(theme, e)),
                Cell::from(sanitize(&p.name).into_owned()),
                Cell::from(Line::from(vec![
                    Span::raw(format!("→ {} ", sanitize(&p.release.version))),
                    sig_span(app, &p.release, theme, false),
                ])),
                Cell::from(p.state.status.key()).style(status_style(theme, e)),
                Cell::from(wave_text(e)),
                Cell::from(share(t.fleet_on_new, t.fleet_devices)),
                Cell::from(verdict_short(&e.verdict)),
                needs_cell(app, e, theme),
            ]);
            Some(if i == screen.selected {
                row.style(theme.style(Role::Selected))
            } else {
                row.style(theme.style(Role::Text))
            })
        });
    let widths = [
        Constraint::Length(2),
        Constraint::Min(14),
        Constraint::Length(10),
        Constraint::Length(11),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Min(10),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), table_area);
    super::paint_selected(frame, table_area, screen.selected, screen.offset, theme);
    let mut lines: Vec<Line> = r
        .invalid
        .iter()
        .take(3)
        .map(|e| Line::styled(format!("✖ {}", sanitize(e)), theme.style(Role::Error)))
        .collect();
    if let Some(e) = &r.error {
        lines.push(Line::styled(
            format!("▲ repository: {}", sanitize(e)),
            theme.style(Role::Warning),
        ));
    }
    frame.render_widget(Paragraph::new(lines), notes);
}

/// A bar of `width` cells for `done` of `total`.
fn bar(done: usize, total: usize, width: usize) -> String {
    if total == 0 {
        return " ".repeat(width);
    }
    let filled = (done * width).div_ceil(total).min(width);
    let filled = if done < total {
        filled.min(width - 1)
    } else {
        filled
    };
    format!("{}{}", "▰".repeat(filled), "▱".repeat(width - filled))
}

fn matrix_cell(c: &Progress, released: bool, aborted: bool, theme: &Theme) -> Cell<'static> {
    if c.devices == 0 {
        return Cell::from("·").style(theme.style(Role::Muted));
    }
    if !released {
        return Cell::from(format!("{:>4} waiting", c.devices)).style(theme.style(Role::Muted));
    }
    let done = if aborted { c.on_previous } else { c.on_new };
    let mut text = format!("{} {done}/{}", bar(done, c.devices, 5), c.devices);
    if c.updating > 0 {
        text.push_str(&format!(" ⟳{}", c.updating));
    }
    if c.failed > 0 {
        text.push_str(&format!(" ✖{}", c.failed));
    }
    if c.offline > 0 {
        text.push_str(&format!(" ◌{}", c.offline));
    }
    let style = if c.failed > 0 {
        theme.style(Role::HealthDown)
    } else if done == c.devices {
        theme.style(Role::HealthUp)
    } else if c.offline > 0 {
        theme.style(Role::HealthStale)
    } else {
        theme.style(Role::Text)
    };
    Cell::from(text).style(style)
}

pub fn draw_detail(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, name: &str) {
    let Some(e) = app.rollouts.get(name) else {
        let block = pane(format!("rollout {name}"), app, theme);
        return empty_state(
            frame,
            area,
            block,
            format!("{} is not in the repository", sanitize(name)),
            theme,
        );
    };
    let p = &e.plan;
    let [head, matrix_area, gates_area] = Layout::vertical([
        Constraint::Length(DETAIL_HEADER),
        Constraint::Min(3),
        Constraint::Length(GATE_PANEL),
    ])
    .areas(area);

    // Header: status, stable vs new, wave and soak, observed totals.
    let muted = theme.style(Role::Muted);
    let text = theme.style(Role::Text);
    let t = &e.progress.total;
    let soak = match e.soak_left(app.now) {
        Some(l) if !l.is_zero() => format!("soak {} left", format::age(l)),
        Some(_) => "soak done".into(),
        None => "not started".into(),
    };
    let started = p
        .state
        .wave_started
        .map(|s| {
            format!(
                "started {} ago",
                format::age(app.now.duration_since(s).unwrap_or_default())
            )
        })
        .unwrap_or_default();
    let who = match (&p.state.updated_by, &p.state.reason) {
        (Some(b), Some(r)) => format!(" · {}: {}", sanitize(b), sanitize(r)),
        (Some(b), None) => format!(" · by {}", sanitize(b)),
        _ => String::new(),
    };
    let lines = vec![
        Line::from(vec![
            Span::styled(
                format!(
                    "{} {} ",
                    status_symbol(e),
                    p.state.status.key().to_uppercase()
                ),
                status_style(theme, e),
            ),
            Span::styled(format!(" wave {}  ", wave_text(e)), text),
            Span::styled(format!("{started} · {soak}{who}"), muted),
        ]),
        Line::from(vec![
            Span::styled("stable ", muted),
            Span::styled(
                format!(
                    "{} {}",
                    sanitize(&p.previous.version),
                    short(&p.previous.image)
                ),
                text,
            ),
            sig_span(app, &p.previous, theme, true),
        ]),
        Line::from(vec![
            Span::styled("new    ", muted),
            Span::styled(
                format!(
                    "{} {}",
                    sanitize(&p.release.version),
                    short(&p.release.image)
                ),
                text,
            ),
            Span::styled(
                p.release
                    .model
                    .as_ref()
                    .map(|m| format!("  model {}", short(m)))
                    .unwrap_or_default(),
                muted,
            ),
            sig_span(app, &p.release, theme, true),
        ]),
        Line::from(vec![
            Span::styled(format!("targeted {}: ", t.devices), muted),
            Span::styled(
                format!(
                    "{} on {} ({} healthy)",
                    t.on_new,
                    sanitize(&p.release.version),
                    t.healthy_on_new
                ),
                theme.style(Role::HealthUp),
            ),
            Span::styled(format!(" · {} updating", t.updating), text),
            Span::styled(
                format!(" · {} failed", t.failed),
                if t.failed > 0 {
                    theme.style(Role::HealthDown)
                } else {
                    muted
                },
            ),
            Span::styled(
                format!(" · {} offline", t.offline),
                if t.offline > 0 {
                    theme.style(Role::HealthStale)
                } else {
                    muted
                },
            ),
            Span::styled(
                format!(
                    " · fleet on new {}",
                    share(e.progress.fleet_on_new, e.progress.fleet_devices)
                ),
                muted,
            ),
            drift_span(app, theme),
        ]),
    ];
    // Another in-progress rollout holds some of these devices: said on the
    // header's bottom border (docs/ARCHITECTURE.md, "Overlapping rollouts").
    let mut block = pane(format!("rollout {}", p.name), app, theme);
    if !e.overlaps.is_empty() {
        let taken: Vec<String> = e
            .taken
            .iter()
            .map(|t| format!(" · {} taken by {}", t.devices, sanitize(&t.other)))
            .collect();
        block = block.title_bottom(Line::styled(
            format!(" ▲ {}{} ", overlap_text(e), taken.concat()),
            theme
                .style(if e.taken.is_empty() {
                    Role::Warning
                } else {
                    Role::HealthDown
                })
                .add_modifier(Modifier::BOLD),
        ));
    }
    frame.render_widget(Paragraph::new(lines).block(block), head);

    // Matrix: sites (or groups) × waves.
    let by_group = app.rollouts.by_group;
    let (names, cells) = if by_group {
        (&e.progress.groups, &e.progress.by_group)
    } else {
        (&e.progress.sites, &e.progress.by_site)
    };
    let aborted = p.state.status == Status::Aborted;
    let mut header = vec![Cell::from(if by_group { "group" } else { "site" })];
    for (i, w) in p.waves.iter().enumerate() {
        let mark = if i < p.state.wave { "●" } else { "○" };
        header.push(Cell::from(format!(
            "{mark} {} {}",
            i + 1,
            sanitize(&w.label())
        )));
    }
    let screen = app.screen();
    let visible = super::table_rows_for(app, frame.area().width, frame.area().height);
    let rows = screen
        .rows
        .iter()
        .enumerate()
        .skip(screen.offset)
        .take(visible)
        .filter_map(|(i, &r)| {
            let name = names.get(r)?;
            let row_cells = cells.get(r)?;
            let mut v = vec![Cell::from(sanitize(name).into_owned())];
            for (w, c) in row_cells.iter().enumerate() {
                v.push(matrix_cell(c, w < p.state.wave, aborted, theme));
            }
            let row = Row::new(v);
            Some(if i == screen.selected {
                row.style(theme.style(Role::Selected))
            } else {
                row
            })
        });
    let mut widths = vec![Constraint::Length(10)];
    widths.extend(p.waves.iter().map(|_| Constraint::Min(16)));
    let title = format!(
        "{} × wave ({}) · tab: {}",
        if by_group { "group" } else { "site" },
        names.len(),
        if by_group { "sites" } else { "groups" }
    );
    let block = pane(title, app, theme);
    let inner = block.inner(matrix_area);
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(theme.style(Role::Header)))
            .block(block),
        matrix_area,
    );
    super::paint_selected(frame, inner, screen.selected, screen.offset, theme);

    // Gate panel.
    let mut gl = vec![Line::from(vec![
        Span::styled("verdict ", muted),
        Span::styled(
            e.verdict.to_string(),
            match e.verdict {
                Verdict::Pass => theme.style(Role::HealthUp),
                Verdict::Failing { .. } | Verdict::Failed { .. } => theme.style(Role::HealthDown),
                _ => theme.style(Role::Warning),
            },
        ),
        Span::styled(
            format!(
                "   interval {} · failure limit {}",
                crate::rollout::plan::format_duration(p.gates.interval),
                p.gates.failure_limit
            ),
            muted,
        ),
    ])];
    // Why it fails, first: with per-site gates the breaching site is named
    // here while every fleet-wide check below may pass (issue 11).
    if let Verdict::Failing { reasons, .. } | Verdict::Failed { reasons, .. } = &e.verdict {
        for r in reasons.iter().take(3) {
            gl.push(Line::styled(
                format!("✖ {}", sanitize(r)),
                theme.style(Role::HealthDown),
            ));
        }
    }
    match e.gates.latest() {
        None => gl.push(Line::styled("no evaluation yet", muted)),
        Some(ev) => {
            for c in &ev.checks {
                let hist: String = e
                    .gates
                    .check_history(c.name)
                    .iter()
                    .map(|o| o.symbol())
                    .collect();
                let style = match c.outcome {
                    Outcome::Pass => theme.style(Role::HealthUp),
                    Outcome::Fail => theme.style(Role::HealthDown),
                    Outcome::Inconclusive => theme.style(Role::Warning),
                };
                gl.push(Line::from(vec![
                    Span::styled(format!("{} {:<12}", c.outcome.symbol(), c.name), style),
                    Span::styled(format!("{:<48}", sanitize(&c.detail)), text),
                    Span::styled(hist, muted),
                ]));
            }
        }
    }
    frame.render_widget(
        Paragraph::new(gl).block(pane("gates".into(), app, theme)),
        gates_area,
    );
}

pub fn draw_confirm(frame: &mut Frame, area: Rect, c: &Confirm, theme: &Theme) {
    let width = area.width.min(96);
    let mut lines: Vec<Line> = c
        .summary
        .iter()
        .map(|s| Line::styled(sanitize(s).into_owned(), theme.style(Role::Text)))
        .collect();
    if let Some(r) = &c.refusal {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("✖ refused: {}", sanitize(r)),
            theme.style(Role::Error).add_modifier(Modifier::BOLD),
        ));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled(
            if c.reason_required() {
                "reason (required): "
            } else {
                "reason: "
            },
            theme.style(Role::Muted),
        ),
        Span::styled(
            format!("{}█", sanitize(&c.reason)),
            theme.style(Role::CommandLine),
        ),
    ]));
    lines.push(Line::from(vec![
        Span::styled("force (tab): ", theme.style(Role::Muted)),
        if c.force {
            Span::styled(
                "ON — recorded in the commit",
                theme.style(Role::Warning).add_modifier(Modifier::BOLD),
            )
        } else {
            Span::styled("off", theme.style(Role::Muted))
        },
    ]));
    lines.push(Line::styled(
        "enter: commit · esc/ctrl-c: cancel",
        theme.style(Role::KeyHint),
    ));
    // Room for wrapped lines: each takes ceil(width / inner width) rows.
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let height = (rows as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::new()
                .borders(Borders::ALL)
                .title(format!(" {} {}? ", c.kind.key(), sanitize(&c.rollout)))
                .border_style(theme.style(Role::DialogBorder))
                .style(theme.style(Role::Dialog)),
        ),
        popup,
    );
}

/// "· ⚑ 3 drift" when devices run a digest no rollout names or that does not verify.
pub fn drift_span(app: &App, theme: &Theme) -> Span<'static> {
    let n = app.signatures.drift.len();
    if n == 0 {
        Span::raw("")
    } else {
        Span::styled(
            format!(" · ⚑ {n} drift"),
            theme.style(Role::Warning).add_modifier(Modifier::BOLD),
        )
    }
}
