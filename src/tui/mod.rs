//! The terminal UI: terminal guard, input thread, event loop, keymap, views.
//!
//! The loop waits for input, worker results or a clock tick; drains a bounded
//! batch of them into the runtime's effect loop ([`Runtime::dispatch`]:
//! [`App::update`], then every effect); then draws once. Drawing reads the
//! app and never blocks.

pub mod backend;
pub mod color;
pub mod handover;
mod shell;
pub mod theme;
pub mod views;

use crate::app::keymap::{Key, KeyCode};
use crate::app::{App, Event};
use crate::runtime::{Flow, Frontend, Runtime};
use crate::tui::theme::Theme;
use crossterm::event::{self as ct, KeyEventKind, KeyModifiers};
use crossterm::{execute, terminal};
use ratatui::Terminal;
use std::io::{self, IsTerminal, Stdout};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// Puts the terminal in raw mode and the alternate screen; restores both on drop,
/// whatever the way out (return, error, panic unwinding).
pub struct TerminalGuard {
    pub terminal: Terminal<backend::Backend<Stdout>>,
}

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        terminal::enable_raw_mode()?;
        let mut out = io::stdout();
        if let Err(e) = execute!(out, terminal::EnterAlternateScreen, crossterm::cursor::Hide) {
            restore();
            return Err(e);
        }
        let terminal = match Terminal::new(backend::Backend::new(out)) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e);
            }
        };
        Ok(TerminalGuard { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves raw mode and the alternate screen, shows the cursor. Idempotent.
pub fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Restores the terminal before the default panic message is printed, so a
/// panic never leaves the operator's terminal in raw mode.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        // A panic of the main thread ends the process: the demo's directory
        // goes with it. (Worker panics are caught by tokio; the demo goes on.)
        if std::thread::current().name() == Some("main") {
            crate::sim::remove_demo_dir();
        }
        previous(info);
    }));
}

/// The thread that reads the terminal. It can be stopped and joined, so the
/// terminal can be handed to a child process with nobody else reading it.
pub struct InputReader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Disconnected when the thread has ended, whichever way.
    done: std::sync::mpsc::Receiver<()>,
}

/// Drops (disconnecting the channel) when the reader thread ends.
struct Done(#[allow(dead_code)] std::sync::mpsc::SyncSender<()>);

impl InputReader {
    pub fn start(tx: mpsc::UnboundedSender<Event>) -> InputReader {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (done_tx, done) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::spawn(move || {
            let _done = Done(done_tx);
            // The terminal went away (hang-up, closed pty): the console ends.
            let gone = |e: io::Error| {
                let _ = tx.send(Event::InputGone {
                    reason: e.to_string(),
                });
            };
            while !flag.load(Ordering::Relaxed) {
                match ct::poll(Duration::from_millis(50)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => return gone(e),
                }
                let ev = match ct::read() {
                    Ok(ev) => ev,
                    Err(e) => return gone(e),
                };
                let msg = match ev {
                    ct::Event::Key(k) if k.kind != KeyEventKind::Release => match convert_key(k) {
                        Some(key) => Event::Key(key),
                        None => continue,
                    },
                    ct::Event::Resize(..) => Event::Tick(SystemTime::now()),
                    _ => continue,
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
        InputReader {
            stop,
            thread: Some(thread),
            done,
        }
    }

    /// Stops the reader and waits until it has stopped (bounded: 2 s).
    /// `false` when it did not stop: the terminal is not safe to hand over.
    pub fn stop(&mut self) -> bool {
        self.stop_within(Duration::from_secs(2))
    }

    /// Stops the reader, waiting at most `limit`. A reader stuck inside the
    /// terminal library (a hung-up terminal can make it spin) is left behind
    /// rather than hanging the process; it ends with the process.
    pub fn stop_within(&mut self, limit: Duration) -> bool {
        self.stop.store(true, Ordering::Relaxed);
        let Some(t) = self.thread.take() else {
            return true;
        };
        match self.done.recv_timeout(limit) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = t.join();
                true
            }
        }
    }
}

impl Drop for InputReader {
    fn drop(&mut self) {
        self.stop_within(Duration::from_millis(300));
    }
}

/// crossterm's key event → fleetdeck's [`Key`].
pub fn convert_key(k: ct::KeyEvent) -> Option<Key> {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let alt = k.modifiers.contains(KeyModifiers::ALT);
    // Two quick escapes can arrive as one alt-escape: it still means esc.
    let alt = alt && k.code != ct::KeyCode::Esc;
    let code = match k.code {
        ct::KeyCode::Char(c) => KeyCode::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
        ct::KeyCode::Enter => KeyCode::Enter,
        ct::KeyCode::Esc => KeyCode::Esc,
        ct::KeyCode::Up => KeyCode::Up,
        ct::KeyCode::Down => KeyCode::Down,
        ct::KeyCode::Left => KeyCode::Left,
        ct::KeyCode::Right => KeyCode::Right,
        ct::KeyCode::PageUp => KeyCode::PageUp,
        ct::KeyCode::PageDown => KeyCode::PageDown,
        ct::KeyCode::Home => KeyCode::Home,
        ct::KeyCode::End => KeyCode::End,
        ct::KeyCode::Tab => KeyCode::Tab,
        ct::KeyCode::BackTab => KeyCode::BackTab,
        ct::KeyCode::Backspace => KeyCode::Backspace,
        ct::KeyCode::Delete => KeyCode::Delete,
        ct::KeyCode::F(n) => KeyCode::F(n),
        _ => return None,
    };
    Some(Key { code, ctrl, alt })
}

/// What the loop needs besides the app.
pub struct LoopParts {
    pub theme: Theme,
    pub no_color: bool,
    pub user_theme_dir: Option<PathBuf>,
    /// How to reach devices (SSH over the tunnel).
    pub remote: crate::remote::RemoteConfig,
    /// The workers and the effect loop.
    pub runtime: Runtime,
}

/// Why the console does not start without a terminal (the CLI exits 2).
pub const NO_TTY: &str = "the console needs a terminal (stdin/stdout is not a tty); use `fleetdeck status` for headless output";

/// 0: the console has not started; 1: it runs (it handles SIGTERM, SIGHUP,
/// SIGINT); 2: it has ended.
static CONSOLE: AtomicU8 = AtomicU8::new(0);

/// Whether the console is running and handles termination signals itself.
pub fn console_running() -> bool {
    CONSOLE.load(Ordering::SeqCst) == 1
}

/// An error that means the terminal is gone (hang-up, closed pty, SSH
/// dropped): the console ends as on SIGHUP, not with an error nobody can read.
fn terminal_gone(e: &io::Error) -> bool {
    // EIO, ENXIO, EBADF, ENOTTY: the same numbers on Linux and the BSDs.
    matches!(e.raw_os_error(), Some(5 | 6 | 9 | 25))
        || matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::UnexpectedEof | io::ErrorKind::WriteZero
        )
}

/// Runs the console until the operator quits or the process gets SIGTERM/SIGHUP.
/// Losing the terminal ends it the same way (`Ok`). Without a terminal it
/// does not start: the error is [`NO_TTY`].
pub async fn run(mut app: App, mut parts: LoopParts) -> io::Result<()> {
    if !io::stdin().is_terminal() || !io::stdout().is_terminal() {
        return Err(io::Error::other(NO_TTY));
    }
    install_panic_hook();
    let depth = color::ColorDepth::detect();
    parts.theme = color::prepare(parts.theme, parts.no_color, depth);
    let mut sigterm = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sighup = signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut sigint = signal(tokio::signal::unix::SignalKind::interrupt())?;
    CONSOLE.store(1, Ordering::SeqCst);
    let mut guard = match TerminalGuard::enter() {
        Ok(g) => g,
        Err(e) => {
            CONSOLE.store(2, Ordering::SeqCst);
            return Err(e);
        }
    };
    let LoopParts {
        mut theme,
        no_color,
        user_theme_dir,
        remote,
        mut runtime,
    } = parts;
    let events_tx = runtime.input_sender();
    let mut input = InputReader::start(events_tx.clone());
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut batch: Vec<Event> = Vec::with_capacity(64);
    let mut front = Console {
        guard: &mut guard,
        input: &mut input,
        events_tx: &events_tx,
        remote: &remote,
        theme: &mut theme,
        user_theme_dir: user_theme_dir.as_deref(),
        no_color,
        depth,
    };

    let result = loop {
        let size = match front.guard.terminal.size() {
            Ok(s) => s,
            Err(e) if terminal_gone(&e) => break Ok(()),
            Err(e) => break Err(e),
        };
        let rows = views::table_rows_for(&app, size.width, size.height);
        let mut quit = false;
        if rows != app.viewport_rows {
            let flow = runtime
                .dispatch(&mut app, Event::Viewport { rows }, &mut front)
                .await;
            quit |= flow == Flow::Quit;
        }
        if let Err(e) = front
            .guard
            .terminal
            .draw(|f| views::draw(f, &app, front.theme))
        {
            if terminal_gone(&e) {
                break Ok(());
            }
            break Err(e);
        }
        if quit {
            break Ok(());
        }
        tokio::select! {
            ev = runtime.next() => match ev {
                Some(ev) => batch.push(ev),
                None => break Ok(()),
            },
            _ = tick.tick() => batch.push(Event::Tick(SystemTime::now())),
            _ = sigterm.recv() => break Ok(()),
            _ = sighup.recv() => break Ok(()),
            _ = sigint.recv() => break Ok(()),
        }
        // Drain what else is waiting, bounded, then draw once.
        while batch.len() < 256 {
            match runtime.try_next() {
                Some(ev) => batch.push(ev),
                None => break,
            }
        }
        for ev in batch.drain(..) {
            quit |= runtime.dispatch(&mut app, ev, &mut front).await == Flow::Quit;
        }
        if quit {
            break Ok(());
        }
    };
    input.stop_within(Duration::from_millis(300));
    drop(guard);
    // Only now, with the terminal restored, may a signal end the process at once.
    CONSOLE.store(2, Ordering::SeqCst);
    // Whatever happens next (workers, the demo's simulator), a second signal
    // ends the process at once, and a cleanup that hangs cannot keep it alive.
    exit_watchdog();
    result
}

/// The terminal side of the effect loop: the shell handover and themes.
struct Console<'a> {
    guard: &'a mut TerminalGuard,
    input: &'a mut InputReader,
    events_tx: &'a mpsc::UnboundedSender<Event>,
    remote: &'a crate::remote::RemoteConfig,
    theme: &'a mut Theme,
    user_theme_dir: Option<&'a std::path::Path>,
    no_color: bool,
    depth: color::ColorDepth,
}

impl Frontend for Console<'_> {
    async fn shell(&mut self, app: &App, device: String, accept: Option<String>) -> Event {
        shell::open(
            self.guard,
            self.input,
            self.events_tx,
            app,
            self.remote,
            device,
            accept,
        )
        .await
    }

    fn load_theme(&mut self, name: &str) -> Result<(), String> {
        let t = Theme::load(name, self.user_theme_dir).map_err(|e| e.to_string())?;
        *self.theme = color::prepare(t, self.no_color, self.depth);
        Ok(())
    }
}

/// After the console is closed: the process exits within a few seconds, or
/// at once on another SIGTERM/SIGHUP/SIGINT, even if some cleanup hangs. The
/// demo's temporary directory is removed on either way out.
fn exit_watchdog() {
    use tokio::signal::unix::SignalKind;
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(5));
        crate::errln!("fleetdeck: cleanup did not finish within 5 s; exiting");
        crate::sim::remove_demo_dir();
        std::process::exit(1);
    });
    for kind in [
        SignalKind::terminate(),
        SignalKind::hangup(),
        SignalKind::interrupt(),
    ] {
        if let Ok(mut s) = tokio::signal::unix::signal(kind) {
            tokio::spawn(async move {
                if s.recv().await.is_some() {
                    crate::sim::remove_demo_dir();
                    std::process::exit(128 + kind.as_raw_value());
                }
            });
        }
    }
}

fn signal(kind: tokio::signal::unix::SignalKind) -> io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind)
}
