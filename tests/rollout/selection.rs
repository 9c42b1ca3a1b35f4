//! Issue 11, "Attention and selection": on entry the rollouts list selects
//! the in-progress rollout most in need of a decision (the order: README
//! "Keys", docs/ARCHITECTURE.md "Rollouts list order"), so `4 z` halts the
//! rollout that is live, not one that has not started.

use crate::support::fixture;

use fixture::*;
use fleetdeck::app::keymap::Keymap;
use fleetdeck::app::{App, Event, Mode, ViewKind};
use fleetdeck::rollout::action::ActionKind;
use fleetdeck::rollout::plan::{Plan, Status};

fn named(name: &str, version: &str, wave: usize, status: Status) -> Plan {
    let mut p = rollout_plan(wave, status);
    p.name = name.into();
    p.release.version = version.into();
    p
}

fn app_with(plans: Vec<Plan>) -> App {
    let mut s = settings();
    s.rollouts_configured = true;
    let mut app = App::new(
        s,
        Keymap::default(),
        "test".into(),
        "default".into(),
        t(T0 + 2),
    );
    app.update(Event::Fleet {
        generation: 1,
        result: Ok(fleet(120, 8)),
        warnings: vec![],
    });
    app.update(Event::Rollouts {
        result: Ok(plans.into_iter().map(Ok).collect()),
    });
    app
}

fn order(app: &App) -> Vec<String> {
    app.screen()
        .rows
        .iter()
        .map(|&i| app.rollouts.entries[i].plan.name.clone())
        .collect()
}

#[test]
fn entering_the_list_selects_the_live_rollout_not_the_unstarted_one() {
    // The demo's situation: 1.5.0 soaking its canary (released 10 minutes
    // ago, 30m soak), 1.5.1 not started — listed first by name.
    let mut app = app_with(vec![
        named("vision-1.5.1", "1.5.1", 0, Status::Progressing),
        named("vision-1.5.0", "1.5.0", 1, Status::Progressing),
    ]);
    app.update(key('4'));
    assert_eq!(app.screen().kind, ViewKind::Rollouts);
    assert_eq!(order(&app), ["vision-1.5.0", "vision-1.5.1"]);
    assert_eq!(app.screen().selected, 0);
    app.update(key('z'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("a confirmation dialog: {:?}", app.mode)
    };
    assert_eq!(c.kind, ActionKind::Halt);
    assert_eq!(c.rollout, "vision-1.5.0");
}

#[test]
fn the_documented_order() {
    // Soak over (wave started 10 minutes ago, soak zero): waiting for a promote.
    let mut waiting = named("c-waiting", "2.0.0", 2, Status::Progressing);
    for w in &mut waiting.waves {
        w.soak = std::time::Duration::ZERO;
    }
    let mut app = app_with(vec![
        named("a-complete", "0.9.0", 4, Status::Complete),
        named("b-aborted", "0.8.0", 2, Status::Aborted),
        named("d-not-started", "2.1.0", 0, Status::Progressing),
        named("e-paused", "1.5.0", 1, Status::Paused),
        named("f-soaking", "1.5.0", 1, Status::Progressing),
        waiting,
    ]);
    app.update(key('4'));
    assert_eq!(
        order(&app),
        [
            "c-waiting",
            "f-soaking",
            "e-paused",
            "d-not-started",
            "b-aborted",
            "a-complete"
        ]
    );
}
