//! The real TUI in a real terminal: a tmux server per session, driven with
//! send-keys and read with capture-pane. Needs tmux (`apt-get install tmux`;
//! scripts/test.sh installs it).
//!
//! Each session gets its own tmux server, named by pid and a counter: tests
//! run in parallel threads of one process, and two sessions named alike
//! collide ("duplicate session: t"). Every tmux call runs under a deadline
//! (super::run).

use super::run::{CHILD_LIMIT, Deadline as _};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static SESSIONS: AtomicUsize = AtomicUsize::new(0);

pub struct Tmux {
    socket: String,
    /// How often `wait_*` look at the screen.
    poll: Duration,
}

impl Tmux {
    /// A `width`×`height` session running `bash --norc --noprofile` in a clean
    /// environment (`env -i`: PATH, TERM=xterm-256color, HOME=/nonexistent)
    /// with `env` (NAME=value, later ones win) on top.
    pub fn start(width: u16, height: u16, env: &[&str]) -> Tmux {
        let n = SESSIONS.fetch_add(1, Ordering::SeqCst);
        let socket = format!("fleetdeck-test-{}-{n}", std::process::id());
        let t = Tmux {
            socket,
            poll: Duration::from_millis(100),
        };
        let ok = Command::new("tmux")
            .args([
                "-L",
                &t.socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "t",
            ])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .args([
                "env",
                "-i",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm-256color",
                "HOME=/nonexistent",
            ])
            .args(env)
            .args(["bash", "--norc", "--noprofile"])
            .status_within(CHILD_LIMIT)
            .expect("tmux is not installed: apt-get install tmux (scripts/test.sh does this)");
        assert!(ok.success(), "tmux new-session failed");
        t
    }

    /// Looks at the screen every `poll` in `wait_*` (default 100 ms; timing
    /// measurements want it finer).
    pub fn poll_every(mut self, poll: Duration) -> Tmux {
        self.poll = poll;
        self
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// `tmux send-keys` (key names, or `-l` and literal text).
    pub fn send(&self, keys: &[&str]) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", "t"])
            .args(keys)
            .status_within(CHILD_LIMIT)
            .expect("tmux send-keys");
        assert!(ok.success(), "tmux send-keys {keys:?} failed");
    }

    /// Types a line literally and presses Enter.
    pub fn line(&self, text: &str) {
        self.send(&["-l", text]);
        self.send(&["Enter"]);
    }

    /// The screen as text.
    pub fn capture(&self) -> String {
        self.capture_args(&[])
    }

    /// The screen with colours and attributes as escape sequences.
    pub fn capture_styled(&self) -> String {
        self.capture_args(&["-e"])
    }

    fn capture_args(&self, extra: &[&str]) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "t"])
            .args(extra)
            .output_within(CHILD_LIMIT)
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `tmux display-message -p FORMAT` (e.g. `#{pane_pid}`, `#{alternate_on}`).
    pub fn display(&self, format: &str) -> String {
        let out = self
            .tmux()
            .args(["display-message", "-p", "-t", "t", format])
            .output_within(CHILD_LIMIT)
            .expect("tmux display-message");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits until the screen contains `text`; panics with the screen otherwise.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        self.wait_for_any(&[text], timeout)
    }

    /// Waits until the screen contains one of `texts`.
    pub fn wait_for_any(&self, texts: &[&str], timeout: Duration) -> String {
        self.wait_until(&format!("one of {texts:?}"), timeout, |s| {
            texts.iter().any(|t| s.contains(t))
        })
    }

    /// Waits until `pred` holds for the screen; panics with the screen.
    pub fn wait_until(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.capture();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("{what} did not appear within {timeout:?}; screen:\n{s}");
            }
            std::thread::sleep(self.poll);
        }
    }

    /// Kills the tmux server (the terminal disappears under what runs in it).
    pub fn kill_server(&self) {
        let _ = self.tmux().arg("kill-server").status_within(CHILD_LIMIT);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Kill what the pane's shell started first: a console that outlives
        // its terminal must not keep burning CPU after the test.
        let pid = self.display("#{pane_pid}");
        if !pid.is_empty() {
            let _ = Command::new("pkill")
                .args(["-KILL", "-P", &pid])
                .status_within(CHILD_LIMIT);
        }
        self.kill_server();
        // kill-server leaves the socket file behind.
        let dir = std::env::var_os("TMUX_TMPDIR").unwrap_or_else(|| "/tmp".into());
        let _ = std::fs::remove_file(
            std::path::Path::new(&dir)
                .join(format!("tmux-{}", real_uid()))
                .join(&self.socket),
        );
    }
}

/// The real uid, from /proc (tmux names its socket dir after it).
fn real_uid() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
        })
        .unwrap_or_else(|| "0".into())
}
