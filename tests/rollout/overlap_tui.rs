//! Issue 11, "Overlapping rollouts", in the console (through `App::update`):
//! with vision-1.5.0 live on the canary group, promoting vision-1.5.1 opens
//! a confirmation that refuses and names 1.5.0; forcing it needs a reason.
//! Two rollouts holding the same canaries both carry the overlap, and the
//! one whose devices run the other's release lists as DEVICES TAKEN first.

use crate::support::fixture;

use fixture::*;
use fleetdeck::app::keymap::{KeyCode, Keymap};
use fleetdeck::app::{App, Effect, Event, Mode};
use fleetdeck::rollout::action::ActionKind;
use fleetdeck::rollout::plan::{Plan, Status};
use std::time::Duration;

fn named(name: &str, version: &str, wave: usize) -> Plan {
    let mut p = rollout_plan(wave, Status::Progressing);
    p.name = name.into();
    p.release.version = version.into();
    for w in &mut p.waves {
        w.soak = Duration::ZERO;
    }
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
    // Every release verifies: the overlap is the only refusal.
    app.signatures.enabled = true;
    let fx = app.update(Event::Rollouts {
        result: Ok(plans.into_iter().map(Ok).collect()),
    });
    answer_verify(&mut app, fx, &|_| true);
    app.update(key('4'));
    app
}

#[test]
fn promoting_into_a_live_canary_is_refused_in_the_dialog() {
    let mut app = app_with(vec![
        named("vision-1.5.0", "1.5.0", 1),
        named("vision-1.5.1", "1.5.1", 0),
    ]);
    // 1.5.0 waits for a promote, 1.5.1 has not started: select 1.5.1.
    let row = app
        .screen()
        .rows
        .iter()
        .position(|&i| app.rollouts.entries[i].plan.name == "vision-1.5.1")
        .expect("listed");
    for _ in 0..row {
        app.update(key('j'));
    }
    app.update(key('p'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("a confirmation dialog: {:?}", app.mode)
    };
    assert_eq!(
        (c.kind, c.rollout.as_str()),
        (ActionKind::Promote, "vision-1.5.1")
    );
    let refusal = c.refusal.clone().expect("refused");
    // 6 canary devices (every 20th) in the fixture.
    assert_eq!(
        refusal,
        "overlapping rollouts: wave 1 of vision-1.5.1 would take 6 devices of vision-1.5.0 (1.5.0, in progress)"
    );
    let fx = app.update(special(KeyCode::Enter));
    assert!(fx.is_empty(), "refused: enter does not commit");
    app.update(special(KeyCode::Tab));
    type_text(&mut app, "1.5.0 is superseded");
    let fx = app.update(special(KeyCode::Enter));
    match &fx[..] {
        [Effect::Act { request, .. }] => {
            assert!(request.force);
            assert_eq!(request.rollout, "vision-1.5.1");
        }
        other => panic!("one forced Act, got {other:?}"),
    }
}

#[test]
fn both_overlapping_rollouts_warn_and_the_robbed_one_says_so() {
    // Both at wave 1: both hold the canaries, which run 1.5.0 in the fixture —
    // so vision-1.4.9's canaries were taken by vision-1.5.0.
    let app = app_with(vec![
        named("vision-1.5.0", "1.5.0", 1),
        named("vision-1.4.9", "1.4.9", 1),
    ]);
    let a = app.rollouts.get("vision-1.5.0").expect("a");
    let b = app.rollouts.get("vision-1.4.9").expect("b");
    assert_eq!(a.overlaps.len(), 1);
    assert_eq!(a.overlaps[0].other, "vision-1.4.9");
    assert_eq!(b.overlaps[0].other, "vision-1.5.0");
    assert!(a.taken.is_empty());
    assert_eq!(b.taken[0].other, "vision-1.5.0");
    assert_eq!(b.taken[0].devices, 6);
    let (rank, phrase) = b.needs(app.now);
    assert_eq!(
        (rank, phrase.as_str()),
        (2, "DEVICES TAKEN: 6 to vision-1.5.0")
    );
    let first = app.screen().rows[0];
    assert_eq!(app.rollouts.entries[first].plan.name, "vision-1.4.9");
}
