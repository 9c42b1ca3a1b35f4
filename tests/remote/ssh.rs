//! SSH against a real OpenSSH server (tests/support/sshd.rs) over loopback:
//! commands and exit status, host keys (unknown, accepted, hashed,
//! `[host]:port`, changed, revoked), authentication (wrong key, encrypted
//! key, agent), interactive PTY sessions with resizes, a server killed
//! mid-session, refused and silent endpoints, and a timing comparison with
//! plain `ssh`.
//!
//! Needs root and openssh-server/openssh-client (scripts/test.sh installs
//! them); fails saying so when they are missing.
// Measurements and progress go to the test log; fleetdeck's own output goes
// through crate::out (clippy.toml).
#![allow(clippy::disallowed_macros)]

use crate::support;
use crate::support::run::{CHILD_LIMIT, Deadline as _};

use fleetdeck::remote::known_hosts::{self, HostKeyStatus};
use fleetdeck::remote::ssh::{
    self, HostKeyPolicy, Options, SessionEnd, ShellEvent, SshError, Target,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::sshd::{self, Agent, Sshd};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADDR: &str = "127.0.0.1";

/// Never skips: a missing server fails the test with how to install it.
fn skip() -> bool {
    assert!(
        sshd::available(),
        "/usr/sbin/sshd, ssh or ssh-keygen missing: apt-get install openssh-server openssh-client (scripts/test.sh installs them)"
    );
    false
}

fn target(port: u16) -> Target {
    Target {
        device: "pi-test".into(),
        host: ADDR.into(),
        port,
        user: "root".into(),
    }
}

fn options(known_hosts: &Path, keys: &[&Path]) -> Options {
    Options {
        known_hosts: known_hosts.to_path_buf(),
        identity_files: keys.iter().map(|k| k.to_path_buf()).collect(),
        use_agent: false,
        agent_socket: None,
        connect_timeout: Duration::from_secs(5),
        keepalive: Duration::from_secs(1),
        host_key_policy: HostKeyPolicy::Strict,
        passphrase: None,
    }
}

/// known_hosts in the server's tempdir listing its current host key as `[127.0.0.1]:PORT`.
fn trusted_known_hosts(sshd: &Sshd) -> PathBuf {
    let path = sshd.dir.path().join("known_hosts");
    std::fs::write(
        &path,
        format!("[{ADDR}]:{} {}\n", sshd.port, sshd.host_key_line()),
    )
    .unwrap();
    path
}

async fn run(conn: &mut ssh::Connection, cmd: &str) -> (String, String, ssh::ExitStatus) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let status = conn.exec(cmd, &mut out, &mut err).await.expect("exec");
    (
        String::from_utf8_lossy(&out).into(),
        String::from_utf8_lossy(&err).into(),
        status,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_streams_output_and_passes_exit_status_back() {
    if skip() {
        return;
    }
    let sshd = Sshd::start(ADDR);
    let kh = trusted_known_hosts(&sshd);
    let mut conn = ssh::connect(&target(sshd.port), &options(&kh, &[&sshd.client_key]))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log_text()));
    let (out, err, status) = run(&mut conn, "echo marker-$$; echo to-stderr >&2; exit 3").await;
    assert!(out.starts_with("marker-"), "{out:?}");
    assert_eq!(err.trim(), "to-stderr");
    assert_eq!(status, ssh::ExitStatus::Code(3));
    assert_eq!(status.process_code(), 3);
    // The connection carries more than one command.
    let (out, _, status) = run(&mut conn, "echo second").await;
    assert_eq!((out.trim(), status.code()), ("second", Some(0)));
    let (_, _, status) = run(&mut conn, "kill -TERM $$").await;
    assert_eq!(status.process_code(), 128 + 15, "{status}");
    conn.close().await;

    // The headless `fleetdeck ssh DEVICE -- COMMAND...` path.
    let words: Vec<String> = ["echo", "headless-marker;", "exit", "7"]
        .map(String::from)
        .to_vec();
    let code = ssh::run_command(
        &target(sshd.port),
        &options(&kh, &[&sshd.client_key]),
        &words,
    )
    .await
    .expect("run_command");
    assert_eq!(code, 7);
    let err = ssh::run_command(&target(sshd.port), &options(&kh, &[]), &words)
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::AuthFailed { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_key_is_refused_then_accepted_hashed_and_bracketed() {
    if skip() {
        return;
    }
    let sshd = Sshd::start(ADDR);
    let kh = sshd.dir.path().join("fleet/known_hosts");
    let expected = sshd.host_fingerprint();

    // Unknown → refused, with the fingerprint ssh-keygen -lf shows.
    let err = ssh::connect(&target(sshd.port), &options(&kh, &[&sshd.client_key]))
        .await
        .unwrap_err();
    match &err {
        SshError::HostKeyUnknown { fingerprint, host } => {
            assert_eq!(fingerprint, &expected);
            assert_eq!(host, &format!("[{ADDR}]:{}", sshd.port));
        }
        other => panic!("expected HostKeyUnknown, got {other:?}"),
    }
    assert!(err.to_string().contains(&expected), "{err}");
    assert!(!kh.exists(), "nothing recorded without an accept");

    // Accepting another fingerprint records nothing.
    let mut opts = options(&kh, &[&sshd.client_key]);
    opts.host_key_policy = HostKeyPolicy::AcceptFingerprint("SHA256:not-this-one".into());
    assert!(matches!(
        ssh::connect(&target(sshd.port), &opts).await,
        Err(SshError::HostKeyUnknown { .. })
    ));
    // Explicit accept of the shown fingerprint → recorded as [127.0.0.1]:PORT, 0600.
    opts.host_key_policy = HostKeyPolicy::AcceptFingerprint(expected.clone());
    let conn = ssh::connect(&target(sshd.port), &opts)
        .await
        .expect("accepted");
    conn.close().await;
    let text = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(
        text,
        format!("[{ADDR}]:{} {}\n", sshd.port, sshd.host_key_line())
    );
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&kh).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Now known under the strict policy.
    let conn = ssh::connect(&target(sshd.port), &options(&kh, &[&sshd.client_key]))
        .await
        .expect("known");
    conn.close().await;

    // known_hosts::accept directly, then check.
    let kh2 = sshd.dir.path().join("kh2");
    let key = russh::keys::PublicKey::from_openssh(&sshd.host_key_line()).unwrap();
    assert!(matches!(
        known_hosts::check(&kh2, ADDR, sshd.port, &key),
        HostKeyStatus::Unknown { .. }
    ));
    known_hosts::accept(&kh2, ADDR, sshd.port, &key).unwrap();
    assert_eq!(
        known_hosts::check(&kh2, ADDR, sshd.port, &key),
        HostKeyStatus::Known
    );

    // Hashed by ssh-keygen -H → still known, and connects.
    let hashed = sshd.dir.path().join("hashed_known_hosts");
    std::fs::copy(&kh, &hashed).unwrap();
    let st = Command::new("ssh-keygen")
        .arg("-q")
        .arg("-H")
        .arg("-f")
        .arg(&hashed)
        .output_within(CHILD_LIMIT)
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    let text = std::fs::read_to_string(&hashed).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
    assert_eq!(
        known_hosts::check(&hashed, ADDR, sshd.port, &key),
        HostKeyStatus::Known
    );
    let conn = ssh::connect(&target(sshd.port), &options(&hashed, &[&sshd.client_key]))
        .await
        .expect("hashed entry honoured");
    conn.close().await;

    // A plain `127.0.0.1` entry is for port 22 only: not used for this port.
    let plain = sshd.dir.path().join("plain_known_hosts");
    std::fs::write(&plain, format!("{ADDR} {}\n", sshd.host_key_line())).unwrap();
    assert!(matches!(
        ssh::connect(&target(sshd.port), &options(&plain, &[&sshd.client_key])).await,
        Err(SshError::HostKeyUnknown { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_is_refused_naming_both_fingerprints_and_revoked_is_refused() {
    if skip() {
        return;
    }
    let mut sshd = Sshd::start(ADDR);
    let kh = trusted_known_hosts(&sshd);
    let old = sshd.host_fingerprint();
    ssh::connect(&target(sshd.port), &options(&kh, &[&sshd.client_key]))
        .await
        .expect("trusted")
        .close()
        .await;

    sshd.restart_with_new_host_key();
    let new = sshd.host_fingerprint();
    assert_ne!(old, new);
    let err = ssh::connect(&target(sshd.port), &options(&kh, &[&sshd.client_key]))
        .await
        .unwrap_err();
    match &err {
        SshError::HostKeyChanged {
            old: o,
            new: n,
            known_hosts_line,
            ..
        } => {
            assert_eq!((o, n), (&old, &new));
            assert_eq!(known_hosts_line, &format!("{}:1", kh.display()));
        }
        other => panic!("expected HostKeyChanged, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&old) && msg.contains(&new) && msg.contains("CHANGED"),
        "{msg}"
    );
    // Even the accept policies never overwrite a changed key.
    let mut opts = options(&kh, &[&sshd.client_key]);
    opts.host_key_policy = HostKeyPolicy::AcceptNew;
    assert!(matches!(
        ssh::connect(&target(sshd.port), &opts).await,
        Err(SshError::HostKeyChanged { .. })
    ));

    // Revoked: refused even though another line lists it as the host's key.
    let revoked = sshd.dir.path().join("revoked_known_hosts");
    std::fs::write(
        &revoked,
        format!(
            "[{ADDR}]:{} {k}\n@revoked * {k}\n",
            sshd.port,
            k = sshd.host_key_line()
        ),
    )
    .unwrap();
    let err = ssh::connect(&target(sshd.port), &options(&revoked, &[&sshd.client_key]))
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::HostKeyRevoked { .. }), "{err:?}");
    assert!(err.to_string().contains("revoked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_wrong_key_encrypted_key_and_agent() {
    if skip() {
        return;
    }
    let sshd = Sshd::start(ADDR);
    let kh = trusted_known_hosts(&sshd);
    let t = target(sshd.port);

    // A key the server does not know → AuthFailed naming what was tried.
    let stranger = sshd.new_key("stranger", "");
    let missing = sshd.dir.path().join("no_such_key");
    let err = ssh::connect(&t, &options(&kh, &[&missing, &stranger]))
        .await
        .unwrap_err();
    match &err {
        SshError::AuthFailed { user, tried } => {
            assert_eq!(user, "root");
            assert_eq!(tried, &vec![stranger.display().to_string()]);
        }
        other => panic!("expected AuthFailed, got {other:?}"),
    }
    assert!(err.to_string().contains("stranger"), "{err}");

    // Encrypted, authorized key without a passphrase callback → Passphrase.
    let locked = sshd.new_key("locked", "s3cret pass");
    sshd.authorize(&locked);
    let err = ssh::connect(&t, &options(&kh, &[&locked]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SshError::Passphrase { file } if file == &locked),
        "{err:?}"
    );
    // A callback that gives the wrong passphrase, three times → Passphrase too.
    let mut opts = options(&kh, &[&locked]);
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    opts.passphrase = Some(Box::new(move |_p: &Path| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some("wrong".to_string())
    }));
    assert!(matches!(
        ssh::connect(&t, &opts).await,
        Err(SshError::Passphrase { .. })
    ));
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 3);
    // With the right passphrase → works.
    let expected_file = locked.clone();
    opts.passphrase = Some(Box::new(move |p: &Path| {
        assert_eq!(p, expected_file);
        Some("s3cret pass".to_string())
    }));
    let mut conn = ssh::connect(&t, &opts).await.expect("passphrase accepted");
    assert_eq!(run(&mut conn, "echo ok").await.0.trim(), "ok");
    conn.close().await;

    // ssh-agent holding the authorized key; no identity files.
    let agent = Agent::start(&[&sshd.client_key]);
    let mut opts = options(&kh, &[]);
    opts.use_agent = true;
    opts.agent_socket = Some(agent.socket.clone());
    let mut conn = ssh::connect(&t, &opts).await.expect("agent auth");
    assert_eq!(run(&mut conn, "echo via-agent").await.0.trim(), "via-agent");
    conn.close().await;

    // An agent with only a stranger's key → AuthFailed lists the agent's keys and the files.
    let agent2 = Agent::start(&[&stranger]);
    let mut opts = options(&kh, &[&stranger]);
    opts.use_agent = true;
    opts.agent_socket = Some(agent2.socket.clone());
    match ssh::connect(&t, &opts).await {
        Err(SshError::AuthFailed { tried, .. }) => {
            assert_eq!(
                tried,
                vec!["agent: 1 key".to_string(), stranger.display().to_string()]
            );
        }
        other => panic!("expected AuthFailed, got {other:?}"),
    }
}

/// Collects a session's output until `interactive` returns (bounded).
async fn drive(shell: ssh::Shell, script: &[Step]) -> (String, SessionEnd) {
    let (mut stdin_w, stdin_r) = tokio::io::duplex(4096);
    let (stdout_w, mut stdout_r) = tokio::io::duplex(1 << 20);
    let (resize_tx, resize_rx) = tokio::sync::mpsc::channel(4);
    let session = tokio::spawn(ssh::interactive(shell, stdin_r, stdout_w, resize_rx));
    let reader = tokio::spawn(async move {
        let mut all = Vec::new();
        let _ = stdout_r.read_to_end(&mut all).await;
        String::from_utf8_lossy(&all).into_owned()
    });
    for step in script {
        match step {
            Step::Type(s) => stdin_w.write_all(s.as_bytes()).await.unwrap(),
            Step::Resize(c, r) => resize_tx.send((*c, *r)).await.unwrap(),
            Step::Sleep(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
        }
    }
    let end = tokio::time::timeout(Duration::from_secs(15), session)
        .await
        .expect("interactive returned in time")
        .expect("join");
    let out = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .unwrap()
        .unwrap();
    drop(resize_tx);
    (out, end)
}

enum Step {
    Type(&'static str),
    Resize(u16, u16),
    Sleep(u64),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_shell_has_a_pty_of_the_asked_size_and_forwards_resizes() {
    if skip() {
        return;
    }
    let sshd = Sshd::start(ADDR);
    let kh = trusted_known_hosts(&sshd);
    let mut conn = ssh::connect(&target(sshd.port), &options(&kh, &[&sshd.client_key]))
        .await
        .unwrap();

    let shell = conn.shell("xterm-256color", 100, 30).await.expect("shell");
    let (out, end) = drive(
        shell,
        &[Step::Type("stty size; tty; echo TERM=$TERM; exit 5\n")],
    )
    .await;
    assert!(out.contains("30 100"), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("TERM=xterm-256color"), "{out}");
    assert_eq!(end.status, Some(5), "{end:?}");
    assert_eq!(end.reason, "exit status 5");

    // Resize forwarded.
    let shell = conn.shell("xterm", 80, 24).await.expect("shell");
    let (out, end) = drive(
        shell,
        &[
            Step::Resize(120, 40),
            Step::Sleep(300),
            Step::Type("stty size; exit\n"),
        ],
    )
    .await;
    assert!(out.contains("40 120"), "{out}");
    assert_eq!(end.status, Some(0));

    // The Shell API used directly.
    let mut shell = conn.shell("dumb", 80, 24).await.expect("shell");
    shell
        .write(b"echo direct-$((6*7)); exit 2\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(10), shell.read())
            .await
            .unwrap()
        {
            ShellEvent::Data(d) => out.extend(d),
            ShellEvent::Exit(s) => break s,
            ShellEvent::Closed(r) => panic!("closed: {r}"),
        }
    };
    assert!(String::from_utf8_lossy(&out).contains("direct-42"));
    assert_eq!(status.code(), Some(2));
    conn.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sshd_killed_mid_session_ends_interactive_with_a_reason() {
    if skip() {
        return;
    }
    let sshd = Sshd::start(ADDR);
    let kh = trusted_known_hosts(&sshd);
    let mut conn = ssh::connect(&target(sshd.port), &options(&kh, &[&sshd.client_key]))
        .await
        .unwrap();
    let shell = conn.shell("xterm", 80, 24).await.unwrap();
    let (mut stdin_w, stdin_r) = tokio::io::duplex(4096);
    let (stdout_w, mut stdout_r) = tokio::io::duplex(1 << 20);
    let (_resize_tx, resize_rx) = tokio::sync::mpsc::channel(1);
    let session = tokio::spawn(ssh::interactive(shell, stdin_r, stdout_w, resize_rx));
    stdin_w.write_all(b"echo alive-$((1+1))\n").await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&seen).contains("alive-2") {
            let n = stdout_r.read(&mut buf).await.unwrap();
            assert!(n > 0, "output ended early");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("shell output");

    let killed_at = Instant::now();
    sshd.kill_sessions();
    let end = tokio::time::timeout(Duration::from_secs(10), session)
        .await
        .expect("interactive must not hang when sshd dies")
        .unwrap();
    eprintln!(
        "sshd killed → interactive returned after {:?}: {end:?}",
        killed_at.elapsed()
    );
    assert_eq!(end.status, None);
    assert!(end.reason.starts_with("disconnected"), "{end:?}");
    // Further use of the connection fails cleanly.
    let mut out = Vec::new();
    let r = conn.exec("true", &mut out, tokio::io::sink()).await;
    assert!(
        matches!(
            r,
            Err(SshError::Disconnected { .. }) | Err(SshError::Timeout { .. })
        ),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silently_dead_link_is_detected_by_keepalives() {
    if skip() {
        return;
    }
    let sshd = Sshd::start(ADDR);
    let kh = trusted_known_hosts(&sshd);
    // keepalive 1 s, 3 unanswered → closed after about 4 s.
    let mut conn = ssh::connect(&target(sshd.port), &options(&kh, &[&sshd.client_key]))
        .await
        .unwrap();
    let shell = conn.shell("xterm", 80, 24).await.unwrap();
    let (_stdin_w, stdin_r) = tokio::io::duplex(64);
    let (_resize_tx, resize_rx) = tokio::sync::mpsc::channel(1);
    let session = tokio::spawn(ssh::interactive(
        shell,
        stdin_r,
        tokio::io::sink(),
        resize_rx,
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let frozen_at = Instant::now();
    sshd.freeze_sessions();
    let end = tokio::time::timeout(Duration::from_secs(15), session)
        .await
        .expect("interactive must not hang on a dead link")
        .unwrap();
    eprintln!(
        "link frozen → interactive returned after {:?}: {end:?}",
        frozen_at.elapsed()
    );
    assert_eq!(end.status, None);
    assert!(end.reason.contains("keepalive"), "{end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_silent_endpoints_fail_distinctly_within_the_timeout() {
    if skip() {
        return;
    }
    let kh = tempfile::tempdir().unwrap();
    let khp = kh.path().join("known_hosts");
    let mut opts = options(&khp, &[]);
    opts.connect_timeout = Duration::from_millis(1500);

    let port = sshd::free_port(ADDR);
    let start = Instant::now();
    let err = ssh::connect(&target(port), &opts).await.unwrap_err();
    assert!(
        matches!(&err, SshError::Refused { addr } if addr == &format!("{ADDR}:{port}")),
        "{err:?}"
    );
    // It ends by the timeout, not by hanging (a loose bound; speed is not tested here).
    assert!(start.elapsed() < opts.connect_timeout * 10);
    assert!(err.to_string().contains("refused"), "{err}");

    let (_listener, port) = sshd::silent_listener(ADDR);
    let start = Instant::now();
    let err = ssh::connect(&target(port), &opts).await.unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(&err, SshError::Timeout { after, .. } if *after == opts.connect_timeout),
        "{err:?}"
    );
    assert!(
        took >= opts.connect_timeout && took < opts.connect_timeout + Duration::from_secs(1),
        "{took:?}"
    );
    assert!(err.to_string().contains("handshake"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timing_connect_to_prompt_against_plain_ssh() {
    if skip() {
        return;
    }
    let sshd = Sshd::start(ADDR);
    let kh = trusted_known_hosts(&sshd);
    let opts = options(&kh, &[&sshd.client_key]);
    let mut ours = Vec::new();
    let mut plain = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut conn = ssh::connect(&target(sshd.port), &opts).await.unwrap();
        let connected = start.elapsed();
        let mut shell = conn.shell("xterm", 80, 24).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(10), shell.read())
            .await
            .unwrap()
        {
            ShellEvent::Data(_) => {}
            other => panic!("{other:?}"),
        }
        ours.push((connected, start.elapsed()));
        shell.write(b"exit\n").await.unwrap();
        drop(shell);
        conn.close().await;

        let start = Instant::now();
        let st = Command::new("ssh")
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
            ])
            .arg(format!("UserKnownHostsFile={}", kh.display()))
            .arg("-i")
            .arg(&sshd.client_key)
            .args([
                "-p",
                &sshd.port.to_string(),
                &format!("root@{ADDR}"),
                "true",
            ])
            .output_within(CHILD_LIMIT)
            .unwrap();
        assert!(st.status.success(), "{st:?}");
        plain.push(start.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for (i, ((c, p), s)) in ours.iter().zip(&plain).enumerate() {
        eprintln!(
            "run {i}: fleetdeck connect+auth {:.1} ms, to first shell output {:.1} ms | plain `ssh … true` {:.1} ms",
            ms(*c),
            ms(*p),
            ms(*s)
        );
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "TIMING loopback median: fleetdeck connect→first shell output {:.1} ms; plain ssh -o BatchMode=yes … true {:.1} ms",
        ms(median(ours.iter().map(|x| x.1).collect())),
        ms(median(plain.clone()))
    );
}
