//! The `agentos` subcommands, one file each.

mod doctor;
mod up;

use std::path::PathBuf;

use agentos_kernel::config::default_data_dir;
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the kernel (unless one is running on the data directory) and serve the desktop.
    Up(up::Options),
    /// Which backend each kernel subsystem got, and why.
    Doctor(doctor::Options),
}

/// Runs the chosen subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = cli.data_dir.unwrap_or_else(default_data_dir);
    match cli.command {
        Command::Up(opts) => up::run(&data_dir, opts).await,
        Command::Doctor(opts) => doctor::run(&data_dir, opts).await,
    }
}
