//! `GET/PUT /api/settings`: the caller's settings (see [`crate::settings`]).

use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiError, AppState, extract::Json, openapi::ErrorBody};
use crate::{
    auth::Caller,
    settings::{self, Settings, SettingsError},
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get, put))
}

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Invalid(m) => Self::invalid(m),
            SettingsError::Corrupt { .. } => Self::internal("settings", e),
            SettingsError::Kernel(source) => Self::from(source),
        }
    }
}

/// The caller's settings (the defaults until they save some).
#[utoipa::path(get, path = "/settings", tag = "auth",
    responses((status = 200, body = Settings)))]
async fn get(State(state): State<AppState>, caller: Caller) -> Result<Json<Settings>, ApiError> {
    Ok(Json(settings::load(&state.kernel, &caller.user_id).await?))
}

/// Replaces the caller's settings (written atomically) and sets the kernel's
/// scheduler policy from them.
#[utoipa::path(put, path = "/settings", tag = "auth", request_body = Settings,
    responses((status = 200, body = Settings), (status = 400, body = ErrorBody)))]
async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Json(s): Json<Settings>,
) -> Result<Json<Settings>, ApiError> {
    settings::save(&state.kernel, &caller.user_id, &s).await?;
    Ok(Json(s))
}
