//! `cargo xtask run`: install, build, then `agentos up` on 127.0.0.1 with the built UI.
//! Ctrl+C stops AgentOS (the kernel included); xtask waits for it to finish.
//!
//! The binaries are the optimised (release) ones: this is how a user runs the
//! desktop, and a debug build is several times slower at every request. A cold
//! release build takes minutes, so that is said before it starts.

use std::process::Command;

use anyhow::bail;
use clap::Parser;

use crate::{show, target_dir, workspace_root};

#[derive(Parser)]
pub struct Options {
    /// Data directory (default: the user's, ~/.local/share/agentos).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// HTTP port on 127.0.0.1.
    #[arg(long, default_value_t = 8000)]
    port: u16,
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    // No test browser: a person runs AgentOS as themselves, without root.
    crate::setup::for_running()?;
    let agentos = target_dir().join("release/agentos");
    if !agentos.exists() {
        println!(
            "First release build: it compiles every dependency with optimisations, about 10 minutes \
             on 2 cores (later builds take seconds). `cargo xtask build` is the quicker debug build."
        );
    }
    crate::build::build_with(crate::build::Profile::Release)?;
    let mut cmd = Command::new(agentos);
    cmd.arg("up")
        .arg("--port")
        .arg(opts.port.to_string())
        .arg("--ui-dir")
        .arg(workspace_root().join("ui/dist"))
        .arg("--apps-dir")
        .arg(workspace_root().join("apps"));
    if let Some(d) = &opts.data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    println!("+ {}", show(&cmd));
    // Ctrl+C reaches `agentos` too; xtask stays to report how it ended.
    // SAFETY: ignoring SIGINT in this process only; the child resets it on exec.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    let status = cmd.status()?;
    if !status.success() {
        bail!("{} ended: {status}", show(&cmd));
    }
    Ok(())
}
