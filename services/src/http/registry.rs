//! `/api/registry`: save, list (by category, search), get, launch and delete apps.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    extract::{Json, Path, Query},
    openapi::ErrorBody,
};
use crate::{
    apps::{App, LaunchOptions},
    auth::Caller,
    registry::{Entry, Filter, RegistryError, Summary},
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(save))
        .routes(routes!(list))
        .routes(routes!(get, delete))
        .routes(routes!(launch))
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound(_) => Self::not_found(e.to_string()),
            RegistryError::BuiltIn(_) => Self::forbidden(e.to_string()),
            RegistryError::Invalid(_) => {
                Self::client(StatusCode::BAD_REQUEST, "invalid_blueprint", e.to_string())
            }
            RegistryError::Corrupt { .. } => Self::internal("registry", e),
            RegistryError::Kernel(source) => Self::from(source),
        }
    }
}

/// A Blueprint to save; its `app` object gives id, name, category and version.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveRequest {
    #[schema(value_type = Object)]
    pub blueprint: Value,
}

/// Saves (or replaces) an app in the caller's registry.
#[utoipa::path(post, path = "/registry/save", tag = "registry", request_body = SaveRequest,
    responses((status = 201, body = Summary), (status = 400, body = ErrorBody)))]
async fn save(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<SaveRequest>,
) -> Result<(StatusCode, Json<Summary>), ApiError> {
    let entry = Entry::from_blueprint(req.blueprint, false)?;
    let saved = state.registry.save(&caller.user_id, entry).await?;
    Ok((StatusCode::CREATED, Json(saved.summary())))
}

/// The caller's apps and the built-ins.
#[utoipa::path(get, path = "/registry/apps", tag = "registry", params(Filter),
    responses((status = 200, body = Vec<Summary>), (status = 400, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<Filter>,
) -> Result<Json<Vec<Summary>>, ApiError> {
    Ok(Json(state.registry.list(&caller.user_id, &filter).await?))
}

/// One app, with its definition.
#[utoipa::path(get, path = "/registry/apps/{id}", tag = "registry",
    params(("id" = String, Path, description = "app id")),
    responses((status = 200, body = Entry), (status = 404, body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Entry>, ApiError> {
    Ok(Json(state.registry.get(&caller.user_id, &id).await?))
}

/// Deletes one of the caller's saved apps (built-ins cannot be deleted).
#[utoipa::path(delete, path = "/registry/apps/{id}", tag = "registry",
    params(("id" = String, Path, description = "app id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.registry.delete(&caller.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Launches an app of the registry; it gets focus.
#[utoipa::path(post, path = "/registry/apps/{id}/launch", tag = "registry",
    params(("id" = String, Path, description = "app id")),
    responses((status = 201, body = App), (status = 404, body = ErrorBody)))]
async fn launch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<App>), ApiError> {
    let app = super::apps::launch_entry(&state, &caller, &id, LaunchOptions::default()).await?;
    Ok((StatusCode::CREATED, Json(app)))
}
