//! [`ProcessError`]: why an operation on a managed process failed, naming the pid.

use std::{io, path::PathBuf};

use super::state::BadTransition;
use crate::{cgroup::CgroupError, sandbox::NarrowError};

/// Why an operation on a managed process failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("process {pid} not found")]
    NotFound { pid: u32 },
    #[error("process {pid} has exited")]
    Exited { pid: u32 },
    #[error("no cgroup: this host has no usable cgroup hierarchy")]
    NoCgroup,
    #[error("process {pid}: cgroup: {source}")]
    Cgroup {
        pid: u32,
        #[source]
        source: CgroupError,
    },
    #[error("process {pid}: narrowing the sandbox's view: {source}")]
    Narrow {
        pid: u32,
        #[source]
        source: NarrowError,
    },
    #[error("process {pid} does not hold the capability {capability}")]
    NotHeld { pid: u32, capability: String },
    #[error("signal {signal} is not valid")]
    BadSignal { signal: i32 },
    #[error("priority {nice} is outside -20..=19")]
    BadPriority { nice: i32 },
    #[error("`{call}` on process {pid} failed: {source}")]
    Sys {
        call: &'static str,
        pid: u32,
        #[source]
        source: io::Error,
    },
    #[error("stdin is closed")]
    StdinClosed,
    #[error("writing stdin: {0}")]
    Stdin(#[source] io::Error),
    #[error("the process has no open terminal")]
    NoTerminal,
    #[error(
        "this kernel can put up no wall around a program ({reason}); refusing to run it \
         unconfined without allow_unconfined (agentos run --allow-unconfined)"
    )]
    Unconfined { reason: String },
    #[error(
        "a CPU maximum needs a cgroup with the cpu controller, and this kernel has none \
         (no delegated cgroup); a CPU weight works (as a nice value)"
    )]
    CpuMaxNeedsCgroup,
    #[error("creating cgroup {name}: {source}")]
    CreateCgroup {
        name: String,
        #[source]
        source: CgroupError,
    },
    #[error(transparent)]
    Transition(#[from] BadTransition),
    #[error("the spawner thread has stopped")]
    SpawnerStopped,
    #[error(
        "grant {grant:?} contains the kernel's data directory {data_dir:?} (its sockets and \
         token), which no sandbox may see; grant a directory beside it instead"
    )]
    GrantHoldsDataDir { grant: PathBuf, data_dir: PathBuf },
    #[error("wiring stdio: {0}")]
    Stdio(#[source] io::Error),
    #[error("process socket in {dir}: {source}")]
    Socket {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl ProcessError {
    /// Whether the caller's input is at fault.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Self::NotHeld { .. }
            | Self::BadSignal { .. }
            | Self::BadPriority { .. }
            | Self::GrantHoldsDataDir { .. } => true,
            Self::Cgroup { source, .. } => source.is_invalid_input(),
            _ => false,
        }
    }

    /// Whether the host lacks the facility.
    pub fn is_unsupported(&self) -> bool {
        match self {
            Self::NoCgroup => true,
            Self::Cgroup { source, .. } => source.is_unsupported(),
            _ => false,
        }
    }

    /// Whether the process's state forbids the operation.
    pub fn is_precondition(&self) -> bool {
        match self {
            Self::Exited { .. }
            | Self::Unconfined { .. }
            | Self::CpuMaxNeedsCgroup
            | Self::StdinClosed
            | Self::Stdin(_)
            | Self::NoTerminal => true,
            Self::Narrow { source, .. } => source.is_invalid_input(),
            _ => false,
        }
    }
}
