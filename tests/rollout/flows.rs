//! Rollout key flows through `App::update`: the confirmation dialog says what
//! will happen, a refusal is shown and can only be forced with a reason, the
//! confirmed action becomes exactly one `Effect::Act`, read-only refuses.

use crate::support::fixture;

use fixture::*;
use fleetdeck::app::keymap::KeyCode;
use fleetdeck::app::{App, Effect, Event, Mode, ViewKind};
use fleetdeck::rollout::action::{ActionKind, Check};
use fleetdeck::rollout::plan::{Plan, Status};
use std::time::Duration;

fn plan(wave: usize, status: Status) -> Plan {
    let mut p = rollout_plan(wave, status);
    p.state.wave_started = Some(t(T0 - 7200));
    p
}

fn app_with(plan: Plan, read_only: bool) -> App {
    rollout_app(plan, read_only)
}

#[test]
fn promote_from_the_start_is_confirmed_then_committed() {
    let mut app = app_with(plan(0, Status::Progressing), false);
    assert_eq!(app.screen().kind, ViewKind::Rollouts);
    assert_eq!(app.screen().rows.len(), 1);
    app.update(special(KeyCode::Enter));
    assert_eq!(app.screen().kind, ViewKind::Rollout("vision-1.5.0".into()));
    app.update(key('p'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("a confirmation dialog: {:?}", app.mode)
    };
    assert_eq!(c.kind, ActionKind::Promote);
    assert!(c.refusal.is_none(), "{:?}", c.refusal);
    let what = c.summary.join("\n");
    // 6 canary devices (every 20th) in the fixture.
    assert!(
        what.contains("Release wave 1/4 (canary) of vision-1.5.0: 6 devices in"),
        "{what}"
    );
    assert!(what.contains("get 1.5.0"), "{what}");
    type_text(&mut app, "canary looks fine");
    let fx = app.update(special(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Normal);
    match &fx[..] {
        [Effect::Act { request, checks }] => {
            assert_eq!(request.kind, ActionKind::Promote);
            assert_eq!(request.rollout, "vision-1.5.0");
            assert_eq!(request.reason.as_deref(), Some("canary looks fine"));
            assert!(!request.force);
            assert_eq!(request.expected, Some((Status::Progressing, 0)));
            assert_eq!(checks.signature, Check::Pass);
        }
        other => panic!("expected one Act effect, got {other:?}"),
    }
    // While it is committed, a second action waits.
    app.update(key('z'));
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("still being committed"))
    );
    // The worker's answer updates the plan and says which commit.
    let mut after = plan(1, Status::Progressing);
    after.state.wave_started = Some(t(T0));
    app.update(Event::ActionDone {
        rollout: "vision-1.5.0".into(),
        result: Ok((
            Box::new(after),
            "promote vision-1.5.0: commit abc pushed".into(),
        )),
    });
    assert_eq!(
        app.rollouts.get("vision-1.5.0").map(|e| e.plan.state.wave),
        Some(1)
    );
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("commit abc"))
    );
    assert!(app.rollouts.busy.is_none());
}

#[test]
fn esc_cancels_without_effect() {
    let mut app = app_with(plan(1, Status::Progressing), false);
    app.update(key('z'));
    assert!(matches!(app.mode, Mode::Confirm(_)));
    let fx = app.update(special(KeyCode::Esc));
    assert!(fx.is_empty());
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn a_refused_promote_needs_force_and_a_reason() {
    // The canary wave was released a minute ago: its 30m soak is not over.
    let mut p = plan(1, Status::Progressing);
    p.state.wave_started = Some(t(T0 - 60));
    let mut app = app_with(p, false);
    app.update(key('p'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("dialog")
    };
    let refusal = c.refusal.clone().expect("refused");
    assert!(refusal.contains("soak time not over"), "{refusal}");
    let fx = app.update(special(KeyCode::Enter));
    assert!(fx.is_empty(), "enter does not commit a refused action");
    assert!(
        matches!(app.mode, Mode::Confirm(_)),
        "the dialog stays open"
    );
    app.update(special(KeyCode::Tab));
    let fx = app.update(special(KeyCode::Enter));
    assert!(fx.is_empty(), "force without a reason is not enough");
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("needs a reason"))
    );
    type_text(&mut app, "metrics pipeline down, canary checked by hand");
    let fx = app.update(special(KeyCode::Enter));
    match &fx[..] {
        [Effect::Act { request, .. }] => {
            assert!(request.force);
            assert_eq!(
                request.reason.as_deref(),
                Some("metrics pipeline down, canary checked by hand")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn halt_then_promote_is_refused_and_paused_never_looks_healthy() {
    let mut app = app_with(plan(2, Status::Paused), false);
    let e = app.rollouts.get("vision-1.5.0").expect("entry");
    let (rank, text) = e.needs(app.now);
    assert!(text.contains("HALTED"), "{text}");
    // The list order (issue 11, docs/ARCHITECTURE.md "Rollouts list order"):
    // paused after failing, waiting and soaking rollouts, before not started,
    // aborted and complete ones.
    assert_eq!(rank, 6);
    app.update(key('p'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("dialog")
    };
    assert!(
        c.refusal.as_deref().is_some_and(|r| r.contains("paused")),
        "{:?}",
        c.refusal
    );
}

#[test]
fn read_only_refuses_every_action() {
    let mut app = app_with(plan(1, Status::Progressing), true);
    for k in ['p', 'z', 'r', 'A', 'R'] {
        let fx = app.update(key(k));
        assert!(fx.is_empty());
        assert_eq!(app.mode, Mode::Normal, "{k}: no dialog in read-only mode");
        assert!(
            app.flash
                .as_ref()
                .is_some_and(|f| f.text.contains("read-only")),
            "{k}"
        );
    }
}

#[test]
fn abort_says_who_goes_back_to_what() {
    let mut app = app_with(plan(1, Status::Progressing), false);
    app.update(key('A'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("dialog")
    };
    let what = c.summary.join("\n");
    assert!(what.contains("returns to 1.4.0"), "{what}");
    assert!(c.refusal.is_none());
    let _ = Duration::ZERO;
}

#[test]
fn malformed_plans_are_listed_not_fatal() {
    let mut app = app_with(plan(0, Status::Progressing), false);
    app.update(Event::Rollouts {
        result: Ok(vec![
            Ok(plan(0, Status::Progressing)),
            Err("rollouts/bad.toml:3:9: key 'release.image': 'x' has no digest".into()),
        ]),
    });
    assert_eq!(app.rollouts.entries.len(), 1);
    assert_eq!(app.rollouts.invalid.len(), 1);
}

/// The whole key flow down to git: keys → confirmation → `Effect::Act` → the
/// worker → the real store (a temp repository with a bare remote) → one pushed
/// commit → `Event::ActionDone` back into the app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_promote_becomes_one_pushed_commit() {
    use crate::support::git::{git, origin_with_plan};
    use fleetdeck::config::RolloutConfig;
    use fleetdeck::rollout::store::Store;
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(0, Status::Progressing);
    let (origin, ops) = origin_with_plan(dir.path(), &p);

    let cfg = RolloutConfig {
        repo: Some(ops.display().to_string()),
        author_name: Some("alice".into()),
        author_email: Some("alice@test".into()),
        ..RolloutConfig::default()
    };
    let store = Arc::new(Store::open(&cfg).await.expect("store opens"));
    let mut app = app_with(p, false);
    app.update(special(KeyCode::Enter));
    app.update(key('p'));
    type_text(&mut app, "go");
    let fx = app.update(special(KeyCode::Enter));
    let [Effect::Act { request, checks }] = &fx[..] else {
        panic!("{fx:?}")
    };
    let (actions, mut rx) = fleetdeck::runtime::actions::spawn(Arc::clone(&store));
    actions.send((request.clone(), checks.clone()));
    let done = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the action finishes")
        .expect("an event");
    app.update(done);
    let flash = app.flash.clone().expect("a message");
    assert!(flash.text.contains("pushed"), "{}", flash.text);
    assert_eq!(
        app.rollouts.get("vision-1.5.0").map(|e| e.plan.state.wave),
        Some(1)
    );
    // Exactly one new commit on the remote, by alice, with the reason.
    assert_eq!(git(&origin, &["rev-list", "--count", "main"]).trim(), "2");
    let msg = git(&origin, &["log", "-1", "--format=%an%n%B", "main"]);
    assert!(msg.starts_with("alice\n"), "{msg}");
    assert!(
        msg.contains("Action: promote") && msg.contains("go"),
        "{msg}"
    );
}

#[test]
fn a_promote_of_an_unsigned_release_is_refused_with_the_reason() {
    // 1.5.0 (sha256:efef…) has no signature; 1.4.0 verifies.
    let mut app = fixture::rollout_app_signed(plan(0, Status::Progressing), false, |r| {
        !r.contains("efefefef")
    });
    app.update(special(KeyCode::Enter));
    app.update(key('p'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("a confirmation dialog: {:?}", app.mode)
    };
    let refusal = c.refusal.clone().expect("an unsigned release is refused");
    assert!(
        refusal.starts_with(
            "signature does not verify: image registry.local/vision@sha256:efefefefefef"
        ),
        "{refusal}"
    );
    assert!(refusal.contains("no signatures"), "{refusal}");
    let what = c.summary.join("\n");
    assert!(
        what.contains("Signature of 1.5.0: ✖ does not verify"),
        "{what}"
    );
    assert!(matches!(c.checks.signature, Check::Fail(_)));
    // Enter does not commit; forcing needs a reason, and is then recorded.
    assert!(app.update(special(KeyCode::Enter)).is_empty());
    app.update(special(KeyCode::Tab));
    type_text(&mut app, "signed out of band, ticket OPS-7");
    match &app.update(special(KeyCode::Enter))[..] {
        [Effect::Act { request, checks }] => {
            assert!(request.force);
            assert_eq!(
                request.reason.as_deref(),
                Some("signed out of band, ticket OPS-7")
            );
            assert!(matches!(checks.signature, Check::Fail(_)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_promote_before_the_verdict_is_in_is_refused_as_not_verified() {
    let mut app = fixture::rollout_app_signed(plan(0, Status::Progressing), false, |_| true);
    // A new plan revision names another image: its verification is requested, not done.
    let mut p = plan(0, Status::Progressing);
    p.release.image.digest = format!("sha256:{}", "12".repeat(32));
    let fx = app.update(Event::Rollouts {
        result: Ok(vec![Ok(p)]),
    });
    match &fx[..] {
        [Effect::Verify { references }] => assert_eq!(
            references,
            &vec![format!("registry.local/vision@sha256:{}", "12".repeat(32))],
            "only what is not verified yet is asked for"
        ),
        other => panic!("{other:?}"),
    }
    app.update(special(KeyCode::Enter));
    app.update(key('p'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("dialog")
    };
    let refusal = c.refusal.clone().expect("refused");
    assert!(
        refusal.contains("signature not verified") && refusal.contains("still running"),
        "{refusal}"
    );
}

#[test]
fn without_a_verifier_promotion_fails_closed() {
    let mut app = rollout_app(plan(0, Status::Progressing), false);
    app.signatures.enabled = false;
    app.update(special(KeyCode::Enter));
    app.update(key('p'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("dialog")
    };
    let refusal = c.refusal.clone().expect("refused");
    assert!(refusal.contains("[signing]"), "{refusal}");
}

#[test]
fn halt_and_abort_do_not_need_a_signature() {
    let mut app = fixture::rollout_app_signed(plan(1, Status::Progressing), false, |_| false);
    app.update(key('A'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("dialog")
    };
    assert!(c.refusal.is_none(), "{:?}", c.refusal);
    assert_eq!(c.checks.signature, Check::NotApplicable);
}

#[test]
fn the_inspector_shows_both_releases_with_every_check() {
    use fleetdeck::app::InspectTarget;
    let mut app = fixture::rollout_app_signed(plan(1, Status::Progressing), false, |r| {
        !r.contains("efefefef")
    });
    let fx = app.update(key('i'));
    assert!(fx.is_empty(), "already verified: nothing to ask: {fx:?}");
    let target = InspectTarget::Rollout("vision-1.5.0".into());
    assert_eq!(app.screen().kind, ViewKind::Inspect(target.clone()));
    let text: Vec<String> = app
        .inspector_lines(&target)
        .iter()
        .map(|l| l.iter().map(|(_, s)| s.as_str()).collect())
        .collect();
    let all = text.join("\n");
    assert!(
        all.contains("new release 1.5.0  ✖ does not verify: image"),
        "{all}"
    );
    assert!(
        all.contains("previous release 1.4.0  ✔ verified: image"),
        "{all}"
    );
    assert!(all.contains("✔ verified: 1 of 1 signatures"), "{all}");
    assert!(all.contains("✔ signature"), "{all}");
    assert!(all.contains("signer key SHA256:fleetkey"), "{all}");
    assert!(
        all.contains("SBOM SPDX 2.3 · 42 components · by syft-1.0"),
        "{all}"
    );
    assert!(
        all.contains("attestation ✔ https://slsa.dev/provenance/v1"),
        "{all}"
    );
    assert!(
        all.contains("SBOM none attached"),
        "the unsigned one has none: {all}"
    );
    // Scrolling stays inside the text; back returns to the list.
    for _ in 0..500 {
        app.update(key('j'));
    }
    assert!(app.screen().offset < text.len());
    app.update(special(KeyCode::Esc));
    assert_eq!(app.screen().kind, ViewKind::Rollouts);
}

#[test]
fn devices_on_an_unknown_or_unverified_digest_are_drift() {
    use fleetdeck::app::InspectTarget;
    use fleetdeck::fleet::{Fleet, Thresholds};
    use fleetdeck::rollout::drift::Drift;
    use fleetdeck::signature::policy::Part;
    use std::sync::Arc;
    let mut app = rollout_app(plan(1, Status::Progressing), false);
    assert!(
        app.signatures.drift.is_empty(),
        "{:?}",
        app.signatures.drift
    );
    // pi-00002 now runs an image nobody rolled out.
    let mut snap = fixture::snapshot(120, 8);
    let rel = snap.devices[1].release.as_mut().expect("a release");
    rel.image_digest = format!("sha256:{}", "99".repeat(32));
    app.update(Event::Fleet {
        generation: 2,
        result: Ok(Arc::new(Fleet::build(snap, None, &Thresholds::default()))),
        warnings: vec![],
    });
    assert_eq!(
        app.signatures.drift.get("pi-00002"),
        Some(&Drift::Unknown(Part::Image))
    );
    assert_eq!(app.signatures.drift.len(), 1);
    // The inspector of that device looks its digest up in the rollout's repository.
    app.update(key('3'));
    app.update(key('/'));
    type_text(&mut app, "pi-00002");
    app.update(special(KeyCode::Enter));
    let fx = app.update(key('i'));
    let asked = format!("registry.local/vision@sha256:{}", "99".repeat(32));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Verify { references } if references.contains(&asked))),
        "{fx:?}"
    );
    let target = InspectTarget::Device("pi-00002".into());
    assert_eq!(app.screen().kind, ViewKind::Inspect(target.clone()));
    let all: String = app
        .inspector_lines(&target)
        .iter()
        .map(|l| l.iter().map(|(_, s)| s.as_str()).collect::<String>() + "\n")
        .collect();
    assert!(
        all.contains("⚑ drift: image digest named by no rollout"),
        "{all}"
    );
    assert!(all.contains(&format!("looked up as {asked}")), "{all}");
    assert!(all.contains("verifying…"), "{all}");
}

#[test]
fn a_release_that_stops_verifying_flags_its_devices() {
    use fleetdeck::rollout::drift::Drift;
    use fleetdeck::signature::policy::Part;
    let mut app = rollout_app(plan(1, Status::Progressing), false);
    let reference = format!("registry.local/vision@sha256:{}", "ef".repeat(32));
    app.update(Event::Signature {
        reference: reference.clone(),
        result: Ok(fixture::sig_report(&reference, false)),
    });
    // The canaries (every 20th device, up) run 1.5.0.
    assert_eq!(
        app.signatures.drift.get("pi-00001"),
        Some(&Drift::Unverified(Part::Image))
    );
    assert_eq!(app.signatures.drift.len(), 6, "{:?}", app.signatures.drift);
}

#[test]
fn the_drift_filter_lists_exactly_the_flagged_devices() {
    let mut app = rollout_app(plan(1, Status::Progressing), false);
    let reference = format!("registry.local/vision@sha256:{}", "ef".repeat(32));
    app.update(Event::Signature {
        reference: reference.clone(),
        result: Ok(fixture::sig_report(&reference, false)),
    });
    app.update(key('3'));
    app.update(key('/'));
    type_text(&mut app, "drift:yes");
    app.update(special(KeyCode::Enter));
    let ids: Vec<String> = app
        .screen()
        .rows
        .iter()
        .map(|&r| app.fleet.devices[r].id().to_string())
        .collect();
    let mut expected: Vec<String> = app.signatures.drift.keys().cloned().collect();
    expected.sort();
    let mut got = ids.clone();
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(ids.len(), 6, "the six canaries on the unverified 1.5.0");
    app.update(special(KeyCode::Esc));
    app.update(key('/'));
    type_text(&mut app, "drift:no");
    app.update(special(KeyCode::Enter));
    assert_eq!(app.screen().rows.len(), 120 - 6);
}

fn ctrl(c: char) -> Event {
    Event::Key(fleetdeck::app::keymap::Key::ctrl(c))
}

/// Issue 9, case 1, exactly as it happened in the demo: `4 j A ctrl-c ctrl-c
/// q enter` committed an abort of vision-1.5.0 with the reason "q" (ctrl-c was
/// ignored in the dialog, `q` became the reason, enter committed). Now the
/// first ctrl-c closes the dialog, the second (outside any dialog) quits, and
/// nothing is ever committed.
#[test]
fn the_demo_keys_4_j_a_ctrl_c_ctrl_c_q_enter_commit_nothing() {
    let mut app = app_with(plan(1, Status::Progressing), false);
    app.update(key('1'));
    assert_eq!(app.screen().kind, ViewKind::Sites);
    let mut all = Vec::new();
    for (i, ev) in [
        key('4'),
        key('j'),
        key('A'),
        ctrl('c'),
        ctrl('c'),
        key('q'),
        special(KeyCode::Enter),
    ]
    .into_iter()
    .enumerate()
    {
        let fx = app.update(ev);
        match i {
            2 => assert!(
                matches!(&app.mode, Mode::Confirm(c) if c.kind == ActionKind::Abort),
                "A opens the abort dialog: {:?}",
                app.mode
            ),
            3 => {
                assert_eq!(app.mode, Mode::Normal, "ctrl-c closes the dialog");
                assert!(fx.is_empty(), "{fx:?}");
                assert!(
                    app.flash
                        .as_ref()
                        .is_some_and(|f| f.text.contains("abort cancelled")),
                    "{:?}",
                    app.flash
                );
            }
            4 => assert_eq!(fx, vec![Effect::Quit], "a ctrl-c outside dialogs quits"),
            _ => {}
        }
        all.extend(fx);
    }
    assert!(
        !all.iter().any(|e| matches!(e, Effect::Act { .. })),
        "nothing may be committed: {all:?}"
    );
    assert!(app.rollouts.busy.is_none());
}

/// esc does the same as ctrl-c in the dialog, and typed text is dropped with it.
#[test]
fn esc_and_ctrl_c_cancel_a_dialog_with_a_typed_reason() {
    for cancel in [special(KeyCode::Esc), ctrl('c')] {
        let mut app = app_with(plan(1, Status::Progressing), false);
        app.update(key('z'));
        type_text(&mut app, "typed half a reason");
        app.update(special(KeyCode::Tab));
        let fx = app.update(cancel);
        assert!(fx.is_empty(), "{fx:?}");
        assert_eq!(app.mode, Mode::Normal);
        // enter afterwards opens the rollout; it does not commit anything.
        let fx = app.update(special(KeyCode::Enter));
        assert!(
            !fx.iter().any(|e| matches!(e, Effect::Act { .. })),
            "{fx:?}"
        );
        // the next dialog starts empty
        app.update(key('z'));
        let Mode::Confirm(c) = &app.mode else {
            panic!("dialog: {:?}", app.mode)
        };
        assert!(c.reason.is_empty() && !c.force, "{c:?}");
    }
}

/// Halt and abort need a non-empty reason (spaces do not count); the dialog
/// stays open and says so.
#[test]
fn halt_and_abort_need_a_reason() {
    for (k, kind) in [('z', ActionKind::Halt), ('A', ActionKind::Abort)] {
        let mut app = app_with(plan(1, Status::Progressing), false);
        app.update(key(k));
        let fx = app.update(special(KeyCode::Enter));
        assert!(fx.is_empty(), "{k}: committed without a reason: {fx:?}");
        assert!(
            matches!(app.mode, Mode::Confirm(_)),
            "the dialog stays open"
        );
        assert!(
            app.flash
                .as_ref()
                .is_some_and(|f| f.text.contains("needs a reason")),
            "{:?}",
            app.flash
        );
        type_text(&mut app, "   ");
        let fx = app.update(special(KeyCode::Enter));
        assert!(fx.is_empty(), "{k}: spaces are no reason: {fx:?}");
        type_text(&mut app, "p95 doubled at ams");
        let fx = app.update(special(KeyCode::Enter));
        match &fx[..] {
            [Effect::Act { request, .. }] => {
                assert_eq!(request.kind, kind);
                assert_eq!(request.reason.as_deref(), Some("p95 doubled at ams"));
            }
            other => panic!("{k}: {other:?}"),
        }
    }
}

/// The inspector is closed by ctrl-c as by esc (back to where it was opened);
/// the console does not quit from it.
#[test]
fn ctrl_c_closes_the_inspector_without_quitting() {
    use fleetdeck::app::InspectTarget;
    let mut app = fixture::rollout_app_signed(plan(1, Status::Progressing), false, |_| true);
    app.update(key('i'));
    assert_eq!(
        app.screen().kind,
        ViewKind::Inspect(InspectTarget::Rollout("vision-1.5.0".into()))
    );
    let fx = app.update(ctrl('c'));
    assert!(fx.is_empty(), "{fx:?}");
    assert!(!app.quit);
    assert_eq!(app.screen().kind, ViewKind::Rollouts);
    // Back in the list, ctrl-c quits.
    assert_eq!(app.update(ctrl('c')), vec![Effect::Quit]);
}
