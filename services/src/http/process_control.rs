//! The task manager's actions on an app's process: kill, freeze/thaw and set
//! priority, each one kernel syscall on the pid the app was launched with
//! (`kill` with `tree`, i.e. `cgroup.kill`; `freeze`, the cgroup's freezer;
//! `set_priority`, `setpriority` plus the cgroup CPU weight). The answer is the
//! kernel's view of the process afterwards.
//!
//! Only the caller's own apps can be named; an app without a process (a Blueprint
//! or a native web app) answers 409 `no_process`.

use std::time::Duration;

use agentos_proto::v1::{self as pb, syscall::Call, syscall_result::Value as V};
use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    extract::{Json, Path},
    openapi::ErrorBody,
};
use crate::auth::Caller;

/// Kill and freeze may wait up to 2 s in the kernel for the cgroup to confirm.
const KERNEL_TIMEOUT: Duration = Duration::from_secs(5);
/// The signal a kill sends (the whole tree is SIGKILLed through `cgroup.kill`).
const SIGKILL: i32 = 9;
/// Nice values, as `setpriority(2)` takes them.
const NICE: std::ops::RangeInclusive<i32> = -20..=19;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(kill))
        .routes(routes!(freeze))
        .routes(routes!(priority))
}

/// The process of an app after an action, as the kernel reports it.
#[derive(Serialize, ToSchema)]
pub struct ProcessStatus {
    pub pid: u32,
    /// `running`, `exited`, ... (the kernel's state, lower case).
    pub state: String,
    /// Nice value, -20 (highest) ..= 19 (lowest).
    pub priority: i32,
    /// Whether its cgroup is frozen (`cgroup.events`).
    pub frozen: bool,
}

/// Freeze (`true`) or thaw (`false`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    pub frozen: bool,
}

/// A nice value, -20 (highest) ..= 19 (lowest).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityRequest {
    pub priority: i32,
}

/// The kernel pid of the caller's app `id`.
fn pid_of(state: &AppState, caller: &Caller, id: &str) -> Result<u32, ApiError> {
    state.apps.get(&caller.user_id, id)?.pid.ok_or_else(|| {
        ApiError::client(
            StatusCode::CONFLICT,
            "no_process",
            format!("app {id} has no process (only native-process apps do)"),
        )
    })
}

async fn syscall(state: &AppState, name: &'static str, call: Call) -> Result<V, ApiError> {
    Ok(state
        .kernel
        .call(
            name,
            KERNEL_TIMEOUT,
            |mut c| async move { c.call(call).await },
        )
        .await?)
}

/// The process `pid` now: its state and priority, and whether it is frozen.
async fn status(state: &AppState, pid: u32) -> Result<ProcessStatus, ApiError> {
    let V::Process(info) =
        syscall(state, "get_info", Call::GetInfo(pb::GetProcessInfo { pid })).await?
    else {
        return Err(ApiError::internal(
            "get_info",
            "the kernel answered with something else",
        ));
    };
    // An exited process has no cgroup left to be frozen.
    let frozen = match syscall(
        state,
        "get_stats",
        Call::GetStats(pb::GetProcessStats { pid }),
    )
    .await
    {
        Ok(V::ProcessStats(s)) => s.frozen,
        _ => false,
    };
    Ok(ProcessStatus {
        pid,
        state: super::processes::state_name(info.state),
        priority: info.priority,
        frozen,
    })
}

/// Kills an app's process and everything it started (SIGKILL to its cgroup); the
/// app stays listed, its process exited, until it is closed.
#[utoipa::path(post, path = "/apps/{id}/process/kill", tag = "apps",
    params(("id" = String, Path, description = "running app id")),
    responses((status = 200, body = ProcessStatus), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn kill(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProcessStatus>, ApiError> {
    let pid = pid_of(&state, &caller, &id)?;
    let call = Call::Kill(pb::KillProcess {
        pid,
        signal: SIGKILL,
        tree: true,
    });
    syscall(&state, "kill", call).await?;
    Ok(Json(status(&state, pid).await?))
}

/// Freezes or thaws an app's process tree through its cgroup's freezer.
#[utoipa::path(post, path = "/apps/{id}/process/freeze", tag = "apps", request_body = FreezeRequest,
    params(("id" = String, Path, description = "running app id")),
    responses((status = 200, body = ProcessStatus), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn freeze(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(r): Json<FreezeRequest>,
) -> Result<Json<ProcessStatus>, ApiError> {
    let pid = pid_of(&state, &caller, &id)?;
    let call = Call::Freeze(pb::FreezeProcess {
        pid,
        frozen: r.frozen,
    });
    syscall(&state, "freeze", call).await?;
    Ok(Json(status(&state, pid).await?))
}

/// Sets an app's process priority (nice -20..=19; the cgroup CPU weight follows).
#[utoipa::path(post, path = "/apps/{id}/process/priority", tag = "apps", request_body = PriorityRequest,
    params(("id" = String, Path, description = "running app id")),
    responses((status = 200, body = ProcessStatus), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn priority(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(r): Json<PriorityRequest>,
) -> Result<Json<ProcessStatus>, ApiError> {
    if !NICE.contains(&r.priority) {
        return Err(ApiError::invalid(format!(
            "priority {} is not a nice value in -20..=19",
            r.priority
        )));
    }
    let pid = pid_of(&state, &caller, &id)?;
    let call = Call::SetPriority(pb::SetPriority {
        pid,
        priority: r.priority,
    });
    syscall(&state, "set_priority", call).await?;
    Ok(Json(status(&state, pid).await?))
}
