//! Real git repositories for tests: a bare "origin" and operators' clones.

use fleetdeck::rollout::plan::Plan;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs git in `dir` with a test identity; panics with git's stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@test",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git is not installed: apt-get install git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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
