//! The one seam to the host's `nft` (nftables), fed a whole script on stdin. Links,
//! addresses and routes go over rtnetlink instead (`rtnl.rs`).
//!
//! A script is one `nft -f` run, applied as one transaction: a table, its chains and
//! rules appear together or not at all.
//! Everything passed in is built from typed values (addresses, ports, names this
//! module generated), never from caller strings.
//!
//! A rootless kernel runs `nft` [`Within`] a sandbox's own user and network
//! namespaces (`proxied.rs`): the forked child `setns`es into both before its
//! `execve`. That is allowed to the namespaces' owner (the kernel's uid, which
//! created them), and only to a single-threaded process, which the fork is and the
//! kernel is not.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use super::NetError;

/// `nft` from nftables.
pub(crate) const NFT: &str = "nft";

/// Where a tool runs.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(
    not(target_os = "linux"),
    expect(dead_code, reason = "only Linux has namespaces to enter")
)]
pub(crate) enum Within<'a> {
    /// The kernel's own namespaces.
    Host,
    /// A new user and network namespace of its own (a probe of what a sandbox gets).
    Fresh,
    /// A sandbox's user and network namespaces.
    Sandbox(&'a crate::sandbox::Namespaces),
}

/// Runs `tool args…` with `script` on stdin; returns stdout.
pub(crate) fn run(tool: &'static str, args: &[&str], script: &str) -> Result<String, NetError> {
    run_within(Within::Host, tool, args, script)
}

/// [`run`], the tool [`Within`] `ns`.
pub(crate) fn run_within(
    ns: Within<'_>,
    tool: &'static str,
    args: &[&str],
    script: &str,
) -> Result<String, NetError> {
    let mut cmd = Command::new(locate(tool));
    enter(&mut cmd, ns)?;
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NetError::Spawn { tool, source })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A tool that exits early closes the pipe; its status says why.
        let _ = stdin.write_all(script.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|source| NetError::Spawn { tool, source })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NetError::Tool {
            command: format!("{tool} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Where `tool` is: on `PATH`, else in an `sbin` directory (an ordinary user's `PATH`
/// often has none, and a rootless kernel runs `nft` too); else its bare name, for the
/// spawn's error to name.
fn locate(tool: &'static str) -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(std::path::PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| tool.into())
}

/// Where system tools live when `PATH` does not say.
const SBIN: &[&str] = &["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// Has `cmd` enter `ns` between its fork and its `execve`.
#[cfg(target_os = "linux")]
fn enter(cmd: &mut Command, ns: Within<'_>) -> Result<(), NetError> {
    use std::os::{fd::AsRawFd, unix::process::CommandExt};

    match ns {
        Within::Host => {}
        Within::Fresh => {
            // SAFETY: the closure runs between fork and exec and calls only unshare,
            // capget, capset and prctl, which are async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    net_admin_through_exec()
                })
            };
        }
        Within::Sandbox(ns) => {
            let (user, net) = (ns.user().as_raw_fd(), ns.net().as_raw_fd());
            // SAFETY: the closure runs between fork and exec and calls only setns,
            // capget, capset and prctl, which are async-signal-safe; the fds stay open
            // until the exec (close-on-exec).
            unsafe {
                cmd.pre_exec(move || {
                    for (fd, kind) in [(user, libc::CLONE_NEWUSER), (net, libc::CLONE_NEWNET)] {
                        if libc::setns(fd, kind) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    net_admin_through_exec()
                })
            };
        }
    }
    Ok(())
}

/// Keeps `CAP_NET_ADMIN` in the namespace just joined through the `execve` (ambient):
/// the tool runs there as a uid that is not the namespace's root, whose capabilities
/// an `execve` would otherwise clear.
#[cfg(target_os = "linux")]
fn net_admin_through_exec() -> std::io::Result<()> {
    crate::sandbox::keep_through_exec(crate::sandbox::CAP_NET_ADMIN)
        .map_err(std::io::Error::from_raw_os_error)
}

/// Off Linux there are no namespaces to enter.
#[cfg(not(target_os = "linux"))]
fn enter(_cmd: &mut Command, ns: Within<'_>) -> Result<(), NetError> {
    match ns {
        Within::Host => Ok(()),
        _ => Err(NetError::Unavailable(
            "user and network namespaces are Linux's".into(),
        )),
    }
}

/// `nft -f -` with `script`: one transaction.
pub(crate) fn nft(script: &str) -> Result<(), NetError> {
    nft_within(Within::Host, script)
}

/// [`nft`] [`Within`] `ns`.
pub(crate) fn nft_within(ns: Within<'_>, script: &str) -> Result<(), NetError> {
    run_within(ns, NFT, &["-f", "-"], script).map(drop)
}

/// JSON from `nft -j …`.
pub(crate) fn json(tool: &'static str, args: &[&str]) -> Result<serde_json::Value, NetError> {
    let out = run(tool, args, "")?;
    serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out }).map_err(|e| {
        NetError::Tool {
            command: format!("{tool} {}", args.join(" ")),
            status: "unparsable output".into(),
            stderr: e.to_string(),
        }
    })
}
