//! Issue 9 case 5: files the operator names are read with bounds. `--config
//! /dev/zero` grew to 4.8 GB and never exited; `bearer_token_file =
//! "/dev/zero"` reached 5.6 GB; a FIFO blocked forever. Every config, theme,
//! secret and key file must be a regular file under its cap: the binary exits
//! 2 at once, naming the file and the key.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a refusal may take (a debug binary, a loaded machine): the old
/// behaviour never finished at all.
const QUICK: Duration = Duration::from_secs(15);

struct Run {
    code: Option<i32>,
    stderr: String,
    took: Duration,
}

/// Runs the binary with no terminal and a deadline; a run that outlives it is
/// killed and reported as a hang.
fn fleetdeck(home: &Path, args: &[&str]) -> Run {
    use std::io::Read;
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("xdg"))
        .env_remove("TERM")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fleetdeck");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut e = Vec::new();
        // Bounded like the child: a runaway writer is cut off by the kill.
        let _ = (&mut err).take(1 << 20).read_to_end(&mut e);
        e
    });
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        if start.elapsed() > QUICK {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code,
        stderr: String::from_utf8_lossy(&reader.join().expect("reader")).into_owned(),
        took: start.elapsed(),
    }
}

/// The unreadable things a path can name: a device, a directory, a FIFO, and
/// a regular file larger than every cap (sparse: costs no disk).
fn hostile_files(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().expect("utf-8 path")).expect("no NUL");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
    let big = dir.join("big.toml");
    let f = std::fs::File::create(&big).expect("create");
    f.set_len(100 << 20).expect("sparse 100 MB file");
    let sub = dir.join("a-directory");
    std::fs::create_dir(&sub).expect("mkdir");
    vec![
        ("a character device", PathBuf::from("/dev/zero")),
        ("a directory", sub),
        ("a FIFO", fifo),
        ("larger than", big),
    ]
}

fn assert_refused(run: &Run, what: &str, path: &Path, key: &str, kind: &str) {
    let shown = path.display().to_string();
    assert!(
        run.code.is_some(),
        "{what} = {shown}: still running after {QUICK:?} (killed); stderr: {}",
        run.stderr
    );
    assert_eq!(
        run.code,
        Some(2),
        "{what} = {shown}: exit code; stderr: {}",
        run.stderr
    );
    assert!(run.took < QUICK, "{what} = {shown}: took {:?}", run.took);
    assert!(
        run.stderr.contains(&shown),
        "{what} = {shown}: the error does not name the file: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(key),
        "{what} = {shown}: the error does not name {key}: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(kind),
        "{what} = {shown}: the error does not say why ({kind}): {}",
        run.stderr
    );
}

#[test]
fn unbounded_files_are_refused_at_once_naming_file_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = hostile_files(dir.path());
    let cfg = dir.path().join("config.toml");
    for (kind, path) in &files {
        let p = path.to_str().expect("utf-8 path");
        let kind = kind.trim_start_matches("a ").trim_start_matches("an ");

        // --config itself.
        let run = fleetdeck(dir.path(), &["check-config", "--config", p]);
        assert_refused(&run, "--config", path, "--config", kind);
        let run = fleetdeck(dir.path(), &["--config", p]);
        assert_refused(&run, "--config (console)", path, "--config", kind);

        // A theme: named in the config, and on the command line.
        std::fs::write(&cfg, format!("theme = \"{p}\"\n")).expect("write config");
        let c = cfg.to_str().expect("utf-8");
        let run = fleetdeck(dir.path(), &["check-config", "--config", c]);
        assert_refused(&run, "theme", path, "key 'theme'", kind);
        assert!(run.stderr.contains(&format!("{c}:1:1:")), "{}", run.stderr);
        std::fs::write(&cfg, "").expect("write config");
        let run = fleetdeck(dir.path(), &["check-config", "--config", c, "--theme", p]);
        assert_refused(&run, "--theme", path, "--theme", kind);

        // A secret.
        std::fs::write(
            &cfg,
            format!(
                "[source]\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:9\"\nbearer_token_file = \"{p}\"\n"
            ),
        )
        .expect("write config");
        let run = fleetdeck(dir.path(), &["check-config", "--config", c]);
        assert_refused(
            &run,
            "bearer_token_file",
            path,
            "key 'source.bearer_token_file'",
            kind,
        );
        assert!(run.stderr.contains(&format!("{c}:4:1:")), "{}", run.stderr);
        let run = fleetdeck(dir.path(), &["status", "--config", c]);
        assert_refused(
            &run,
            "bearer_token_file (status)",
            path,
            "source.bearer_token_file",
            kind,
        );

        // A password file of a registry.
        std::fs::write(
            &cfg,
            format!(
                "[registry.auth.\"registry.example\"]\nusername = \"u\"\npassword_file = \"{p}\"\n"
            ),
        )
        .expect("write config");
        let run = fleetdeck(dir.path(), &["check-config", "--config", c]);
        assert_refused(
            &run,
            "password_file",
            path,
            "registry.auth.registry.example.password_file",
            kind,
        );

        // A signing key: check-config, and the console refuses the same way.
        std::fs::write(&cfg, format!("[signing]\nkeys = [\"{p}\"]\n")).expect("write config");
        let run = fleetdeck(dir.path(), &["check-config", "--config", c]);
        assert_refused(&run, "[signing] keys", path, "key 'signing.keys[0]'", kind);
        assert!(run.stderr.contains(&format!("{c}:2:1:")), "{}", run.stderr);
        let console = fleetdeck(dir.path(), &["--config", c]);
        assert_refused(
            &console,
            "[signing] keys (console)",
            path,
            "signing.keys[0]",
            kind,
        );
        assert_eq!(console.stderr, run.stderr);

        // A CA bundle.
        std::fs::write(&cfg, format!("[registry]\nca_file = \"{p}\"\n")).expect("write config");
        let run = fleetdeck(dir.path(), &["check-config", "--config", c]);
        assert_refused(
            &run,
            "[registry] ca_file",
            path,
            "key 'registry.ca_file'",
            kind,
        );

        // SSH known_hosts (a missing one is fine: it is created on accept).
        std::fs::write(&cfg, format!("[remote]\nknown_hosts = \"{p}\"\n")).expect("write config");
        let run = fleetdeck(dir.path(), &["check-config", "--config", c]);
        assert_refused(
            &run,
            "[remote] known_hosts",
            path,
            "key 'remote.known_hosts'",
            kind,
        );

        // `verify --key FILE` reads a key the operator named too.
        let run = fleetdeck(
            dir.path(),
            &[
                "verify",
                "registry.example/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "--key",
                p,
            ],
        );
        assert_refused(&run, "verify --key", path, "signing key", kind);
    }
}
