//! Managed processes: the table, spawning, I/O and reaping.
//!
//! A process is spawned in two halves that never share a lock: [`crate::sandbox`]
//! builds the isolated child (namespaces, mounts, landlock, capabilities, seccomp,
//! exec) and [`crate::cgroup`] holds its limits and accounting. This module walks the
//! [`state`] machine around them, undoing everything if initialisation fails, wires
//! stdin/stdout/stderr (or a PTY) to the bounded [`output`] buffers, and reaps the
//! process through its [`ProcessHandle`](crate::sandbox::ProcessHandle): its pidfd
//! on Linux (`waitid(P_PIDFD)`), a kqueue-watched plain child reaped by `waitpid` on
//! macOS; never a zombie, never a signal to a reused pid.
//!
//! # Host resources
//!
//! Per process: a cgroup (removed when the process is reaped, its whole tree killed
//! first), its handle (a pidfd, or a kqueue) and the stdio fds (closed when the
//! entry is dropped). The portable backend spawns plain child processes without
//! isolation, and says so; on macOS it is the only backend, with no cgroups either.

mod error;
mod io;
pub mod isolation;
mod managed;
pub mod output;
pub mod priority;
mod procfs;
mod reap;
mod sockets;
pub mod spawn;
mod spawner;
pub mod state;
mod table;

pub use self::{
    error::ProcessError,
    managed::Process,
    output::{Output, OutputEvent, Stream},
    spawn::ProcessRequest,
    state::ProcessState,
    table::{ExitHook, ProcessTable, SocketHook},
};

/// How a process ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub pids_limit_hit: bool,
    /// For people: "exited with code 3", "killed: out of memory (limit 64 MiB)".
    pub description: String,
}

impl ExitInfo {
    /// The shell convention: the code, or 128 + the signal.
    pub fn shell_status(&self) -> i32 {
        self.code.unwrap_or_else(|| 128 + self.signal.unwrap_or(0))
    }
}

/// How processes are isolated on this host: the rungs of the isolation ladder,
/// strongest first. The daemon picks one at start-up and reports it (`doctor`,
/// `/health`); every process says which it got ([`Process::isolation`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SandboxBackend {
    /// Root: user, pid, mount, net, uts, ipc and cgroup namespaces, the tmpfs view,
    /// landlock, capabilities, seccomp; programs run as an unprivileged uid of the
    /// kernel's choosing.
    Full,
    /// An ordinary user: the same namespaces and walls inside a user namespace that
    /// maps the user's own uid and gid (as bubblewrap does).
    Rootless,
    /// No namespaces (a host that forbids unprivileged user namespaces): landlock,
    /// seccomp, `no_new_privs`, a private `/tmp` directory, rlimits.
    Walls { reason: String },
    /// Plain child processes, capability checks only: no wall at all, so programs
    /// run only when unconfined execution was allowed.
    Portable { reason: String },
}

impl SandboxBackend {
    /// The rung's name: `full`, `rootless`, `walls` or `portable`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Rootless => "rootless",
            Self::Walls { .. } => "walls",
            Self::Portable { .. } => "portable",
        }
    }

    /// Whether programs get their own namespaces (and a view that follows revokes).
    pub fn namespaced(&self) -> bool {
        matches!(self, Self::Full | Self::Rootless)
    }
}
