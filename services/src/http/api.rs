//! The `/api` tree. Every route but the login ones needs a caller (401 without);
//! every path without a handler answers a JSON 404, never the desktop's
//! `index.html`, so a client that calls a missing endpoint learns so.

use axum::{extract::OriginalUri, http::Method, middleware, routing::get};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState, apps, auth, files, generate, layers, openapi, process_control, processes,
    registry, services, sessions, settings,
};

/// The routes under `/api` (nested by [`super::documented`]).
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(apps::router())
        .merge(registry::router())
        .merge(sessions::router())
        .merge(services::router())
        .merge(generate::router())
        .merge(processes::router())
        .merge(process_control::router())
        .merge(files::router())
        .merge(settings::router())
        .routes(routes!(crate::ws::handler))
        .route("/openapi.json", get(openapi::handler))
        .fallback(no_route)
        .layer(middleware::from_fn(layers::require_caller))
        .merge(auth::public_router())
}

async fn no_route(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::NoRoute {
        method,
        path: uri.path().to_owned(),
    }
}
