//! The rollout store against real git: a bare repository as origin and two
//! clones as two operators, alice and bob, each with their own `Store`.
//! Everything lives in temporary directories.
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

use crate::support::git::git;
use crate::support::run::{CHILD_LIMIT, Deadline as _};
use fleetdeck::config::RolloutConfig;
use fleetdeck::rollout::action::{ActionKind, ActionRequest, Check, PromoteChecks, Refusal};
use fleetdeck::rollout::plan::{DigestRef, Plan, ReleaseSpec, Status};
use fleetdeck::rollout::store::{CommitInfo, Store, StoreError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};
use tempfile::TempDir;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn cfg(repo: &Path) -> RolloutConfig {
    RolloutConfig {
        repo: Some(repo.display().to_string()),
        git_timeout: Duration::from_secs(30),
        ..RolloutConfig::default()
    }
}

struct Team {
    tmp: TempDir,
    origin: PathBuf,
    alice_dir: PathBuf,
    bob_dir: PathBuf,
    alice: Store,
    bob: Store,
}

/// An empty bare origin and two fresh clones with their own identities.
async fn team() -> Team {
    let tmp = tempfile::tempdir().expect("tempdir");
    let origin = tmp.path().join("origin.git");
    git(tmp.path(), &["init", "-q", "--bare", "origin.git"]);
    let mut dirs = Vec::new();
    for (who, name) in [("alice", "Alice"), ("bob", "Bob")] {
        git(tmp.path(), &["clone", "-q", "origin.git", who]);
        let dir = tmp.path().join(who);
        git(&dir, &["config", "user.name", name]);
        git(
            &dir,
            &["config", "user.email", &format!("{who}@example.com")],
        );
        dirs.push(dir);
    }
    let open = |d: &Path| {
        let c = cfg(d);
        async move { Store::open(&c).await.unwrap_or_else(|e| panic!("{e}")) }
    };
    let alice = open(&dirs[0]).await;
    let bob = open(&dirs[1]).await;
    Team {
        origin,
        alice_dir: dirs[0].clone(),
        bob_dir: dirs[1].clone(),
        alice,
        bob,
        tmp,
    }
}

fn spec(v: &str, d: &str) -> ReleaseSpec {
    ReleaseSpec {
        version: v.into(),
        image: DigestRef::parse(&format!("registry.local/vision@{d}")).expect("ref"),
        model: None,
        sbom: None,
    }
}

/// The default waves (canary, 25 %, 50 %, 100 %) with no soak time.
fn quick_plan(name: &str) -> Plan {
    let mut p = Plan::new(name, spec("1.5.0", D2), spec("1.4.0", D1));
    for w in &mut p.waves {
        w.soak = Duration::ZERO;
    }
    p
}

fn req(kind: ActionKind, rollout: &str, by: &str, reason: &str) -> ActionRequest {
    ActionRequest {
        kind,
        rollout: rollout.into(),
        reason: Some(reason.into()).filter(|r: &String| !r.is_empty()),
        force: false,
        by: by.into(),
        now: SystemTime::now(),
        expected: None,
    }
}

fn pass() -> PromoteChecks {
    PromoteChecks {
        gates: Check::Pass,
        signature: Check::Pass,
        overlap: Check::NotApplicable,
    }
}

fn commits(origin: &Path) -> usize {
    let out = Command::new("git")
        .args(["rev-list", "--count", "refs/heads/main"])
        .current_dir(origin)
        .output_within(CHILD_LIMIT)
        .expect("git runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn origin_plan(origin: &Path, name: &str) -> Plan {
    let text = git(
        origin,
        &["show", &format!("refs/heads/main:rollouts/{name}.toml")],
    );
    Plan::parse(&text, Path::new(&format!("rollouts/{name}.toml")))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn last_message(origin: &Path) -> String {
    git(origin, &["log", "-1", "--format=%B", "refs/heads/main"])
}

fn head(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD"]).trim().to_string()
}

fn origin_head(origin: &Path) -> String {
    git(origin, &["rev-parse", "refs/heads/main"])
        .trim()
        .to_string()
}

fn is_clean(dir: &Path) -> bool {
    git(dir, &["status", "--porcelain"]).trim().is_empty()
}

/// Holds `dir`'s next action at `hook` until the test lets it go: the hook
/// touches `ready` and waits for `go`. This builds a real race: the operator
/// has synced and committed, and someone else pushes before their push.
/// `post-commit` holds before the push starts (git rejects it: "fetch first");
/// `pre-push` holds after origin advertised its branch, so both pushes are in
/// flight and origin refuses the second ref update ("cannot lock ref").
fn hold_at(dir: &Path, hook: &str, ready: &Path, go: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let hook = dir.join(".git/hooks").join(hook);
    let script = format!(
        "#!/bin/sh\n[ -e '{go}' ] && exit 0\ntouch '{}'\nwhile [ ! -e '{go}' ]; do sleep 0.02; done\n",
        ready.display(),
        go = go.display()
    );
    std::fs::write(&hook, script).expect("hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

async fn wait_for(file: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !file.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn init_is_seen_by_the_other_operator_and_a_malformed_plan_hides_no_other() {
    let t = team().await;
    let info = t
        .alice
        .init(&quick_plan("vision-1.5.0"), "alice")
        .await
        .expect("init");
    assert!(info.pushed);
    assert_eq!(
        info.subject,
        "rollout vision-1.5.0: init — 1.5.0 replaces 1.4.0, 4 waves"
    );
    assert_eq!(info.author, "Alice <alice@example.com>");
    assert_eq!(info.id, origin_head(&t.origin));
    let msg = last_message(&t.origin);
    assert!(
        msg.contains("\nWaves: canary → 25% → 50% → 100%\nBy: alice\n"),
        "{msg}"
    );

    // Bob sees it once he syncs.
    assert!(matches!(
        t.bob.read("vision-1.5.0").await,
        Err(StoreError::NoSuchRollout { .. })
    ));
    t.bob.sync().await.expect("sync");
    let p = t.bob.read("vision-1.5.0").await.expect("read");
    assert_eq!(p.state.updated_by.as_deref(), Some("alice"));
    assert_eq!(p, origin_plan(&t.origin, "vision-1.5.0"));

    // Never overwritten, by anyone.
    let e = t
        .bob
        .init(&quick_plan("vision-1.5.0"), "bob")
        .await
        .expect_err("exists");
    assert!(matches!(e, StoreError::Exists { .. }), "{e}");
    assert_eq!(commits(&t.origin), 1);

    // A malformed plan next to good ones.
    t.alice
        .init(&quick_plan("audio-2.0.0"), "alice")
        .await
        .expect("init b");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rollout");
    for f in ["bad-digest.toml", "README.md"] {
        std::fs::copy(fixtures.join(f), t.alice_dir.join("rollouts").join(f)).expect("copy");
    }
    git(&t.alice_dir, &["add", "rollouts"]);
    git(&t.alice_dir, &["commit", "-q", "-m", "hand-written plan"]);
    git(
        &t.alice_dir,
        &["push", "-q", "origin", "HEAD:refs/heads/main"],
    );
    t.bob.sync().await.expect("sync");
    let list = t.bob.list().await.expect("list");
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(list[0].as_ref().map(|p| p.name.as_str()), Ok("audio-2.0.0"));
    let e = list[1].as_ref().expect_err("bad digest");
    assert!(e.file.ends_with("rollouts/bad-digest.toml"), "{e}");
    assert_eq!((e.line, e.key.as_str()), (7, "release.image"), "{e}");
    assert!(e.to_string().contains("bad-digest.toml:7:"), "{e}");
    assert_eq!(
        list[2].as_ref().map(|p| p.name.as_str()),
        Ok("vision-1.5.0")
    );

    assert!(matches!(
        t.bob.read("bad-digest").await,
        Err(StoreError::Invalid(_))
    ));
    let e = t.bob.read("nope").await.expect_err("absent");
    assert_eq!(
        e.to_string(),
        "no rollout 'nope' (rollouts: audio-2.0.0, bad-digest, vision-1.5.0)"
    );
    assert!(matches!(
        t.bob.read("../etc/passwd").await,
        Err(StoreError::NoSuchRollout { .. })
    ));
}

#[tokio::test]
async fn every_action_is_exactly_one_pushed_commit() {
    let t = team().await;
    let name = "vision-1.5.0";
    t.alice
        .init(&quick_plan(name), "alice")
        .await
        .expect("init");
    use ActionKind::*;
    use Status::*;
    let steps = [
        (
            Promote,
            Progressing,
            1,
            "wave 1/4 (canary) progressing",
            "0/4 (none released) → 1/4 (canary)",
            "progressing → progressing",
        ),
        (
            Halt,
            Paused,
            1,
            "wave 1/4 (canary) paused",
            "1/4 (canary) → 1/4 (canary)",
            "progressing → paused",
        ),
        (
            Resume,
            Progressing,
            1,
            "wave 1/4 (canary) progressing",
            "1/4 (canary) → 1/4 (canary)",
            "paused → progressing",
        ),
        (
            Promote,
            Progressing,
            2,
            "wave 2/4 (25%) progressing",
            "1/4 (canary) → 2/4 (25%)",
            "progressing → progressing",
        ),
        (
            Abort,
            Aborted,
            2,
            "wave 2/4 (25%) aborted",
            "2/4 (25%) → 2/4 (25%)",
            "progressing → aborted",
        ),
        (
            Retry,
            Progressing,
            0,
            "wave 0/4 (none released) progressing",
            "2/4 (25%) → 0/4 (none released)",
            "aborted → progressing",
        ),
        (
            Promote,
            Progressing,
            1,
            "wave 1/4 (canary) progressing",
            "0/4 (none released) → 1/4 (canary)",
            "progressing → progressing",
        ),
    ];
    let mut ids = Vec::new();
    for (i, (kind, status, wave, subject, waves, statuses)) in steps.into_iter().enumerate() {
        let before = commits(&t.origin);
        let reason = format!("step {i}");
        let (plan, info) = t
            .alice
            .act(&req(kind, name, "alice", &reason), &pass())
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(commits(&t.origin), before + 1, "{kind:?}: one commit");
        assert!(info.pushed);
        assert_eq!(info.id, origin_head(&t.origin));
        let msg = last_message(&t.origin);
        let want = format!(
            "rollout {name}: {} — {subject}\n\nAction: {}\nRollout: {name}\nWave: {waves}\n\
             Status: {statuses}\nBy: alice\nReason: {reason}\nForced: no\n",
            kind.key(),
            kind.key()
        );
        assert_eq!(msg.trim_end(), want.trim_end());
        let remote = origin_plan(&t.origin, name);
        assert_eq!((remote.state.status, remote.state.wave), (status, wave));
        assert_eq!(remote.state.reason.as_deref(), Some(reason.as_str()));
        assert_eq!(plan, remote, "act returns what was committed");
        assert!(is_clean(&t.alice_dir));
        ids.push(info.id);
    }
    let log = t.alice.log(name, 20).await.expect("log");
    assert_eq!(log.len(), steps.len() + 1);
    ids.reverse();
    assert_eq!(
        log.iter()
            .take(ids.len())
            .map(|c| c.id.clone())
            .collect::<Vec<_>>(),
        ids
    );
    assert!(
        log.iter()
            .all(|c| c.pushed && c.author == "Alice <alice@example.com>")
    );
    assert!(log[log.len() - 1].subject.contains(": init — "));
    assert_eq!(t.alice.log(name, 2).await.expect("log").len(), 2);
}

#[tokio::test]
async fn two_operators_promote_the_same_wave_and_the_later_push_is_rejected() {
    same_wave_race("post-commit").await;
}

#[tokio::test]
async fn two_operators_promote_the_same_wave_with_both_pushes_in_flight() {
    same_wave_race("pre-push").await;
}

async fn same_wave_race(hook: &str) {
    let t = team().await;
    let name = "vision-1.5.0";
    t.alice
        .init(&quick_plan(name), "alice")
        .await
        .expect("init");
    t.alice
        .act(&req(ActionKind::Promote, name, "alice", "canary"), &pass())
        .await
        .expect("wave 1");
    t.bob.sync().await.expect("sync");
    let before = commits(&t.origin);

    // Both saw wave 1 progressing and promote it. Bob syncs and commits first,
    // but alice's push lands while his waits in the pre-push hook.
    let ready = t.tmp.path().join("bob-ready");
    let go = t.tmp.path().join("bob-go");
    hold_at(&t.bob_dir, hook, &ready, &go);
    let mut alice_req = req(ActionKind::Promote, name, "alice", "canary healthy");
    alice_req.expected = Some((Status::Progressing, 1));
    let mut bob_req = req(ActionKind::Promote, name, "bob", "canary looks fine");
    bob_req.expected = Some((Status::Progressing, 1));
    let alice = async {
        wait_for(&ready).await;
        let r = t.alice.act(&alice_req, &pass()).await;
        std::fs::write(&go, "").expect("go");
        r
    };
    let checks = pass();
    let (alice, bob) = tokio::join!(alice, t.bob.act(&bob_req, &checks));
    let (plan, alice_commit) = alice.expect("alice wins");
    assert_eq!(plan.state.wave, 2);
    let e = bob.expect_err("bob loses");
    let StoreError::Conflict { name: n, message } = &e else {
        panic!("expected a conflict, got {e:?}");
    };
    assert_eq!(n, name);
    for part in [
        "vision-1.5.0 changed before your promote reached origin",
        "it is now wave 2/4 (25%) progressing (by alice: canary healthy)",
        "was wave 1/4 (canary) progressing",
        "by Alice <alice@example.com>: \"rollout vision-1.5.0: promote — wave 2/4 (25%) progressing\"",
        "Your promote was not applied",
    ] {
        assert!(message.contains(part), "missing {part:?} in: {message}");
    }

    // Exactly one wave advance 1 → 2, alice's, in a linear history.
    assert_eq!(commits(&t.origin), before + 1);
    let bodies = git(&t.origin, &["log", "--format=%B", "refs/heads/main"]);
    assert_eq!(bodies.matches("Wave: 1/4 (canary) → 2/4 (25%)").count(), 1);
    assert_eq!(origin_head(&t.origin), alice_commit.id);
    assert_eq!(
        git(
            &t.origin,
            &["rev-list", "--merges", "--count", "refs/heads/main"]
        )
        .trim(),
        "0"
    );
    assert_eq!(
        origin_plan(&t.origin, name).state.updated_by.as_deref(),
        Some("alice")
    );

    // Bob's clone is origin again: his commit is gone, nothing left over.
    assert_eq!(head(&t.bob_dir), alice_commit.id);
    assert!(is_clean(&t.bob_dir));
    assert_eq!(t.bob.read(name).await.expect("read").state.wave, 2);

    // Trying again on what he saw is refused, naming the new state.
    let e = t.bob.act(&bob_req, &pass()).await.expect_err("stale");
    assert_eq!(
        e.to_string(),
        "refused: the rollout changed since you looked: now wave 2/4 (25%) progressing (by alice: canary healthy)"
    );
    assert_eq!(commits(&t.origin), before + 1);
}

#[tokio::test]
async fn concurrent_promotes_advance_the_wave_once() {
    let t = team().await;
    let name = "vision-1.5.0";
    t.alice
        .init(&quick_plan(name), "alice")
        .await
        .expect("init");
    t.bob.sync().await.expect("sync");
    let mut a = req(ActionKind::Promote, name, "alice", "go");
    a.expected = Some((Status::Progressing, 0));
    let mut b = req(ActionKind::Promote, name, "bob", "go");
    b.expected = Some((Status::Progressing, 0));
    // Whatever the interleaving, one wins and the other is told.
    let checks = pass();
    let (ra, rb) = tokio::join!(t.alice.act(&a, &checks), t.bob.act(&b, &checks));
    let wins = [ra.is_ok(), rb.is_ok()].iter().filter(|w| **w).count();
    assert_eq!(wins, 1, "alice: {ra:?}\nbob: {rb:?}");
    for r in [&ra, &rb] {
        if let Err(e) = r {
            assert!(
                matches!(
                    e,
                    StoreError::Conflict { .. } | StoreError::Refused(Refusal::Changed { .. })
                ),
                "{e}"
            );
        }
    }
    assert_eq!(commits(&t.origin), 2);
    assert_eq!(origin_plan(&t.origin, name).state.wave, 1);
    t.alice.sync().await.expect("sync");
    t.bob.sync().await.expect("sync");
    assert_eq!(head(&t.alice_dir), origin_head(&t.origin));
    assert_eq!(head(&t.bob_dir), origin_head(&t.origin));
}

#[tokio::test]
async fn actions_on_different_rollouts_at_once_both_land() {
    let t = team().await;
    t.alice
        .init(&quick_plan("a"), "alice")
        .await
        .expect("init a");
    t.alice
        .init(&quick_plan("b"), "alice")
        .await
        .expect("init b");
    t.bob.sync().await.expect("sync");
    let ready = t.tmp.path().join("bob-ready");
    let go = t.tmp.path().join("bob-go");
    hold_at(&t.bob_dir, "pre-push", &ready, &go);
    let alice = async {
        wait_for(&ready).await;
        let r = t
            .alice
            .act(&req(ActionKind::Halt, "a", "alice", ""), &pass())
            .await;
        std::fs::write(&go, "").expect("go");
        r
    };
    let bob_req = req(ActionKind::Promote, "b", "bob", "");
    let checks = pass();
    let (ra, rb) = tokio::join!(alice, t.bob.act(&bob_req, &checks));
    let (_, alice_commit) = ra.expect("alice");
    // Bob's first push was rejected, but "b" had not changed: redone on top.
    let (plan, bob_commit) = rb.expect("bob redone on the new state");
    assert_eq!(plan.state.wave, 1);
    assert_eq!(commits(&t.origin), 4);
    assert_eq!(origin_head(&t.origin), bob_commit.id);
    assert_eq!(
        git(&t.origin, &["rev-parse", &format!("{}^", bob_commit.id)]).trim(),
        alice_commit.id
    );
    assert_eq!(origin_plan(&t.origin, "a").state.status, Status::Paused);
    assert_eq!(origin_plan(&t.origin, "b").state.wave, 1);
    assert!(bob_commit.pushed);
    assert_eq!(bob_commit.author, "Bob <bob@example.com>");
}

#[tokio::test]
async fn two_operators_init_the_same_rollout_on_an_empty_origin() {
    let t = team().await;
    let ready = t.tmp.path().join("bob-ready");
    let go = t.tmp.path().join("bob-go");
    hold_at(&t.bob_dir, "post-commit", &ready, &go);
    let alice = async {
        wait_for(&ready).await;
        let r = t.alice.init(&quick_plan("v"), "alice").await;
        std::fs::write(&go, "").expect("go");
        r
    };
    let plan = quick_plan("v");
    let (ra, rb) = tokio::join!(alice, t.bob.init(&plan, "bob"));
    let alice_commit = ra.expect("alice first");
    let e = rb.expect_err("bob second");
    let StoreError::Conflict { message, .. } = &e else {
        panic!("expected a conflict, got {e:?}");
    };
    assert!(
        message.starts_with(
            "v was created by someone else first: it is wave 0/4 (none released) progressing (by alice)"
        ),
        "{message}"
    );
    assert_eq!(commits(&t.origin), 1);
    assert_eq!(head(&t.bob_dir), alice_commit.id);
    assert!(is_clean(&t.bob_dir));
    assert_eq!(
        t.bob
            .read("v")
            .await
            .expect("read")
            .state
            .updated_by
            .as_deref(),
        Some("alice")
    );
}

#[tokio::test]
async fn a_failed_push_leaves_no_local_commit() {
    use std::os::unix::fs::PermissionsExt;
    let t = team().await;
    t.alice.init(&quick_plan("v"), "alice").await.expect("init");
    let before = head(&t.alice_dir);
    let hook = t.alice_dir.join(".git/hooks/pre-push");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'origin is read-only today' >&2\nexit 1\n",
    )
    .expect("hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let e = t
        .alice
        .act(&req(ActionKind::Promote, "v", "alice", ""), &pass())
        .await
        .expect_err("push fails");
    assert!(
        matches!(&e, StoreError::Git { command, stderr } if command.starts_with("git push")
            && stderr.contains("origin is read-only today")),
        "{e:?}"
    );
    assert_eq!(head(&t.alice_dir), before, "the commit is taken back");
    assert!(is_clean(&t.alice_dir));
    assert_eq!(t.alice.read("v").await.expect("read").state.wave, 0);
    assert_eq!(commits(&t.origin), 1);
    // Once origin takes pushes again, the action works as if nothing happened.
    std::fs::remove_file(&hook).expect("unhook");
    let (p, _) = t
        .alice
        .act(&req(ActionKind::Promote, "v", "alice", ""), &pass())
        .await
        .expect("promote");
    assert_eq!(p.state.wave, 1);
    assert_eq!(commits(&t.origin), 2);
}

#[tokio::test]
async fn refusals_leave_no_commit_and_force_is_recorded() {
    let t = team().await;
    let name = "vision-1.5.0";
    // The default plan: canary soaks 30 minutes.
    let plan = Plan::new(name, spec("1.5.0", D2), spec("1.4.0", D1));
    t.alice.init(&plan, "alice").await.expect("init");
    t.alice
        .act(&req(ActionKind::Promote, name, "alice", ""), &pass())
        .await
        .expect("canary");
    let n = commits(&t.origin);

    let e = t
        .alice
        .act(&req(ActionKind::Promote, name, "alice", ""), &pass())
        .await
        .expect_err("soaking");
    let text = e.to_string();
    assert!(
        matches!(e, StoreError::Refused(Refusal::Soaking { wave: 1, .. })),
        "{text}"
    );
    assert!(text.starts_with("refused: soak time not over: "), "{text}");
    assert!(text.ends_with(" of 30m left in wave 1 (canary)"), "{text}");

    let mut forced = req(ActionKind::Promote, name, "alice", "");
    forced.force = true;
    let e = t.alice.act(&forced, &pass()).await.expect_err("no reason");
    assert!(
        matches!(e, StoreError::Refused(Refusal::ForceWithoutReason)),
        "{e}"
    );
    assert_eq!(commits(&t.origin), n);

    forced.reason = Some("fix for the crash loop, canary fine".into());
    let (p, info) = t.alice.act(&forced, &pass()).await.expect("forced");
    assert_eq!(p.state.wave, 2);
    assert!(info.subject.ends_with(" [FORCED]"), "{}", info.subject);
    let msg = last_message(&t.origin);
    assert!(msg.contains("\nForced: yes\n"), "{msg}");
    assert!(
        msg.contains(
            "Reason: FORCED: fix for the crash loop, canary fine (overrode: soak time not over: "
        ),
        "{msg}"
    );
    assert_eq!(commits(&t.origin), n + 1);

    // Halt, then promote: refused because paused, not forceable.
    t.bob.sync().await.expect("sync");
    t.bob
        .act(
            &req(ActionKind::Halt, name, "bob", "latency spike in ams-1"),
            &pass(),
        )
        .await
        .expect("halt");
    let e = t
        .alice
        .act(&req(ActionKind::Promote, name, "alice", ""), &pass())
        .await
        .expect_err("paused");
    assert_eq!(
        e.to_string(),
        "refused: vision-1.5.0 is paused: resume it before promoting"
    );
    let e = t
        .alice
        .act(&forced, &pass())
        .await
        .expect_err("paused, forced");
    assert!(
        matches!(e, StoreError::Refused(Refusal::WrongStatus { .. })),
        "{e}"
    );
    assert_eq!(commits(&t.origin), n + 2);

    // A user's uncommitted edit to the plan is never committed or clobbered.
    let file = t.alice_dir.join("rollouts/vision-1.5.0.toml");
    let edited = std::fs::read_to_string(&file).expect("read") + "\n# my note\n";
    std::fs::write(&file, &edited).expect("edit");
    let e = t
        .alice
        .act(&req(ActionKind::Resume, name, "alice", ""), &pass())
        .await
        .expect_err("dirty");
    assert!(matches!(e, StoreError::Dirty { .. }), "{e}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), edited);
    assert!(!is_clean(&t.alice_dir), "the edit is still there");
    assert_eq!(commits(&t.origin), n + 2);
}

#[tokio::test]
async fn a_local_repository_without_a_remote_commits_and_does_not_push() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("gitops");
    std::fs::create_dir(&dir).expect("mkdir");
    git(&dir, &["init", "-q"]);
    git(&dir, &["config", "user.name", "Carol"]);
    git(&dir, &["config", "user.email", "carol@example.com"]);
    let store = Store::open(&cfg(&dir)).await.expect("open");
    assert!(!store.has_remote());
    store.sync().await.expect("sync is a no-op");
    let info = store.init(&quick_plan("v"), "carol").await.expect("init");
    assert!(!info.pushed);
    let (plan, info) = store
        .act(
            &req(ActionKind::Promote, "v", "carol", "first wave"),
            &pass(),
        )
        .await
        .expect("promote");
    assert!(!info.pushed);
    assert_eq!(plan.state.wave, 1);
    assert_eq!(git(&dir, &["rev-list", "--count", "HEAD"]).trim(), "2");
    assert_eq!(
        git(&dir, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
    assert_eq!(info.author, "Carol <carol@example.com>");
    let log: Vec<CommitInfo> = store.log("v", 10).await.expect("log");
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|c| !c.pushed));
    assert!(is_clean(&dir));
}

#[tokio::test]
async fn not_a_repository_names_the_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for dir in [tmp.path().to_path_buf(), tmp.path().join("missing")] {
        let Err(e) = Store::open(&cfg(&dir)).await else {
            panic!("{} opened", dir.display());
        };
        match &e {
            StoreError::NotARepo { path } => assert_eq!(path, &dir),
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
    }
    let Err(e) = Store::open(&RolloutConfig::default()).await else {
        panic!("opened without a repo");
    };
    assert!(matches!(e, StoreError::NotConfigured), "{e}");
}

#[tokio::test]
async fn a_remote_url_is_cloned_into_the_clone_dir_and_reused() {
    let t = team().await;
    t.alice.init(&quick_plan("v"), "alice").await.expect("init");
    let url = format!("file://{}", t.origin.display());
    let clone_dir = t.tmp.path().join("data/repos/clone");
    let c = RolloutConfig {
        repo: Some(url.clone()),
        clone_dir: Some(clone_dir.clone()),
        author_name: Some("Ops Bot".into()),
        author_email: Some("ops@example.com".into()),
        git_timeout: Duration::from_secs(30),
        ..RolloutConfig::default()
    };
    let store = Store::open(&c).await.expect("clone");
    assert_eq!(store.path(), clone_dir);
    assert!(store.has_remote());
    assert_eq!(store.read("v").await.expect("read").state.wave, 0);
    let (_, info) = store
        .act(&req(ActionKind::Promote, "v", "ops", "scheduled"), &pass())
        .await
        .expect("promote");
    assert!(info.pushed);
    assert_eq!(info.author, "Ops Bot <ops@example.com>");
    assert_eq!(origin_plan(&t.origin, "v").state.wave, 1);
    drop(store);

    // Opened again: the clone is reused and fetched.
    t.alice.sync().await.expect("sync");
    t.alice
        .act(&req(ActionKind::Halt, "v", "alice", ""), &pass())
        .await
        .expect("halt");
    let store = Store::open(&c).await.expect("reuse");
    assert_eq!(
        store.read("v").await.expect("read").state.status,
        Status::Paused
    );

    // The same clone dir for another repository is refused.
    let other = RolloutConfig {
        repo: Some("file:///somewhere/else.git".into()),
        ..c.clone()
    };
    let Err(e) = Store::open(&other).await else {
        panic!("opened a clone of another repository");
    };
    assert!(matches!(e, StoreError::OtherRemote { .. }), "{e}");
}

/// A TCP listener that accepts connections and never answers.
fn silent_listener() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    port
}

#[tokio::test]
async fn a_hanging_remote_times_out() {
    let port = silent_listener();
    let url = format!("git://127.0.0.1:{port}/rollouts.git");
    let tmp = tempfile::tempdir().expect("tempdir");
    let timeout = Duration::from_secs(2);

    // Cloning it.
    let clone_dir = tmp.path().join("clone");
    let c = RolloutConfig {
        repo: Some(url.clone()),
        clone_dir: Some(clone_dir.clone()),
        git_timeout: timeout,
        ..RolloutConfig::default()
    };
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(20), Store::open(&c))
        .await
        .expect("open came back");
    let Err(e) = r else {
        panic!("cloned a silent remote")
    };
    match &e {
        StoreError::Timeout { command, after } => {
            assert!(command.starts_with("git clone"), "{command}");
            assert_eq!(*after, timeout);
        }
        other => panic!("{other:?}"),
    }
    println!("clone timed out after {:?}: {e}", started.elapsed());
    assert!(!clone_dir.exists(), "the half-made clone is removed");

    // Acting on a local clone whose origin hangs: the sync times out, nothing is committed.
    let dir = tmp.path().join("local");
    std::fs::create_dir(&dir).expect("mkdir");
    git(&dir, &["init", "-q"]);
    git(&dir, &["config", "user.name", "Dave"]);
    git(&dir, &["config", "user.email", "dave@example.com"]);
    let local = Store::open(&RolloutConfig {
        git_timeout: timeout,
        ..cfg(&dir)
    })
    .await
    .expect("open local");
    local
        .init(&quick_plan("v"), "dave")
        .await
        .expect("init, no remote yet");
    git(&dir, &["remote", "add", "origin", &url]);
    let local = Store::open(&RolloutConfig {
        git_timeout: timeout,
        ..cfg(&dir)
    })
    .await
    .expect("open with remote");
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        local.act(&req(ActionKind::Promote, "v", "dave", ""), &pass()),
    )
    .await
    .expect("act came back");
    assert!(matches!(r, Err(StoreError::Timeout { .. })), "{r:?}");
    assert_eq!(git(&dir, &["rev-list", "--count", "HEAD"]).trim(), "1");
}

/// Not a benchmark with limits: prints what an action costs over a plain
/// `git commit && git push`, and over `git pull --ff-only && git commit &&
/// git push` (what a careful person types), on loopback. Each round, the
/// others have pushed since, so both the action and the careful person
/// fast-forward first. Run with --nocapture to see it.
#[tokio::test]
async fn overhead_of_an_action_over_plain_git() {
    let t = team().await;
    t.alice.init(&quick_plan("v"), "alice").await.expect("init");
    git(&t.bob_dir, &["pull", "-q", "--ff-only", "origin", "main"]);
    const N: usize = 15;
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (mut act, mut plain, mut careful) = (Vec::new(), Vec::new(), Vec::new());
    let file = t.bob_dir.join("plain.txt");
    for i in 0..N {
        let kind = if i % 2 == 0 {
            ActionKind::Halt
        } else {
            ActionKind::Resume
        };
        let started = Instant::now();
        t.alice
            .act(&req(kind, "v", "alice", ""), &pass())
            .await
            .expect("act");
        act.push(started.elapsed());

        // Bob, by hand, on another file.
        std::fs::write(&file, format!("{i}a\n")).expect("write");
        git(&t.bob_dir, &["add", "plain.txt"]);
        let started = Instant::now();
        git(&t.bob_dir, &["pull", "-q", "--ff-only", "origin", "main"]);
        git(&t.bob_dir, &["commit", "-q", "-m", "careful"]);
        git(
            &t.bob_dir,
            &["push", "-q", "origin", "HEAD:refs/heads/main"],
        );
        careful.push(started.elapsed());

        std::fs::write(&file, format!("{i}b\n")).expect("write");
        git(&t.bob_dir, &["add", "plain.txt"]);
        let started = Instant::now();
        git(&t.bob_dir, &["commit", "-q", "-m", "plain"]);
        git(
            &t.bob_dir,
            &["push", "-q", "origin", "HEAD:refs/heads/main"],
        );
        plain.push(started.elapsed());
    }
    let (act, plain, careful) = (median(act), median(plain), median(careful));
    println!(
        "median of {N}: store.act {act:?} | git commit && git push {plain:?} (overhead {:?}) | \
         git pull --ff-only && git commit && git push {careful:?} (overhead {:?})",
        act.saturating_sub(plain),
        act.saturating_sub(careful)
    );
}
