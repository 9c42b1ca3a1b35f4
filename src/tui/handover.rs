//! Handing the terminal to a child session (SSH) and taking it back intact.
//!
//! gitui's external-editor flow, made strict: stop the input reader and wait
//! until it has stopped, leave the alternate screen and raw mode, give the
//! session a raw terminal of its own, then restore everything — also when the
//! session failed to start, was refused or dropped.

use super::{InputReader, TerminalGuard};
use crossterm::{execute, terminal};
use std::future::Future;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, ReadBuf};

/// Runs `session` with the terminal handed over, then takes it back.
/// `restart_input` must start a new input reader (the old one is stopped).
pub async fn hand_over<T>(
    guard: &mut TerminalGuard,
    input: &mut InputReader,
    restart_input: impl FnOnce() -> InputReader,
    banner: &str,
    session: impl Future<Output = T>,
) -> T {
    input.stop();
    let _ = execute!(
        io::stdout(),
        terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = terminal::disable_raw_mode();
    {
        let mut out = io::stdout();
        let _ = writeln!(out, "{banner}");
        let _ = out.flush();
    }
    // The session speaks to the remote terminal byte for byte: raw mode.
    let _ = terminal::enable_raw_mode();
    let result = session.await;
    let _ = terminal::disable_raw_mode();
    // Take the terminal back.
    let _ = terminal::enable_raw_mode();
    let _ = execute!(
        io::stdout(),
        terminal::EnterAlternateScreen,
        crossterm::cursor::Hide
    );
    let _ = guard.terminal.clear();
    *input = restart_input();
    result
}

/// Non-blocking, cancellable reads of the terminal's standard input, for a
/// session that must end without leaving a blocked reader behind (tokio's own
/// stdin keeps a thread blocked in `read` that would steal the next key).
/// O_NONBLOCK is restored on drop.
pub struct RawStdin {
    fd: AsyncFd<RawFd>,
    old_flags: libc::c_int,
}

impl RawStdin {
    pub fn new() -> io::Result<RawStdin> {
        let raw = io::stdin().as_raw_fd();
        // SAFETY: fcntl on our own standard input descriptor with valid flags.
        let old_flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
        if old_flags < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(raw, libc::F_SETFL, old_flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd 0 stays open for the whole process, longer than this
        // registration, and nothing else registers it with the reactor.
        match unsafe { AsyncFd::register(raw) } {
            Ok(fd) => Ok(RawStdin { fd, old_flags }),
            Err(e) => {
                // SAFETY: restoring the flags read above.
                unsafe { libc::fcntl(raw, libc::F_SETFL, old_flags) };
                Err(io::Error::other(e.to_string()))
            }
        }
    }
}

impl Drop for RawStdin {
    fn drop(&mut self) {
        // SAFETY: restoring the flags read in `new` on the same descriptor.
        unsafe { libc::fcntl(*self.fd.get_ref(), libc::F_SETFL, self.old_flags) };
    }
}

impl AsyncRead for RawStdin {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let result = guard.try_io(|inner| {
                // SAFETY: the descriptor is valid for the lifetime of `self`.
                let fd = unsafe { BorrowedFd::borrow_raw(*inner.get_ref()) };
                // SAFETY: reading into a valid, initialised buffer of that length.
                let n = unsafe {
                    libc::read(fd.as_raw_fd(), unfilled.as_mut_ptr().cast(), unfilled.len())
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match result {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Forwards terminal resizes (SIGWINCH) as `(cols, rows)` to a session until
/// the receiver is dropped or the task is aborted.
pub fn forward_resizes() -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::mpsc::Receiver<(u16, u16)>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let task = tokio::spawn(async move {
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            if let Ok(size) = terminal::size()
                && tx.send(size).await.is_err()
            {
                return;
            }
        }
    });
    (task, rx)
}
