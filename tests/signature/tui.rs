//! The console's signature path end to end against a real registry (Debian's
//! `docker-registry` on loopback): rollouts loaded → `Effect::Verify` → the
//! real verify worker with a real `ReleaseVerifier` → `Event::Signature` →
//! a promote of the signed release is allowed, a promote of the unsigned one
//! is refused with the registry's reason, and the inspector says why.
//!
//! Needs `docker-registry` (scripts/test.sh installs it).

use crate::support;
use crate::support::fixture;

use fixture::{T0, fleet, key, settings, special, t};
use fleetdeck::app::keymap::{KeyCode, Keymap};
use fleetdeck::app::{App, Effect, Event, InspectTarget, Mode, ViewKind};
use fleetdeck::rollout::action::Check;
use fleetdeck::rollout::plan::{DigestRef, Plan, ReleaseSpec};
use fleetdeck::signature::policy::ReleaseVerifier;
use fleetdeck::signature::{RegistryClient, Trust};
use std::sync::Arc;
use std::time::Duration;
use support::registry::*;

fn spec(img: &Image, version: &str) -> ReleaseSpec {
    ReleaseSpec {
        version: version.into(),
        image: DigestRef::parse(&img.by_digest()).expect("a digest reference"),
        model: None,
        sbom: None,
    }
}

/// Carries out the app's `Effect::Verify` requests with the real worker and
/// feeds every answer back, as the terminal loop does.
async fn run_verify(app: &mut App, effects: Vec<Effect>, verifier: &Arc<ReleaseVerifier>) {
    let (worker, mut rx) = fleetdeck::runtime::verify::spawn(Arc::clone(verifier));
    let mut expected = 0;
    for e in effects {
        if let Effect::Verify { references } = e {
            expected += references.len();
            worker.request(references);
        }
    }
    for _ in 0..expected {
        let ev = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("the verify worker answers")
            .expect("an event");
        assert!(matches!(ev, Event::Signature { .. }), "{ev:?}");
        app.update(ev);
    }
}

fn command(app: &mut App, line: &str) {
    app.update(key(':'));
    fixture::type_text(app, line);
    app.update(special(KeyCode::Enter));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_is_allowed_only_for_the_release_that_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::start();
    let release_key = TestKey::p256(dir.path(), "release");
    let stable = reg
        .push_image("fleet/vision", Some("1.4.0"), "vision 1.4.0")
        .await;
    let signed = reg
        .push_image("fleet/vision", Some("1.5.0"), "vision 1.5.0")
        .await;
    let unsigned = reg
        .push_image("fleet/vision", Some("1.5.1"), "vision 1.5.1")
        .await;
    for img in [&stable, &signed] {
        let payload = simple_signing(&img.name(), &img.digest);
        let layer = signature_layer(&payload, &release_key.sign(&payload));
        reg.push_attachment("fleet/vision", &img.digest, "sig", &[layer])
            .await;
    }
    let mut trust = Trust::default();
    trust
        .add_key_file(release_key.public_pem())
        .expect("the release key loads");
    let verifier = Arc::new(ReleaseVerifier::new(
        trust,
        RegistryClient::new(&reg.config()).expect("registry client"),
    ));

    let mut s = settings();
    s.rollouts_configured = true;
    let mut app = App::new(
        s,
        Keymap::default(),
        "test".into(),
        "default".into(),
        t(T0 + 2),
    );
    app.signatures.enabled = true;
    app.update(Event::Fleet {
        generation: 1,
        result: Ok(fleet(120, 8)),
        warnings: vec![],
    });
    let plans = vec![
        Ok(Plan::new(
            "vision-1.5.0",
            spec(&signed, "1.5.0"),
            spec(&stable, "1.4.0"),
        )),
        Ok(Plan::new(
            "vision-1.5.1",
            spec(&unsigned, "1.5.1"),
            spec(&stable, "1.4.0"),
        )),
    ];
    let fx = app.update(Event::Rollouts { result: Ok(plans) });
    let asked: usize = fx
        .iter()
        .map(|e| match e {
            Effect::Verify { references } => references.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(asked, 3, "each distinct image once: {fx:?}");
    run_verify(&mut app, fx, &verifier).await;

    // The signed release: promote (start the canary) is allowed.
    command(&mut app, "rollout vision-1.5.0");
    assert_eq!(app.screen().kind, ViewKind::Rollout("vision-1.5.0".into()));
    app.update(key('p'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("a confirmation: {:?}", app.mode)
    };
    assert_eq!(c.checks.signature, Check::Pass, "{:?}", c.checks);
    assert!(c.refusal.is_none(), "{:?}", c.refusal);
    app.update(special(KeyCode::Esc));

    // The unsigned one: refused, with the registry's answer as the reason.
    app.update(special(KeyCode::Esc));
    command(&mut app, "rollout vision-1.5.1");
    app.update(key('p'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("a confirmation: {:?}", app.mode)
    };
    let refusal = c.refusal.clone().expect("an unsigned release is refused");
    assert!(
        refusal.starts_with("signature does not verify: image"),
        "{refusal}"
    );
    assert!(refusal.contains("no signatures"), "{refusal}");
    assert!(refusal.contains(&unsigned.name()), "{refusal}");
    app.update(special(KeyCode::Esc));

    // The inspector shows both releases of vision-1.5.1 with what was checked.
    let fx = app.update(key('i'));
    assert!(fx.is_empty(), "verdicts are cached in the app: {fx:?}");
    let target = InspectTarget::Rollout("vision-1.5.1".into());
    let all: String = app
        .inspector_lines(&target)
        .iter()
        .map(|l| l.iter().map(|(_, s)| s.as_str()).collect::<String>() + "\n")
        .collect();
    assert!(
        all.contains("new release 1.5.1  ✖ does not verify"),
        "{all}"
    );
    assert!(
        all.contains("previous release 1.4.0  ✔ verified: image"),
        "{all}"
    );
    assert!(all.contains(&format!("→ {}", stable.digest)), "{all}");
    assert!(all.contains(&release_key.fingerprint()), "{all}");
    assert!(all.contains("✔ signature"), "{all}");

    // Asking again costs the registry nothing: the verifier caches by digest.
    let before = reg.settled_request_count().await;
    let again = app.request_verify(vec![signed.by_digest()]);
    assert!(again.is_empty(), "a verified reference is not asked again");
    run_verify(
        &mut app,
        vec![Effect::Verify {
            references: vec![signed.by_digest(), stable.by_digest()],
        }],
        &verifier,
    )
    .await;
    assert_eq!(reg.settled_request_count().await, before);
}
