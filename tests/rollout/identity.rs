//! Issue 11, "Who did it": an action names who acted. Without
//! `[rollout] author_name/author_email` and without git's own identity, the
//! real binary refuses (exit 2) and says which to set; with the repository's
//! `git config user.name/user.email` it commits as that person. HOME and git's
//! global and system configs point at empty places.

use crate::support;

use fleetdeck::rollout::plan::Status;
use std::path::Path;
use std::process::Command;
use support::fixture::rollout_plan;
use support::git::{git, origin_with_plan};
use support::run::{CHILD_LIMIT, Deadline as _};

fn fleetdeck(home: &Path, config: &Path, args: &[&str]) -> (i32, String, String) {
    let empty = home.join("empty-gitconfig");
    std::fs::write(&empty, "").expect("empty git config");
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_GLOBAL", &empty)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env_remove("EMAIL")
        .env("USER", "vm")
        .stdin(std::process::Stdio::null())
        .output_within(CHILD_LIMIT)
        .expect("run fleetdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_action_without_identity_is_refused_and_says_what_to_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let (_origin, ops) = origin_with_plan(dir.path(), &rollout_plan(1, Status::Progressing));
    // The clone made by the helper carries no identity of its own.
    let config = dir.path().join("fleetdeck.toml");
    std::fs::write(
        &config,
        format!("[rollout]\nrepo = \"{}\"\n", ops.display()),
    )
    .expect("config");
    let head = git(&ops, &["rev-parse", "HEAD"]);
    let args = ["rollout", "halt", "vision-1.5.0", "--yes", "--reason", "r"];
    let (code, out, err) = fleetdeck(&home, &config, &args);
    assert_eq!(code, 2, "no identity is a config error\n{out}\n{err}");
    assert!(err.contains("no commit identity"), "{err}");
    assert!(err.contains("author_name and author_email"), "{err}");
    assert!(err.contains("user.name / user.email"), "{err}");
    assert_eq!(git(&ops, &["rev-parse", "HEAD"]), head, "nothing committed");

    // Only a name in the config: the error names the email alone.
    std::fs::write(
        &config,
        format!(
            "[rollout]\nrepo = \"{}\"\nauthor_name = \"Ops\"\n",
            ops.display()
        ),
    )
    .expect("config");
    let (code, _, err) = fleetdeck(&home, &config, &args);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("set author_email under [rollout]"), "{err}");

    // git's own identity, in the repository: the commit is theirs.
    git(&ops, &["config", "user.name", "Erin"]);
    git(&ops, &["config", "user.email", "erin@example.com"]);
    std::fs::write(
        &config,
        format!("[rollout]\nrepo = \"{}\"\n", ops.display()),
    )
    .expect("config");
    let (code, out, err) = fleetdeck(&home, &config, &args);
    assert_eq!(code, 0, "{out}\n{err}");
    let author = git(&ops, &["log", "-1", "--format=%an <%ae>|%cn <%ce>|%B"]);
    assert!(
        author.starts_with("Erin <erin@example.com>|Erin <erin@example.com>|"),
        "{author}"
    );
    assert!(author.contains("By: Erin"), "{author}");
    assert!(!author.contains("unknown"), "{author}");
}
