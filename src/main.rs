use clap::Parser;
use fleetdeck::errln;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = fleetdeck::cli::Cli::parse();
    // The demo's temporary directory goes on every way out (docs/ARCHITECTURE.md).
    let demo = matches!(cli.command, Some(fleetdeck::cli::Command::Demo(_)));
    if demo {
        fleetdeck::sim::arm_demo_dir_cleanup();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            errln!("fleetdeck: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if demo {
        demo_signals(&runtime);
    }
    let code = match runtime.block_on(fleetdeck::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // Written with errln!: a terminal that went away (EIO) must not
            // turn the exit into a panic.
            errln!("fleetdeck: {}", e.message);
            if e.message == fleetdeck::tui::NO_TTY {
                ExitCode::from(2)
            } else {
                ExitCode::from(e.code)
            }
        }
    };
    // Tasks still running (a blocked read, a worker) must not delay the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    fleetdeck::sim::remove_demo_dir();
    code
}

/// SIGTERM, SIGHUP or SIGINT while the demo sets up or shuts down (the
/// console handles them while it runs): remove the demo's directory, exit.
fn demo_signals(runtime: &tokio::runtime::Runtime) {
    use tokio::signal::unix::{SignalKind, signal};
    let _ctx = runtime.enter();
    for kind in [
        SignalKind::terminate(),
        SignalKind::hangup(),
        SignalKind::interrupt(),
    ] {
        let Ok(mut s) = signal(kind) else { continue };
        runtime.spawn(async move {
            while s.recv().await.is_some() {
                if !fleetdeck::tui::console_running() {
                    fleetdeck::sim::remove_demo_dir_settled();
                    std::process::exit(128 + kind.as_raw_value());
                }
            }
        });
    }
}
