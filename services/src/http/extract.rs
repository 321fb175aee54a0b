//! Extractors whose rejections are [`ApiError`]s, so bad input always gets the JSON
//! error body with a stable code (axum's `examples/error-handling`): [`Json`],
//! [`Path`] and [`Query`] wrap axum's, and [`Caller`] is the authenticated user.

use axum::{
    extract::{FromRequest, FromRequestParts, Request, rejection},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};

use super::ApiError;
use crate::auth::Caller;

/// `axum::Json`, with its rejections mapped to codes:
///
/// | rejection | status | code |
/// |---|---|---|
/// | not JSON syntax | 400 | `malformed_json` |
/// | JSON of the wrong shape or types | 422 | `invalid_body` |
/// | no `Content-Type: application/json` | 415 | `unsupported_media_type` |
/// | body over the limit | 413 | `payload_too_large` |
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(r) => Err(json_rejection(r)),
        }
    }
}

fn json_rejection(r: rejection::JsonRejection) -> ApiError {
    use rejection::JsonRejection as R;
    let (status, code) = match &r {
        R::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
        R::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        R::MissingJsonContentType(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        }
        R::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        }
        _ => (StatusCode::BAD_REQUEST, "malformed_json"),
    };
    ApiError::client(status, code, r.body_text())
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path`; a path segment that does not parse is 400 `invalid_path`.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|r| ApiError::client(StatusCode::BAD_REQUEST, "invalid_path", r.body_text()))
    }
}

/// `axum::extract::Query`; a query that does not parse is 400 `invalid_query`.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|r| ApiError::client(StatusCode::BAD_REQUEST, "invalid_query", r.body_text()))
    }
}

/// The authenticated caller, put there by the auth layer; its absence is 401.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthenticated("log in first"))
    }
}
