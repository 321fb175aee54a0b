//! `agentos`: the AgentOS command line. Each subcommand is one file under `cli/`;
//! the work is done by the `agentos_services` library, which reaches the kernel
//! daemon only over gRPC (`agentos-client`).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    agentos_client::logging::init(cli.log_format);
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
