//! `cargo xtask check-macos`, and a pass of `cargo xtask test`: `cargo clippy -D warnings`
//! (a `cargo check` held to the Linux build's lints) of the
//! workspace (its default members: every crate but the eBPF programs) for
//! `x86_64-apple-darwin` and `aarch64-apple-darwin`, with the kernel's `macos-pf`
//! feature, proving that the portable backends and the pf backend compile and that every
//! Linux-only crate is gated.
//!
//! A target whose standard library rustup has installed (`rustup target add`, TOOLCHAIN.md)
//! is checked with the stable toolchain. Without it the standard library is built from
//! source: nightly's `rust-src` (already installed for the eBPF build) with
//! `-Z build-std=std,panic_abort`. That downloads nothing from static.rust-lang.org, which
//! some machines cannot reach; the standard library's own dependencies come from the crates.io
//! registry like any other crate. Checking links nothing, so no Apple SDK or linker
//! is needed, and no crate in the macOS build compiles C for the target (ring's build script
//! would: the services use native-tls there, see services/Cargo.toml).

use std::{path::Path, process::Command};

use anyhow::Context as _;

use crate::{build_ebpf, cargo, exec};

/// The two macOS targets.
pub const TARGETS: [&str; 2] = ["x86_64-apple-darwin", "aarch64-apple-darwin"];

/// Checks the workspace for each macOS target: one `cargo clippy` per toolchain with
/// every target that uses it, so the host's build scripts and proc macros are built
/// once, not once per target.
pub fn check() -> anyhow::Result<()> {
    let (mut prebuilt, mut from_source) = (vec![], vec![]);
    for target in TARGETS {
        if std_installed(target)? {
            prebuilt.push(target);
        } else {
            from_source.push(target);
        }
    }
    if !prebuilt.is_empty() {
        exec(lint(with_targets(
            cargo().args(["clippy", "--locked"]),
            &prebuilt,
        )))?;
    }
    if !from_source.is_empty() {
        println!(
            "{}: no prebuilt standard library; building it from nightly's rust-src",
            from_source.join(", ")
        );
        let mut cmd = build_ebpf::nightly_cargo();
        cmd.args(["clippy", "-Z", "build-std=std,panic_abort", "--locked"]);
        exec(lint(with_targets(&mut cmd, &from_source)))?;
    }
    Ok(())
}

/// Features only the macOS build has: the kernel's pf backend (`kernel/src/net/pfctl.rs`).
const FEATURES: &str = "agentos-kernel/macos-pf";

/// Clippy's verdict as errors: the macOS build is held to the Linux build's lints.
fn lint(cmd: &mut Command) -> &mut Command {
    cmd.args(["--features", FEATURES, "--", "-D", "warnings"])
}

/// Adds `--target T` for each of `targets`.
fn with_targets<'a>(cmd: &'a mut Command, targets: &[&str]) -> &'a mut Command {
    for t in targets {
        cmd.args(["--target", t]);
    }
    cmd
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
