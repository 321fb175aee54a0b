//! `agentos doctor`: the kernel's own `agentos-kernel doctor`, run as a program.
//!
//! That binary asks the kernel running on the data directory and, when none answers,
//! probes this host itself. Running it, rather than linking the kernel's library
//! into `agentos`, keeps the web server free of the daemon's code (io_uring, eBPF,
//! sandbox) and leaves one formatter for the report, so the two commands cannot
//! print different things. The binary is found as `agentos up` finds the kernel.

use std::{path::Path, process::Command};

use agentos_services::kernel;
use anyhow::Context as _;

#[derive(clap::Args)]
pub struct Options {
    /// One JSON object keyed by subsystem.
    #[arg(long)]
    json: bool,
    /// The kernel binary (default: $AGENTOS_KERNEL_BIN, else agentos-kernel next to this binary).
    #[arg(long, value_name = "PATH")]
    kernel_bin: Option<std::path::PathBuf>,
}

pub fn run(data_dir: &Path, opts: Options) -> anyhow::Result<u8> {
    let bin = kernel::locate_binary(opts.kernel_bin.as_deref())?;
    let mut cmd = Command::new(&bin);
    cmd.arg("--data-dir").arg(data_dir).arg("doctor");
    if opts.json {
        cmd.arg("--json");
    }
    // stdout and stderr are inherited: the report goes straight to the user.
    let status = cmd
        .status()
        .with_context(|| format!("running {} doctor", bin.display()))?;
    Ok(match status.code() {
        Some(code) => u8::try_from(code).unwrap_or(1),
        None => 1,
    })
}
