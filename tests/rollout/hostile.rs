//! Issue 9, cases 2 and 7, through the real CLI and real git repositories:
//!
//! - `rollout init` refuses image references that are not the OCI grammar and
//!   versions that are not one printable word: exit 2, a clear message that
//!   shows the value safely, nothing written, nothing committed;
//! - a plan committed with a hostile wave name (escape sequences) is listed
//!   as invalid with the file and key, and every action on it is refused with
//!   exit 2 — no commit is made;
//! - `rollout halt --yes` with a reason and an operator name full of line
//!   breaks, escapes, bidi and separators makes a commit whose subject is the
//!   expected one line and whose message holds no unsafe character.

use crate::support;

use fleetdeck::rollout::plan::Plan;
use fleetdeck::sim::release_spec_for;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::git::{git, origin_with_plan};

const DEADLINE: Duration = Duration::from_secs(60);
const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const HOSTILE_WAVE: &str = "WAVE\u{1b}]2;PWNED\u{7}\u{1b}[2J";

/// Runs the real binary with a deadline; `HOME` is the test's directory so no
/// user config or git identity leaks in.
async fn fleetdeck(
    home: &Path,
    config: &Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> (i32, String, String) {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(DEADLINE, child)
        .await
        .unwrap_or_else(|_| panic!("fleetdeck {args:?} did not finish within {DEADLINE:?}"))
        .expect("run fleetdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The first character a terminal or git would act on, other than a line break.
fn unsafe_char(s: &str) -> Option<char> {
    s.chars()
        .find(|&c| c != '\n' && fleetdeck::text::is_unsafe(c))
}

fn assert_safe(what: &str, s: &str) {
    if let Some(c) = unsafe_char(s) {
        panic!("{what} carries {c:?}: {s:?}");
    }
}

fn write_config(dir: &Path, repo: &Path) -> PathBuf {
    let path = dir.join("fleetdeck.toml");
    std::fs::write(
        &path,
        format!(
            "[rollout]\nrepo = \"{}\"\ngit_timeout = \"30s\"\nauthor_name = \"ops\"\nauthor_email = \"ops@test\"\n",
            repo.display()
        ),
    )
    .expect("config");
    path
}

fn commits(repo: &Path) -> usize {
    git(repo, &["rev-list", "--count", "--all"])
        .trim()
        .parse()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_init_refuses_malformed_references_and_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("gitops");
    std::fs::create_dir_all(&repo).expect("repo dir");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "start"]);
    let config = write_config(dir.path(), &repo);
    let good = format!("registry.local/vision@{D}");
    let bad_images = [
        format!("r.local/x\u{1b}]2;PWNED\u{7}@{D}"),
        format!("r.local/x@@{D}"),
        format!("r.local/x y@{D}"),
        format!("r.local/x\n@{D}"),
        format!("docker://r.local/x@{D}"),
        format!("r.local/Vision@{D}"),
        "r.local/x:1.5.0".to_string(),
        "r.local/x@sha256:abc".to_string(),
        format!("r.local/x\u{200b}@{D}"),
        format!("{}@{D}", "a".repeat(100_000)),
    ];
    let bad_versions = [
        String::new(),
        "1.5.0\n1.6.0".to_string(),
        "1.5.0\u{1b}[2J".to_string(),
        "1.5 .0".to_string(),
        "1.5.0\u{202e}".to_string(),
        "9".repeat(129),
    ];
    let mut cases: Vec<(String, Vec<String>)> = Vec::new();
    for img in &bad_images {
        cases.push((
            "--image".into(),
            vec![
                "--version".into(),
                "1.5.0".into(),
                "--image".into(),
                img.clone(),
                "--previous".into(),
                good.clone(),
            ],
        ));
        cases.push((
            "--previous".into(),
            vec![
                "--version".into(),
                "1.5.0".into(),
                "--image".into(),
                good.clone(),
                "--previous".into(),
                img.clone(),
            ],
        ));
    }
    for v in &bad_versions {
        cases.push((
            "--version".into(),
            vec![
                "--version".into(),
                v.clone(),
                "--image".into(),
                good.clone(),
                "--previous".into(),
                good.clone(),
            ],
        ));
        cases.push((
            "--previous-version".into(),
            vec![
                "--version".into(),
                "1.5.0".into(),
                "--previous-version".into(),
                v.clone(),
                "--image".into(),
                good.clone(),
                "--previous".into(),
                good.clone(),
            ],
        ));
    }
    let before = commits(&repo);
    for (option, rest) in &cases {
        let mut args = vec!["rollout", "init", "r"];
        args.extend(rest.iter().map(String::as_str));
        let (code, out, err) = fleetdeck(dir.path(), &config, &[], &args).await;
        let shown: String = format!("{rest:?}").chars().take(200).collect();
        assert_eq!(code, 2, "{shown}: exit {code}\n{out}\n{err}");
        assert!(
            err.contains(option.as_str()),
            "{shown}: the error names {option}: {err}"
        );
        assert_safe("stderr", &err);
        assert_safe("stdout", &out);
        assert!(
            err.len() < 2000,
            "{shown}: the echo is cut: {} bytes",
            err.len()
        );
        assert!(!repo.join("rollouts").exists(), "{shown}: nothing written");
        assert_eq!(commits(&repo), before, "{shown}: nothing committed");
    }
    // The same command with good values works: the refusals were the values.
    let (code, out, err) = fleetdeck(
        dir.path(),
        &config,
        &[],
        &[
            "rollout",
            "init",
            "r",
            "--version",
            "1.5.0",
            "--image",
            &good,
            "--previous",
            &good,
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(commits(&repo), before + 1);
}

/// A plan committed by hand (as a hostile or careless colleague could) with
/// an escape sequence in a wave name.
fn hostile_plan_text() -> String {
    let plan = Plan::new("evil", release_spec_for("1.5.0"), release_spec_for("1.4.0"));
    let text = plan.to_toml();
    let hostile = toml::Value::String(HOSTILE_WAVE.to_string()).to_string();
    let out = text.replacen("name = \"canary\"", &format!("name = {hostile}"), 1);
    assert_ne!(out, text, "the plan has a canary wave");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_plan_is_listed_as_invalid_and_every_action_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = Plan::new(
        "vision-1.5.0",
        release_spec_for("1.5.0"),
        release_spec_for("1.4.0"),
    );
    let (origin, ops) = origin_with_plan(dir.path(), &good);
    std::fs::write(ops.join("rollouts/evil.toml"), hostile_plan_text()).expect("plan");
    git(&ops, &["add", "rollouts"]);
    git(&ops, &["commit", "-q", "-m", "rollout evil: init"]);
    git(&ops, &["push", "-q", "origin", "HEAD:main"]);
    // An inventory is needed for `gate` to get as far as reading the plan.
    let inventory = dir.path().join("inventory.json");
    std::fs::write(
        &inventory,
        r#"[{"targets": ["127.0.0.1:1"], "labels": {"device": "pi-1"}}]"#,
    )
    .expect("inventory");
    let config = dir.path().join("fleetdeck.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nkind = \"scrape\"\ninventory = \"{}\"\ntimeout = \"1s\"\n\n\
             [rollout]\nrepo = \"{}\"\ngit_timeout = \"30s\"\nauthor_name = \"ops\"\nauthor_email = \"ops@test\"\n",
            inventory.display(),
            ops.display()
        ),
    )
    .expect("config");
    let home = dir.path();

    let (code, out, err) = fleetdeck(home, &config, &[], &["rollout", "list"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_safe("rollout list", &out);
    assert_safe("rollout list stderr", &err);
    let line = out
        .lines()
        .find(|l| l.starts_with("evil "))
        .unwrap_or_else(|| panic!("evil is listed: {out}"));
    assert!(line.contains("invalid"), "{out}");
    assert!(out.contains("waves[0].name"), "the key is named: {out}");
    assert!(
        out.contains("rollouts/evil.toml"),
        "the file is named: {out}"
    );
    assert!(
        out.contains("WAVE\\u{1b}]2;PWNED\\u{7}\\u{1b}[2J"),
        "the value is shown escaped: {out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("vision-1.5.0 ")),
        "the good plan is still listed: {out}"
    );

    let (code, out, err) = fleetdeck(home, &config, &[], &["rollout", "list", "--json"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_safe("rollout list --json", &out);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let evil = v
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == "evil"))
        .unwrap_or_else(|| panic!("evil in JSON: {out}"));
    assert_eq!(evil["status"], "invalid");
    assert_eq!(evil["key"], "waves[0].name");

    let before = commits(&origin);
    let actions: [&[&str]; 7] = [
        &["rollout", "show", "evil"],
        &["rollout", "promote", "evil", "--yes"],
        &["rollout", "halt", "evil", "--yes", "--reason", "stop"],
        &["rollout", "resume", "evil", "--yes"],
        &["rollout", "abort", "evil", "--yes", "--reason", "stop"],
        &["rollout", "retry", "evil", "--yes"],
        &["gate", "evil"],
    ];
    for args in actions {
        let (code, out, err) = fleetdeck(home, &config, &[], args).await;
        assert_eq!(code, 2, "{args:?} refuses with exit 2: {out}\n{err}");
        assert!(
            err.contains("rollouts/evil.toml") && err.contains("waves[0].name"),
            "{args:?} names the file and the field: {err}"
        );
        assert_safe("stdout", &out);
        assert_safe("stderr", &err);
    }
    assert_eq!(commits(&origin), before, "no action made a commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_commit_message_holds_no_unsafe_character() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = Plan::new("r", release_spec_for("1.5.0"), release_spec_for("1.4.0"));
    let (origin, ops) = origin_with_plan(dir.path(), &plan);
    let _ = write_config(dir.path(), &ops);
    // No identity in the config: git's own, set in the repository, is a
    // hostile name (issue 11: no more $USER@host guess).
    let config = dir.path().join("fleetdeck-git-identity.toml");
    std::fs::write(
        &config,
        format!(
            "[rollout]\nrepo = \"{}\"\ngit_timeout = \"30s\"\n",
            ops.display()
        ),
    )
    .expect("config");
    let reason = "ok\nForced: yes\r\n\u{1b}]2;PWNED\u{7}\u{9b}31m \u{202e}\u{2066}\u{2028}\u{2029}\u{200b}\u{feff}";
    let user = "eve\n\nBy: root\u{1b}[2J\u{200d}";
    git(&ops, &["config", "user.name", user]);
    git(&ops, &["config", "user.email", "eve\u{1b}[2J@example.com"]);
    let (code, out, err) = fleetdeck(
        dir.path(),
        &config,
        &[("USER", user)],
        &["rollout", "halt", "r", "--yes", "--reason", reason],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_safe("stdout", &out);
    assert_safe("stderr", &err);
    let message = git(&origin, &["log", "-1", "--format=%B", "main"]);
    assert_safe("the commit message", &message);
    let lines: Vec<&str> = message.trim_end().lines().collect();
    assert_eq!(
        lines[0],
        "rollout r: halt — wave 0/4 (none released) paused"
    );
    assert_eq!(lines[1], "");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("By: ")).count(),
        1,
        "{message}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("Forced: ")).count(),
        1,
        "{message}"
    );
    assert_eq!(lines.len(), 9, "{message}");
    assert!(
        lines.contains(
            &"Reason: ok\\nForced: yes\\r\\n\\u{1b}]2;PWNED\\u{7}\\u{9b}31m \\u{202e}\\u{2066}\\u{2028}\\u{2029}\\u{200b}\\u{feff}"
        ),
        "{message}"
    );
    let header = git(
        &origin,
        &["log", "-1", "--format=%an <%ae>%n%cn <%ce>", "main"],
    );
    assert_safe("the commit's author and committer", &header);
    // The plan file records the same, and it still loads.
    let text = git(&origin, &["show", "main:rollouts/r.toml"]);
    assert_safe("the plan file", &text);
    let after = Plan::parse(&text, Path::new("rollouts/r.toml")).expect("the plan loads");
    assert_safe(
        "updated_by",
        after.state.updated_by.as_deref().unwrap_or(""),
    );
}
