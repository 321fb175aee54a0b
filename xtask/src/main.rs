//! `cargo xtask`: everything a fresh Linux machine needs, in one place.
//!
//! Each subcommand is a module with its own `Options` and one entry function; this
//! file is the enum, the `match` and the two helpers every module uses ([`exec`],
//! [`workspace_root`]). Every command is printed before it runs, and a failure names
//! the whole command line.

mod bench;
mod build;
mod build_ebpf;
mod fuzz;
mod grpcio;
mod macos;
mod rootless;
mod run;
mod setup;
mod soak;
mod sweep;
mod test;

use std::{
    path::PathBuf,
    process::{Command, ExitCode},
};

use anyhow::{Context as _, bail};
use clap::Parser;

#[derive(Parser)]
#[command(name = "xtask", about = "AgentOS project automation")]
enum Cli {
    /// Install what is missing: nightly rust-src, bpf-linker, Chromium, the UI's npm packages.
    Setup,
    /// Build the eBPF object (nightly, bpfel-unknown-none).
    BuildEbpf(build_ebpf::Options),
    /// Build everything: eBPF, the Rust binaries, the UI.
    Build,
    /// Install, build and start AgentOS on 127.0.0.1; prints the URL.
    Run(run::Options),
    /// Install what is missing and run every test suite.
    Test(test::Options),
    /// `cargo check` the workspace for x86_64- and aarch64-apple-darwin.
    CheckMacos,
    /// Run the criterion benchmarks (each beside its raw baseline).
    Bench(bench::Options),
    /// Run each cargo-fuzz target for a set time (installs cargo-fuzz if missing).
    Fuzz(fuzz::Options),
    /// Load a real daemon for N minutes and fail if its resources grow.
    Soak(soak::Options),
}

fn main() -> ExitCode {
    let result = match Cli::parse() {
        Cli::Setup => setup::run(),
        Cli::BuildEbpf(o) => build_ebpf::run(o),
        Cli::Build => build::run(),
        Cli::Run(o) => run::run(o),
        Cli::Test(o) => test::run(o),
        Cli::CheckMacos => macos::check(),
        Cli::Bench(o) => bench::run(o),
        Cli::Fuzz(o) => fuzz::run(o),
        Cli::Soak(o) => soak::run(o),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints `cmd`, runs it, and fails with the whole command line unless it succeeds.
pub fn exec(cmd: &mut Command) -> anyhow::Result<()> {
    println!("+ {}", show(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("starting {}", show(cmd)))?;
    if !status.success() {
        bail!("{} failed: {status}", show(cmd));
    }
    Ok(())
}

/// A command line as a shell would show it.
pub fn show(cmd: &Command) -> String {
    let mut s = String::new();
    if let Some(dir) = cmd.get_current_dir() {
        s.push_str(&format!("(cd {}) ", dir.display()));
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// The workspace root (the parent of this crate's manifest directory).
///
/// `cargo run` tells the running binary where its manifest is; that is read
/// first, because cargo reuses a built xtask for a second checkout of the same
/// sources sharing one target directory, and the path compiled into it would
/// then name the other checkout.
pub fn workspace_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .parent()
        .expect("xtask/ sits in the workspace root")
        .to_owned()
}

/// The cargo target directory (respects CARGO_TARGET_DIR).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// A `cargo` command in the workspace root.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

/// An `npm` command in `ui/`.
pub fn npm() -> Command {
    let mut c = Command::new("npm");
    c.current_dir(workspace_root().join("ui"));
    c
}
