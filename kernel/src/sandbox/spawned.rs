//! [`Spawned`]: what a spawn hands the process subsystem, whichever backend made it.

use std::os::fd::OwnedFd;

/// A running sandbox.
#[derive(Debug)]
pub struct Spawned {
    /// Host pid of the sandbox's init (pid 1 inside); the program is its child.
    pub pid: i32,
    /// pidfd of init: poll it, `waitid(P_PIDFD)` it, signal it (forwarded to the
    /// program; SIGKILL ends the whole sandbox).
    pub pidfd: OwnedFd,
    /// Write end of the program's stdin (pipe mode).
    pub stdin: Option<OwnedFd>,
    /// Read end of the program's stdout (pipe mode).
    pub stdout: Option<OwnedFd>,
    /// Read end of the program's stderr (pipe mode).
    pub stderr: Option<OwnedFd>,
    /// The PTY master (PTY mode); see [`super::resize_pty`].
    pub pty: Option<OwnedFd>,
    /// Init writes the program's raw wait status here before it exits; read it
    /// with [`super::relayed_status`]. `None` from the portable backend, where the
    /// pid is the program itself.
    pub status: Option<OwnedFd>,
    /// Environment variables dropped by policy (for the caller's log).
    pub dropped_env: Vec<String>,
    /// Whether the sandbox was created with `clone3` (false: the `clone` fallback).
    pub clone3: bool,
}
