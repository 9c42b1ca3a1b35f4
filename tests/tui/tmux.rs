//! The real TUI end to end, driven through tmux: start `fleetdeck demo` in a
//! shell, navigate, filter, open a device, quit, and check that the terminal
//! is restored (alternate screen off, cooked mode back).
//!
//! Needs tmux (`apt-get install tmux`; the README's test command installs it).

use crate::support::run::{CHILD_LIMIT, Deadline as _};
use crate::support::tmux::Tmux;
use std::process::Command;
use std::time::{Duration, Instant};

fn run_demo_session(width: u16, height: u16) {
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let t = Tmux::start(width, height, &[]);
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
    let t = Tmux::start(100, 30, &[]);
    t.send(&[
        // In the foreground, as an operator starts it. (It used to be
        // started with `& sleep 0.2; fg`: now and then the job stayed
        // stopped after `fg` with one thread inside clone() for a git child,
        // a job-control corner this test is not about.)
        &format!("{bin} demo --devices 20 --sites 2; echo EXIT=$?"),
        "Enter",
    ]);
    t.wait_for("sites (2 of 2)", Duration::from_secs(20));
    let pid = t.display("#{pane_pid}");
    // The pane's shell is the parent; signal its fleetdeck child.
    let ok = Command::new("pkill")
        .args(["-TERM", "-P", &pid, "-f", "fleetdeck demo"])
        .status_within(CHILD_LIMIT)
        .expect("pkill");
    assert!(ok.success(), "no fleetdeck process to signal");
    t.wait_for("EXIT=", Duration::from_secs(10));
    assert_eq!(
        t.display("#{alternate_on}"),
        "0",
        "alternate screen left after SIGTERM"
    );
}

/// The pid of the only child of `parent` whose command line contains `pattern`.
fn child_of(parent: &str, pattern: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("pgrep")
            .args(["-P", parent, "-f", pattern])
            .output_within(CHILD_LIMIT)
            .expect("pgrep (procps)");
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !pid.is_empty() {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "no child of {parent} runs '{pattern}'"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` has ended (gone, or a zombie not yet reaped).
fn ended(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z")
}

/// Waits until `pid` has ended; kills it and fails otherwise.
fn wait_ended(pid: &str, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    while !ended(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if !ended(pid) {
        let _ = Command::new("kill")
            .args(["-KILL", pid])
            .status_within(CHILD_LIMIT);
        panic!("fleetdeck (pid {pid}) did not exit within {limit:?} {what}");
    }
}

/// The demo's temporary directory of process `pid` (the session has no TMPDIR).
fn demo_dir(pid: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/tmp/fleetdeck-demo-{pid}"))
}

/// The terminal disappears under the console (tmux killed, SSH connection to
/// the bastion dropped): the console must exit, whatever it was showing — not
/// linger, burning CPU and ignoring SIGTERM; and (issue 9, case 9) exit with
/// a normal code, not the panic "failed printing to stderr: Input/output
/// error" (101), and remove the demo's temporary directory.
#[test]
fn a_console_whose_terminal_disappears_exits() {
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let dir = tempfile::tempdir().expect("tempdir");
    let code_file = dir.path().join("code");
    let t = Tmux::start(100, 30, &[]);
    // A wrapper that outlives the hang-up (it ignores it until fleetdeck has
    // ended) records fleetdeck's exit code; fleetdeck's own stdout and stderr
    // stay on the terminal that goes away.
    t.send(&[
        &format!(
            "bash --norc -c 'trap : HUP; {bin} demo --devices 20 --sites 2; echo $? > {}'",
            code_file.display()
        ),
        "Enter",
    ]);
    t.wait_for("sites (2 of 2)", Duration::from_secs(20));
    // Leave it in a dialog, not the plain table.
    t.send(&["4"]);
    t.wait_for("vision-1.5.0", Duration::from_secs(10));
    t.send(&["A"]);
    t.wait_for("ctrl-c cancel", Duration::from_secs(5));
    let shell = t.display("#{pane_pid}");
    let wrapper = child_of(&shell, "trap : HUP");
    let pid = child_of(&wrapper, "fleetdeck demo");
    assert!(
        demo_dir(&pid).is_dir(),
        "the demo keeps its files in {:?}",
        demo_dir(&pid)
    );
    t.kill_server();
    wait_ended(
        &pid,
        Duration::from_secs(20),
        "after its terminal disappeared",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        let code = std::fs::read_to_string(&code_file).unwrap_or_default();
        if !code.trim().is_empty() || Instant::now() > deadline {
            break code.trim().to_string();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        code, "0",
        "a lost terminal ends the console like a hang-up (101 was the panic on EIO)"
    );
    assert!(!demo_dir(&pid).exists(), "{:?} left behind", demo_dir(&pid));
}

/// Two SIGTERMs 10 ms apart (a supervisor, an impatient `kill`): the second
/// one ends the process at once, and the demo's directory still goes.
#[test]
fn two_quick_sigterms_leave_no_demo_directory() {
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let t = Tmux::start(100, 30, &[]);
    t.send(&[
        &format!("{bin} demo --devices 20 --sites 2; echo EXIT=$?"),
        "Enter",
    ]);
    t.wait_for("sites (2 of 2)", Duration::from_secs(20));
    let shell = t.display("#{pane_pid}");
    let pid = child_of(&shell, "fleetdeck demo");
    assert!(demo_dir(&pid).is_dir());
    for i in 0..2 {
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status_within(CHILD_LIMIT)
            .expect("kill");
        // The second may find the process already gone: that is a pass.
        assert!(ok.success() || i == 1, "no fleetdeck process to signal");
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_ended(&pid, Duration::from_secs(10), "after two SIGTERMs");
    let s = t.wait_for("EXIT=", Duration::from_secs(10));
    assert!(!s.contains("EXIT=101"), "{s}");
    assert!(!demo_dir(&pid).exists(), "{:?} left behind", demo_dir(&pid));
    assert_eq!(t.display("#{alternate_on}"), "0", "alternate screen left");
}

/// A SIGTERM while the demo is still setting up (before the console runs).
#[test]
fn a_sigterm_during_the_demo_setup_leaves_no_demo_directory() {
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let t = Tmux::start(100, 30, &[]);
    t.send(&[
        &format!("{bin} demo --devices 400 --sites 8; echo EXIT=$?"),
        "Enter",
    ]);
    let shell = t.display("#{pane_pid}");
    let pid = child_of(&shell, "fleetdeck demo");
    // As soon as the directory exists: the simulator is still starting.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !demo_dir(&pid).exists() {
        assert!(Instant::now() < deadline, "the demo made no directory");
        std::thread::sleep(Duration::from_millis(2));
    }
    let ok = Command::new("kill")
        .args(["-TERM", &pid])
        .status_within(CHILD_LIMIT)
        .expect("kill");
    assert!(ok.success());
    wait_ended(
        &pid,
        Duration::from_secs(10),
        "after a SIGTERM during setup",
    );
    t.wait_for("EXIT=", Duration::from_secs(10));
    assert!(!demo_dir(&pid).exists(), "{:?} left behind", demo_dir(&pid));
}

/// Without a terminal (stdin from /dev/null, stdout a pipe: cron, CI, a
/// pipeline), the console says what to do instead and exits 2; it used to say
/// "No such device or address (os error 6)".
#[test]
fn without_a_terminal_the_console_says_to_use_status() {
    use std::process::Stdio;
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let mut child = Command::new(bin)
        .args(["demo", "--devices", "10", "--sites", "2"])
        .env("HOME", "/nonexistent")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fleetdeck");
    let pid = child.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fleetdeck without a terminal did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "fleetdeck: the console needs a terminal (stdin/stdout is not a tty); use `fleetdeck status` for headless output"
        ),
        "{err}"
    );
    assert!(!err.contains("os error 6"), "{err}");
    assert!(out.stdout.is_empty(), "nothing on stdout: {:?}", out.stdout);
    assert!(!demo_dir(&pid).exists(), "{:?} left behind", demo_dir(&pid));
}

/// Issue 9, case 3: a device label "pi-evil" followed by 30 U+2028 (and
/// zero-width look-alikes) shifted its row by 30 columns at 160×48 and left
/// border fragments. A real path in: a direct-scrape inventory (file_sd JSON)
/// with hostile `device` labels, pointing at the simulator's exporters.
#[test]
fn line_separators_and_zero_width_labels_keep_the_screen_intact_160x48() {
    use std::process::Stdio;
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let dir = tempfile::tempdir().expect("tempdir");
    let sim_inventory = dir.path().join("sim.json");
    // The simulator on a free port, killed when the test ends.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _sim = Kill(
        Command::new(bin)
            .args(["sim", "--devices", "6", "--sites", "2", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--inventory")
            .arg(&sim_inventory)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fleetdeck sim"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sim_inventory.exists() {
        assert!(
            Instant::now() < deadline,
            "the simulator wrote no inventory"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&sim_inventory).expect("inventory");
    let mut inv: serde_json::Value = serde_json::from_str(&text).expect("inventory JSON");
    let hostile = [
        format!("pi-evil{}", "\u{2028}".repeat(30)),
        "pi-e\u{200b}vil".to_string(),
        "pi-\u{200d}x\u{feff}\u{2060}\u{61c}y".to_string(),
        "pi-\u{2029}\u{202e}live".to_string(),
    ];
    for (entry, id) in inv.as_array_mut().expect("a list").iter_mut().zip(&hostile) {
        entry["labels"]["device"] = serde_json::Value::String(id.clone());
    }
    let inventory = dir.path().join("inventory.json");
    std::fs::write(&inventory, serde_json::to_vec(&inv).expect("JSON")).expect("write");
    let config = dir.path().join("fleetdeck.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nkind = \"scrape\"\ninventory = \"{}\"\ntimeout = \"2s\"\nrefresh = \"1s\"\n",
            inventory.display()
        ),
    )
    .expect("write config");

    let t = Tmux::start(160, 48, &[]);
    t.send(&[
        &format!("{bin} --config {}; echo EXIT=$?", config.display()),
        "Enter",
    ]);
    t.wait_for("sites (2 of 2)", Duration::from_secs(20));
    t.send(&["3"]);
    t.wait_for("devices (6 of 6)", Duration::from_secs(10));
    // Sorted by id: the hostile ones first.
    t.send(&[">"]);
    let s = t.wait_for("pi-evil", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let s = {
        let again = t.capture();
        if again.contains("pi-evil") { again } else { s }
    };
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 48, "{s}");
    for (i, l) in lines.iter().enumerate() {
        assert!(
            l.chars().count() <= 160,
            "row {i} is {} columns wide:\n{s}",
            l.chars().count()
        );
        assert!(
            !l.chars().any(|c| c.is_control()
                || matches!(
                    c,
                    '\u{2028}'
                        | '\u{2029}'
                        | '\u{200b}'
                        | '\u{200d}'
                        | '\u{feff}'
                        | '\u{2060}'
                        | '\u{61c}'
                        | '\u{202e}'
                )),
            "row {i} holds a raw separator, zero-width or bidi character:\n{s}"
        );
    }
    // The pane: its top border is the row after the header; every row down to
    // its bottom border starts and ends with the border, at the same columns.
    let top = lines
        .iter()
        .position(|l| l.starts_with('┌'))
        .unwrap_or_else(|| panic!("no pane border:\n{s}"));
    let bottom = lines
        .iter()
        .rposition(|l| l.starts_with('└'))
        .unwrap_or_else(|| panic!("no bottom border:\n{s}"));
    assert!(bottom > top + 3, "{s}");
    for (i, l) in lines.iter().enumerate().take(bottom + 1).skip(top) {
        let chars: Vec<char> = l.chars().collect();
        assert_eq!(chars.len(), 160, "row {i} is not the full width:\n{s}");
        let (first, last) = (chars[0], chars[159]);
        let want = if i == top {
            ('┌', '┐')
        } else if i == bottom {
            ('└', '┘')
        } else {
            ('│', '│')
        };
        assert_eq!((first, last), want, "row {i} lost its border:\n{s}");
        if i != top && i != bottom {
            assert!(
                !chars[1..159]
                    .iter()
                    .any(|c| matches!(c, '│' | '┐' | '┘' | '┌' | '└')),
                "row {i} holds a stray border fragment:\n{s}"
            );
        }
    }
    // The look-alikes are visible as what they are.
    assert!(s.contains("pi-evil\\u{2028}\\u{2028}"), "{s}");
    assert!(s.contains("pi-e\\u{200b}vil"), "{s}");
    assert!(
        s.contains("pi-\\u{200d}x\\u{feff}\\u{2060}\\u{61c}y"),
        "{s}"
    );
    t.send(&["q"]);
    t.wait_for("EXIT=0", Duration::from_secs(10));
}
