//! The sandbox on a host that is not Linux (macOS): nothing to isolate with.
//!
//! Namespaces, landlock, seccomp, capabilities, the init that relays a status and
//! narrowing a running view are Linux's: each call here fails with an `Unsupported`
//! error naming the call it would need. Programs still run, without isolation: the
//! portable spawn ([`super::spawn_portable`], shared with Linux) starts a plain
//! child in its own session and process group, and [`super::ProcessHandle`]
//! supervises it with a kqueue (`EVFILT_PROC`), `waitpid` and `kill`. The kernel's
//! start-up report (`agentos doctor`, `/health`) says exactly that: plain child
//! processes, no isolation. Capability names parse to nothing: there are none to
//! keep.

use std::{
    io,
    os::fd::{BorrowedFd, OwnedFd},
    str::FromStr,
};

use super::{
    error::SpawnError,
    narrow::{NarrowError, ViewChange},
    spawned::Spawned,
    spec::SandboxSpec,
};

/// Why each call fails, for its error.
const NOT_HERE: &str =
    "needs Linux (namespaces, landlock, seccomp, pidfd); this host runs plain child processes only";

fn unsupported() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, NOT_HERE)
}

/// What a [`Dialer`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    Tcp,
    Tcp6,
    Udp,
    Udp6,
}

/// A helper making sockets in a sandbox's network namespace; no sandbox has one here.
#[derive(Debug)]
pub enum Dialer {}

impl Dialer {
    pub fn start(_ns: &super::Namespaces) -> io::Result<Self> {
        Err(unsupported())
    }

    pub fn socket(&self, _kind: SocketKind) -> io::Result<OwnedFd> {
        match *self {}
    }
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

/// No namespace sandbox here, so no view to announce.
pub fn spawn_viewed(
    _spec: &SandboxSpec<'_>,
    _placed: impl FnOnce(i32) -> Result<(), io::Error>,
    _viewed: impl FnOnce(i32),
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

/// There is never a relayed status here.
pub fn relayed_status(_status: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    Err(unsupported())
}

/// There is never a sandbox view to narrow here.
pub fn narrow_view(_pidfd: BorrowedFd<'_>, _changes: &[ViewChange]) -> Result<(), NarrowError> {
    Err(NarrowError::Helper(unsupported()))
}
