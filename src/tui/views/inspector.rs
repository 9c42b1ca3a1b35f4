//! The supply-chain inspector: a rollout's new and previous release, or the
//! digests a device runs — reference → digest, each signature with its checks,
//! signer, Rekor entry and annotations, attestations, SBOM. Scrolls with the
//! movement keys; everything from the registry is sanitised here.

use super::pane;
use crate::app::{App, InspectTarget, Tone};
use crate::text::sanitize;
use crate::tui::theme::{Role, Theme};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

fn role(t: Tone) -> Role {
    match t {
        Tone::Heading => Role::Header,
        Tone::Text => Role::Text,
        Tone::Muted => Role::Muted,
        Tone::Good => Role::HealthUp,
        Tone::Bad => Role::HealthDown,
        Tone::Warn => Role::Warning,
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, target: &InspectTarget) {
    let lines = app.inspector_lines(target);
    let offset = app.screen().offset.min(lines.len().saturating_sub(1));
    let inner_rows = usize::from(area.height.saturating_sub(2));
    let mut title = app.screen().title();
    if lines.len() > inner_rows {
        title.push_str(&format!(
            " ({}–{} of {})",
            offset + 1,
            (offset + inner_rows).min(lines.len()),
            lines.len()
        ));
    }
    let text: Vec<Line> = lines
        .into_iter()
        .skip(offset)
        .take(inner_rows)
        .map(|spans| {
            Line::from(
                spans
                    .into_iter()
                    .map(|(tone, s)| {
                        let style = theme.style(role(tone));
                        let style = if tone == Tone::Heading {
                            style.add_modifier(Modifier::BOLD)
                        } else {
                            style
                        };
                        Span::styled(sanitize(&s).into_owned(), style)
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    frame.render_widget(Paragraph::new(text).block(pane(title, app, theme)), area);
}
