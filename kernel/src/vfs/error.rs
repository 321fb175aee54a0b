//! VFS errors: each names the virtual path, and the host errno where one caused it.

use std::io;

/// A filesystem operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VfsError {
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    #[error("{path}: already exists")]
    AlreadyExists { path: String },
    #[error("{path}: not a directory")]
    NotADirectory { path: String },
    #[error("{path}: is a directory")]
    IsADirectory { path: String },
    #[error("{path}: directory not empty")]
    NotEmpty { path: String },
    #[error("{path}: is a mount point")]
    Busy { path: String },
    #[error("{path}: resolves outside its mount (a '..' or absolute symlink leads out)")]
    EscapesMount { path: String },
    #[error("{path}: refused: a /proc magic link or a symlink loop is on the path")]
    SymlinkRefused { path: String },
    #[error("{path}: permission denied by the host")]
    PermissionDenied { path: String },
    #[error("{path}: larger than the {limit}-byte limit of a single call (use StreamSyscall)")]
    TooLarge { path: String, limit: u64 },
    #[error("{path}: no space left on the host filesystem")]
    NoSpace { path: String },
    #[error("{path}: the memory mount is full (its limit is {capacity} bytes)")]
    MountFull { path: String, capacity: u64 },
    #[error("cannot move directory {from} to {to} across mounts")]
    CrossMount { from: String, to: String },
    #[error("`{op}` on {path} failed: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

impl VfsError {
    /// Maps a host error of `op` on `path` to the variant that says what happened.
    pub fn from_io(op: &'static str, path: impl ToString, source: io::Error) -> Self {
        let path = path.to_string();
        match source.raw_os_error() {
            Some(libc::ENOENT) => Self::NotFound { path },
            Some(libc::EEXIST) => Self::AlreadyExists { path },
            Some(libc::ENOTDIR) => Self::NotADirectory { path },
            Some(libc::EISDIR) => Self::IsADirectory { path },
            Some(libc::ENOTEMPTY) => Self::NotEmpty { path },
            Some(libc::EXDEV) => Self::EscapesMount { path },
            Some(libc::ELOOP) => Self::SymlinkRefused { path },
            Some(libc::EACCES | libc::EPERM) => Self::PermissionDenied { path },
            Some(libc::ENAMETOOLONG) => Self::InvalidPath {
                path,
                reason: "name too long for the host filesystem",
            },
            Some(libc::ENOSPC) => Self::NoSpace { path },
            _ => Self::Io { op, path, source },
        }
    }

    /// The host errno behind the error, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The virtual path the error is about.
    pub fn path(&self) -> &str {
        match self {
            Self::InvalidPath { path, .. }
            | Self::NotFound { path }
            | Self::AlreadyExists { path }
            | Self::NotADirectory { path }
            | Self::IsADirectory { path }
            | Self::NotEmpty { path }
            | Self::Busy { path }
            | Self::EscapesMount { path }
            | Self::SymlinkRefused { path }
            | Self::PermissionDenied { path }
            | Self::TooLarge { path, .. }
            | Self::NoSpace { path }
            | Self::MountFull { path, .. }
            | Self::Io { path, .. } => path,
            Self::CrossMount { from, .. } => from,
        }
    }
}
