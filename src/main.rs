use std::io::Write as _;

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("UNIVA_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = univa::cli::Cli::parse();
    let result = match cli.command {
        Some(command) => univa::cli::run(command),
        None => univa::cli::run_default(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line a user can act on: the error chain joined, no backtrace.
            // A closed standard error (a job's owner that has gone) is no reason to panic.
            let _ = writeln!(std::io::stderr(), "univa: {}", univa::cli::error_line(&error));
            std::process::ExitCode::FAILURE
        }
    }
}
