//! Every HTTP error, mapped to a status and a JSON body in one place.
//!
//! The body is always `{"error": {"code": "<snake_case>", "message": "<text>"}}`.
//! Kernel errors arrive as gRPC statuses and are mapped by the table in Google's
//! `google/rpc/code.proto` (the HTTP mapping noted on each code). As in axum's
//! `examples/error-handling`, client errors are not logged and say what was wrong;
//! server faults are logged in full and the body says only that something failed.

use std::time::Duration;

use axum::{
    Json,
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use tonic::Code;

use crate::{
    generate::GenError,
    kernel::LinkError,
    tools::{HostError, ToolError},
};

/// An error an HTTP handler (or a layer) returns.
///
/// Client errors carry a stable `code` and say what was wrong; the codes are listed
/// in [`CODES`], which the OpenAPI description and the tests use.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No handler for this path under `/api`.
    #[error("no API endpoint {method} {path}")]
    NoRoute { method: Method, path: String },
    /// The caller's input is wrong (or the caller may not do this): a 4xx; or a
    /// 502/503 whose message the caller may read (a tool's facility is down, a
    /// model answered badly).
    #[error("{message}")]
    Client {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// Too many requests from this client; retry after the given time.
    #[error("too many requests; retry in {} s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// The kernel answered with an error.
    #[error("the kernel refused the call: {0}")]
    Kernel(#[source] tonic::Status),
    /// The kernel could not be reached (not running, not answering).
    #[error("the kernel is not reachable: {0}")]
    KernelUnavailable(#[source] LinkError),
    /// A fault of ours: logged in full, answered with no detail.
    #[error("{context}")]
    Internal {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Every `error.code` this API answers with, and its HTTP status.
pub const CODES: &[(&str, u16)] = &[
    ("malformed_json", 400),
    ("invalid_argument", 400),
    ("invalid_path", 400),
    ("invalid_query", 400),
    ("invalid_blueprint", 400),
    ("invalid_args", 400),
    ("invalid_value", 400),
    ("unauthenticated", 401),
    ("invalid_credentials", 401),
    ("forbidden", 403),
    ("forbidden_host", 403),
    ("forbidden_origin", 403),
    ("permission_denied", 403),
    ("host_not_allowed", 403),
    ("denied", 403),
    ("not_found", 404),
    ("unknown_tool", 404),
    ("unknown_component", 404),
    ("timeout", 408),
    ("already_exists", 409),
    ("quota_exceeded", 409),
    ("no_process", 409),
    ("payload_too_large", 413),
    ("unsupported_media_type", 415),
    ("invalid_body", 422),
    ("division_by_zero", 422),
    ("math_error", 422),
    ("not_understood", 422),
    ("rate_limited", 429),
    ("internal", 500),
    ("unimplemented", 501),
    ("invalid_blueprint", 502),
    ("llm_http_error", 502),
    ("llm_unreachable", 502),
    ("llm_protocol_error", 502),
    ("unavailable", 503),
    ("kernel_unavailable", 503),
];

impl ApiError {
    /// A client error with `status` and `code` (one of [`CODES`]).
    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(
            CODES
                .iter()
                .any(|(c, s)| *c == code && *s == status.as_u16()),
            "{code} {status} is not in CODES"
        );
        Self::Client {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `invalid_argument`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::client(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::client(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::client(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::client(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 409 `already_exists`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::client(StatusCode::CONFLICT, "already_exists", message)
    }

    /// A 500 whose details go to the log only.
    pub fn internal(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Internal {
            context: context.into(),
            source: source.into(),
        }
    }
}

impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Rpc { source, .. } if !matches!(source.code(), Code::Unavailable) => {
                Self::Kernel(source)
            }
            LinkError::Call { source, .. } => Self::from(source),
            other => Self::KernelUnavailable(other),
        }
    }
}

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        Self::Kernel(s)
    }
}

impl From<agentos_client::CallError> for ApiError {
    fn from(e: agentos_client::CallError) -> Self {
        use agentos_client::{CallError, pb::ErrorCode as E};
        match e {
            CallError::Rpc(s) => Self::Kernel(s),
            CallError::Syscall(err) => {
                let code = match E::try_from(err.code).unwrap_or(E::Internal) {
                    E::InvalidArgument => Code::InvalidArgument,
                    E::NotFound => Code::NotFound,
                    E::AlreadyExists => Code::AlreadyExists,
                    E::PermissionDenied => Code::PermissionDenied,
                    E::FailedPrecondition => Code::FailedPrecondition,
                    E::ResourceExhausted => Code::ResourceExhausted,
                    E::Unsupported => Code::Unimplemented,
                    E::Cancelled => Code::Cancelled,
                    E::DeadlineExceeded => Code::DeadlineExceeded,
                    E::Internal | E::Unspecified => Code::Internal,
                };
                Self::Kernel(tonic::Status::new(code, err.message))
            }
            other @ (CallError::Empty(_) | CallError::Handoff(_)) => {
                Self::internal("a kernel call failed", other)
            }
        }
    }
}

/// A failed tool call: its [`ToolError::code`], with the status of what went wrong
/// (the caller's arguments 400, a missing permission 403, an arithmetic error 422,
/// a full store 409, a facility that is down 503).
impl From<ToolError> for ApiError {
    fn from(e: ToolError) -> Self {
        let status = match &e {
            ToolError::InvalidArgs { .. } | ToolError::InvalidValue { .. } => {
                StatusCode::BAD_REQUEST
            }
            ToolError::PermissionDenied { .. }
            | ToolError::HostNotAllowed { .. }
            | ToolError::Host(HostError::Denied { .. }) => StatusCode::FORBIDDEN,
            ToolError::UnknownTool { .. }
            | ToolError::UnknownComponent { .. }
            | ToolError::Host(HostError::NotFound { .. }) => StatusCode::NOT_FOUND,
            ToolError::Math(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ToolError::Host(HostError::QuotaExceeded { .. }) => StatusCode::CONFLICT,
            ToolError::Host(HostError::Unavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self::client(status, e.code(), e.to_string())
    }
}

/// A failed generation: its [`GenError::code`]; a prompt no template matches is
/// 422, a model that fails or answers nonsense 502.
impl From<GenError> for ApiError {
    fn from(e: GenError) -> Self {
        let status = match &e {
            GenError::NotUnderstood { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            GenError::Invalid(_)
            | GenError::Http { .. }
            | GenError::Transport(_)
            | GenError::Protocol { .. } => StatusCode::BAD_GATEWAY,
            GenError::Cancelled => return Self::internal("UI generation", e),
        };
        Self::client(status, e.code(), anyhow_like(&e))
    }
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoRoute { .. } => StatusCode::NOT_FOUND,
            Self::Client { status, .. } => *status,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Kernel(s) => grpc_to_http(s.code()),
            Self::KernelUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoRoute { .. } => "not_found",
            Self::Client { code, .. } => code,
            Self::RateLimited { .. } => "rate_limited",
            Self::Kernel(s) if s.code() == Code::Unavailable => "kernel_unavailable",
            Self::Kernel(s) => grpc_code_name(s.code()),
            Self::KernelUnavailable(_) => "kernel_unavailable",
            Self::Internal { .. } => "internal",
        }
    }

    /// The `error.message` a client sees: what was wrong, or no detail for a server fault.
    pub fn public_message(&self) -> String {
        match self {
            Self::NoRoute { .. } | Self::Client { .. } | Self::RateLimited { .. } => {
                self.to_string()
            }
            Self::Kernel(s) if self.status().is_server_error() && s.code() != Code::Unavailable => {
                "internal error; the server log has the details".into()
            }
            Self::Kernel(s) => s.message().to_owned(),
            Self::KernelUnavailable(_) => {
                "the kernel is not reachable; run `agentos doctor`".into()
            }
            Self::Internal { .. } => "internal error; the server log has the details".into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "code": self.code(), "message": self.public_message() } })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!("{}", anyhow_like(&self));
        }
        let mut resp = (status, Json(self.body())).into_response();
        if let Self::RateLimited { retry_after } = &self {
            // Whole seconds, rounded up: a client that waits this long gets a token.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

/// The error and its sources, joined with ": " (what anyhow's `{:#}` prints).
fn anyhow_like(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The HTTP status for a gRPC code (google/rpc/code.proto).
pub fn grpc_to_http(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        // 499 "Client Closed Request" has no constant in `http`.
        Code::Cancelled => StatusCode::from_u16(499).expect("499 is a valid status"),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The gRPC code in snake case, as `error.code`.
fn grpc_code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    async fn response_parts(e: ApiError) -> (StatusCode, String, serde_json::Value) {
        let resp = e.into_response();
        let status = resp.status();
        let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, ctype, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn no_route_is_a_json_404() {
        let e = ApiError::NoRoute {
            method: Method::GET,
            path: "/api/nope".into(),
        };
        let (status, ctype, body) = response_parts(e).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(ctype, "application/json");
        assert_eq!(
            body,
            json!({"error": {"code": "not_found", "message": "no API endpoint GET /api/nope"}})
        );
    }

    #[tokio::test]
    async fn client_errors_keep_the_kernels_message() {
        let e = ApiError::from(tonic::Status::invalid_argument("path must be absolute"));
        let (status, _, body) = response_parts(e).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({"error": {"code": "invalid_argument", "message": "path must be absolute"}})
        );
    }

    #[tokio::test]
    async fn internal_errors_hide_their_details() {
        let e = ApiError::from(tonic::Status::internal("secret /var/lib/agentos detail"));
        let (status, _, body) = response_parts(e).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal");
        assert!(
            !body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("secret"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_kernel_is_503() {
        let e = ApiError::from(LinkError::Timeout {
            socket: "/x/kernel.sock".into(),
            call: "Doctor",
            after: Duration::from_secs(2),
        });
        let (status, _, body) = response_parts(e).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "kernel_unavailable");
        let unavailable = ApiError::from(LinkError::Rpc {
            call: "Doctor",
            source: tonic::Status::unavailable("gone"),
        });
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.code(), "kernel_unavailable");
    }

    #[test]
    fn tool_and_generation_errors_keep_their_codes() {
        use crate::tools::MathError;
        for (e, status, code) in [
            (
                ToolError::PermissionDenied {
                    tool: "fs.read".into(),
                    permission: crate::blueprint::Permission::Filesystem,
                },
                403,
                "permission_denied",
            ),
            (
                ToolError::InvalidArgs {
                    tool: "math.sum".into(),
                    reason: "no".into(),
                },
                400,
                "invalid_args",
            ),
            (MathError::DivisionByZero.into(), 422, "division_by_zero"),
            (
                ToolError::UnknownTool { tool: "x.y".into() },
                404,
                "unknown_tool",
            ),
            (
                HostError::QuotaExceeded {
                    what: "keys".into(),
                }
                .into(),
                409,
                "quota_exceeded",
            ),
            (
                HostError::Unavailable {
                    reason: "down".into(),
                }
                .into(),
                503,
                "unavailable",
            ),
        ] {
            let api = ApiError::from(e);
            assert_eq!((api.status().as_u16(), api.code()), (status, code));
        }
        let e = ApiError::from(GenError::NotUnderstood {
            prompt: "x".into(),
            known: "calculator".into(),
        });
        assert_eq!((e.status().as_u16(), e.code()), (422, "not_understood"));
        let e = ApiError::from(GenError::Protocol { reason: "x".into() });
        assert_eq!((e.status().as_u16(), e.code()), (502, "llm_protocol_error"));
        assert!(
            e.public_message().contains("malformed"),
            "{}",
            e.public_message()
        );
    }

    #[test]
    fn grpc_table_follows_google_rpc() {
        assert_eq!(grpc_to_http(Code::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(grpc_to_http(Code::PermissionDenied), StatusCode::FORBIDDEN);
        assert_eq!(
            grpc_to_http(Code::FailedPrecondition),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            grpc_to_http(Code::ResourceExhausted),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            grpc_to_http(Code::Unimplemented),
            StatusCode::NOT_IMPLEMENTED
        );
        assert_eq!(grpc_to_http(Code::Cancelled).as_u16(), 499);
    }
}
