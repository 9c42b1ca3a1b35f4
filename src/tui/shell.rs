//! `s`: an SSH session on a device, with the terminal handed over (see
//! [`super::handover`]) and taken back. Returns the event that tells the app
//! how it went: the session's end, or a host-key problem for it to ask about.

use super::{InputReader, TerminalGuard, handover};
use crate::app::{App, Event, HostKeyProblem};
use crate::remote::RemoteConfig;
use crate::remote::ssh::{self, HostKeyPolicy, Target};
use tokio::sync::mpsc;

/// How a shell attempt ended.
enum Outcome {
    Ended { message: String, ok: bool },
    HostKey(HostKeyProblem),
}

/// Opens a shell on `device` (accepting the unknown host key with fingerprint
/// `accept` when given) and returns the event for the app.
pub async fn open(
    guard: &mut TerminalGuard,
    input: &mut InputReader,
    events_tx: &mpsc::UnboundedSender<Event>,
    app: &App,
    remote: &RemoteConfig,
    device: String,
    accept: Option<String>,
) -> Event {
    let target = match shell_target(app, remote, &device) {
        Ok(t) => t,
        Err(message) => {
            return Event::ShellEnded {
                device,
                message,
                ok: false,
            };
        }
    };
    let mut opts = ssh::Options::from_config(remote);
    let mut banner = format!(
        "fleetdeck: connecting to {} ({}@{}) — the console comes back when the session ends\r",
        crate::text::sanitize(&device),
        crate::text::sanitize(&target.user),
        target.addr()
    );
    if let Some(fp) = accept {
        banner.push_str(&format!(
            "\nfleetdeck: accepting host key {} (recorded in {})\r",
            crate::text::sanitize(&fp),
            opts.known_hosts.display()
        ));
        opts.host_key_policy = HostKeyPolicy::AcceptFingerprint(fp);
    }
    let tx = events_tx.clone();
    let restart = || InputReader::start(tx);
    let outcome =
        handover::hand_over(guard, input, restart, &banner, run_shell(target, opts)).await;
    match outcome {
        Outcome::Ended { message, ok } => Event::ShellEnded {
            device,
            message,
            ok,
        },
        Outcome::HostKey(problem) => Event::HostKey { device, problem },
    }
}

/// Where to reach a device (see [`crate::remote::ssh_target`]).
fn shell_target(app: &App, remote: &RemoteConfig, device: &str) -> Result<Target, String> {
    let d = app
        .fleet
        .device(device)
        .ok_or_else(|| format!("{device} is no longer in the fleet"))?;
    crate::remote::ssh_target(&d.sample, remote)
}

/// Connects, opens a PTY shell of the terminal's size and passes bytes both
/// ways until it ends.
async fn run_shell(target: Target, opts: ssh::Options) -> Outcome {
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into());
    let ended = |message: String, ok: bool| Outcome::Ended { message, ok };
    let mut conn = match ssh::connect(&target, &opts).await {
        Ok(c) => c,
        Err(e) => {
            return match HostKeyProblem::from_ssh_error(&target.addr(), &e) {
                Some(p) => Outcome::HostKey(p),
                None => ended(format!("could not connect: {e}"), false),
            };
        }
    };
    let shell = match conn.shell(&term, cols, rows).await {
        Ok(s) => s,
        Err(e) => return ended(format!("no shell: {e}"), false),
    };
    let stdin = match handover::RawStdin::new() {
        Ok(s) => s,
        Err(e) => return ended(format!("cannot read the terminal: {e}"), false),
    };
    let (resizer, rx) = handover::forward_resizes();
    let end = ssh::interactive(shell, stdin, tokio::io::stdout(), rx).await;
    resizer.abort();
    conn.close().await;
    // A shell that exited (whatever its status) is a normal end; a dropped
    // connection is not.
    let ok = end.status.is_some();
    ended(format!("session ended: {}", end.reason), ok)
}
