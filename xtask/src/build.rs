//! `cargo xtask build`: the eBPF object, then the Rust binaries (which embed it),
//! then the UI's static files (`ui/dist`).

use crate::{build_ebpf, cargo, exec, npm};

pub fn run() -> anyhow::Result<()> {
    crate::setup::run()?;
    build_all()
}

/// Builds without running setup first.
pub fn build_all() -> anyhow::Result<()> {
    build_ebpf::build()?;
    exec(cargo().args(["build", "--locked", "--bins"]))?;
    exec(npm().args(["run", "build"]))?;
    Ok(())
}
