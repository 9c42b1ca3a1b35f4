//! Child processes under a deadline. A test that waits for a child without
//! one hangs the whole run when the child hangs (a git asking for a password,
//! a tmux that lost its server, a process stopped by a signal); with one it
//! fails, naming the command.
//!
//! `Command::output()` → [`Deadline::output_within`], `Command::status()` →
//! [`Deadline::status_within`]; both kill the child at the deadline and panic
//! with the command line. (Children spawned to run alongside a test are
//! polled with `try_wait` against a deadline, and killed on drop.) Spawn
//! errors are returned (`.expect("… is not installed: apt-get install …")`
//! keeps saying what to install).

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The deadline of commands that should finish at once (git, tmux, ip, kill).
pub const CHILD_LIMIT: Duration = Duration::from_secs(60);

pub trait Deadline {
    /// [`Command::output`] (stdin from /dev/null, stdout and stderr
    /// captured) killed at `limit`.
    fn output_within(&mut self, limit: Duration) -> std::io::Result<Output>;
    /// [`Command::status`] (stdio inherited) killed at `limit`.
    fn status_within(&mut self, limit: Duration) -> std::io::Result<ExitStatus>;
}

impl Deadline for Command {
    fn output_within(&mut self, limit: Duration) -> std::io::Result<Output> {
        let what = format!("{self:?}");
        let deadline = Instant::now() + limit;
        let mut child = self
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (tx, rx) = mpsc::channel();
        for (n, pipe) in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .enumerate()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut buf);
                }
                let _ = tx.send((n, buf));
            });
        }
        drop(tx);
        let status = wait_until(&mut child, deadline, limit, &what);
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((0, buf)) => stdout = buf,
                Ok((_, buf)) => stderr = buf,
                Err(_) => panic!(
                    "{what} exited but its output stayed open past the {limit:?} deadline \
                     (a process it started holds it)"
                ),
            }
        }
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    fn status_within(&mut self, limit: Duration) -> std::io::Result<ExitStatus> {
        let what = format!("{self:?}");
        let mut child = self.spawn()?;
        Ok(wait_until(&mut child, Instant::now() + limit, limit, &what))
    }
}

fn wait_until(child: &mut Child, deadline: Instant, limit: Duration, what: &str) -> ExitStatus {
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) => {}
            Err(e) => panic!("waiting for {what}: {e}"),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}: killed");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
