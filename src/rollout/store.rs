//! The git-backed rollout store: plan files under `rollouts/NAME.toml` in a
//! git work tree, every change one commit, pushed to `origin` when there is one.
//!
//! The store drives the `git` command-line client (so the user's SSH config,
//! agent and credential helpers apply), never through a shell. Every command
//! runs with `GIT_TERMINAL_PROMPT=0` and `LC_ALL=C`, in its own process group,
//! bounded by `[rollout] git_timeout`; on timeout the whole group (git and its
//! ssh / remote helper children) is killed.
//!
//! Two kinds of work tree:
//! - a **local path** the user owns: it must already be a git work tree (a
//!   subdirectory of one works: `rollouts/` is then under it). It is only ever
//!   fast-forwarded with `reset --keep`, which never loses their edits, and an
//!   action refuses to touch a plan file with uncommitted changes;
//! - a **remote URL**, cloned into `[rollout] clone_dir` (default: the data dir,
//!   `repos/<url made a file name>`). fleetdeck owns that clone and resets it hard.
//!
//! An action is: sync with origin → read the plan → [`action::apply`] → write
//! the file → one commit → `git push origin HEAD:refs/heads/BRANCH` (never
//! forced). When the push is rejected because someone pushed first, our commit
//! is dropped, origin's state taken, and the plan re-read: if this rollout
//! changed, the operator gets [`StoreError::Conflict`] saying what changed and
//! who changed it — the action is not applied, not retried. If only other files
//! changed (another rollout), the action is redone on the new state, up to
//! [`MAX_ATTEMPTS`] times. Any other push failure drops the local commit too, so
//! the clone never holds an action that origin does not.

use super::RolloutConfig;
use super::action::{self, ActionRequest, CommitMessage, PromoteChecks, Refusal};
use super::history::HistoryEntry;
use super::plan::{Plan, format_duration, valid_name};
use crate::diag::ConfigError;
use crate::text::Clean;
use crate::text::{echo, echo_path};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::Mutex;

/// How many times an action is redone when pushes are rejected by changes to
/// *other* files (a change to the rollout itself is a conflict at once).
pub const MAX_ATTEMPTS: usize = 3;

const ROLLOUTS: &str = "rollouts";

/// `git log` format: id, author, commit time, subject — NUL-separated.
const LOG_FORMAT: &str = "--format=%H%x00%an <%ae>%x00%ct%x00%s";

/// Why a store operation failed. Fields carry outside text (git's stderr,
/// file names found in the repository, branch names and URLs from the config
/// or from git, an operator's rollout name): `Display` shows each through
/// [`text`](crate::text) (git output keeps its lines, everything else is one
/// line), so an error never carries an escape sequence to a terminal.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("`{}` failed: {}", one(.command), block(.stderr))]
    Git { command: String, stderr: String },
    #[error(
        "`{}` did not finish within {} and was stopped: check that the remote is reachable and that git works there without a password or host-key prompt, or raise [rollout] git_timeout",
        one(.command), format_duration(*.after)
    )]
    Timeout { command: String, after: Duration },
    #[error(
        "'{}' is not a git work tree: run `git init` there, clone the rollout repository into it, or point [rollout] repo at one",
        echo_path(.path)
    )]
    NotARepo { path: PathBuf },
    #[error("no rollout '{}'{}", echo(.name), available_list(.available))]
    NoSuchRollout {
        name: String,
        available: Vec<String>,
    },
    #[error(
        "rollout '{}' already exists: pick another name, or act on the existing one",
        echo(.name)
    )]
    Exists { name: String },
    #[error("{0}")]
    Invalid(ConfigError),
    #[error("refused: {}", one(&.0.to_string()))]
    Refused(Refusal),
    /// Someone else changed the rollout first; nothing was applied.
    #[error("{}", block(.message))]
    Conflict { name: String, message: String },
    #[error("{}: {}", echo_path(.path), one(&.source.to_string()))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no rollout repository configured: set repo = \"PATH or URL\" under [rollout] in the config"
    )]
    NotConfigured,
    #[error(
        "'{}' has '{}' checked out but [rollout] branch is '{}': check out '{}' there, or set branch = \"{}\"",
        echo_path(.path), echo(.current), echo(.expected), echo(.expected), echo(.current)
    )]
    WrongBranch {
        path: PathBuf,
        current: String,
        expected: String,
    },
    #[error(
        "branch '{}' in '{}' has {count} commit(s) that are not on origin: push or drop them (see `git log origin/{}..{}` there)",
        echo(.branch), echo_path(.path), echo(.branch), echo(.branch)
    )]
    Unpushed {
        path: PathBuf,
        branch: String,
        count: usize,
    },
    #[error(
        "'{}' is a clone of '{}', not of '{}': remove it, or set [rollout] clone_dir elsewhere",
        echo_path(.path), echo(.found), echo(.expected)
    )]
    OtherRemote {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error(
        "'{}' has uncommitted changes: commit or discard them before acting on the rollout",
        echo_path(.path)
    )]
    Dirty { path: PathBuf },
    /// Neither the config nor git says who acts: the message names what to set.
    #[error("{}", one(.0))]
    NoIdentity(String),
}

/// One field of an error on one line, cut at 2048 characters (a refusal's
/// reason comes last and must not be cut off).
fn one(v: &str) -> std::borrow::Cow<'_, str> {
    crate::text::sanitize_max(v, 2048)
}

/// Git's own output: its lines kept, every other unsafe character shown
/// escaped, cut at [`MAX_GIT_OUTPUT`] characters.
fn block(v: &str) -> String {
    let cut: String = v.chars().take(MAX_GIT_OUTPUT).collect();
    let mut out = crate::text::sanitize_block(&cut).into_owned();
    if cut.len() < v.len() {
        out.push('…');
    }
    out
}

/// Longest piece of git output repeated in an error.
const MAX_GIT_OUTPUT: usize = 4096;

fn available_list(names: &[String]) -> String {
    if names.is_empty() {
        " (the repository has no rollouts yet: create one with `fleetdeck rollout init`)".into()
    } else {
        // File names found in the repository: each shown safely, the list cut.
        let shown: Vec<String> = names
            .iter()
            .take(50)
            .map(|n| echo(n).into_owned())
            .collect();
        let more = if names.len() > 50 {
            format!(", … {} more", names.len() - 50)
        } else {
            String::new()
        };
        format!(" (rollouts: {}{more})", shown.join(", "))
    }
}

/// One commit, as shown in a rollout's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: String,
    /// "Name <email>".
    pub author: String,
    pub time: SystemTime,
    pub subject: String,
    /// Whether origin has it (always false without a remote).
    pub pushed: bool,
}

/// A rollout file as found in the work tree: what a push rejection compares.
#[derive(Clone, Debug, PartialEq)]
enum Current {
    Absent,
    Plan(Box<Plan>),
    Malformed(ConfigError),
}

pub struct Store {
    /// The directory holding `rollouts/`; every git command runs here.
    path: PathBuf,
    branch: String,
    /// Whether `origin` exists: sync fetches from it and actions push to it.
    has_remote: bool,
    /// A clone fleetdeck made and owns, which it may reset hard; a user's own
    /// work tree is only fast-forwarded with `reset --keep`.
    managed: bool,
    /// Commit author and committer: config, else git's own; without one
    /// the store reads but refuses to commit ([`StoreError::NoIdentity`]).
    author: Result<(String, String), String>,
    timeout: Duration,
    /// One write at a time through this store: writes share the index and work tree.
    lock: Mutex<()>,
}

/// What a finished git command said.
struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `git ARGS` in `dir`: no shell, no prompt, bounded by `timeout`.
async fn run_git(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<Output, StoreError> {
    let command = describe(args);
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        // Inherited from a surrounding git hook, these would redirect us elsewhere.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own group: a timeout kills git's ssh / remote-helper children too, and
    // a prompt on the terminal cannot steal the TUI's input.
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            StoreError::Git {
                command: command.clone(),
                stderr: "git is not installed (not found on PATH)".into(),
            }
        } else {
            StoreError::Io {
                path: dir.to_path_buf(),
                source: e,
            }
        }
    })?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let finished = tokio::time::timeout(timeout, async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let (status, (), ()) = tokio::join!(
            child.wait(),
            read_all(&mut stdout, &mut out),
            read_all(&mut stderr, &mut err)
        );
        (status, out, err)
    })
    .await;
    match finished {
        Ok((Ok(status), out, err)) => Ok(Output {
            ok: status.success(),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: {
                let e = String::from_utf8_lossy(&err).trim().to_string();
                if e.is_empty() && !status.success() {
                    format!("git exited with {status}")
                } else {
                    e
                }
            },
        }),
        Ok((Err(e), _, _)) => Err(StoreError::Io {
            path: dir.to_path_buf(),
            source: e,
        }),
        Err(_) => {
            kill_group(&child).await;
            let _ = child.kill().await;
            Err(StoreError::Timeout {
                command,
                after: timeout,
            })
        }
    }
}

async fn read_all<R: AsyncRead + Unpin>(r: &mut Option<R>, buf: &mut Vec<u8>) {
    if let Some(r) = r {
        // A read error just ends the output; the exit status tells the rest.
        let _ = r.read_to_end(buf).await;
    }
}

/// Kills git's whole process group (best effort: git itself is killed anyway).
async fn kill_group(child: &tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
    #[cfg(not(unix))]
    let _ = child;
}

/// The command as shown in errors, long arguments (commit messages) shortened.
fn describe(args: &[&str]) -> String {
    let mut s = String::from("git");
    for a in args {
        s.push(' ');
        let first = a.lines().next().unwrap_or("");
        if first.len() < a.len() || a.chars().count() > 60 {
            let short: String = first.chars().take(40).collect();
            s.push_str(&format!("'{short}…'"));
        } else if a.contains(' ') {
            s.push_str(&format!("'{a}'"));
        } else {
            s.push_str(a);
        }
    }
    s
}

/// Whether `[rollout] repo` names a remote (cloned) rather than a local path.
pub fn is_remote_url(repo: &str) -> bool {
    if repo.contains("://") {
        return true;
    }
    // scp-like `user@host:path` / `host:path`: a colon before any slash.
    match repo.split_once(':') {
        Some((host, _)) => host.len() > 1 && !host.contains('/') && !Path::new(repo).exists(),
        None => false,
    }
}

/// A URL made into one directory name: no scheme, no credentials.
pub fn sanitize_url(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let mut out = String::new();
    for c in format!("{authority}/{path}").chars() {
        let keep = c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        let c = if keep { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    let out = out.trim_matches(|c| c == '_' || c == '.').to_string();
    if out.is_empty() { "repo".into() } else { out }
}

fn default_clone_dir(url: &str) -> Result<PathBuf, StoreError> {
    directories::ProjectDirs::from("", "", "fleetdeck")
        .map(|d| d.data_dir().join("repos").join(sanitize_url(url)))
        .ok_or_else(|| StoreError::Io {
            path: PathBuf::from(url),
            source: std::io::Error::other(
                "no home directory to clone into: set [rollout] clone_dir",
            ),
        })
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// Commit identity: `[rollout] author_name` / `author_email`, else git's own
/// `user.name` / `user.email` (each field on its own), else no identity at all:
/// an action must say who acted, so the error names what to set
/// (docs/ARCHITECTURE.md, "Who acted").
pub fn pick_author(
    cfg: (Option<&str>, Option<&str>),
    git: (Option<&str>, Option<&str>),
) -> Result<(String, String), String> {
    fn nonempty(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    let name = nonempty(cfg.0).or(nonempty(git.0));
    let email = nonempty(cfg.1).or(nonempty(git.1));
    match (name, email) {
        // Written into every commit's header: one safe line each, whatever the
        // config or git said.
        (Some(n), Some(e)) => Ok((Clean::new(n).into_string(), Clean::new(e).into_string())),
        (n, e) => {
            let mut missing = Vec::new();
            if n.is_none() {
                missing.push(("author_name", "user.name"));
            }
            if e.is_none() {
                missing.push(("author_email", "user.email"));
            }
            let cfg: Vec<&str> = missing.iter().map(|m| m.0).collect();
            let git: Vec<&str> = missing.iter().map(|m| m.1).collect();
            Err(format!(
                "no commit identity: set {} under [rollout] in the config, or `git config {}` in the rollout repository — an action must say who acted",
                cfg.join(" and "),
                git.join(" / ")
            ))
        }
    }
}

fn parse_log(text: &str, pushed: impl Fn(&str) -> bool) -> Vec<CommitInfo> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split('\0');
            let id = f.next()?.trim().to_string();
            let author = f.next()?.to_string();
            let secs: u64 = f.next()?.trim().parse().ok()?;
            let subject = f.next().unwrap_or("").to_string();
            if id.is_empty() {
                return None;
            }
            let pushed = pushed(&id);
            Some(CommitInfo {
                id,
                author,
                time: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
                subject,
                pushed,
            })
        })
        .collect()
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A plan file's text: a regular file under [`files::cap::PLAN`](crate::files::cap::PLAN).
async fn read_plan(file: &Path) -> Result<String, crate::files::ReadError> {
    let file = file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        crate::files::read_text_capped(&file, crate::files::cap::PLAN)
    })
    .await
    .unwrap_or_else(|e| {
        Err(crate::files::ReadError::Io {
            path: String::new(),
            source: std::io::Error::other(e.to_string()),
        })
    })
}

/// The rollout names (file stems) under `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "toml")
                .then(|| p.file_stem()?.to_str().map(str::to_string))
                .flatten()
        })
        .collect();
    names.sort();
    names
}

impl Store {
    /// Opens the configured repository: a local work tree as it is, or a remote
    /// URL cloned into the clone dir (fetched if it was cloned before).
    pub async fn open(cfg: &RolloutConfig) -> Result<Store, StoreError> {
        let repo = cfg
            .repo
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(StoreError::NotConfigured)?;
        let timeout = cfg.git_timeout;
        let (path, managed, fresh) = if is_remote_url(repo) {
            let dir = match &cfg.clone_dir {
                Some(d) => d.clone(),
                None => default_clone_dir(repo)?,
            };
            let fresh = clone_or_reuse(repo, &dir, timeout).await?;
            (dir, true, fresh)
        } else {
            let dir = expand_home(repo);
            let not_a_repo = || StoreError::NotARepo { path: dir.clone() };
            if !dir.is_dir() {
                return Err(not_a_repo());
            }
            let out = run_git(&dir, &["rev-parse", "--is-inside-work-tree"], &[], timeout).await?;
            if !out.ok || out.stdout.trim() != "true" {
                return Err(not_a_repo());
            }
            (dir, false, false)
        };
        let branch = cfg.branch.trim().to_string();
        let check = run_git(
            &path,
            &["check-ref-format", "--branch", &branch],
            &[],
            timeout,
        )
        .await?;
        if !check.ok {
            return Err(StoreError::Git {
                command: format!("git check-ref-format --branch {branch}"),
                stderr: format!("'{branch}' is not a valid branch name ([rollout] branch)"),
            });
        }
        let has_remote = run_git(&path, &["remote", "get-url", "origin"], &[], timeout)
            .await?
            .ok;
        let git_config = |key: &'static str| {
            let path = path.clone();
            async move {
                run_git(&path, &["config", "--get", key], &[], timeout)
                    .await
                    .ok()
                    .filter(|o| o.ok)
                    .map(|o| o.stdout.trim().to_string())
            }
        };
        let (git_name, git_email) = (
            git_config("user.name").await,
            git_config("user.email").await,
        );
        let author = pick_author(
            (cfg.author_name.as_deref(), cfg.author_email.as_deref()),
            (git_name.as_deref(), git_email.as_deref()),
        );
        let store = Store {
            path,
            branch,
            has_remote,
            managed,
            author,
            timeout,
            lock: Mutex::new(()),
        };
        store.ensure_branch().await?;
        if managed && !fresh {
            store.sync_unlocked().await?;
        }
        Ok(store)
    }

    /// The directory holding `rollouts/`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn branch(&self) -> &str {
        &self.branch
    }

    pub fn has_remote(&self) -> bool {
        self.has_remote
    }

    /// Who commits: (name, email), or why nobody can (nothing to say who acted).
    pub fn author(&self) -> Result<(&str, &str), StoreError> {
        match &self.author {
            Ok((n, e)) => Ok((n, e)),
            Err(why) => Err(StoreError::NoIdentity(why.clone())),
        }
    }

    async fn run(&self, args: &[&str]) -> Result<Output, StoreError> {
        run_git(&self.path, args, &[], self.timeout).await
    }

    /// Runs git and turns a failure into [`StoreError::Git`]; returns stdout.
    async fn git(&self, args: &[&str]) -> Result<String, StoreError> {
        let out = self.run(args).await?;
        if out.ok {
            Ok(out.stdout)
        } else {
            Err(StoreError::Git {
                command: describe(args),
                stderr: out.stderr,
            })
        }
    }

    /// The commits of the local branch and of origin's, in one call.
    async fn heads(&self) -> Result<(Option<String>, Option<String>), StoreError> {
        let (local, remote) = (self.local_ref(), self.remote_ref());
        let out = self
            .git(&[
                "for-each-ref",
                "--format=%(objectname) %(refname)",
                &local,
                &remote,
            ])
            .await?;
        let find = |name: &str| {
            out.lines()
                .filter_map(|l| l.split_once(' '))
                .find(|(_, r)| *r == name)
                .map(|(id, _)| id.to_string())
        };
        Ok((find(&local), find(&remote)))
    }

    /// The commit a revision names, `None` when it does not exist (unborn HEAD).
    async fn rev(&self, rev: &str) -> Result<Option<String>, StoreError> {
        let spec = format!("{rev}^{{commit}}");
        let out = self.run(&["rev-parse", "-q", "--verify", &spec]).await?;
        Ok(out.ok.then(|| out.stdout.trim().to_string()))
    }

    fn local_ref(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }

    fn remote_ref(&self) -> String {
        format!("refs/remotes/origin/{}", self.branch)
    }

    fn reset_mode(&self) -> &'static str {
        if self.managed { "--hard" } else { "--keep" }
    }

    /// Makes sure our branch is the one checked out: an unborn HEAD (fresh
    /// `git init` or empty clone) is pointed at it; our own clone is switched;
    /// a user's work tree on another branch is an error, not switched under them.
    async fn ensure_branch(&self) -> Result<(), StoreError> {
        let want = self.local_ref();
        let head = self.run(&["symbolic-ref", "-q", "HEAD"]).await?;
        let current = head.stdout.trim().to_string();
        if head.ok && current == want {
            return Ok(());
        }
        if self.rev("HEAD").await?.is_none() {
            // Nothing checked out yet (fresh `git init`, or a clone whose
            // remote HEAD names another branch).
            if self.rev(&self.remote_ref()).await?.is_some() {
                return self.checkout_remote().await;
            }
            self.git(&["symbolic-ref", "HEAD", &want]).await?;
            return Ok(());
        }
        if !self.managed {
            return Err(StoreError::WrongBranch {
                path: self.path.clone(),
                current: current
                    .strip_prefix("refs/heads/")
                    .map(str::to_string)
                    .unwrap_or_else(|| "a detached HEAD".into()),
                expected: self.branch.clone(),
            });
        }
        if self.rev(&want).await?.is_some() {
            self.git(&["checkout", "-q", "-f", &self.branch]).await?;
        } else if self.rev(&self.remote_ref()).await?.is_some() {
            self.git(&[
                "checkout",
                "-q",
                "-f",
                "-B",
                &self.branch,
                &self.remote_ref(),
            ])
            .await?;
        } else {
            self.git(&[
                "switch",
                "-q",
                "--discard-changes",
                "--orphan",
                &self.branch,
            ])
            .await?;
        }
        Ok(())
    }

    /// Creates our branch at origin's and checks it out. In a user's tree,
    /// checkout refuses to overwrite untracked files; our own clone is forced.
    async fn checkout_remote(&self) -> Result<(), StoreError> {
        let remote_ref = self.remote_ref();
        let mut args = vec!["checkout", "-q"];
        if self.managed {
            args.push("-f");
        }
        args.extend(["-B", &self.branch, &remote_ref]);
        self.git(&args).await.map(drop)
    }

    /// Fetches our branch; `false` when origin does not have it yet.
    async fn fetch(&self) -> Result<bool, StoreError> {
        let refspec = format!("+{}:{}", self.local_ref(), self.remote_ref());
        let args = ["fetch", "--quiet", "--no-tags", "origin", &refspec];
        let out = self.run(&args).await?;
        if out.ok {
            Ok(true)
        } else if out.stderr.contains("couldn't find remote ref") {
            Ok(false)
        } else {
            Err(StoreError::Git {
                command: describe(&args),
                stderr: out.stderr,
            })
        }
    }

    /// Fetches and fast-forwards the local branch to origin's. The local branch
    /// having commits origin lacks is an error (fleetdeck never leaves any: it
    /// drops its commit when a push fails). Without a remote there is nothing
    /// to fetch; only the branch checked out is checked.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let _guard = self.lock.lock().await;
        self.sync_unlocked().await.map(drop)
    }

    /// [`Store::sync`]; returns the local branch's commit after it (`None`: no commit yet).
    async fn sync_unlocked(&self) -> Result<Option<String>, StoreError> {
        self.ensure_branch().await?;
        if !self.has_remote || !self.fetch().await? {
            return Ok(self.heads().await?.0);
        }
        let (local, remote) = self.heads().await?;
        let Some(remote) = remote else {
            return Ok(local);
        };
        match local {
            Some(l) if l == remote => Ok(Some(l)),
            None => self.checkout_remote().await.map(|()| Some(remote)),
            Some(l) => {
                let behind = self
                    .run(&["merge-base", "--is-ancestor", &l, &remote])
                    .await?;
                if behind.ok {
                    self.git(&["reset", "-q", self.reset_mode(), &remote])
                        .await?;
                    Ok(Some(remote))
                } else {
                    let range = format!("{remote}..{l}");
                    let count = self.git(&["rev-list", "--count", &range]).await?;
                    Err(StoreError::Unpushed {
                        path: self.path.clone(),
                        branch: self.branch.clone(),
                        count: count.trim().parse().unwrap_or(0),
                    })
                }
            }
        }
    }

    fn rollouts_dir(&self) -> PathBuf {
        self.path.join(ROLLOUTS)
    }

    /// Every `rollouts/*.toml` in the work tree, sorted by file name. A malformed
    /// file is an `Err` entry naming file, line and key; the others still load.
    /// Reads the work tree as it is: call [`Store::sync`] first for origin's state.
    pub async fn list(&self) -> Result<Vec<Result<Plan, ConfigError>>, StoreError> {
        let dir = self.rollouts_dir();
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        let mut files = Vec::new();
        while let Some(e) = entries.next_entry().await.map_err(io_err(&dir))? {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml") && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
        let mut plans = Vec::new();
        for file in files {
            plans.push(match read_plan(&file).await {
                Ok(text) => Plan::parse(&text, &file),
                Err(e) => Err(ConfigError {
                    file: crate::text::sanitize(&file.to_string_lossy()).into_owned(),
                    line: 0,
                    column: 0,
                    key: String::new(),
                    message: e.to_string(),
                    hint: String::new(),
                }),
            });
        }
        Ok(plans)
    }

    /// One rollout's plan from the work tree.
    pub async fn read(&self, name: &str) -> Result<Plan, StoreError> {
        match self.current(name).await? {
            Current::Plan(p) => Ok(*p),
            Current::Malformed(e) => Err(StoreError::Invalid(e)),
            Current::Absent => Err(self.no_such(name)),
        }
    }

    fn no_such(&self, name: &str) -> StoreError {
        StoreError::NoSuchRollout {
            name: name.to_string(),
            available: names_in(&self.rollouts_dir()),
        }
    }

    fn file_of(&self, name: &str) -> PathBuf {
        self.rollouts_dir().join(format!("{name}.toml"))
    }

    async fn current(&self, name: &str) -> Result<Current, StoreError> {
        if !valid_name(name) {
            return Err(self.no_such(name));
        }
        let file = self.file_of(name);
        match read_plan(&file).await {
            Ok(text) => Ok(match Plan::parse(&text, &file) {
                Ok(p) => Current::Plan(Box::new(p)),
                Err(e) => Current::Malformed(e),
            }),
            Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => Ok(Current::Absent),
            // Not a regular file, too large, not UTF-8: a plan that cannot be
            // acted on, reported with its file like a malformed one.
            Err(e) => Ok(Current::Malformed(ConfigError {
                file: crate::text::sanitize(&file.to_string_lossy()).into_owned(),
                line: 0,
                column: 0,
                key: String::new(),
                message: e.to_string(),
                hint: String::new(),
            })),
        }
    }

    /// Commits a new rollout plan (refusing to overwrite one) and pushes it.
    pub async fn init(&self, plan: &Plan, by: &str) -> Result<CommitInfo, StoreError> {
        if !valid_name(&plan.name) {
            return Err(StoreError::Invalid(ConfigError {
                file: format!("{ROLLOUTS}/{}.toml", plan.name),
                line: 0,
                column: 0,
                key: "name".into(),
                message: format!("'{}' is not a rollout name", plan.name),
                hint: "use letters, digits, '.', '_' and '-' (it is also the file name)".into(),
            }));
        }
        let mut plan = plan.clone();
        plan.state.updated_by = Some(action::one_line(by).into_string()).filter(|b| !b.is_empty());
        let waves: Vec<String> = plan.waves.iter().map(|w| w.label()).collect();
        let one = action::one_line;
        let message = CommitMessage::new(Clean::new(&format!(
            "rollout {}: init — {} replaces {}, {} waves",
            plan.name,
            plan.release.version,
            plan.previous.version,
            plan.waves.len()
        )))
        .field("Action", one("init"))
        .field("Rollout", one(&plan.name))
        .field(
            "Release",
            one(&format!("{} {}", plan.release.version, plan.release.image)),
        )
        .field(
            "Previous",
            one(&format!(
                "{} {}",
                plan.previous.version, plan.previous.image
            )),
        )
        .field("Waves", one(&waves.join(" → ")))
        .field("By", one(by));
        let name = plan.name.clone();
        self.transact(&name, "init", |current| match current {
            Current::Absent => Ok((plan.clone(), message.clone())),
            Current::Plan(_) | Current::Malformed(_) => {
                Err(StoreError::Exists { name: name.clone() })
            }
        })
        .await
        .map(|(_, info)| info)
    }

    /// Applies one action: exactly one commit, pushed when there is a remote.
    pub async fn act(
        &self,
        req: &ActionRequest,
        checks: &PromoteChecks,
    ) -> Result<(Plan, CommitInfo), StoreError> {
        // Nobody to record as the author: refused before anything is read.
        self.author()?;
        self.transact(&req.rollout, req.kind.key(), |current| match current {
            Current::Absent => Err(self.no_such(&req.rollout)),
            Current::Malformed(e) => Err(StoreError::Invalid(e.clone())),
            Current::Plan(before) => {
                let after = action::apply(before, req, checks).map_err(StoreError::Refused)?;
                let message = action::commit_message(before, &after, req, checks);
                Ok((after, message))
            }
        })
        .await
    }

    /// The history of `rollouts/NAME.toml`, newest first.
    pub async fn log(&self, name: &str, limit: usize) -> Result<Vec<CommitInfo>, StoreError> {
        if !valid_name(name) {
            return Err(self.no_such(name));
        }
        if self.rev("HEAD").await?.is_none() {
            return Err(self.no_such(name));
        }
        let file = format!("{ROLLOUTS}/{name}.toml");
        let n = format!("-n{limit}");
        let text = self
            .git(&["log", &n, LOG_FORMAT, "HEAD", "--", &file])
            .await?;
        let unpushed: Vec<String> = if self.has_remote {
            self.git(&["rev-list", "HEAD", "--not", "--remotes=origin"])
                .await?
                .lines()
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        let has_remote = self.has_remote;
        let log = parse_log(&text, |id| has_remote && !unpushed.iter().any(|u| u == id));
        if log.is_empty() && !self.file_of(name).exists() {
            return Err(self.no_such(name));
        }
        Ok(log)
    }

    /// Every commit that changed `rollouts/NAME.toml`, newest first, with
    /// what each says about the action (see [`super::history`]); at most
    /// `limit` of them. Reads the local branch: call [`Store::sync`] first
    /// for origin's state.
    pub async fn history(
        &self,
        name: &str,
        limit: Option<usize>,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        if !valid_name(name) {
            return Err(self.no_such(name));
        }
        if self.rev("HEAD").await?.is_none() {
            return Err(self.no_such(name));
        }
        let file = format!("{ROLLOUTS}/{name}.toml");
        let n = limit.map(|l| format!("-n{}", l.max(1)));
        let mut args: Vec<&str> = super::history::LOG_ARGS.to_vec();
        if let Some(n) = &n {
            args.push(n);
        }
        args.extend(["HEAD", "--", &file]);
        let text = self.git(&args).await?;
        let unpushed = self.unpushed().await?;
        let has_remote = self.has_remote;
        let log = super::history::parse_raw_log(&text, |id| {
            has_remote && !unpushed.iter().any(|u| u == id)
        });
        if log.is_empty() && !self.file_of(name).exists() {
            return Err(self.no_such(name));
        }
        Ok(log)
    }

    /// The local commits origin does not have (none without a remote).
    async fn unpushed(&self) -> Result<Vec<String>, StoreError> {
        if !self.has_remote {
            return Ok(Vec::new());
        }
        Ok(self
            .git(&["rev-list", "HEAD", "--not", "--remotes=origin"])
            .await?
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// The write path shared by init and act: sync, build the new plan from
    /// the current one, write, commit, push; on a rejected push, take origin's
    /// state and either redo (the rollout did not change) or report a conflict.
    async fn transact(
        &self,
        name: &str,
        what: &str,
        build: impl Fn(&Current) -> Result<(Plan, CommitMessage), StoreError>,
    ) -> Result<(Plan, CommitInfo), StoreError> {
        let _guard = self.lock.lock().await;
        if !valid_name(name) {
            return Err(self.no_such(name));
        }
        let rel = format!("{ROLLOUTS}/{name}.toml");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let head_before = self.sync_unlocked().await?;
            self.clean_or_refuse(&rel, head_before.as_deref()).await?;
            let base = self.current(name).await?;
            let (plan, message) = build(&base)?;
            // What is committed is what the next read sees (times in whole seconds),
            // and it must load: never commit a plan the others cannot read.
            let file = self.file_of(name);
            let text = plan.to_toml();
            let plan = Plan::parse(&text, &file).map_err(StoreError::Invalid)?;
            let tracked = !matches!(base, Current::Absent);
            if let Err(e) = self
                .write_and_commit(&file, &rel, &text, &message, tracked)
                .await
            {
                self.undo(head_before.as_deref(), &rel).await;
                return Err(e);
            }
            let mut info = match self.head_info().await {
                Ok(info) => info,
                Err(e) => {
                    self.undo(head_before.as_deref(), &rel).await;
                    return Err(e);
                }
            };
            if !self.has_remote {
                return Ok((plan, info));
            }
            match self.push().await {
                Ok(()) => {
                    info.pushed = true;
                    return Ok((plan, info));
                }
                Err(Push::Rejected(answer)) => {
                    // Someone pushed first: drop our commit (back where we
                    // started, an ancestor of origin's branch), then take theirs.
                    // Whatever fails from here, no unpushed action stays behind.
                    self.undo(head_before.as_deref(), &rel).await;
                    self.sync_unlocked().await?;
                    let now = self.current(name).await?;
                    if now == base && attempt < MAX_ATTEMPTS {
                        continue;
                    }
                    let message = self
                        .conflict_message(name, what, &base, &now, &rel, &answer)
                        .await;
                    return Err(StoreError::Conflict {
                        name: name.to_string(),
                        message,
                    });
                }
                Err(Push::Failed(e)) => {
                    // Origin does not have it: neither may we (a timed-out push
                    // that did land arrives with the next sync).
                    self.undo(head_before.as_deref(), &rel).await;
                    return Err(e);
                }
            }
        }
    }

    /// A plan file with uncommitted changes: in our own clone it is debris
    /// from an interrupted write and is discarded (it must not be acted on
    /// twice); in a user's work tree it is their work, so we refuse.
    async fn clean_or_refuse(&self, rel: &str, head: Option<&str>) -> Result<(), StoreError> {
        let status = self
            .git(&[
                "status",
                "--porcelain",
                "--untracked-files=normal",
                "--",
                rel,
            ])
            .await?;
        if status.trim().is_empty() {
            return Ok(());
        }
        if !self.managed {
            return Err(StoreError::Dirty {
                path: self.path.join(rel),
            });
        }
        self.restore(head, rel).await
    }

    async fn write_and_commit(
        &self,
        file: &Path,
        rel: &str,
        text: &str,
        message: &CommitMessage,
        tracked: bool,
    ) -> Result<(), StoreError> {
        let message = message.to_string();
        let dir = self.rollouts_dir();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(io_err(&dir))?;
        // Written aside and renamed: an update agent reading the repo never
        // sees half a plan.
        let tmp = dir.join(format!(
            ".{}.tmp",
            file.file_name().and_then(|n| n.to_str()).unwrap_or("plan")
        ));
        tokio::fs::write(&tmp, text).await.map_err(io_err(&tmp))?;
        tokio::fs::rename(&tmp, file).await.map_err(io_err(file))?;
        // A new file must be added; a tracked one is taken from the work
        // tree by `commit -- FILE` itself.
        if !tracked {
            self.git(&["add", "--", rel]).await?;
        }
        let (name, email) = self.author()?;
        let env = [
            ("GIT_AUTHOR_NAME", name),
            ("GIT_AUTHOR_EMAIL", email),
            ("GIT_COMMITTER_NAME", name),
            ("GIT_COMMITTER_EMAIL", email),
        ];
        // Only this file: whatever else the user has staged stays out of it.
        let args = [
            "commit",
            "-q",
            "--cleanup=whitespace",
            "-m",
            &message,
            "--",
            rel,
        ];
        let out = run_git(&self.path, &args, &env, self.timeout).await?;
        if out.ok {
            Ok(())
        } else {
            Err(StoreError::Git {
                command: describe(&args),
                stderr: out.stderr,
            })
        }
    }

    /// Takes back a commit that origin did not accept, and the file with it.
    /// Best effort: the error that led here is the one reported.
    async fn undo(&self, head_before: Option<&str>, rel: &str) {
        let head_now = self.rev("HEAD").await.ok().flatten();
        if head_now.as_deref() != head_before {
            let _ = match head_before {
                Some(h) => self.run(&["reset", "-q", self.reset_mode(), h]).await,
                None => self.run(&["update-ref", "-d", &self.local_ref()]).await,
            };
        }
        let _ = self.restore(head_before, rel).await;
    }

    /// Puts `rel` back as it is in `rev` (absent when it is not there).
    async fn restore(&self, rev: Option<&str>, rel: &str) -> Result<(), StoreError> {
        let in_rev = match rev {
            Some(r) => {
                self.run(&["cat-file", "-e", &format!("{r}:./{rel}")])
                    .await?
                    .ok
            }
            None => false,
        };
        match rev {
            Some(r) if in_rev => self.git(&["checkout", "-q", r, "--", rel]).await.map(drop),
            _ => {
                self.run(&["rm", "-q", "--cached", "--ignore-unmatch", "-f", "--", rel])
                    .await?;
                let file = self.path.join(rel);
                match tokio::fs::remove_file(&file).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&file)(e)),
                    _ => Ok(()),
                }
            }
        }
    }

    async fn head_info(&self) -> Result<CommitInfo, StoreError> {
        let text = self.git(&["log", "-1", LOG_FORMAT, "HEAD"]).await?;
        parse_log(&text, |_| false)
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Git {
                command: "git log -1 HEAD".into(),
                stderr: format!("unexpected output: {text:?}"),
            })
    }

    async fn push(&self) -> Result<(), Push> {
        let refspec = format!("HEAD:{}", self.local_ref());
        let args = ["push", "--quiet", "origin", &refspec];
        let out = self.run(&args).await.map_err(Push::Failed)?;
        if out.ok {
            return Ok(());
        }
        if push_lost_race(&out.stderr) {
            Err(Push::Rejected(out.stderr))
        } else {
            Err(Push::Failed(StoreError::Git {
                command: describe(&args),
                stderr: out.stderr,
            }))
        }
    }

    /// What changed on origin, and who changed it, for the operator who lost.
    async fn conflict_message(
        &self,
        name: &str,
        what: &str,
        base: &Current,
        now: &Current,
        rel: &str,
        answer: &str,
    ) -> String {
        let remote = self.remote_ref();
        let last = match self
            .run(&["log", "-1", LOG_FORMAT, &remote, "--", rel])
            .await
        {
            Ok(o) if o.ok => parse_log(&o.stdout, |_| true).into_iter().next(),
            _ => None,
        };
        let by = last
            .as_ref()
            .map(|c| {
                let short: String = c.id.chars().take(8).collect();
                format!(" — commit {short} by {}: \"{}\"", c.author, c.subject)
            })
            .unwrap_or_default();
        let not_applied = format!(
            "Your {what} was not applied; your clone now matches origin: look again and decide."
        );
        let was = match base {
            Current::Plan(p) => format!(", was {}", describe_plain(p)),
            _ => String::new(),
        };
        match now {
            _ if now == base => {
                let last = answer
                    .lines()
                    .find(|l| l.contains("rejected]"))
                    .unwrap_or("")
                    .trim();
                format!(
                    "origin kept refusing your {what} of {name} although {name} did not change there ({MAX_ATTEMPTS} pushes refused; last: {last}). {not_applied}"
                )
            }
            Current::Plan(p) if matches!(base, Current::Absent) => format!(
                "{name} was created by someone else first: it is {}{by}. {not_applied}",
                action::describe_state(p)
            ),
            Current::Plan(p) => format!(
                "{name} changed before your {what} reached origin: it is now {}{was}{by}. {not_applied}",
                action::describe_state(p)
            ),
            Current::Malformed(e) => format!(
                "{name} changed before your {what} reached origin and is now malformed ({e}){by}. {not_applied}"
            ),
            Current::Absent => format!(
                "{name} was removed from origin before your {what} reached it{by}. {not_applied}"
            ),
        }
    }
}

/// "wave 1/4 (canary) progressing", without who.
fn describe_plain(p: &Plan) -> String {
    format!(
        "{} {}",
        action::wave_position(p, p.state.wave),
        p.state.status.key()
    )
}

/// Whether a failed push lost a race with another push: rejected by git as
/// not a fast-forward, or — when both pushes were in flight at once — refused
/// by the remote because the branch moved between its advertisement and the
/// update ("cannot lock ref … is at X but expected Y"). A hook refusing the
/// push (a protected branch) is not a race.
fn push_lost_race(stderr: &str) -> bool {
    let not_ff = stderr.contains("[rejected]")
        && (stderr.contains("fetch first") || stderr.contains("non-fast-forward"));
    let moved = stderr.contains("[remote rejected]")
        && (stderr.contains("failed to update ref")
            || stderr.contains("cannot lock ref")
            || stderr.contains("incorrect old value"));
    not_ff || moved
}

enum Push {
    /// Someone pushed first (git's answer kept for the message).
    Rejected(String),
    Failed(StoreError),
}

/// Clones `url` into `dir`, or checks that `dir` is already a clone of it.
/// Returns whether it cloned now.
async fn clone_or_reuse(url: &str, dir: &Path, timeout: Duration) -> Result<bool, StoreError> {
    if dir.join(".git").exists() {
        let out = run_git(dir, &["remote", "get-url", "origin"], &[], timeout).await?;
        let found = out.stdout.trim();
        if !out.ok || found != url {
            return Err(StoreError::OtherRemote {
                path: dir.to_path_buf(),
                found: if out.ok {
                    found.to_string()
                } else {
                    "nothing (no origin)".into()
                },
                expected: url.to_string(),
            });
        }
        return Ok(false);
    }
    let existed = dir.exists();
    if existed
        && std::fs::read_dir(dir)
            .map_err(io_err(dir))?
            .next()
            .is_some()
    {
        return Err(StoreError::NotARepo {
            path: dir.to_path_buf(),
        });
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(parent)
        .await
        .map_err(io_err(parent))?;
    let target = dir.to_string_lossy();
    let args = ["clone", "--quiet", "--origin", "origin", "--", url, &target];
    let result = run_git(parent, &args, &[], timeout).await;
    let failed = match result {
        Ok(o) if o.ok => None,
        Ok(o) => Some(StoreError::Git {
            command: describe(&args),
            stderr: o.stderr,
        }),
        Err(e) => Some(e),
    };
    match failed {
        None => Ok(true),
        Some(e) => {
            // A half-made clone would look like a repository next time.
            if !existed {
                let _ = tokio::fs::remove_dir_all(dir).await;
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        assert!(is_remote_url("https://git.example.com/ops/rollouts.git"));
        assert!(is_remote_url("ssh://git@host/ops/r.git"));
        assert!(is_remote_url("git@github.com:ops/rollouts.git"));
        assert!(is_remote_url("file:///srv/git/r.git"));
        assert!(!is_remote_url("/srv/gitops"));
        assert!(!is_remote_url("gitops/rollouts"));
        assert!(!is_remote_url("C:\\gitops"));
        assert_eq!(
            sanitize_url("https://user:secret@git.example.com/ops/rollouts.git"),
            "git.example.com_ops_rollouts.git"
        );
        assert_eq!(
            sanitize_url("git@github.com:ops/r.git"),
            "github.com_ops_r.git"
        );
        assert_eq!(sanitize_url("file:///srv/git/r.git"), "srv_git_r.git");
        assert_eq!(sanitize_url("://"), "repo");
        assert!(!sanitize_url("https://h/../../etc").contains('/'));
    }

    #[test]
    fn author_falls_back_from_config_to_git_then_refuses() {
        assert_eq!(
            pick_author((Some("Ops"), Some("ops@x")), (Some("A"), Some("a@x"))),
            Ok(("Ops".into(), "ops@x".into()))
        );
        assert_eq!(
            pick_author((None, Some(" ")), (Some("Alice"), Some("alice@x"))),
            Ok(("Alice".into(), "alice@x".into()))
        );
        let e = pick_author((None, None), (None, None)).expect_err("nobody");
        assert!(e.contains("author_name and author_email"), "{e}");
        assert!(e.contains("user.name / user.email"), "{e}");
        let e = pick_author((Some("Ops"), None), (None, None)).expect_err("no email");
        assert!(e.contains("set author_email under [rollout]"), "{e}");
        assert!(!e.contains("author_name"), "{e}");
    }

    #[test]
    fn commands_in_errors_are_short() {
        let msg = "rollout x: promote — wave 1/4\n\nAction: promote";
        assert_eq!(
            describe(&["commit", "-m", msg, "--", "rollouts/x.toml"]),
            "git commit -m 'rollout x: promote — wave 1/4…' -- rollouts/x.toml"
        );
    }

    #[test]
    fn lost_push_races_are_told_from_other_refusals() {
        let not_ff =
            " ! [rejected]        HEAD -> main (fetch first)\nerror: failed to push some refs";
        let moved = "remote: error: cannot lock ref 'refs/heads/main': is at 1 but expected 2\n ! [remote rejected] HEAD -> main (failed to update ref)";
        let hook = " ! [remote rejected] HEAD -> main (protected branch hook declined)";
        let auth = "fatal: Authentication failed for 'https://git.example.com/ops.git/'";
        assert!(push_lost_race(not_ff));
        assert!(push_lost_race(moved));
        assert!(!push_lost_race(hook));
        assert!(!push_lost_race(auth));
    }

    #[test]
    fn log_lines_parse() {
        let text = "abc\0Alice <a@x>\x001700000000\0rollout x: halt — wave 1/4 (canary) paused\n\nbroken\n";
        let log = parse_log(text, |id| id == "abc");
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].author, "Alice <a@x>");
        assert!(log[0].pushed);
        assert_eq!(
            log[0].time,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
    }

    /// Issue 9, case 2: outside text in every error shown safely — git's
    /// stderr keeps its lines, names and paths are one line, echoes are cut.
    #[test]
    fn errors_show_outside_text_safely() {
        let hostile = "x\u{1b}]2;PWNED\u{7}\u{9b}31m\u{202e}\u{2028}\u{200b}\r";
        let errors = [
            StoreError::Git {
                command: format!("git push {hostile}"),
                stderr: format!("remote: {hostile}\nremote: {}", "y".repeat(100_000)),
            },
            StoreError::NoSuchRollout {
                name: hostile.repeat(100),
                available: vec![hostile.into(); 80],
            },
            StoreError::WrongBranch {
                path: PathBuf::from(hostile),
                current: hostile.into(),
                expected: "main".into(),
            },
            StoreError::OtherRemote {
                path: PathBuf::from("/r"),
                found: hostile.into(),
                expected: "u".into(),
            },
            StoreError::Conflict {
                name: "r".into(),
                message: format!("bob halted it: {hostile}"),
            },
            StoreError::Exists {
                name: hostile.into(),
            },
        ];
        for e in errors {
            let shown = e.to_string();
            assert!(
                !shown
                    .chars()
                    .any(|c| c != '\n' && crate::text::is_unsafe(c)),
                "{shown:?}"
            );
            assert!(shown.len() < 12_000, "cut: {} bytes", shown.len());
        }
    }

    #[cfg(unix)]
    #[test]
    fn remote_errors_show_outside_text_safely() {
        use crate::remote::ssh::SshError;
        use crate::remote::wireguard::TunnelError;
        let hostile = "bye\u{1b}[2J\u{1b}]0;x\u{7}\n\u{202e}\u{200d}";
        let shown = [
            SshError::Disconnected {
                reason: hostile.into(),
            }
            .to_string(),
            SshError::Protocol(hostile.into()).to_string(),
            SshError::AuthFailed {
                user: hostile.into(),
                tried: vec![hostile.into()],
            }
            .to_string(),
            SshError::Unreachable {
                addr: hostile.into(),
                reason: hostile.into(),
            }
            .to_string(),
            TunnelError::Backend {
                name: hostile.into(),
                reason: hostile.into(),
            }
            .to_string(),
            crate::signature::registry::RegistryError::Invalid {
                what: hostile.into(),
                detail: hostile.repeat(1000),
            }
            .to_string(),
        ];
        for s in shown {
            assert!(!s.chars().any(crate::text::is_unsafe), "{s:?}");
            assert!(s.chars().count() < 3000, "cut: {}", s.len());
        }
    }

    #[test]
    fn errors_read_well() {
        let e = StoreError::NoSuchRollout {
            name: "x".into(),
            available: vec!["a".into(), "b".into()],
        };
        assert_eq!(e.to_string(), "no rollout 'x' (rollouts: a, b)");
        let e = StoreError::Timeout {
            command: "git fetch".into(),
            after: Duration::from_secs(2),
        };
        assert!(
            e.to_string()
                .starts_with("`git fetch` did not finish within 2s"),
            "{e}"
        );
    }
}
