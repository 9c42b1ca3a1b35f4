//! `H`: the commits that changed a rollout's plan, in a view of their own
//! ([`ViewKind::History`]). Pure like the rest of the app: the `git log` is
//! an [`Effect::LoadRolloutHistory`] carried out by a worker
//! (`runtime::githistory`), whose answer is [`Event::RolloutHistory`].
//! The list is read again whenever the plans are, while it is open.

use super::{App, Effect, Level, ViewKind};
use crate::rollout::history::HistoryEntry;

/// The history of one rollout, as far as it is known.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanHistory {
    pub rollout: String,
    /// `None` while the first answer is awaited; `Err` says why there is none.
    pub result: Option<Result<Vec<HistoryEntry>, String>>,
}

impl PlanHistory {
    pub fn entries(&self) -> &[HistoryEntry] {
        match &self.result {
            Some(Ok(e)) => e,
            _ => &[],
        }
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }
}

impl App {
    /// `H` on a rollout (its detail, or the selected row of the list).
    pub(crate) fn open_history(&mut self) -> Vec<Effect> {
        let name = match &self.screen().kind {
            ViewKind::Rollout(name) => Some(name.clone()),
            ViewKind::Rollouts => self.selected_key(),
            ViewKind::History(_) => return Vec::new(),
            _ => None,
        };
        let Some(name) = name else {
            self.set_flash(
                "select a rollout to see its history (4, then H)".into(),
                Level::Error,
            );
            return Vec::new();
        };
        // Another rollout's list is not shown while this one loads.
        if self
            .rollouts
            .history
            .as_ref()
            .is_none_or(|h| h.rollout != name)
        {
            self.rollouts.history = Some(PlanHistory {
                rollout: name.clone(),
                result: None,
            });
        }
        let mut effects = self.push(ViewKind::History(name.clone()));
        effects.push(Effect::LoadRolloutHistory { rollout: name });
        effects
    }

    /// Reads the open history again (the plans were re-read or acted on).
    pub(crate) fn reload_history(&self) -> Vec<Effect> {
        match &self.screen().kind {
            ViewKind::History(name) => vec![Effect::LoadRolloutHistory {
                rollout: name.clone(),
            }],
            _ => Vec::new(),
        }
    }

    pub(crate) fn on_rollout_history(
        &mut self,
        rollout: String,
        result: Result<Vec<HistoryEntry>, String>,
    ) {
        let Some(h) = self
            .rollouts
            .history
            .as_mut()
            .filter(|h| h.rollout == rollout)
        else {
            return; // an answer for a history no longer open
        };
        // A failed re-read keeps the list shown, and says why it is old.
        match (&h.result, result) {
            (Some(Ok(_)), Err(e)) => {
                self.set_flash(format!("history of {rollout}: {e}"), Level::Error)
            }
            (_, r) => h.result = Some(r),
        }
        self.rebuild_all_rows();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::keymap::{Key, KeyCode};
    use crate::app::{Event, Settings};
    use crate::rollout::plan::{DigestRef, Plan, ReleaseSpec};
    use std::time::{Duration, SystemTime};

    fn spec(v: &str, hex: &str) -> ReleaseSpec {
        ReleaseSpec {
            version: v.into(),
            image: DigestRef::parse(&format!("registry.local/vision@sha256:{}", hex.repeat(32)))
                .expect("ref"),
            model: None,
            sbom: None,
        }
    }

    fn app() -> App {
        let mut app = App::new(
            Settings {
                read_only: false,
                stale_after: Duration::from_secs(30),
                sparkline: Duration::from_secs(1800),
                themes: vec![],
                remote_history: false,
                history_span: Duration::from_secs(3600),
                operator: "tester@test".into(),
                rollouts_configured: true,
                allow_shell_read_only: false,
            },
            Default::default(),
            "test".into(),
            "default".into(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        );
        let plans = ["vision-1.5.0", "vision-1.5.1"]
            .map(|n| Ok(Plan::new(n, spec("1.5.0", "ef"), spec("1.4.0", "ab"))));
        app.update(Event::Rollouts {
            result: Ok(plans.into()),
        });
        app
    }

    fn key(c: char) -> Event {
        Event::Key(Key::char(c))
    }

    fn entries(n: usize) -> Vec<HistoryEntry> {
        let mut text = String::new();
        for i in 0..n {
            text.push_str(&format!(
                "commit {i:040x}\nauthor A <a@x> {} +0000\n\n    rollout vision-1.5.0: halt — x\n\n    Action: halt\n    Reason: r{i}\n\n",
                1_800_000_000 + i
            ));
        }
        crate::rollout::history::parse_raw_log(&text, |_| false)
    }

    fn loads(fx: &[Effect]) -> Vec<&str> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::LoadRolloutHistory { rollout } => Some(rollout.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn h_opens_the_history_of_the_rollout_scrolls_and_esc_returns() {
        let mut app = app();
        // Not on a rollout: says what to do, asks nothing.
        assert!(app.update(key('H')).is_empty());
        assert!(app.flash.as_ref().is_some_and(|f| f.level == Level::Error));
        assert_eq!(app.screen().kind, ViewKind::Sites);

        app.update(key('4'));
        app.update(Event::Key(Key::plain(KeyCode::Enter)));
        let name = match &app.screen().kind {
            ViewKind::Rollout(n) => n.clone(),
            other => panic!("{other:?}"),
        };
        let fx = app.update(key('H'));
        assert_eq!(loads(&fx), [name.as_str()]);
        assert_eq!(app.screen().kind, ViewKind::History(name.clone()));
        assert_eq!(
            app.rollouts.history.as_ref().map(|h| h.result.is_none()),
            Some(true),
            "loading"
        );

        // An answer about another rollout is not shown.
        let other = if name == "vision-1.5.0" {
            "vision-1.5.1"
        } else {
            "vision-1.5.0"
        };
        app.update(Event::RolloutHistory {
            rollout: other.into(),
            result: Ok(entries(3)),
        });
        assert_eq!(app.screen().rows.len(), 0);

        app.update(Event::RolloutHistory {
            rollout: name.clone(),
            result: Ok(entries(30)),
        });
        assert_eq!(app.screen().rows.len(), 30);
        assert_eq!(app.screen().selected, 0);
        app.update(key('j'));
        app.update(key('j'));
        assert_eq!(app.screen().selected, 2);
        app.update(key('k'));
        assert_eq!(app.screen().selected, 1);
        app.update(key('G'));
        assert_eq!(app.screen().selected, 29);

        // The plans are read again: so is the history, and a failed re-read
        // keeps the list.
        let fx = app.update(Event::Rollouts {
            result: Ok(vec![Ok(Plan::new(
                &name,
                spec("1.5.0", "ef"),
                spec("1.4.0", "ab"),
            ))]),
        });
        assert_eq!(loads(&fx), [name.as_str()]);
        app.update(Event::RolloutHistory {
            rollout: name.clone(),
            result: Err("git log timed out".into()),
        });
        assert_eq!(app.screen().rows.len(), 30);
        assert!(
            app.flash
                .as_ref()
                .is_some_and(|f| f.text.contains("timed out"))
        );

        app.update(Event::Key(Key::plain(KeyCode::Esc)));
        assert_eq!(app.screen().kind, ViewKind::Rollout(name.clone()));
        // Away from the history, re-reads of the plans do not read it.
        let fx = app.update(Event::Rollouts { result: Ok(vec![]) });
        assert!(loads(&fx).is_empty());
    }

    #[test]
    fn h_on_the_list_opens_the_selected_rollout() {
        let mut app = app();
        app.update(key('4'));
        let selected = app.selected_key().expect("a row");
        let fx = app.update(key('H'));
        assert_eq!(loads(&fx), [selected.as_str()]);
        assert_eq!(app.screen().kind, ViewKind::History(selected));
    }
}
