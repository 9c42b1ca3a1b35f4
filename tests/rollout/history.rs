//! Issue 11, "History" and "watch": `rollout history NAME [--json]` and
//! `rollout show NAME --watch`, through the real binary against a real git
//! repository that a `Store` (as another operator would) commits to.

use crate::support::git::git;
use fleetdeck::config::RolloutConfig;
use fleetdeck::rollout::action::{ActionKind, ActionRequest, Check, PromoteChecks};
use fleetdeck::rollout::plan::{DigestRef, Plan, ReleaseSpec};
use fleetdeck::rollout::store::Store;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

const DEADLINE: Duration = Duration::from_secs(60);
const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const HOSTILE: &str = "ESC\u{1b}]2;PWNED\u{7}\u{1b}[2J\u{9b}31m\u{202e}txt";

struct Repo {
    dir: tempfile::TempDir,
    repo: PathBuf,
    config: PathBuf,
    store: Store,
}

fn spec(v: &str, d: &str) -> ReleaseSpec {
    ReleaseSpec {
        version: v.into(),
        image: DigestRef::parse(&format!("registry.local/vision@{d}")).expect("ref"),
        model: None,
        sbom: None,
    }
}

/// A local git repository (no remote) with a config pointing at it, and a
/// store on it for the test to act with.
async fn repo() -> Repo {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("gitops");
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.name", "Alice"]);
    git(&repo, &["config", "user.email", "alice@example.com"]);
    let config = dir.path().join("fleetdeck.toml");
    std::fs::write(
        &config,
        format!(
            "[rollout]\nrepo = \"{}\"\ngit_timeout = \"30s\"\n",
            repo.display()
        ),
    )
    .expect("config");
    let store = Store::open(&RolloutConfig {
        repo: Some(repo.display().to_string()),
        git_timeout: Duration::from_secs(30),
        ..RolloutConfig::default()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    Repo {
        dir,
        repo,
        config,
        store,
    }
}

fn req(kind: ActionKind, reason: &str, force: bool) -> ActionRequest {
    ActionRequest {
        kind,
        rollout: "vision-1.5.0".into(),
        reason: Some(reason.to_string()).filter(|r| !r.is_empty()),
        force,
        by: "alice@bastion".into(),
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

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn command(r: &Repo, args: &[&str]) -> tokio::process::Command {
    let home = r.dir.path();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"));
    cmd.arg("--config")
        .arg(&r.config)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("USER", "ops")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn fleetdeck(r: &Repo, args: &[&str]) -> Run {
    let out = tokio::time::timeout(DEADLINE, command(r, args).output())
        .await
        .unwrap_or_else(|_| panic!("fleetdeck {args:?} did not finish within {DEADLINE:?}"))
        .expect("run fleetdeck");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn assert_safe(what: &str, s: &str) {
    if let Some((at, c)) = s
        .char_indices()
        .find(|&(_, c)| c != '\n' && fleetdeck::text::is_unsafe(c))
    {
        panic!("{what} carries {c:?} at byte {at}: {s:?}");
    }
}

#[tokio::test]
async fn history_lists_every_commit_with_action_wave_reason_and_force() {
    let r = repo().await;
    let plan = Plan::new("vision-1.5.0", spec("1.5.0", D2), spec("1.4.0", D1));
    r.store.init(&plan, "alice@bastion").await.expect("init");
    r.store
        .act(&req(ActionKind::Promote, "", false), &pass())
        .await
        .expect("canary");
    // The canary soaks 30 minutes: promoting now needs force and a reason.
    r.store
        .act(
            &req(ActionKind::Promote, "crash fix, canary fine", true),
            &pass(),
        )
        .await
        .expect("forced promote");
    r.store
        .act(
            &req(ActionKind::Halt, "latency spike in ams-1", false),
            &pass(),
        )
        .await
        .expect("halt");
    // A hand edit with a hostile message and author.
    let file = r.repo.join("rollouts/vision-1.5.0.toml");
    let text = std::fs::read_to_string(&file).expect("plan") + "\n# note\n";
    std::fs::write(&file, text).expect("edit");
    git(&r.repo, &["config", "user.name", &format!("Eve{HOSTILE}")]);
    git(
        &r.repo,
        &[
            "commit",
            "-q",
            "-a",
            "-m",
            &format!("tweak {HOSTILE}\n\nAction: {HOSTILE}\nReason: {HOSTILE}"),
        ],
    );

    let run = fleetdeck(&r, &["rollout", "history", "vision-1.5.0", "--json"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.out, run.err);
    assert_safe("history --json", &run.out);
    let v: Value = serde_json::from_str(&run.out).expect("history JSON");
    assert_eq!(v["rollout"], "vision-1.5.0");
    let commits = v["commits"].as_array().expect("commits");
    let actions: Vec<&str> = commits
        .iter()
        .map(|c| c["action"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(actions, ["edit", "halt", "promote", "promote", "init"]);
    let ids: Vec<String> = git(&r.repo, &["log", "--format=%H"])
        .lines()
        .map(str::to_string)
        .collect();
    for (c, id) in commits.iter().zip(&ids) {
        assert_eq!(c["id"].as_str(), Some(id.as_str()));
        assert!(c["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{c}");
        assert_eq!(c["pushed"], false);
    }
    // The hand edit: its subject and author exactly, nothing parsed from it.
    let edit = &commits[0];
    assert_eq!(
        edit["subject"].as_str(),
        Some(format!("tweak {HOSTILE}").as_str())
    );
    assert_eq!(
        edit["author"].as_str(),
        Some(format!("Eve{HOSTILE} <alice@example.com>").as_str())
    );
    assert_eq!(edit["reason"], Value::Null);
    assert_eq!(edit["forced"], false);
    let halt = &commits[1];
    assert_eq!(halt["reason"], "latency spike in ams-1");
    assert_eq!(halt["by"], "alice@bastion");
    assert_eq!(halt["author"], "Alice <alice@example.com>");
    assert_eq!(halt["status"], "progressing → paused");
    assert_eq!(halt["wave_after"], 2);
    assert_eq!(halt["forced"], false);
    let forced = &commits[2];
    assert_eq!(forced["forced"], true);
    assert_eq!(forced["reason"], "crash fix, canary fine");
    assert_eq!(forced["wave"], "1/4 (canary) → 2/4 (25%)");
    let overrode = forced["overrode"].as_array().expect("overrode");
    assert_eq!(overrode.len(), 1, "{forced}");
    assert!(
        overrode[0]
            .as_str()
            .is_some_and(|o| o.starts_with("soak check forced: soak time not over: ")),
        "{forced}"
    );
    assert!(
        forced["recorded_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("FORCED: crash fix, canary fine (overrode: ")),
        "{forced}"
    );
    let first = &commits[3];
    assert_eq!(first["forced"], false);
    assert_eq!(first["reason"], Value::Null);
    assert_eq!(first["wave"], "0/4 (none released) → 1/4 (canary)");
    assert_eq!(first["wave_after"], 1);

    // Text: every commit, the hostile one shown escaped.
    let run = fleetdeck(&r, &["rollout", "history", "vision-1.5.0"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.out, run.err);
    assert_safe("history", &run.out);
    assert!(
        run.out.contains("edit  \"tweak ESC\\u{1b}]2;PWNED"),
        "{}",
        run.out
    );
    assert!(run.out.contains("  FORCED  commit "), "{}", run.out);
    assert!(
        run.out.contains("reason    latency spike in ams-1"),
        "{}",
        run.out
    );
    assert!(
        run.out.contains("overrode  soak check forced: "),
        "{}",
        run.out
    );
    for id in &ids {
        assert!(run.out.contains(&id[..10]), "{id}: {}", run.out);
    }

    let run = fleetdeck(
        &r,
        &[
            "rollout",
            "history",
            "vision-1.5.0",
            "--limit",
            "2",
            "--json",
        ],
    )
    .await;
    let v: Value = serde_json::from_str(&run.out).expect("history JSON");
    assert_eq!(v["commits"].as_array().map(Vec::len), Some(2));

    let run = fleetdeck(&r, &["rollout", "history", "nope"]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.out, run.err);
    assert!(run.err.contains("no rollout 'nope'"), "{}", run.err);
}

/// Starts `rollout show NAME --watch` piped, and waits for its first state.
async fn watching(r: &Repo) -> (tokio::process::Child, String) {
    let mut child = command(
        r,
        &[
            "rollout",
            "show",
            "vision-1.5.0",
            "--watch",
            "--interval",
            "300ms",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout);
    let mut seen = String::new();
    tokio::time::timeout(DEADLINE, async {
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).await.expect("read") == 0 {
                break;
            }
            seen.push_str(&line);
            if line.starts_with("wave 4") {
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no first state: {seen}"));
    assert!(seen.contains("rollout   vision-1.5.0"), "{seen}");
    // Keep reading to the end in the background.
    let rest = tokio::spawn(async move {
        let mut rest = String::new();
        let _ = lines.read_to_string(&mut rest).await;
        rest
    });
    child.stdout = None;
    drop(rest); // detached: it keeps draining the pipe
    (child, seen)
}

async fn wait(child: tokio::process::Child) -> (i32, String) {
    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("the watch ends")
        .expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A plan one promote away from complete (no soak).
fn last_wave_plan() -> Plan {
    let mut p = Plan::new("vision-1.5.0", spec("1.5.0", D2), spec("1.4.0", D1));
    for w in &mut p.waves {
        w.soak = Duration::ZERO;
    }
    p.state.wave = 3;
    p.state.wave_started = Some(SystemTime::now() - Duration::from_secs(60));
    p
}

#[tokio::test]
async fn watch_exits_0_when_the_rollout_completes() {
    let r = repo().await;
    r.store
        .init(&last_wave_plan(), "alice")
        .await
        .expect("init");
    let (child, first) = watching(&r).await;
    assert!(first.contains("status    progressing"), "{first}");
    r.store
        .act(&req(ActionKind::Promote, "", false), &pass())
        .await
        .expect("promote to complete");
    let (code, err) = wait(child).await;
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn watch_exits_1_when_the_rollout_is_aborted() {
    let r = repo().await;
    r.store
        .init(&last_wave_plan(), "alice")
        .await
        .expect("init");
    let (child, _) = watching(&r).await;
    r.store
        .act(&req(ActionKind::Abort, "error spike", false), &pass())
        .await
        .expect("abort");
    let (code, err) = wait(child).await;
    assert_eq!(code, 1, "{err}");
}

#[tokio::test]
async fn watch_ends_on_ctrl_c_with_130() {
    let r = repo().await;
    r.store
        .init(&last_wave_plan(), "alice")
        .await
        .expect("init");
    let (child, _) = watching(&r).await;
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let (code, err) = wait(child).await;
    assert_eq!(code, 130, "{err}");
}
