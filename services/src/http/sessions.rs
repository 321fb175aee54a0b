//! `/api/sessions`: save the caller's workspace, list, get, restore and delete.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    extract::{Json, Path},
    openapi::ErrorBody,
};
use crate::{
    apps::App,
    auth::Caller,
    sessions::{SaveRequest, Session, SessionError, SessionSummary},
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(save))
        .routes(routes!(save_default))
        .routes(routes!(list))
        .routes(routes!(get, delete))
        .routes(routes!(restore))
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NotFound(_) => Self::not_found(e.to_string()),
            SessionError::Corrupt { .. } => Self::internal("sessions", e),
            SessionError::Kernel(source) => Self::from(source),
            SessionError::App(source) => Self::from(source),
        }
    }
}

/// A restored session and the apps now running.
#[derive(Serialize, ToSchema)]
pub struct Restored {
    pub session: SessionSummary,
    pub apps: Vec<App>,
}

/// Saves the caller's running apps as a new session.
#[utoipa::path(post, path = "/sessions/save", tag = "sessions", request_body = SaveRequest,
    responses((status = 201, body = SessionSummary), (status = 422, body = ErrorBody)))]
async fn save(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<SaveRequest>,
) -> Result<(StatusCode, Json<SessionSummary>), ApiError> {
    let running = state.apps.list(&caller.user_id);
    let s = state
        .sessions
        .save(&caller.user_id, None, running, req)
        .await?;
    Ok((StatusCode::CREATED, Json(s.summary())))
}

/// Saves the caller's running apps as the session `default` (the last session),
/// replacing it; with nothing running, keeps it as it was and answers 204.
#[utoipa::path(post, path = "/sessions/save-default", tag = "sessions", request_body = SaveRequest,
    responses((status = 200, body = SessionSummary),
        (status = 204, description = "nothing is running: the last session is kept as it was"),
        (status = 422, body = ErrorBody)))]
async fn save_default(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<SaveRequest>,
) -> Result<Response, ApiError> {
    let running = state.apps.list(&caller.user_id);
    Ok(
        match state
            .sessions
            .save_last(&caller.user_id, running, req)
            .await?
        {
            Some(s) => Json(s.summary()).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

/// The caller's sessions, newest first.
#[utoipa::path(get, path = "/sessions", tag = "sessions",
    responses((status = 200, body = Vec<SessionSummary>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<SessionSummary>>, ApiError> {
    Ok(Json(state.sessions.list(&caller.user_id).await?))
}

/// One session, with its apps and chat.
#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = Session), (status = 404, body = ErrorBody)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(state.sessions.get(&caller.user_id, &id).await?))
}

/// Deletes a session.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "session id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.sessions.delete(&caller.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the caller's running apps with the session's.
#[utoipa::path(post, path = "/sessions/{id}/restore", tag = "sessions",
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = Restored), (status = 404, body = ErrorBody)))]
async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Restored>, ApiError> {
    let (session, apps) = state
        .sessions
        .restore(&state.apps, &caller.user_id, &id)
        .await?;
    Ok(Json(Restored {
        session: session.summary(),
        apps,
    }))
}
