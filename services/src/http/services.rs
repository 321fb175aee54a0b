//! `/api/services`: the tools Blueprints bind to. List them with their argument
//! schemas, discover them by namespace or words, and execute one for the caller.
//!
//! `POST /api/services/execute` runs a tool through [`crate::tools::Tools`] with a
//! [`UserHost`] for the caller. Who calls decides what is allowed:
//!
//! * with `app_id`, a running app of the caller: a Blueprint app gets the
//!   permissions and `hosts` its Blueprint declares, and its own component state
//!   ([`UiState`], kept here per running app from its first call, so `ui.*` calls
//!   build on each other); a native web app gets the permissions of its
//!   `apps/native/<id>/manifest.json`; a native process declares none.
//! * without `app_id`: no permissions, so only `math.*` (and `ui.*` on an empty
//!   state) run. Storage, files, the network, system and app control are always
//!   some app's, checked against what that app declared.
//!
//! A failed call is the tool's error code with a 4xx (`invalid_args` 400,
//! `permission_denied` 403, `division_by_zero` 422, ...; the table is
//! `impl From<ToolError> for ApiError` in [`super::error`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiError, AppState, extract::Json, host::UserHost, openapi::ErrorBody};
use crate::{
    apps::{App, AppSource, Apps},
    auth::Caller,
    blueprint::{self, Blueprint},
    tools::{CallContext, ToolRegistry, ToolSpec, Tools, UiChange, UiState},
};

/// The app id tools see when no app calls (the user, from the desktop or a script).
pub const NO_APP: &str = "shell";

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tools))
        .routes(routes!(discover_tools))
        .routes(routes!(execute_tool))
}

/// One tool.
#[derive(Serialize, ToSchema)]
pub struct ToolInfo {
    /// `namespace.verb`, e.g. `math.evaluate`.
    pub id: String,
    /// `math`, `ui`, `storage`, `fs`, `http`, `system` or `app`.
    pub namespace: String,
    pub description: String,
    /// The Blueprint permission the calling app must declare (`filesystem`,
    /// `storage`, `network`, `system`, `apps`); null for `ui.*` and `math.*`.
    pub permission: Option<String>,
    /// A JSON Schema of the call's `args` object.
    #[schema(value_type = Object)]
    pub args: Value,
}

impl From<&ToolSpec> for ToolInfo {
    fn from(t: &ToolSpec) -> Self {
        Self {
            id: t.id.to_owned(),
            namespace: t.id.split('.').next().unwrap_or_default().to_owned(),
            description: t.description.to_owned(),
            permission: t.permission.map(|p| p.as_str().to_owned()),
            args: t.args.clone(),
        }
    }
}

/// Which tools to show; both filters apply when both are given.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverRequest {
    /// Only this namespace (`math`, `storage`...).
    pub namespace: Option<String>,
    /// Only tools whose id or description contains every word of this (case-insensitive).
    pub query: Option<String>,
}

/// A tool call.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// The calling app: one of the caller's running apps (`a3`). Without it no
    /// permission is declared, so only `math.*` and `ui.*` run.
    pub app_id: Option<String>,
    /// The tool's id, e.g. `math.evaluate`.
    pub tool: String,
    /// The arguments, as the tool's schema describes (`GET /api/services`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub args: Map<String, Value>,
}

/// What a tool call returned.
#[derive(Serialize, ToSchema)]
pub struct ExecuteResponse {
    pub tool: String,
    /// The tool's result, any JSON (a number for `math.*`, the new value for `ui.*`...).
    pub result: Value,
    /// The component props the call changed (`ui.*`), for the desktop to redraw:
    /// `{"id", "prop", "value"}` each.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<UiChange>,
}

/// The built-in tools, by id.
#[utoipa::path(get, path = "/services", tag = "services",
    responses((status = 200, body = Vec<ToolInfo>)))]
async fn list_tools() -> Json<Vec<ToolInfo>> {
    Json(ToolRegistry::builtin().iter().map(ToolInfo::from).collect())
}

/// The tools of a namespace, or matching words.
#[utoipa::path(post, path = "/services/discover", tag = "services", request_body = DiscoverRequest,
    responses((status = 200, body = Vec<ToolInfo>), (status = 422, body = ErrorBody)))]
async fn discover_tools(Json(req): Json<DiscoverRequest>) -> Json<Vec<ToolInfo>> {
    let words: Vec<String> = req
        .query
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let tools = ToolRegistry::builtin()
        .discover(req.namespace.as_deref().filter(|n| !n.is_empty()))
        .filter(|t| {
            let text = format!("{} {}", t.id, t.description).to_lowercase();
            words.iter().all(|w| text.contains(w.as_str()))
        })
        .map(ToolInfo::from)
        .collect();
    Json(tools)
}

/// Runs a tool for the caller, as the app `app_id` when given (see the module docs).
#[utoipa::path(post, path = "/services/execute", tag = "services", request_body = ExecuteRequest,
    responses((status = 200, body = ExecuteResponse),
        (status = 400, description = "`invalid_args`, `invalid_value`", body = ErrorBody),
        (status = 403, description = "`permission_denied`, `host_not_allowed`, `denied`", body = ErrorBody),
        (status = 404, description = "`unknown_tool`, `unknown_component`, `not_found` (also an unknown `app_id`)", body = ErrorBody),
        (status = 409, description = "`quota_exceeded`", body = ErrorBody),
        (status = 422, description = "`division_by_zero`, `math_error`, `invalid_body`", body = ErrorBody),
        (status = 503, description = "`unavailable`: the kernel or the network", body = ErrorBody)))]
async fn execute_tool(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<ExecuteRequest>,
) -> Result<Json<ExecuteResponse>, ApiError> {
    let user = caller.user_id.as_str();
    let (caller_app, bound) = match &req.app_id {
        Some(id) => {
            let app = state.apps.get(user, id)?;
            let bound = state.tool_apps.get_or_bind(&state.apps, user, &app)?;
            (Some(app), bound)
        }
        None => (None, None),
    };
    let host = UserHost::new(state.clone(), user, req.app_id.clone());
    let tools = Tools::new(host);
    let (result, changes) = match &bound {
        Some(b) => {
            let mut ui = b.ui.lock().await;
            let ctx = CallContext::for_blueprint(&b.blueprint);
            let result = tools.call(&ctx, &mut ui, &req.tool, &req.args).await;
            (result, ui.take_changes())
        }
        None => {
            // A native web app runs under its manifest's permissions; others declare none.
            let permissions = match caller_app.as_ref().map(|a| &a.source) {
                Some(AppSource::NativeWeb {
                    manifest: Some(m), ..
                }) => m.permissions.as_slice(),
                _ => &[],
            };
            let ctx = CallContext {
                app_id: caller_app.as_ref().map_or(NO_APP, |a| a.app_id.as_str()),
                permissions,
                hosts: &[],
            };
            let mut ui = UiState::default();
            let result = tools.call(&ctx, &mut ui, &req.tool, &req.args).await;
            (result, ui.take_changes())
        }
    };
    Ok(Json(ExecuteResponse {
        tool: req.tool,
        result: result?,
        changes,
    }))
}

/// A running Blueprint app, as tools see it: its parsed Blueprint and its
/// component state.
pub struct BoundApp {
    pub blueprint: Blueprint,
    pub ui: tokio::sync::Mutex<UiState>,
}

/// The tool state of the running Blueprint apps that have called a tool, by owner
/// and instance id; entries of closed apps go when the next app is added.
#[derive(Default)]
pub struct ToolApps {
    apps: Mutex<HashMap<(String, String), Arc<BoundApp>>>,
}

impl ToolApps {
    /// The tool state of `app` (`None` when it is not a Blueprint app), made from
    /// its Blueprint on its first call.
    fn get_or_bind(
        &self,
        running: &Apps,
        owner: &str,
        app: &App,
    ) -> Result<Option<Arc<BoundApp>>, ApiError> {
        let AppSource::Blueprint { blueprint } = &app.source else {
            return Ok(None);
        };
        let key = (owner.to_owned(), app.id.clone());
        if let Some(b) = self.lock().get(&key) {
            return Ok(Some(Arc::clone(b)));
        }
        // It was checked at launch; a failure now is ours.
        let bp =
            blueprint::from_value(blueprint.clone(), ToolRegistry::builtin()).map_err(|e| {
                ApiError::internal(format!("the Blueprint of {} no longer parses", app.id), e)
            })?;
        let bound = Arc::new(BoundApp {
            ui: tokio::sync::Mutex::new(UiState::from_blueprint(&bp)),
            blueprint: bp,
        });
        let mut apps = self.lock();
        apps.retain(|(owner, id), _| running.get(owner, id).is_ok());
        Ok(Some(Arc::clone(apps.entry(key).or_insert(bound))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<BoundApp>>> {
        self.apps.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
