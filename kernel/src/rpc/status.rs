//! The one place kernel errors become gRPC statuses.
//!
//! The status code follows the error's kind; the status details carry the encoded
//! `agentos.kernel.v1.SyscallError`, so clients can match on `code`, `syscall`,
//! `path` and `errno` without parsing messages.

use agentos_proto::v1 as pb;
use prost::Message;
use tonic::{Code, Status};

use crate::error::KernelError;

/// The gRPC code for a wire error code.
pub fn grpc_code(code: pb::ErrorCode) -> Code {
    use pb::ErrorCode as C;
    match code {
        C::InvalidArgument => Code::InvalidArgument,
        C::NotFound => Code::NotFound,
        C::AlreadyExists => Code::AlreadyExists,
        C::PermissionDenied => Code::PermissionDenied,
        C::FailedPrecondition => Code::FailedPrecondition,
        C::ResourceExhausted => Code::ResourceExhausted,
        C::Unsupported => Code::Unimplemented,
        C::Cancelled => Code::Cancelled,
        C::DeadlineExceeded => Code::DeadlineExceeded,
        C::Internal | C::Unspecified => Code::Internal,
    }
}

/// A status for a failed syscall, with the `SyscallError` in its details.
pub fn syscall_status(err: &pb::SyscallError) -> Status {
    let code = grpc_code(pb::ErrorCode::try_from(err.code).unwrap_or(pb::ErrorCode::Internal));
    Status::with_details(code, err.message.clone(), err.encode_to_vec().into())
}

/// A status for an error outside any one syscall (batch limits, task lookups...).
pub fn status(err: KernelError) -> Status {
    syscall_status(&err.to_proto(""))
}

impl From<KernelError> for Status {
    fn from(err: KernelError) -> Self {
        status(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::VfsError;

    #[test]
    fn maps_codes_and_keeps_details() {
        let err = KernelError::Vfs(VfsError::EscapesMount { path: "/x".into() });
        let st = syscall_status(&err.to_proto("read"));
        assert_eq!(st.code(), Code::PermissionDenied);
        let back = agentos_client::syscall_error(&st).unwrap();
        assert_eq!(back.syscall, "read");
        assert_eq!(back.path, "/x");
        assert_eq!(back.code, pb::ErrorCode::PermissionDenied as i32);
        assert_eq!(
            Status::from(KernelError::Unsupported("x".into())).code(),
            Code::Unimplemented
        );
        assert_eq!(
            Status::from(KernelError::Timeout(std::time::Duration::from_secs(1))).code(),
            Code::DeadlineExceeded
        );
    }
}
