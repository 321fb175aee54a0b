//! The `/api` tree. Every path without a handler answers a JSON 404, never the
//! desktop's `index.html`, so a client that calls a missing endpoint learns so.

use axum::{Router, extract::OriginalUri, http::Method};

use super::{ApiError, AppState};

/// The routes under `/api` (nested by [`super::router`]).
pub(super) fn router() -> Router<AppState> {
    Router::new().fallback(no_route)
}

async fn no_route(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::NoRoute {
        method,
        path: uri.path().to_owned(),
    }
}
