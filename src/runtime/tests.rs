//! The effect loop carries out every effect, also those of events that effects
//! yield; workers keep one result in flight.

use super::*;
use crate::app::{Settings, SigState};
use crate::rollout::action::{ActionKind, ActionRequest, PromoteChecks};
use crate::rollout::plan::{DigestRef, Plan, ReleaseSpec};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

const T0: SystemTime = SystemTime::UNIX_EPOCH;

fn app() -> App {
    App::new(
        Settings {
            read_only: false,
            stale_after: Duration::from_secs(30),
            sparkline: Duration::from_secs(1800),
            themes: vec![],
            remote_history: false,
            history_span: Duration::from_secs(3600),
            operator: "tester@test".into(),
            rollouts_configured: false,
            allow_shell_read_only: false,
        },
        Default::default(),
        "test".into(),
        "default".into(),
        T0 + Duration::from_secs(1_000_000),
    )
}

/// A frontend whose shell sessions end with `ends_with`'s event.
struct FakeTerminal {
    ends_with: fn() -> Event,
    shells: usize,
}

impl Frontend for FakeTerminal {
    async fn shell(&mut self, _app: &App, _device: String, _accept: Option<String>) -> Event {
        self.shells += 1;
        (self.ends_with)()
    }

    fn load_theme(&mut self, name: &str) -> Result<(), String> {
        Err(format!("no theme {name} here"))
    }
}

fn quiet_terminal() -> FakeTerminal {
    FakeTerminal {
        ends_with: || Event::ShellEnded {
            device: "pi-1".into(),
            message: "session ended".into(),
            ok: true,
        },
        shells: 0,
    }
}

/// A verify worker that answers every reference at once, and counts them.
fn fake_verify(rt: &mut Runtime) -> Arc<AtomicUsize> {
    let asked = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&asked);
    let (requests, inbox) = serve(move |reference: String| {
        count.fetch_add(1, Ordering::SeqCst);
        async move {
            Event::Signature {
                reference,
                result: Err("registry unreachable".into()),
            }
        }
    });
    rt.verify = Some((verify::VerifyWorker(requests), inbox));
    asked
}

/// An action confirmed with no rollout repository configured: the runtime
/// answers it at once with `ActionDone` (refused). The app handles that
/// event inside the effect loop, and asks again for the signature it could
/// not verify earlier — that `Verify` must be carried out, not dropped.
#[tokio::test]
async fn effects_of_an_event_yielded_by_an_effect_are_carried_out() {
    let mut app = app();
    app.signatures.enabled = true;
    let image = DigestRef::parse(&format!(
        "registry.test/fleet/vision@sha256:{}",
        "a".repeat(64)
    ))
    .expect("a digest reference");
    let reference = crate::signature::policy::oci_reference(&image).expect("an OCI reference");
    let spec = ReleaseSpec {
        version: "1.5.0".into(),
        image,
        model: None,
        sbom: None,
    };
    let plan = Plan::new("vision-1.5.0", spec.clone(), spec);
    let now = app.now;
    // The plans are loaded and the release's verification failed, long ago
    // enough to be asked again.
    let asked_first = app.update(Event::Rollouts {
        result: Ok(vec![Ok(plan)]),
    });
    assert_eq!(
        asked_first,
        vec![Effect::Verify {
            references: vec![reference.clone()]
        }]
    );
    app.update(Event::Signature {
        reference: reference.clone(),
        result: Err("registry unreachable".into()),
    });
    app.update(Event::Tick(now + Duration::from_secs(600)));

    let mut rt = Runtime::new();
    let asked = fake_verify(&mut rt);
    let act = Effect::Act {
        request: ActionRequest {
            kind: ActionKind::Halt,
            rollout: "vision-1.5.0".into(),
            reason: Some("test".into()),
            force: false,
            by: "tester@test".into(),
            now,
            expected: None,
        },
        checks: PromoteChecks::none(),
    };
    let mut front = quiet_terminal();
    let flow = rt.execute(&mut app, vec![act], &mut front).await;
    assert_eq!(flow, Flow::Continue);
    let flash = app.flash.as_ref().expect("a message").text.clone();
    assert!(
        flash.contains("no rollout repository is configured"),
        "{flash}"
    );
    // The app asked again (pure state) ...
    assert!(matches!(
        app.signatures.by_ref.get(&reference),
        Some(SigState::Pending)
    ));
    // ... and the runtime carried the request out: the worker answers.
    let answer = tokio::time::timeout(Duration::from_secs(5), rt.next())
        .await
        .expect("the Verify that followed ActionDone was carried out, not dropped")
        .expect("an event");
    assert!(
        matches!(&answer, Event::Signature { reference: r, .. } if *r == reference),
        "{answer:?}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

/// A shell session that ends with the terminal gone: the event comes from
/// the effect, and its `Quit` ends the console.
#[tokio::test]
async fn an_effect_yielded_by_a_shell_session_end_is_carried_out() {
    let mut app = app();
    let mut rt = Runtime::new();
    let mut front = FakeTerminal {
        ends_with: || Event::InputGone {
            reason: "hang-up".into(),
        },
        shells: 0,
    };
    let flow = rt
        .execute(
            &mut app,
            vec![Effect::Shell {
                device: "pi-1".into(),
            }],
            &mut front,
        )
        .await;
    assert_eq!(front.shells, 1);
    assert_eq!(flow, Flow::Quit);
}

/// A theme that does not load: the event the effect yields reaches the app.
#[tokio::test]
async fn a_theme_that_does_not_load_is_reported() {
    let mut app = app();
    let mut rt = Runtime::new();
    let mut front = quiet_terminal();
    let flow = rt
        .execute(
            &mut app,
            vec![Effect::LoadTheme {
                name: "nope".into(),
            }],
            &mut front,
        )
        .await;
    assert_eq!(flow, Flow::Continue);
    let flash = app.flash.as_ref().expect("a message").text.clone();
    assert!(flash.contains("no theme nope here"), "{flash}");
}

/// The worker rule: a request is started only when the last answer was
/// taken in.
#[tokio::test]
async fn a_worker_starts_work_only_when_its_last_result_was_taken_in() {
    let started = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&started);
    let (worker, mut inbox) = serve(move |n: u64| {
        count.fetch_add(1, Ordering::SeqCst);
        async move { Event::Viewport { rows: n as usize } }
    });
    for n in 1..=3 {
        worker.send(n);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(started.load(Ordering::SeqCst), 1, "work started for nobody");
    assert_eq!(inbox.len(), 1);
    for n in 1..=3usize {
        let ev = tokio::time::timeout(Duration::from_secs(5), inbox.recv())
            .await
            .expect("the next answer once the last was taken in")
            .expect("an event");
        assert!(
            matches!(ev, Event::Viewport { rows } if rows == n),
            "{ev:?}"
        );
    }
    assert_eq!(started.load(Ordering::SeqCst), 3);
}

/// Asking again for what is still queued (history at every refresh while a
/// range query is slow) queues it once.
#[tokio::test]
async fn a_distinct_worker_queues_a_repeated_request_once() {
    let started = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&started);
    let (worker, mut inbox) = serve_distinct(move |n: u64| {
        count.fetch_add(1, Ordering::SeqCst);
        async move { Event::Viewport { rows: n as usize } }
    });
    for n in [1, 2, 2, 3, 2] {
        worker.send(n);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut answers = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(500), inbox.recv()).await {
        match ev {
            Event::Viewport { rows } => answers.push(rows),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(answers, vec![1, 2, 3]);
    assert_eq!(started.load(Ordering::SeqCst), 3);
}
