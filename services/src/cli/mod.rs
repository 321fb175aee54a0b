//! The `agentos` subcommands, one file each.

mod apps;
mod call;
mod doctor;
mod events;
mod logs;
mod ps;
mod revoke;
pub mod run;
mod services;
mod up;

use std::path::PathBuf;

use agentos_client::default_data_dir;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "agentos",
    version,
    about = "AgentOS: a desktop OS in userspace"
)]
pub struct Cli {
    /// Data directory (default: $AGENTOS_DATA_DIR, $XDG_DATA_HOME/agentos or ~/.local/share/agentos).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Log lines as text (human) or one JSON object per line (json).
    #[arg(long, global = true, value_enum, default_value_t)]
    pub log_format: agentos_client::logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the kernel (unless one is running on the data directory) and serve the desktop.
    Up(up::Options),
    /// Which backend each kernel subsystem got, and why.
    Doctor(doctor::Options),
    /// Run a program in a sandbox of the running kernel; exits with its exit code.
    Run(run::Options),
    /// Run one syscall on the kernel: SYSCALL as named in syscall.proto, ARGS and result as JSON.
    Call(call::Options),
    /// Take capabilities away from a running process (its checks and its view narrow at once).
    Revoke(revoke::Options),
    /// The running apps and their processes, with CPU and memory (like `docker ps`).
    Ps(ps::Options),
    /// The apps you can launch: saved ones and the built-ins.
    Apps(apps::Options),
    /// What a native-process app has printed, and how it ended.
    Logs(logs::Options),
    /// The kernel's events: syscalls, processes, files, scheduling, refusals, probes.
    Events(events::Options),
}

/// Runs the chosen subcommand; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let data_dir = cli.data_dir.unwrap_or_else(default_data_dir);
    match cli.command {
        Command::Up(opts) => up::run(&data_dir, opts).await.map(|()| 0),
        Command::Doctor(opts) => doctor::run(&data_dir, opts),
        Command::Run(opts) => run::run(&data_dir, opts).await,
        Command::Call(opts) => call::run(&data_dir, opts).await,
        Command::Revoke(opts) => revoke::run(&data_dir, opts).await,
        Command::Ps(opts) => ps::run(&data_dir, opts).await,
        Command::Apps(opts) => apps::run(&data_dir, opts).await,
        Command::Logs(opts) => logs::run(&data_dir, opts).await,
        Command::Events(opts) => events::run(&data_dir, opts).await,
    }
}
