//! Remote access in the views: the TUNNEL column of the devices table, the
//! tunnel lines of the device detail, and the shell questions (tunnel not
//! live, unknown or changed host key). Every lookup is one hash probe into
//! what the tunnel worker matched; nothing here reads the interface.

use crate::app::{App, Ask, AskKind, DeviceCol, TunnelView};
use crate::format;
use crate::remote::wireguard::Tunnel;
use crate::text::sanitize;
use crate::tui::theme::{Role, Theme};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Wrap};

/// The devices table's columns in order of importance: with an interface
/// configured the TUNNEL column comes where it is listed (right after the
/// temperature); without one it shows `—` and goes last, so it is the first
/// to give way on a narrow terminal.
pub fn device_columns(app: &App, listed: &[(DeviceCol, u16)]) -> Vec<(DeviceCol, u16)> {
    if app.tunnels.configured() {
        return listed.to_vec();
    }
    let mut cols: Vec<(DeviceCol, u16)> = listed
        .iter()
        .copied()
        .filter(|(c, _)| *c != DeviceCol::Tunnel)
        .collect();
    cols.extend(
        listed
            .iter()
            .copied()
            .filter(|(c, _)| *c == DeviceCol::Tunnel),
    );
    cols
}

/// The TUNNEL cell of one device row.
pub fn tunnel_cell(app: &App, id: &str, theme: &Theme) -> Cell<'static> {
    let text = app.tunnels.cell(id, app.now);
    let role = match app.tunnels.is_live(id, app.now) {
        Some(true) => Role::HealthUp,
        Some(false) => match app.tunnels.of(id) {
            TunnelView::Known(Tunnel::NoAddress) => Role::Muted,
            _ => Role::HealthDown,
        },
        None if matches!(app.tunnels.of(id), TunnelView::Failed) => Role::Warning,
        None => Role::Muted,
    };
    Cell::from(text).style(theme.style(role))
}

/// The tunnel lines of the device detail (none without an interface).
pub fn detail_lines(app: &App, id: &str, theme: &Theme) -> Vec<Line<'static>> {
    let muted = theme.style(Role::Muted);
    let text = theme.style(Role::Text);
    let state = |s: String, live: bool| {
        Span::styled(
            s,
            theme.style(if live {
                Role::HealthUp
            } else {
                Role::HealthDown
            }),
        )
    };
    let head = || Span::styled("tunnel ", muted);
    match app.tunnels.of(id) {
        TunnelView::NotConfigured => Vec::new(),
        TunnelView::Pending | TunnelView::Unlisted => vec![Line::from(vec![
            head(),
            Span::styled("reading the WireGuard interface…", muted),
        ])],
        TunnelView::Failed => vec![Line::from(vec![
            head(),
            Span::styled(
                format!(
                    "unknown: {}",
                    sanitize(app.tunnels.error.as_deref().unwrap_or("read failed"))
                ),
                theme.style(Role::Warning),
            ),
        ])],
        TunnelView::Known(t) => {
            let live = app.tunnels.is_live(id, app.now).unwrap_or(false);
            let mut first = vec![head()];
            match t {
                Tunnel::NoAddress => first.push(Span::styled(
                    "no tunnel address (no address label, or the target is not an IP)",
                    muted,
                )),
                Tunnel::NoPeer { address } => first.push(state(
                    format!("no peer: no WireGuard peer routes {}", sanitize(address)),
                    false,
                )),
                Tunnel::Live { peer, .. } | Tunnel::NotLive { peer, .. } => {
                    let age = peer.last_handshake.map(|at| {
                        format!(
                            "{} ago",
                            format::age(app.now.duration_since(at).unwrap_or_default())
                        )
                    });
                    first.push(state(
                        if live { "live" } else { "not live" }.to_string(),
                        live,
                    ));
                    first.push(Span::styled("   last handshake ", muted));
                    first.push(Span::styled(age.unwrap_or_else(|| "never".into()), text));
                    first.push(Span::styled("   endpoint ", muted));
                    first.push(Span::styled(
                        peer.endpoint
                            .as_deref()
                            .map_or("none".into(), |e| sanitize(e).into_owned()),
                        text,
                    ));
                    let second = Line::from(vec![
                        Span::styled("       rx ", muted),
                        Span::styled(crate::format::bytes(peer.rx_bytes), text),
                        Span::styled("   tx ", muted),
                        Span::styled(crate::format::bytes(peer.tx_bytes), text),
                        Span::styled("   keepalive ", muted),
                        Span::styled(
                            peer.keepalive.map_or("off".into(), |k| format!("{k}s")),
                            text,
                        ),
                        Span::styled("   peer ", muted),
                        Span::styled(sanitize(&peer.public_key).into_owned(), muted),
                    ]);
                    return vec![Line::from(first), second];
                }
            }
            vec![Line::from(first)]
        }
    }
}

/// The status line while a shell question is open.
pub fn ask_status_line(ask: &Ask, theme: &Theme) -> Line<'static> {
    let role = match ask.kind {
        AskKind::OfflineShell => Role::Warning,
        AskKind::AcceptHostKey { .. } | AskKind::HostKeyChanged => Role::StatusError,
    };
    Line::styled(
        format!(" {}", sanitize(&ask.question)),
        theme.style(role).add_modifier(Modifier::BOLD),
    )
}

/// The bottom line's hints while a shell question is open.
pub fn ask_hints(ask: &Ask, theme: &Theme) -> Line<'static> {
    let text = match ask.kind {
        AskKind::OfflineShell => " y open a shell anyway · any other key cancels",
        AskKind::AcceptHostKey { .. } => " y accept and record the key · any other key cancels",
        AskKind::HostKeyChanged => " any key closes",
    };
    Line::styled(text, theme.style(Role::KeyHint))
}

/// The host-key dialog (the not-live question needs only the status line).
pub fn draw_ask(frame: &mut Frame, area: Rect, ask: &Ask, theme: &Theme) {
    if ask.detail.is_empty() || area.width < 10 || area.height < 3 {
        return;
    }
    let warn = matches!(ask.kind, AskKind::HostKeyChanged);
    let lines: Vec<Line> = ask
        .detail
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let style = if i == 0 && warn {
                theme.style(Role::Error).add_modifier(Modifier::BOLD)
            } else {
                theme.style(Role::Text)
            };
            Line::styled(sanitize(l).into_owned(), style)
        })
        .collect();
    let width = area.width.min(72);
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let height = (rows as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    let title = if warn {
        " host key CHANGED "
    } else {
        " unknown host key "
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::new()
                .borders(Borders::ALL)
                .title(title)
                .border_style(theme.style(if warn {
                    Role::Error
                } else {
                    Role::DialogBorder
                }))
                .style(theme.style(Role::Dialog)),
        ),
        popup,
    );
}
