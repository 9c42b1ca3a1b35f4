//! Real git repositories for tests: a bare "origin" and operators' clones.

use super::run::{CHILD_LIMIT, Deadline as _};
use fleetdeck::rollout::plan::Plan;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Runs git in `dir` (under a deadline, in the C locale, never prompting);
/// panics with git's stderr on failure. Its global config is a test one:
/// identity `test <test@test>`, branch `main`, no signing — a repository's own
/// `git config user.name …` still wins (operators with their own identities).
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", global_config())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .output_within(CHILD_LIMIT)
        .expect("git is not installed: apt-get install git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The test processes' git global config, written once.
fn global_config() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("fleetdeck-test-gitconfig-{}", std::process::id()));
        std::fs::write(
            &path,
            "[user]\n\tname = test\n\temail = test@test\n[commit]\n\tgpgsign = false\n[init]\n\tdefaultBranch = main\n",
        )
        .expect("write the tests' git config");
        path
    })
}

/// A bare `origin.git` and an operator's clone `ops` under `dir`, with
/// `plan` committed as `rollouts/<name>.toml` and pushed.
pub fn origin_with_plan(dir: &Path, plan: &Plan) -> (PathBuf, PathBuf) {
    let origin = dir.join("origin.git");
    let ops = dir.join("ops");
    git(
        dir,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            &origin.to_string_lossy(),
        ],
    );
    git(
        dir,
        &[
            "clone",
            "-q",
            &origin.to_string_lossy(),
            &ops.to_string_lossy(),
        ],
    );
    std::fs::create_dir_all(ops.join("rollouts")).expect("rollouts dir");
    std::fs::write(
        ops.join(format!("rollouts/{}.toml", plan.name)),
        plan.to_toml(),
    )
    .expect("plan file");
    git(&ops, &["add", "rollouts"]);
    git(
        &ops,
        &[
            "commit",
            "-q",
            "-m",
            &format!("rollout {}: init", plan.name),
        ],
    );
    git(&ops, &["push", "-q", "origin", "HEAD:main"]);
    (origin, ops)
}
