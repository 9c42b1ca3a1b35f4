//! The real TUI end to end, driven through tmux: start `fleetdeck demo` in a
//! shell, navigate, filter, open a device, quit, and check that the terminal
//! is restored (alternate screen off, cooked mode back).
//!
//! Needs tmux (`apt-get install tmux`; the README's test command installs it).

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(width: u16, height: u16) -> Tmux {
        let socket = format!("fleetdeck-test-{}-{width}", std::process::id());
        let t = Tmux { socket };
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
                "PATH=/usr/bin:/bin",
                "TERM=xterm-256color",
                "HOME=/nonexistent",
                "bash",
                "--norc",
                "--noprofile",
            ])
            .status()
            .expect("tmux is not installed: apt-get install tmux (scripts/test.sh does this)");
        assert!(ok.success(), "tmux new-session failed");
        t
    }

    fn send(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "t"])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(ok.success());
    }

    fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "t"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn display(&self, format: &str) -> String {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "display-message",
                "-p",
                "-t",
                "t",
                format,
            ])
            .output()
            .expect("tmux display-message");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits until the screen contains `text`; panics with the screen otherwise.
    fn wait_for(&self, text: &str, timeout: Duration) -> String {
        self.wait_for_any(&[text], timeout)
    }

    /// Waits until the screen contains one of `texts`.
    fn wait_for_any(&self, texts: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.capture();
            if texts.iter().any(|t| s.contains(t)) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("none of {texts:?} appeared within {timeout:?}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Kill what the pane's shell started first: a console that outlives its
        // terminal (see the closing note: it ignored SIGTERM) must not keep
        // burning CPU after the test.
        let pid = self.display("#{pane_pid}");
        if !pid.is_empty() {
            let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
        }
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn run_demo_session(width: u16, height: u16) {
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let t = Tmux::start(width, height);
    t.send(&[
        &format!("{bin} demo --devices 60 --sites 4; echo EXIT=$?"),
        "Enter",
    ]);
    let s = t.wait_for("sites (4 of 4)", Duration::from_secs(20));
    assert!(s.contains("fleetdeck"), "{s}");
    assert_eq!(
        t.display("#{alternate_on}"),
        "1",
        "the console uses the alternate screen"
    );
    // Rates need a second scrape; the demo takes it within a second or two.
    t.wait_for("p95 ", Duration::from_secs(10));

    // All devices, filter to one device, open it.
    t.send(&["3"]);
    t.wait_for("devices (60 of 60)", Duration::from_secs(5));
    t.send(&["/"]);
    t.send(&["-l", "pi-00012"]);
    t.wait_for("devices (1 of 60)", Duration::from_secs(5));
    t.send(&["Enter"]);
    t.send(&["Enter"]);
    t.wait_for("device pi-00012", Duration::from_secs(5));
    // The frame may still be arriving: wait for its last part.
    let s = t.wait_for("NPU busy", Duration::from_secs(5));
    assert!(s.contains("latency p95"), "{s}");
    assert!(s.contains("labels device=pi-00012"), "{s}");

    // Help, then back out, then quit.
    t.send(&["?"]);
    t.wait_for("esc to close", Duration::from_secs(5));
    t.send(&["Escape"]);
    t.wait_for("<esc/h/←> back", Duration::from_secs(5));
    t.send(&["Escape"]);
    t.wait_for("devices (1 of 60)", Duration::from_secs(5));
    // The demo's rollout, its matrix and gates.
    t.send(&["4"]);
    t.wait_for("vision-1.5.0", Duration::from_secs(10));
    t.send(&["Enter"]);
    t.wait_for("site × wave", Duration::from_secs(5));
    t.wait_for("verdict", Duration::from_secs(5));
    t.send(&["q"]);
    let s = t.wait_for("EXIT=0", Duration::from_secs(10));
    assert!(
        !s.contains("site × wave"),
        "the console's screen is gone:\n{s}"
    );
    assert_eq!(t.display("#{alternate_on}"), "0", "alternate screen left");
    // Cooked mode is back: the shell reads a line and echoes it.
    // (the quotes keep the markers out of the echoed command line)
    t.send(&[
        "-l",
        "stty -a | grep -qw -- -icanon && echo MODE=RA''W || echo MODE=COO''KED",
    ]);
    t.send(&["Enter"]);
    let s = t.wait_for_any(&["MODE=COOKED", "MODE=RAW"], Duration::from_secs(5));
    assert!(s.contains("MODE=COOKED"), "terminal left in raw mode:\n{s}");
}

#[test]
fn demo_end_to_end_80x24() {
    run_demo_session(80, 24);
}

#[test]
fn demo_end_to_end_250x70() {
    run_demo_session(250, 70);
}

#[test]
fn sigterm_restores_the_terminal() {
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let t = Tmux::start(100, 30);
    t.send(&[
        &format!("{bin} demo --devices 20 --sites 2 & sleep 0.2; fg; echo EXIT=$?"),
        "Enter",
    ]);
    t.wait_for("sites (2 of 2)", Duration::from_secs(20));
    let pid = t.display("#{pane_pid}");
    // The pane's shell is the parent; signal its fleetdeck child.
    let ok = Command::new("pkill")
        .args(["-TERM", "-P", &pid, "-f", "fleetdeck demo"])
        .status()
        .expect("pkill");
    assert!(ok.success(), "no fleetdeck process to signal");
    t.wait_for("EXIT=", Duration::from_secs(10));
    assert_eq!(
        t.display("#{alternate_on}"),
        "0",
        "alternate screen left after SIGTERM"
    );
}

/// The terminal disappears under the console (tmux killed, SSH connection to
/// the bastion dropped): the console must exit, whatever it was showing — not
/// linger, burning CPU and ignoring SIGTERM.
#[test]
fn a_console_whose_terminal_disappears_exits() {
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let t = Tmux::start(100, 30);
    t.send(&[&format!("{bin} demo --devices 20 --sites 2"), "Enter"]);
    t.wait_for("sites (2 of 2)", Duration::from_secs(20));
    // Leave it in a dialog, not the plain table.
    t.send(&["4"]);
    t.wait_for("vision-1.5.0", Duration::from_secs(10));
    t.send(&["A"]);
    t.wait_for("esc cancel", Duration::from_secs(5));
    let shell = t.display("#{pane_pid}");
    let out = Command::new("pgrep")
        .args(["-P", &shell, "-f", "fleetdeck demo"])
        .output()
        .expect("pgrep (procps)");
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !pid.is_empty(),
        "the demo is running under the pane's shell"
    );
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(proc_dir.exists());
    let _ = Command::new("tmux")
        .args(["-L", &t.socket, "kill-server"])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while proc_dir.exists() && Instant::now() < deadline {
        // A zombie has exited too: only its parent has not reaped it yet.
        let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
        if state.split_whitespace().nth(2) == Some("Z") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
    let alive = proc_dir.exists() && state.split_whitespace().nth(2) != Some("Z");
    if alive {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    }
    assert!(
        !alive,
        "fleetdeck demo (pid {pid}) outlived its terminal: {state}"
    );
}
