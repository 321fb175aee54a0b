//! The kernel's error type and its wire form.
//!
//! Every syscall fails with a [`KernelError`]: a subsystem's own typed error
//! (`#[from]` it: VFS, shared memory, processes, sandbox spawns, capabilities), a
//! refusal by the access check, a bad argument found at the edge, a cancellation or
//! a timeout. [`KernelError::code`] says which kind it is, from the subsystem
//! error's own facts; [`KernelError::to_proto`] turns it into the machine-readable
//! `SyscallError` (code, message, syscall, path, errno) that batch results carry and
//! that `rpc::status` packs into gRPC status details.
//!
//! This module depends on the subsystems' error types only; none of them depends on
//! it (their functions return their own errors, or this one through `?`).

use std::time::Duration;

use agentos_proto::v1 as pb;

use crate::{
    capability::CapabilityError, process::ProcessError, sandbox::SpawnError, shm::ShmError,
    syscall::stream::StreamError, vfs::VfsError,
};

/// Why a syscall failed.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(transparent)]
    Vfs(#[from] VfsError),
    #[error(transparent)]
    Shm(#[from] ShmError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Socket(#[from] crate::net::socket::SocketError),
    /// A request that is malformed on its face (checked once, at the edge).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The access check refused a managed process's call.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    #[error("not supported on this host: {0}")]
    Unsupported(String),
    #[error("cancelled")]
    Cancelled,
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("internal error: {0}")]
    Internal(String),
}

impl KernelError {
    /// The wire error code.
    pub fn code(&self) -> pb::ErrorCode {
        use pb::ErrorCode as C;
        match self {
            Self::Vfs(e) => match e {
                VfsError::InvalidPath { .. }
                | VfsError::TooLarge { .. }
                | VfsError::CrossMount { .. } => C::InvalidArgument,
                VfsError::NotFound { .. } => C::NotFound,
                VfsError::AlreadyExists { .. } => C::AlreadyExists,
                VfsError::NotADirectory { .. }
                | VfsError::IsADirectory { .. }
                | VfsError::NotEmpty { .. }
                | VfsError::Busy { .. } => C::FailedPrecondition,
                VfsError::EscapesMount { .. }
                | VfsError::SymlinkRefused { .. }
                | VfsError::PermissionDenied { .. } => C::PermissionDenied,
                VfsError::NoSpace { .. } | VfsError::MountFull { .. } => C::ResourceExhausted,
                VfsError::Io { .. } => C::Internal,
            },
            Self::Shm(e) => match e {
                ShmError::Exhausted { .. } => C::ResourceExhausted,
                ShmError::Memfd(_) => C::Unsupported,
                ShmError::Ticket(_) => C::Internal,
            },
            Self::Process(e) => match e {
                ProcessError::NotFound { .. } => C::NotFound,
                e if e.is_invalid_input() => C::InvalidArgument,
                e if e.is_unsupported() => C::Unsupported,
                e if e.is_precondition() => C::FailedPrecondition,
                _ => C::Internal,
            },
            Self::Spawn(e) if e.is_invalid_input() => C::InvalidArgument,
            Self::Spawn(e) if e.is_unsupported() => C::Unsupported,
            Self::Spawn(_) => C::FailedPrecondition,
            Self::Stream(StreamError::NoFdSocket) => C::FailedPrecondition,
            Self::Stream(StreamError::Busy { .. }) => C::ResourceExhausted,
            Self::Stream(e) if e.is_invalid_input() => C::InvalidArgument,
            Self::Stream(_) => C::Cancelled,
            Self::Socket(e) => socket_code(e),
            Self::Capability(_) | Self::InvalidArgument(_) => C::InvalidArgument,
            Self::NotFound(_) => C::NotFound,
            Self::PermissionDenied(_) => C::PermissionDenied,
            Self::FailedPrecondition(_) => C::FailedPrecondition,
            Self::ResourceExhausted(_) => C::ResourceExhausted,
            Self::Unsupported(_) => C::Unsupported,
            Self::Cancelled => C::Cancelled,
            Self::Timeout(_) => C::DeadlineExceeded,
            Self::Internal(_) => C::Internal,
        }
    }

    /// The machine-readable form, naming the syscall that failed.
    pub fn to_proto(&self, syscall: &str) -> pb::SyscallError {
        let (path, errno) = match self {
            Self::Vfs(e) => (e.path().to_owned(), e.errno().unwrap_or(0)),
            Self::Socket(e) => (String::new(), e.errno()),
            _ => (String::new(), 0),
        };
        pb::SyscallError {
            code: self.code() as i32,
            message: self.to_string(),
            syscall: syscall.to_owned(),
            path,
            errno,
        }
    }
}

/// A host socket error's code: the caller's bad descriptor or address is an
/// invalid argument; the peer's or the network's state a failed precondition.
fn socket_code(e: &crate::net::socket::SocketError) -> pb::ErrorCode {
    use nix::errno::Errno as E;
    use pb::ErrorCode as C;
    match e {
        crate::net::socket::SocketError::Timeout { .. } => C::DeadlineExceeded,
        crate::net::socket::SocketError::Host { errno, .. } => match errno {
            E::EBADF
            | E::ENOTSOCK
            | E::EINVAL
            | E::EAFNOSUPPORT
            | E::EOPNOTSUPP
            | E::EDESTADDRREQ
            | E::EMSGSIZE => C::InvalidArgument,
            E::EACCES | E::EPERM => C::PermissionDenied,
            E::EMFILE | E::ENFILE | E::ENOBUFS | E::ENOMEM => C::ResourceExhausted,
            _ => C::FailedPrecondition,
        },
    }
}

impl From<crate::net::NetError> for KernelError {
    fn from(e: crate::net::NetError) -> Self {
        use crate::net::NetError as N;
        match e {
            N::Invalid(m) => Self::InvalidArgument(m),
            N::Unavailable(m) => Self::Unsupported(m),
            N::Exhausted(m) => Self::ResourceExhausted(m),
            e => Self::Internal(format!("network: {e}")),
        }
    }
}
