//! `agentos`: the AgentOS command line. Each subcommand is one file under `cli/`;
//! the work is done by the `agentos_services` library, which reaches the kernel
//! daemon only over gRPC (`agentos-client`).

mod cli;

use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AGENTOS_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("agentos: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `block_on` runs the command on this, the main thread: `agentos up` spawns the
    // kernel from here, and the kernel's parent-death signal is tied to this thread.
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("agentos: {e:#}");
            ExitCode::FAILURE
        }
    }
}
