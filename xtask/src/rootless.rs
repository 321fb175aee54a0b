//! The rootless pass of `cargo xtask test`: the suites whose promises must hold
//! for the person who runs AgentOS as themselves, run again as an ordinary user.
//!
//! As root, xtask makes (once) the system user [`USER`], stages the kernel's
//! integration-test binary and the binaries it starts in a fresh directory that
//! user can reach (the clone may sit under a home only root may enter), and runs
//! the sandbox, escape, capability, process (limits, 200 cycles, daemon SIGKILL)
//! and crash suites under it with `setpriv`. There the kernel takes the rootless
//! rung (a user namespace of that user's own ids, limits by rlimit on hosts that
//! delegate no cgroup), and tests that need root say so and skip: they ran in the
//! root pass. Run as an ordinary user, the main pass is already this one.

use std::{path::PathBuf, process::Command};

use anyhow::{Context as _, bail};

use crate::{cargo, exec, test::Tally};

/// The unprivileged account the rootless pass runs as.
pub const USER: &str = "agentos-test";

/// Test-name filters of the suites that run in both passes.
const SUITES: &[&str] = &[
    "sandbox::",
    "escapes::",
    "capabilities::",
    "process::",
    "crash::",
];

/// Binaries the integration tests start, found beside the test binary's `deps/`.
const BINARIES: &[&str] = &["agentos-kernel", "agentos-probe"];

pub fn run(tally: &mut Tally) -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("rootless pass: the suites above already ran as an ordinary user");
        return Ok(());
    }
    ensure_user()?;
    let test_bin = integration_test_binary()?;
    let staged = tempfile::Builder::new()
        .prefix("agentos-test-rootless-")
        .tempdir()
        .context("staging directory")?;
    let dir = staged.path();
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let debug = test_bin
        .parent()
        .and_then(|deps| deps.parent())
        .context("the test binary sits in target/debug/deps")?;
    for name in BINARIES {
        std::fs::copy(debug.join(name), dir.join(name))
            .with_context(|| format!("staging {name}"))?;
    }
    let it = dir.join("it");
    std::fs::copy(&test_bin, &it).context("staging the test binary")?;
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={USER}"),
        &format!("--regid={USER}"),
        "--init-groups",
        "--",
    ])
    .arg(&it)
    .args(SUITES)
    .current_dir(dir)
    .env_clear()
    .env("PATH", "/usr/local/bin:/usr/bin:/bin")
    .env("HOME", dir)
    .env("CI", "true")
    .env("AGENTOS_LOG", "warn")
    .env("AGENTOS_TEST_ROOTLESS", "1")
    .env("AGENTOS_TEST_BIN_DIR", dir);
    println!("rootless pass: as {USER}");
    crate::test::run_counted(&mut cmd, tally)
}

/// Creates [`USER`] as a system account without a home or a login shell, unless
/// it exists.
fn ensure_user() -> anyhow::Result<()> {
    let exists = Command::new("id")
        .arg(USER)
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        exec(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            USER,
        ]))?;
    }
    Ok(())
}

/// The kernel's integration-test binary, built (cargo says where, as JSON).
fn integration_test_binary() -> anyhow::Result<PathBuf> {
    let out = cargo()
        .args([
            "test",
            "--locked",
            "-p",
            "agentos-kernel",
            "--test",
            "it",
            "--no-run",
            "--message-format=json",
        ])
        .output()
        .context("cargo test --no-run")?;
    if !out.status.success() {
        bail!(
            "building the kernel's integration tests failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"]["name"] == "it" && v["profile"]["test"] == true)
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .context("cargo named no executable for the `it` test")
}
