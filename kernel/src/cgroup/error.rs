//! [`CgroupError`]: every failure names the file, the value and the errno.

use std::{io, path::PathBuf, time::Duration};

use super::Controller;

/// Why a cgroup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A group name outside `[a-z0-9-]{1,64}`.
    #[error("invalid cgroup name {name:?}: {why}")]
    InvalidName { name: String, why: &'static str },
    /// A limit outside what the kernel accepts.
    #[error("invalid limit {what} = {value}: {why}")]
    InvalidLimit {
        what: &'static str,
        value: String,
        why: &'static str,
    },
    /// A group of that name exists already.
    #[error("cgroup {} already exists", path.display())]
    Exists { path: PathBuf },
    /// `mkdir` of a cgroup directory failed.
    #[error("creating cgroup {}: {source}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Opening a cgroup directory or file failed.
    #[error("opening {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing a control file failed (the kernel refused the value, or the file is missing).
    #[error("writing {value:?} to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    /// Reading a control file failed.
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A control file held something unexpected.
    #[error("unexpected content in {}: {content:?} ({why})", path.display())]
    Parse {
        path: PathBuf,
        content: String,
        why: &'static str,
    },
    /// Tagging a directory with its owner failed.
    #[error("setting xattr {name} on {}: {source}", path.display())]
    Xattr {
        path: PathBuf,
        name: &'static str,
        #[source]
        source: io::Error,
    },
    /// A limit for a controller this host does not give the kernel.
    #[error("cannot set {limit}: the {controller} controller is unavailable ({why})")]
    ControllerUnavailable {
        controller: Controller,
        limit: &'static str,
        why: String,
    },
    /// The host has no usable cgroups (see `doctor`).
    #[error("cgroups are unavailable: {reason}")]
    Unavailable { reason: String },
    /// The host's kernel lacks a file this operation needs.
    #[error("{what} is not supported here: {} is missing", path.display())]
    Unsupported { what: &'static str, path: PathBuf },
    /// `cgroup.events` did not reach the requested freezer state in time.
    #[error("{} did not become {} within {waited:?}", path.display(), if *frozen { "frozen" } else { "thawed" })]
    FreezeTimeout {
        path: PathBuf,
        frozen: bool,
        waited: Duration,
    },
    /// Processes survived a kill for longer than the bound.
    #[error("pids {pids:?} still in {} {waited:?} after SIGKILL", path.display())]
    KillTimeout {
        path: PathBuf,
        pids: Vec<i32>,
        waited: Duration,
    },
    /// `kill(2)` of one process of the group failed.
    #[error("SIGKILL to pid {pid} of {}: {source}", path.display())]
    Signal {
        pid: i32,
        path: PathBuf,
        #[source]
        source: nix::errno::Errno,
    },
    /// `rmdir` of a cgroup directory failed.
    #[error("removing cgroup {}: {source}", path.display())]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl CgroupError {
    /// Whether the caller's input was wrong (a bad name or limit), as opposed to the host.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Self::InvalidName { .. } | Self::InvalidLimit { .. } | Self::Exists { .. }
        )
    }

    /// Whether the host lacks the facility (map to `Unimplemented`/`Unsupported`).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            Self::ControllerUnavailable { .. }
                | Self::Unavailable { .. }
                | Self::Unsupported { .. }
        )
    }

    /// The errno behind the failure, if one syscall failed.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Create { source, .. }
            | Self::Open { source, .. }
            | Self::Write { source, .. }
            | Self::Read { source, .. }
            | Self::Xattr { source, .. }
            | Self::Remove { source, .. } => source.raw_os_error(),
            Self::Signal { source, .. } => Some(*source as i32),
            _ => None,
        }
    }
}
