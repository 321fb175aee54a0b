//! `cargo xtask setup`: installs what is missing, and is quick when nothing is.
//!
//! * the eBPF toolchain: nightly `rust-src` and `bpf-linker` ([`crate::build_ebpf`]);
//! * Node.js ≥ 20.19 must be present (it is on these machines; Debian's is too old);
//! * the UI's npm packages (`npm ci`, only when `package-lock.json` changed);
//! * Debian's `chromium` for the browser tests (Playwright's own download does not
//!   work here), `nftables` for the private and bridged network modes (their links go
//!   over rtnetlink, no tool), and `iproute2`, whose `ip` the network tests and
//!   `xtask`'s sweep use to build and remove their own namespaces, via `apt-get` as
//!   root;
//! * a Python venv with `grpcio` for the interop test ([`crate::grpcio`]).
//!
//! `cargo xtask run` needs only [`for_running`]: everything but the test browser, so
//! a person runs AgentOS as themselves without root.

use std::{path::Path, process::Command};

use anyhow::{Context as _, bail};

use crate::{build_ebpf, exec, npm, workspace_root};

const CHROMIUM: &str = "/usr/bin/chromium";
/// The kernel's network modes drive `nft` (`kernel/src/net/tool.rs`); the network
/// tests' own namespaces and veths are made and swept with `ip`.
const NETWORK_TOOLS: [(&str, &str); 2] =
    [("/usr/sbin/nft", "nftables"), ("/usr/sbin/ip", "iproute2")];

pub fn run() -> anyhow::Result<()> {
    for_running()?;
    ensure_apt(&[(CHROMIUM, "chromium")])?;
    ensure_apt(&NETWORK_TOOLS)?;
    crate::grpcio::ensure()?;
    println!("setup: everything is installed");
    Ok(())
}

/// What building and running AgentOS needs (no root): the eBPF toolchain, Node.js
/// and the UI's packages.
pub fn for_running() -> anyhow::Result<()> {
    build_ebpf::ensure_ebpf_toolchain()?;
    ensure_node()?;
    ensure_ui_packages()
}

fn ensure_node() -> anyhow::Result<()> {
    let out = Command::new("node")
        .arg("--version")
        .output()
        .context("running `node --version`: is Node.js installed?")?;
    let v = String::from_utf8_lossy(&out.stdout);
    let nums: Vec<u32> = v
        .trim()
        .trim_start_matches('v')
        .split('.')
        .filter_map(|n| n.parse().ok())
        .collect();
    if nums.len() < 2 || (nums[0], nums[1]) < (20, 19) {
        bail!(
            "Node.js {} is too old: the UI's Vite needs 20.19 or newer",
            v.trim()
        );
    }
    Ok(())
}

/// `npm ci` unless node_modules matches package-lock.json already.
fn ensure_ui_packages() -> anyhow::Result<()> {
    let ui = workspace_root().join("ui");
    let lock = ui.join("package-lock.json");
    let installed = ui.join("node_modules/.package-lock.json");
    let fresh = match (std::fs::metadata(&lock), std::fs::metadata(&installed)) {
        (Ok(l), Ok(i)) => i.modified()? >= l.modified()?,
        _ => false,
    };
    if !fresh {
        exec(npm().args(["ci", "--no-audit", "--no-fund"]))?;
    }
    Ok(())
}

/// Installs Debian packages whose marker file is missing.
pub fn ensure_apt(wanted: &[(&str, &str)]) -> anyhow::Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(f, _)| !Path::new(f).exists())
        .map(|(_, p)| *p)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "missing Debian packages {missing:?}: run `sudo apt-get install -y {}` or run xtask as root",
            missing.join(" ")
        );
    }
    exec(Command::new("apt-get").args(["update", "-q"]))?;
    exec(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}
