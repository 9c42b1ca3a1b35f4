use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = fleetdeck::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fleetdeck: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(fleetdeck::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fleetdeck: {}", e.message);
            ExitCode::from(e.code)
        }
    };
    // Tasks still running (a blocked read, a worker) must not delay the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}
