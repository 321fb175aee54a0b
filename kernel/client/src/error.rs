//! One error for a failed syscall, whichever layer it failed in.
//!
//! A syscall can fail three ways: the kernel runs it and it fails (the response's
//! `error` outcome), the kernel refuses the RPC with a status carrying the encoded
//! `SyscallError` in its details (bad input, permission, batch limits), or the RPC
//! fails without one (no kernel, a broken connection, a bad token).

use agentos_proto::v1 as pb;
use prost::Message as _;

/// A failed syscall.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The kernel's own error: `code`, `syscall`, `path` and `errno` say what failed.
    #[error("{}: {}", if .0.syscall.is_empty() { "kernel" } else { .0.syscall.as_str() }, .0.message)]
    Syscall(pb::SyscallError),
    /// The RPC failed without a kernel error (transport, authentication).
    #[error("kernel RPC failed: {0}")]
    Rpc(#[source] tonic::Status),
    /// The kernel answered with neither a result nor an error.
    #[error("the kernel's answer to {0} was empty")]
    Empty(&'static str),
    /// A shared-memory region could not be received or mapped.
    #[error("shared memory: {0}")]
    Handoff(String),
}

impl CallError {
    /// The kernel's error code; for a bare status, the one its gRPC code stands for.
    pub fn code(&self) -> pb::ErrorCode {
        match self {
            Self::Syscall(e) => pb::ErrorCode::try_from(e.code).unwrap_or(pb::ErrorCode::Internal),
            Self::Rpc(st) => error_code(st.code()),
            Self::Empty(_) => pb::ErrorCode::Internal,
            Self::Handoff(_) => pb::ErrorCode::FailedPrecondition,
        }
    }

    /// The kernel's error, or one made from the status's code and message, named
    /// for `syscall` (for printing every failure the same way).
    pub fn into_syscall_error(self, syscall: &str) -> pb::SyscallError {
        let code = self.code() as i32;
        match self {
            Self::Syscall(e) => e,
            other => pb::SyscallError {
                code,
                message: match &other {
                    Self::Rpc(st) => st.message().to_owned(),
                    _ => other.to_string(),
                },
                syscall: syscall.to_owned(),
                ..Default::default()
            },
        }
    }

    /// The kernel's error, when it gave one.
    pub fn syscall_error(&self) -> Option<&pb::SyscallError> {
        match self {
            Self::Syscall(e) => Some(e),
            _ => None,
        }
    }
}

impl From<tonic::Status> for CallError {
    fn from(status: tonic::Status) -> Self {
        match syscall_error(&status) {
            Some(e) => Self::Syscall(e),
            None => Self::Rpc(status),
        }
    }
}

/// The kernel error code a gRPC code stands for (the inverse of the kernel's mapping).
pub fn error_code(code: tonic::Code) -> pb::ErrorCode {
    use pb::ErrorCode as E;
    use tonic::Code as C;
    match code {
        C::InvalidArgument | C::OutOfRange => E::InvalidArgument,
        C::NotFound => E::NotFound,
        C::AlreadyExists => E::AlreadyExists,
        C::PermissionDenied | C::Unauthenticated => E::PermissionDenied,
        C::FailedPrecondition | C::Aborted => E::FailedPrecondition,
        C::ResourceExhausted => E::ResourceExhausted,
        C::Unimplemented => E::Unsupported,
        C::Cancelled => E::Cancelled,
        C::DeadlineExceeded => E::DeadlineExceeded,
        C::Ok | C::Unknown | C::Internal | C::Unavailable | C::DataLoss => E::Internal,
    }
}

/// Decodes the `SyscallError` a status carries in its details, if any.
pub fn syscall_error(status: &tonic::Status) -> Option<pb::SyscallError> {
    pb::SyscallError::decode(status.details())
        .ok()
        .filter(|e| e.code != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_with_details_becomes_the_kernels_error() {
        let e = pb::SyscallError {
            code: pb::ErrorCode::NotFound as i32,
            message: "no such file".into(),
            syscall: "read".into(),
            path: "/x".into(),
            errno: 2,
        };
        let st = tonic::Status::with_details(
            tonic::Code::NotFound,
            "no such file",
            e.encode_to_vec().into(),
        );
        let err = CallError::from(st);
        assert_eq!(err.code(), pb::ErrorCode::NotFound);
        assert_eq!(err.syscall_error().unwrap().path, "/x");
        assert_eq!(err.to_string(), "read: no such file");
        let bare = CallError::from(tonic::Status::unavailable("gone"));
        assert!(matches!(bare, CallError::Rpc(_)));
        assert_eq!(bare.code(), pb::ErrorCode::Internal);
        let refused = CallError::from(tonic::Status::unauthenticated("wrong token"));
        assert_eq!(refused.code(), pb::ErrorCode::PermissionDenied);
        let e = refused.into_syscall_error("time");
        assert_eq!(
            (e.syscall.as_str(), e.message.as_str()),
            ("time", "wrong token")
        );
    }
}
