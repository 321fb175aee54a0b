//! [`Spawned`]: what a spawn hands the process subsystem, whichever backend made it.

use std::os::fd::OwnedFd;

use super::handle::ProcessHandle;

/// The sockets of a rootless `private` sandbox's way out, made by its init in its
/// namespace, on `127.0.0.1:`[`super::PROXY_PORT`].
#[derive(Debug)]
pub struct ProxySockets {
    /// The listener the program's outgoing TCP is redirected to.
    pub tcp: OwnedFd,
    /// The UDP socket its DNS queries to the relay's address are redirected to.
    pub dns: OwnedFd,
    /// The transparent UDP socket on `127.0.0.1:`[`super::PROXY_UDP_PORT`] its other
    /// other outgoing UDP over IPv4 is handed to (each datagram with its original
    /// destination).
    pub udp: OwnedFd,
    /// The listener on `[::1]:`[`super::PROXY_PORT`] its outgoing TCP over IPv6 is
    /// redirected to; `None` where the namespace could get no IPv6 address (a host
    /// without IPv6).
    pub tcp6: Option<OwnedFd>,
    /// The transparent UDP socket on `[::1]:`[`super::PROXY_UDP_PORT`] its outgoing UDP
    /// over IPv6 is handed to; `None` as `tcp6` is, or where that way out could not be made.
    pub udp6: Option<OwnedFd>,
}

/// A running sandbox.
#[derive(Debug)]
pub struct Spawned {
    /// Host pid of the sandbox's init (pid 1 inside; the program is its child), or
    /// of the program itself (portable backend).
    pub pid: i32,
    /// The handle on that pid: poll it (its fd is readable once it exits), wait for
    /// it, signal it (init forwards signals to the program; SIGKILL ends the whole
    /// sandbox). A pidfd on Linux; see [`ProcessHandle`].
    pub handle: ProcessHandle,
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
    /// Rootless `private` ([`super::NetworkMode::Proxied`]): the sockets init made in
    /// the sandbox's namespace, to which its rules redirect the program's traffic.
    pub proxy: Option<ProxySockets>,
}
