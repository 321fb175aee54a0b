//! The rootless pass of `cargo xtask test`: the suites whose promises must hold
//! for the person who runs AgentOS as themselves, run again as an ordinary user.
//!
//! As root, xtask makes (once) the system user [`USER`], stages the kernel's
//! integration-test binary and the binaries it starts in a fresh directory that
//! user can reach (the clone may sit under a home only root may enter), and runs
//! the sandbox, escape, capability, process (limits, 200 cycles, daemon SIGKILL)
//! and crash suites, and the kernel's datagram sockets, under it with `setpriv`.
//! There the kernel takes the rootless rung (a user namespace of that user's own
//! ids, limits by rlimit on hosts that delegate no cgroup), and tests that need
//! root say so and skip: they ran in the root pass. Run as an ordinary user, the main pass is already this one.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

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
    // Sockets a process asks its kernel for, made in its namespaces (by a helper there
    // when the kernel is rootless).
    "ipc_socket::datagrams_",
];

/// Binaries the integration tests start, found beside the test binary's `deps/`.
const BINARIES: &[&str] = &["agentos-kernel", "agentos-probe", "agentos-ipc-peer"];

pub fn run(tally: &mut Tally) -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("rootless pass: the suites above already ran as an ordinary user");
        return Ok(());
    }
    let test_bin = built_binary(&["--test", "it"], "it")?;
    let (_staged, mut cmd) = as_user(&test_bin)?;
    cmd.args(SUITES)
        .env("CI", "true")
        .env("AGENTOS_TEST_ROOTLESS", "1");
    println!("rootless pass: as {USER}");
    crate::test::run_counted(&mut cmd, tally)
}

/// The spawn benchmark as [`USER`]: the rootless sandbox beside bubblewrap run by
/// the same user (a no-op unless xtask runs as root).
pub fn bench(args: &[String]) -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let bench = built_binary(&["--bench", "spawn"], "spawn")?;
    let (_staged, mut cmd) = as_user(&bench)?;
    cmd.arg("--bench").args(args);
    println!("rootless spawn bench: as {USER}");
    exec(&mut cmd)
}

/// Stages `binary` and the binaries it starts in a fresh 0755 directory and
/// returns a command running it there as [`USER`] (created if missing), with a
/// clean environment pointing the tests at the staged copies. The directory lives
/// as long as the returned guard.
fn as_user(binary: &Path) -> anyhow::Result<(tempfile::TempDir, Command)> {
    ensure_user()?;
    let staged = tempfile::Builder::new()
        .prefix("agentos-test-rootless-")
        .tempdir()
        .context("staging directory")?;
    let dir = staged.path();
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    // Its own working directory (criterion writes its reports below it).
    exec(Command::new("chown").arg(USER).arg(dir))?;
    let built = binary
        .parent()
        .and_then(|deps| deps.parent())
        .context("a test or bench binary sits in target/<profile>/deps")?;
    for name in BINARIES {
        std::fs::copy(built.join(name), dir.join(name))
            .with_context(|| format!("staging {name}"))?;
    }
    let name = binary.file_name().context("a binary has a file name")?;
    std::fs::copy(binary, dir.join(name)).context("staging the test binary")?;
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={USER}"),
        &format!("--regid={USER}"),
        "--init-groups",
        "--",
    ])
    .arg(dir.join(name))
    .current_dir(dir)
    .env_clear()
    .env("PATH", "/usr/local/bin:/usr/bin:/bin")
    .env("HOME", dir)
    .env("AGENTOS_LOG", "warn")
    .env("AGENTOS_TEST_BIN_DIR", dir);
    Ok((staged, cmd))
}

/// The subordinate range given to [`USER`] (for `--subordinate-ids`).
const SUBORDINATE: &str = "200000-265535";

/// Creates [`USER`] as a system account without a home or a login shell, unless
/// it exists, gives it a subordinate uid and gid range, and installs the helpers
/// that map one (`newuidmap`, `newgidmap`).
pub(crate) fn ensure_user() -> anyhow::Result<()> {
    crate::setup::ensure_apt(&[("/usr/bin/newuidmap", "uidmap")])?;
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
    let has_range = |file: &str| {
        std::fs::read_to_string(file)
            .is_ok_and(|t| t.lines().any(|l| l.starts_with(&format!("{USER}:"))))
    };
    if !has_range("/etc/subuid") || !has_range("/etc/subgid") {
        exec(Command::new("usermod").args([
            "--add-subuids",
            SUBORDINATE,
            "--add-subgids",
            SUBORDINATE,
            USER,
        ]))?;
    }
    Ok(())
}

/// A test or bench target of the kernel crate, built; cargo says where (JSON).
fn built_binary(target: &[&str], name: &str) -> anyhow::Result<PathBuf> {
    let kind = if target[0] == "--bench" {
        "bench"
    } else {
        "test"
    };
    let out = cargo()
        .args([kind, "--locked", "-p", "agentos-kernel"])
        .args(target)
        .args(["--no-run", "--message-format=json"])
        .output()
        .with_context(|| format!("cargo {kind} --no-run"))?;
    if !out.status.success() {
        bail!(
            "building the kernel's {name} {kind} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == name)
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .with_context(|| format!("cargo named no executable for `{name}`"))
}
