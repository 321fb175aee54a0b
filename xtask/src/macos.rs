//! `cargo xtask check-macos`, and a pass of `cargo xtask test`: `cargo check` of the
//! workspace (its default members: every crate but the eBPF programs) for
//! `x86_64-apple-darwin` and `aarch64-apple-darwin`, proving that the portable backends
//! compile and that every Linux-only crate is gated.
//!
//! A target whose standard library rustup has installed (`rustup target add`, TOOLCHAIN.md)
//! is checked with the stable toolchain. Without it the standard library is built from
//! source: nightly's `rust-src` (already installed for the eBPF build) with
//! `-Z build-std=std,panic_abort`. That downloads nothing from static.rust-lang.org, which
//! some machines cannot reach; the standard library's own dependencies come from the crates.io
//! registry like any other crate. `cargo check` links nothing, so no Apple SDK or linker
//! is needed, and no crate in the macOS build compiles C for the target (ring's build script
//! would: the services use native-tls there, see services/Cargo.toml).

use std::{path::Path, process::Command};

use anyhow::Context as _;

use crate::{build_ebpf, cargo, exec};

/// The two macOS targets.
pub const TARGETS: [&str; 2] = ["x86_64-apple-darwin", "aarch64-apple-darwin"];

/// Checks the workspace for each macOS target.
pub fn check() -> anyhow::Result<()> {
    for target in TARGETS {
        let mut cmd = if std_installed(target)? {
            cargo()
        } else {
            println!("{target}: no prebuilt standard library; building it from nightly's rust-src");
            let mut cmd = build_ebpf::nightly_cargo();
            cmd.args(["-Z", "build-std=std,panic_abort"]);
            cmd
        };
        exec(cmd.args(["check", "--locked", "--target", target]))?;
    }
    Ok(())
}

/// Whether the stable toolchain has `target`'s standard library (`rustup target add`).
fn std_installed(target: &str) -> anyhow::Result<bool> {
    let out = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .args(["--print", "target-libdir", "--target", target])
        .output()
        .context("running `rustc --print target-libdir`")?;
    let dir = String::from_utf8_lossy(&out.stdout);
    let has_std = |dir: &Path| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
    };
    Ok(out.status.success() && has_std(Path::new(dir.trim())))
}
