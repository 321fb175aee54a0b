//! The sandbox on a host that is not Linux (macOS): nothing to isolate with, and no
//! process to supervise yet.
//!
//! Namespaces, landlock, seccomp, capabilities and the PTY calls are Linux's. The
//! portable spawn (a plain child process) needs a pidfd too: the process subsystem
//! waits, signals and reaps through it. Until a kqueue (`EVFILT_PROC`) reaper stands in
//! for it, every spawn here fails with an `Unsupported` error naming the call, and the
//! kernel's start-up report (`agentos doctor`, `/health`) says the sandbox is
//! unavailable. Capability names parse to nothing: there are none to keep.

use std::{io, os::fd::BorrowedFd, str::FromStr};

use super::{
    error::SpawnError,
    narrow::{NarrowError, ViewChange},
    spawned::Spawned,
    spec::SandboxSpec,
};

/// Why each call fails, for its error.
const NOT_HERE: &str = "needs Linux (pidfd, namespaces); this build runs on another host";

fn unsupported() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, NOT_HERE)
}

/// A Linux capability to keep; there are none on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {}

impl Capability {
    /// The capability's bit in a capability set.
    pub fn bitmask(&self) -> u64 {
        match *self {}
    }
}

impl FromStr for Capability {
    type Err = io::Error;

    fn from_str(_: &str) -> Result<Self, Self::Err> {
        Err(unsupported())
    }
}

/// No namespace sandbox here.
pub fn spawn(
    _spec: &SandboxSpec<'_>,
    _placed: impl FnOnce(i32) -> Result<(), io::Error>,
) -> Result<Spawned, SpawnError> {
    Err(SpawnError::sys("clone3")(unsupported()))
}

/// No walls here (landlock, seccomp).
pub fn spawn_walls(
    _spec: &SandboxSpec<'_>,
    _placed: impl FnOnce(i32) -> Result<(), io::Error>,
) -> Result<Spawned, SpawnError> {
    Err(SpawnError::sys("landlock_create_ruleset")(unsupported()))
}

/// Landlock is Linux's: no ABI here.
pub fn landlock_abi() -> Result<u32, i32> {
    Err(libc::ENOSYS)
}

/// A plain child process needs a pidfd to be supervised.
pub fn spawn_portable(_spec: &SandboxSpec<'_>) -> Result<Spawned, SpawnError> {
    Err(SpawnError::sys("pidfd_open")(unsupported()))
}

/// There is never a pidfd to wait on here.
pub fn wait_pidfd(_pidfd: BorrowedFd<'_>) -> io::Result<i32> {
    Err(unsupported())
}

/// There is never a relayed status here.
pub fn relayed_status(_status: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    Err(unsupported())
}

/// There is never a sandbox PTY here.
pub fn resize_pty(_pty: BorrowedFd<'_>, _rows: u16, _cols: u16) -> io::Result<()> {
    Err(unsupported())
}

/// There is never a sandbox view to narrow here.
pub fn narrow_view(_pidfd: BorrowedFd<'_>, _changes: &[ViewChange]) -> Result<(), NarrowError> {
    Err(NarrowError::Helper(unsupported()))
}
