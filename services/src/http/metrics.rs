//! `GET /metrics`: Prometheus text, like `/health` open to any local caller that
//! passes the host guard (a scraper has no cookie), and holding no user data.

use axum::{extract::State, http::header, response::IntoResponse};

use super::AppState;

/// Prometheus text exposition of the services' metrics.
#[utoipa::path(get, path = "/metrics", tag = "system", security(()),
    responses((status = 200, description = "Prometheus text exposition (version 0.0.4)", content_type = "text/plain")))]
pub(super) async fn handler(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(state.apps.count()),
    )
}
