//! Device detail: identity, labels, release, and every figure with a sparkline
//! of the recent past (kept samples for direct scrape, a range query for
//! Prometheus).

use super::{health_style, pane};
use crate::app::App;
use crate::format;
use crate::metrics::Point;
use crate::metrics::def::Figure;
use crate::text::sanitize;
use crate::tui::theme::{Role, Theme};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};

/// The points of one figure in the sparkline span, from wherever history lives.
fn series(app: &App, id: &str, f: Figure) -> Vec<Point> {
    if let Some(h) = &app.history {
        return h.series(id, f, app.settings.sparkline);
    }
    app.device_history
        .as_ref()
        .filter(|h| h.device == id)
        .and_then(|h| h.series.iter().find(|(g, _)| *g == f))
        .map(|(_, pts)| pts.clone())
        .unwrap_or_default()
}

/// Scales finite points into 1..=100 for the sparkline (0 stays for gaps).
fn scale(points: &[Point], width: usize) -> Vec<u64> {
    let vals: Vec<f64> = points
        .iter()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .collect();
    if vals.is_empty() {
        return Vec::new();
    }
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = hi - lo;
    let start = points.len().saturating_sub(width);
    points[start..]
        .iter()
        .map(|p| {
            if !p.1.is_finite() {
                0
            } else if span <= f64::EPSILON {
                50
            } else {
                1 + ((p.1 - lo) / span * 99.0) as u64
            }
        })
        .collect()
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, id: &str) {
    let block = pane(format!("device {id}"), app, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(d) = app.fleet.device(id) else {
        frame.render_widget(
            Paragraph::new(format!("{} is no longer in the fleet", sanitize(id)))
                .style(theme.style(Role::Warning)),
            inner,
        );
        return;
    };

    // Identity block.
    let muted = theme.style(Role::Muted);
    let text = theme.style(Role::Text);
    let mut info = vec![Line::from(vec![
        Span::styled(
            format!("{} {}", d.health.symbol(), d.health.key()),
            health_style(theme, d.health),
        ),
        Span::styled(
            if d.breaches.is_empty() {
                String::new()
            } else {
                format!(
                    " — {}",
                    d.breaches
                        .iter()
                        .map(|b| b.label())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            theme.style(Role::HealthDegraded),
        ),
        Span::styled("   site ", muted),
        Span::styled(sanitize(d.site()).into_owned(), text),
        Span::styled("   group ", muted),
        Span::styled(sanitize(d.group()).into_owned(), text),
        Span::styled("   seen ", muted),
        Span::styled(
            d.last_seen.map_or("never".into(), |t| {
                format!(
                    "{} ago",
                    format::age(app.now.duration_since(t).unwrap_or_default())
                )
            }),
            text,
        ),
    ])];
    if let crate::fleet::Reach::Down(Some(why)) = &d.sample.reach {
        info.push(Line::from(vec![
            Span::styled("scrape failed: ", theme.style(Role::HealthDown)),
            Span::styled(sanitize(why).into_owned(), theme.style(Role::HealthDown)),
        ]));
    }
    let release = match &d.sample.release {
        Some(r) => format!(
            "{} ({})  image {}  model {}",
            sanitize(&r.version),
            sanitize(&r.release),
            sanitize(&crate::format::short_digest(&r.image_digest)),
            sanitize(&crate::format::short_digest(&r.model_digest))
        ),
        None => "n/a".into(),
    };
    info.push(Line::from(vec![
        Span::styled("release ", muted),
        Span::styled(release, text),
        Span::styled("   agent ", muted),
        Span::styled(
            d.sample
                .agent_state
                .as_deref()
                .map_or("n/a".into(), |s| sanitize(s).into_owned()),
            text,
        ),
        match app.signatures.drift.get(id) {
            Some(dr) => Span::styled(
                format!("   ⚑ drift: {} (i inspects)", dr.text()),
                theme.style(Role::Warning),
            ),
            None => Span::raw(""),
        },
    ]));
    let labels: Vec<String> = d
        .sample
        .labels
        .iter()
        .map(|(k, v)| format!("{}={}", sanitize(k), sanitize(v)))
        .collect();
    info.push(Line::from(vec![
        Span::styled("labels ", muted),
        Span::styled(labels.join(" "), text),
    ]));
    if let Some(t) = &d.sample.target {
        info.push(Line::from(vec![
            Span::styled("target ", muted),
            Span::styled(sanitize(t).into_owned(), text),
        ]));
    }
    info.extend(super::remote::detail_lines(app, id, theme));
    let info_height = info.len() as u16 + 1;
    let [info_area, figures_area] =
        Layout::vertical([Constraint::Length(info_height), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Paragraph::new(info), info_area);

    // One line per figure: name, value, sparkline.
    let span_text = format::age(app.settings.sparkline);
    let title = Line::from(vec![
        Span::styled(format!("{:<22}", "figure"), theme.style(Role::Header)),
        Span::styled(format!("{:>10}  ", "now"), theme.style(Role::Header)),
        Span::styled(format!("last {span_text}"), theme.style(Role::Header)),
    ]);
    // One line each, as many as fit (a layout of more lines than there is
    // room for would squeeze some of them to nothing).
    let line = |i: usize| {
        (i < usize::from(figures_area.height)).then(|| Rect {
            y: figures_area.y + i as u16,
            height: 1,
            ..figures_area
        })
    };
    if let Some(area) = line(0) {
        frame.render_widget(Paragraph::new(title), area);
    }
    for (i, f) in Figure::ALL.into_iter().enumerate() {
        let Some(row) = line(i + 1) else { break };
        let [name, value, spark] = Layout::horizontal([
            Constraint::Length(22),
            Constraint::Length(12),
            Constraint::Min(0),
        ])
        .areas(row);
        frame.render_widget(Paragraph::new(f.label()).style(muted), name);
        let v = d.figure(f);
        let vstyle = if v.is_none() { muted } else { text };
        frame.render_widget(
            Paragraph::new(format!("{:>10}", format::figure(f, v))).style(vstyle),
            value,
        );
        let pts = series(app, id, f);
        let data = scale(&pts, spark.width as usize);
        if data.is_empty() {
            frame.render_widget(Paragraph::new("no history yet").style(muted), spark);
        } else {
            frame.render_widget(
                Sparkline::default()
                    .data(&data)
                    .max(100)
                    .style(theme.style(Role::Sparkline)),
                spark,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_handles_flat_gaps_and_absurd_values() {
        assert!(scale(&[], 10).is_empty());
        assert_eq!(scale(&[(0.0, 5.0), (1.0, 5.0)], 10), vec![50, 50]);
        assert_eq!(
            scale(&[(0.0, 0.0), (1.0, f64::NAN), (2.0, 10.0)], 10),
            vec![1, 0, 100]
        );
        assert_eq!(scale(&[(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)], 2).len(), 2);
    }
}
