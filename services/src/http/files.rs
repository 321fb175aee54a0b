//! `GET /api/files/access?path=…`: which of the caller's running apps may read or
//! write a path of the caller's files, and by what (see [`crate::apps::access`]).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    extract::{Json, Query},
    openapi::ErrorBody,
};
use crate::{
    apps::access::{PathAccess, file_access},
    auth::Caller,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(access))
}

/// A path of the caller's files (`/` is their root).
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccessQuery {
    pub path: String,
}

/// The running apps that may reach `path`.
#[derive(Serialize, ToSchema)]
pub struct Access {
    pub path: String,
    pub apps: Vec<PathAccess>,
}

/// Which running apps may read or write a path of the caller's files.
#[utoipa::path(get, path = "/files/access", tag = "services", params(AccessQuery),
    responses((status = 200, body = Access), (status = 400, body = ErrorBody)))]
async fn access(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AccessQuery>,
) -> Result<Json<Access>, ApiError> {
    let bad = q.path.split('/').any(|c| c == "." || c == "..");
    if bad || q.path.contains('\0') {
        return Err(ApiError::invalid(format!(
            "{:?}: name a path under your files, without . or ..",
            q.path
        )));
    }
    let apps = state.apps.list(&caller.user_id);
    Ok(Json(Access {
        apps: file_access(&apps, &caller.user_id, &q.path),
        path: q.path,
    }))
}
