//! `GET /api/processes`: the kernel's view of the caller's native-process apps —
//! state, isolation, cgroup CPU (as a percentage since the previous look), memory
//! and pids, priority, frozen, the grants it was launched with — for the task
//! manager and the system monitor. Its actions are in `process_control`.
//!
//! CPU % needs two samples: the last `cpu_usage_usec` of each pid is kept in
//! memory with its time, and the next request divides the difference by the wall
//! time between them (100 = one core). The first look at a process reports none.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use agentos_proto::v1::{self as pb, syscall::Call, syscall_result::Value as V};
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, extract::Json};
use crate::{
    apps::{App, AppSource},
    auth::Caller,
};

const KERNEL_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// One process of one of the caller's apps.
#[derive(Serialize, ToSchema)]
pub struct ProcessRow {
    pub pid: u32,
    /// The running app's instance id.
    pub app_id: String,
    pub name: String,
    /// `running`, `exited`, ... (the kernel's state, lower case).
    pub state: String,
    /// The isolation rung (`full`, `rootless`, `walls`, `portable`).
    pub isolation: String,
    /// How its limits are enforced (`cgroup`, `cgroup+rlimit`, `rlimit`, `none`).
    pub limits: String,
    /// CPU since the previous look, 100 = one core; absent on the first look.
    pub cpu_percent: Option<f64>,
    pub cpu_usage_usec: Option<u64>,
    /// CPU time AgentOS's eBPF probes spent observing it, in nanoseconds (charged to it);
    /// absent when it is not watched (no probe has run for it).
    pub observe_cpu_ns: Option<u64>,
    pub memory_current: Option<u64>,
    pub memory_peak: Option<u64>,
    pub pids: Option<u64>,
    /// Nice value, -20 (highest) ..= 19 (lowest).
    pub priority: i32,
    /// Whether its cgroup is frozen (`cgroup.events`).
    pub frozen: bool,
    /// What it was launched with: AgentOS capabilities, then `read:`/`write:` host paths.
    pub grants: Vec<String>,
}

/// The kernel's process state, lower case (`running`, `exited`, ...).
pub(super) fn state_name(state: i32) -> String {
    pb::ProcessState::try_from(state)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("PROCESS_STATE_")
                .to_lowercase()
        })
        .unwrap_or_default()
}

/// The grants a native-process app was launched with.
fn grants_of(app: &App) -> Vec<String> {
    let AppSource::NativeProcess { manifest } = &app.source else {
        return Vec::new();
    };
    let paths =
        |kind: &str, ps: &[String]| ps.iter().map(|p| format!("{kind}:{p}")).collect::<Vec<_>>();
    let mut out = manifest.grants.clone();
    out.extend(paths("read", &manifest.read_paths));
    out.extend(paths("write", &manifest.write_paths));
    out
}

/// The previous CPU sample of each pid.
#[derive(Default)]
pub struct CpuSamples(Mutex<HashMap<u32, (u64, Instant)>>);

impl CpuSamples {
    /// CPU % between the previous sample of `pid` and `usec` now, recording it.
    fn percent(&self, pid: u32, usec: u64, now: Instant) -> Option<f64> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let prev = m.insert(pid, (usec, now));
        let (before, then) = prev?;
        let wall = now.duration_since(then).as_micros() as f64;
        (wall > 0.0).then(|| usec.saturating_sub(before) as f64 * 100.0 / wall)
    }
}

/// The caller's processes, as the kernel reports them.
#[utoipa::path(get, path = "/processes", tag = "apps", responses((status = 200, body = Vec<ProcessRow>)))]
async fn list(State(state): State<AppState>, caller: Caller) -> Json<Vec<ProcessRow>> {
    let mut rows = Vec::new();
    for app in state.apps.list(&caller.user_id) {
        let Some(pid) = app.pid else { continue };
        let info = state
            .kernel
            .call("get_info", KERNEL_TIMEOUT, |mut c| async move {
                c.call(Call::GetInfo(pb::GetProcessInfo { pid })).await
            })
            .await;
        let Ok(V::Process(info)) = info else { continue };
        let stats = state
            .kernel
            .call("get_stats", KERNEL_TIMEOUT, |mut c| async move {
                c.call(Call::GetStats(pb::GetProcessStats { pid })).await
            })
            .await;
        let stats = match stats {
            Ok(V::ProcessStats(s)) => Some(s),
            _ => None,
        };
        let iso = info.isolation.unwrap_or_default();
        rows.push(ProcessRow {
            pid,
            app_id: app.id.clone(),
            name: app.name.clone(),
            state: state_name(info.state),
            priority: info.priority,
            frozen: stats.as_ref().is_some_and(|s| s.frozen),
            grants: grants_of(&app),
            isolation: iso.level,
            limits: iso.limits,
            cpu_percent: stats.as_ref().and_then(|s| {
                state
                    .cpu_samples
                    .percent(pid, s.cpu_usage_usec, Instant::now())
            }),
            cpu_usage_usec: stats.as_ref().map(|s| s.cpu_usage_usec),
            observe_cpu_ns: stats.as_ref().and_then(crate::kernel::watch_cost),
            memory_current: stats.as_ref().map(|s| s.memory_current_bytes),
            memory_peak: stats.as_ref().map(|s| s.memory_peak_bytes),
            pids: stats.as_ref().map(|s| s.pids_current),
        });
    }
    Json(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_needs_two_samples() {
        let s = CpuSamples::default();
        let t = Instant::now();
        assert_eq!(s.percent(7, 1_000, t), None);
        // Half a core over one second.
        let p = s.percent(7, 501_000, t + Duration::from_secs(1)).unwrap();
        assert!((p - 50.0).abs() < 1e-9, "{p}");
        assert_eq!(s.percent(8, 5, t), None, "per pid");
    }
}
