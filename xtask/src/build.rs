//! `cargo xtask build`: the eBPF object, then the Rust binaries (which embed it),
//! then the UI's static files (`ui/dist`).

use crate::{build_ebpf, cargo, exec, npm};

pub fn run() -> anyhow::Result<()> {
    crate::setup::for_running()?;
    build_all()
}

/// Builds without running setup first.
pub fn build_all() -> anyhow::Result<()> {
    build_with(Profile::Debug)
}

/// Which Rust binaries to build.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `target/debug`: quick to build, for development and tests.
    Debug,
    /// `target/release`: optimised, for `cargo xtask run` (a user's desktop).
    Release,
}

/// The eBPF object, the Rust binaries of `profile`, then the UI.
pub fn build_with(profile: Profile) -> anyhow::Result<()> {
    build_ebpf::build()?;
    let mut c = cargo();
    c.args(["build", "--locked", "--bins"]);
    if profile == Profile::Release {
        c.arg("--release");
    }
    exec(&mut c)?;
    exec(npm().args(["run", "build"]))?;
    Ok(())
}
