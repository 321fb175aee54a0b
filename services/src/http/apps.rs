//! `/api/apps`: running apps. Launch (by registry id or inline Blueprint), list,
//! focus, move/resize/minimise, close (children too), close all (sign-out).

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    extract::{Json, Path},
    openapi::ErrorBody,
};
use crate::{
    apps::{
        App, AppError, AppSource, Denial, GrantScope, LaunchOptions, Logs, Window, WindowPatch,
    },
    auth::Caller,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, launch, close_all))
        .routes(routes!(focus))
        .routes(routes!(window))
        .routes(routes!(close))
        .routes(routes!(logs))
        .routes(routes!(grant))
        .routes(routes!(denials))
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound(_) => Self::not_found(e.to_string()),
            AppError::Invalid(_) => Self::invalid(e.to_string()),
            AppError::InvalidBlueprint(_) => {
                Self::client(StatusCode::BAD_REQUEST, "invalid_blueprint", e.to_string())
            }
            AppError::Spawn { source, .. } | AppError::Kernel(source) => Self::from(source),
        }
    }
}

/// What to launch: exactly one of `app_id` and `blueprint`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchRequest {
    /// A registry id: the caller's saved apps, then the built-ins.
    pub app_id: Option<String>,
    /// An inline Blueprint.
    #[schema(value_type = Option<Object>)]
    pub blueprint: Option<Value>,
    /// The running app this one is a child of (closed with it).
    #[serde(alias = "parent")]
    pub parent_id: Option<String>,
    pub window: Option<Window>,
}

/// The ids of the apps a close ended, children first.
#[derive(Serialize, ToSchema)]
pub struct Closed {
    pub closed: Vec<String>,
}

/// Launches an app from its registry entry for `caller`.
pub(super) async fn launch_entry(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    opts: LaunchOptions,
) -> Result<App, ApiError> {
    let entry = state.registry.get(&caller.user_id, app_id).await?;
    Ok(state
        .apps
        .launch(&caller.user_id, entry.source, opts)
        .await?)
}

/// The caller's running apps.
#[utoipa::path(get, path = "/apps", tag = "apps", responses((status = 200, body = Vec<App>)))]
async fn list(State(state): State<AppState>, caller: Caller) -> Json<Vec<App>> {
    Json(state.apps.list(&caller.user_id))
}

/// Launches an app; it gets focus.
#[utoipa::path(post, path = "/apps", tag = "apps", request_body = LaunchRequest,
    responses((status = 201, body = App), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn launch(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<LaunchRequest>,
) -> Result<(StatusCode, Json<App>), ApiError> {
    let opts = LaunchOptions {
        parent: req.parent_id,
        window: req.window,
        ..Default::default()
    };
    let app = match (req.app_id, req.blueprint) {
        (Some(id), None) => launch_entry(&state, &caller, &id, opts).await?,
        (None, Some(blueprint)) => {
            state
                .apps
                .launch(&caller.user_id, AppSource::Blueprint { blueprint }, opts)
                .await?
        }
        _ => {
            return Err(ApiError::invalid(
                "give exactly one of `app_id` (a registry id) and `blueprint`",
            ));
        }
    };
    Ok((StatusCode::CREATED, Json(app)))
}

/// Focuses and raises an app (its process, if any, becomes the scheduler's foreground).
#[utoipa::path(post, path = "/apps/{id}/focus", tag = "apps",
    params(("id" = String, Path, description = "running app id")),
    responses((status = 200, body = App), (status = 404, body = ErrorBody)))]
async fn focus(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<App>, ApiError> {
    Ok(Json(state.apps.focus(&caller.user_id, &id).await?))
}

/// Moves, resizes, minimises or maximises an app's window.
#[utoipa::path(post, path = "/apps/{id}/window", tag = "apps", request_body = WindowPatch,
    params(("id" = String, Path, description = "running app id")),
    responses((status = 200, body = App), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn window(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<WindowPatch>,
) -> Result<Json<App>, ApiError> {
    Ok(Json(
        state
            .apps
            .update_window(&caller.user_id, &id, patch)
            .await?,
    ))
}

/// Closes an app and its children (their processes are killed).
#[utoipa::path(delete, path = "/apps/{id}", tag = "apps",
    params(("id" = String, Path, description = "running app id")),
    responses((status = 200, body = Closed), (status = 404, body = ErrorBody)))]
async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Closed>, ApiError> {
    let closed = state.apps.close(&caller.user_id, &id).await?;
    Ok(Json(Closed { closed }))
}

/// Closes all of the caller's apps and kills their processes: what signing out
/// does, so nothing the user started outlives their session.
#[utoipa::path(delete, path = "/apps", tag = "apps", responses((status = 200, body = Closed)))]
async fn close_all(State(state): State<AppState>, caller: Caller) -> Json<Closed> {
    Json(Closed {
        closed: state.apps.close_all(&caller.user_id).await,
    })
}

/// The output of a native-process app so far (the newest 256 KiB), and its exit.
#[utoipa::path(get, path = "/apps/{id}/logs", tag = "apps",
    params(("id" = String, Path, description = "running app id")),
    responses((status = 200, body = Logs), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Logs>, ApiError> {
    Ok(Json(state.apps.io(&caller.user_id, &id)?.logs()))
}

/// A capability for a running native-process app, after a denial.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// In CLI form, as a denial offers it: `read:/home/u/notes.txt`.
    pub capability: String,
    /// `once`: the next such call only; `always`: until the app closes.
    pub scope: GrantScope,
}

/// What was granted.
#[derive(Serialize, ToSchema)]
pub struct Granted {
    pub app_id: String,
    pub pid: u32,
    pub capability: String,
    pub scope: GrantScope,
}

/// Grants a capability to an app's process (its kernel calls; its walls stay as
/// they were built). The answer to a `denial` message.
#[utoipa::path(post, path = "/apps/{id}/grants", tag = "apps", request_body = GrantRequest,
    params(("id" = String, Path, description = "running app id")),
    responses((status = 200, body = Granted), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<GrantRequest>,
) -> Result<Json<Granted>, ApiError> {
    let pid = state
        .apps
        .grant(&caller.user_id, &id, &req.capability, req.scope)
        .await?;
    Ok(Json(Granted {
        app_id: id,
        pid,
        capability: req.capability,
        scope: req.scope,
    }))
}

/// The app's last denials, oldest first.
#[utoipa::path(get, path = "/apps/{id}/denials", tag = "apps",
    params(("id" = String, Path, description = "running app id")),
    responses((status = 200, body = Vec<Denial>), (status = 404, body = ErrorBody)))]
async fn denials(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<Denial>>, ApiError> {
    Ok(Json(state.apps.denials(&caller.user_id, &id)?))
}
