//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs each cargo-fuzz target in
//! `fuzz/` for N seconds (default 60), installing cargo-fuzz first if it is
//! missing.
//!
//! The targets are one line each over functions the crates share with their
//! proptest suites (`agentos_kernel::fuzz`, `agentos_services::fuzz`); `cargo
//! xtask test` runs those suites, which replay the committed corpus
//! (`fuzz/corpus/<target>/`) and a few hundred generated cases, without nightly.
//! Here libFuzzer explores from the committed corpus into a scratch one under the
//! target directory, so the committed corpus only changes when someone copies a
//! finding into it. A crash or a hang (`-timeout`) fails the run and leaves its
//! input in `fuzz/artifacts/<target>/`.
//!
//! Built without a sanitizer: the code under test is safe Rust (the `unsafe` of
//! io_uring and the sandbox is not on these paths), and an AddressSanitizer build
//! of the kernel and services on nightly costs far more than it would find.

use std::process::Command;

use anyhow::Context as _;
use clap::Parser;

use crate::{exec, target_dir, workspace_root};

/// Every target, in `fuzz/fuzz_targets/<name>.rs`.
pub const TARGETS: [&str; 5] = [
    "vfs_path",
    "capability",
    "grpc_request",
    "syscall_json",
    "blueprint",
];

#[derive(Parser)]
pub struct Options {
    /// How long each target runs.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Only these targets (default: all).
    targets: Vec<String>,
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    ensure_cargo_fuzz()?;
    let targets: Vec<&str> = if opts.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        opts.targets.iter().map(String::as_str).collect()
    };
    let fuzz = workspace_root().join("fuzz");
    for t in targets {
        anyhow::ensure!(
            TARGETS.contains(&t),
            "unknown fuzz target {t:?} (known: {TARGETS:?})"
        );
        let scratch = target_dir().join("fuzz-corpus").join(t);
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        exec(
            Command::new("cargo")
                .current_dir(&fuzz)
                .args(["+nightly", "fuzz", "run", "--sanitizer", "none", t])
                .arg(&scratch)
                .arg(fuzz.join("corpus").join(t))
                .arg("--")
                .arg(format!("-max_total_time={}", opts.seconds))
                .arg("-timeout=20")
                .env("CARGO_TARGET_DIR", target_dir().join("fuzz"))
                // cargo-fuzz builds every crate with `--cfg fuzzing`, which turns on
                // our vendored h2's undocumented `fuzz_bridge` under its
                // `deny(missing_docs)`: lints are not this build's business.
                .env("RUSTFLAGS", "--cap-lints=warn"),
        )?;
    }
    Ok(())
}

/// Installs cargo-fuzz unless `cargo +nightly fuzz --version` works already.
fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let present = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    exec(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))
}
