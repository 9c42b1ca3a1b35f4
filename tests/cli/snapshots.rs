//! Snapshots of the CLI's text outputs: the status table, every start-up
//! refusal of `check-config`, the recording rules and commit messages. Paths
//! are filtered to placeholders; everything else is exactly what an operator
//! reads. Review a change with `cargo insta review` (or INSTA_UPDATE=always
//! and `git diff tests/cli/snapshots`).

use crate::support::fixture;
use crate::support::run::{CHILD_LIMIT, Deadline};
use fleetdeck::rollout::action::{ActionKind, ActionRequest, PromoteChecks, apply, commit_message};
use std::path::Path;
use std::process::Command;

/// Runs the binary with no terminal and an empty home.
fn fleetdeck(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("TERM")
        .env_remove("COLORTERM")
        .output_within(CHILD_LIMIT)
        .expect("run fleetdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn status_table() {
    let fleet = fixture::fleet(60, 4);
    let text = fleetdeck::cli::status::status_text(&fleet, &["2 lines skipped on pi-00009".into()]);
    insta::assert_snapshot!(text);
}

/// Every refused config of tests/fixtures/config/invalid, in one file: the
/// located error, its hint and the exit code, as `check-config` prints them.
#[test]
fn check_config_refusals() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/invalid");
    let home = tempfile::tempdir().expect("tempdir");
    let mut files: Vec<_> = std::fs::read_dir(&fixtures)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() > 20, "the fixtures are there: {}", files.len());
    let mut all = String::new();
    for f in &files {
        let (code, out, err) = fleetdeck(
            home.path(),
            &["check-config", "--config", &f.to_string_lossy()],
        );
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        all.push_str(&format!("== {name} (exit {code})\n{out}{err}\n"));
    }
    let all = all.replace(&fixtures.display().to_string(), "[FIXTURES]");
    insta::assert_snapshot!(all);
}

#[test]
fn recording_rules() {
    let home = tempfile::tempdir().expect("tempdir");
    let config = home.path().join("fleetdeck.toml");
    std::fs::write(
        &config,
        "[source]\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:9090\"\njob = \"fleet\"\n",
    )
    .expect("config");
    let (code, out, err) = fleetdeck(
        home.path(),
        &["--config", &config.to_string_lossy(), "rules"],
    );
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

/// The commit messages of promote, halt and a forced promote: the subject
/// line and the fields `rollout history` reads back.
#[test]
fn commit_messages() {
    let plan = fixture::rollout_plan(1, fleetdeck::rollout::plan::Status::Progressing);
    let mut all = String::new();
    for (kind, force, reason) in [
        (ActionKind::Promote, false, None),
        (ActionKind::Halt, false, Some("error rate up at fra-1")),
        (
            ActionKind::Promote,
            true,
            Some("hotfix, signature checked by hand"),
        ),
        (ActionKind::Abort, false, Some("rollback: latency")),
    ] {
        let req = ActionRequest {
            kind,
            rollout: plan.name.clone(),
            reason: reason.map(str::to_string),
            force,
            by: "ops <ops@example.org>".into(),
            // The canary's soak is over an hour after it started.
            now: fixture::t(fixture::T0 + 3600),
            expected: Some((plan.state.status, plan.state.wave)),
        };
        let checks = PromoteChecks::none();
        match apply(&plan, &req, &checks) {
            Ok(after) => {
                let msg = commit_message(&plan, &after, &req, &checks);
                all.push_str(&format!("== {} force={force}\n{msg}\n\n", kind.key()));
            }
            Err(refusal) => all.push_str(&format!(
                "== {} force={force}\nrefused: {refusal}\n\n",
                kind.key()
            )),
        }
    }
    insta::assert_snapshot!(all);
}
