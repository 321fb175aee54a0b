//! `GET /health`: is the kernel there, and which backend each subsystem got.
//!
//! The shape is the UI's contract (`ui/src/health/schema.ts`):
//!
//! ```json
//! {"status": "ok", "version": "0.1.0",
//!  "kernel": {"connected": true, "socket": "/…/kernel.sock", "uptime_ms": 1234},
//!  "doctor": {"io_uring": {"backend": "io_uring", "available": true, "reason": "…"}},
//!  "registry": {"problems": ["/…/apps/blueprint/bad.bp: …"]}}
//! ```
//!
//! When the kernel does not answer within [`KERNEL_TIMEOUT`], the answer is still
//! 200 with `"status": "degraded"`, `"connected": false` and an empty `doctor`: the
//! services layer is up, and the desktop shows what is missing.
//!
//! The body is built from one kernel answer and reused for [`REPORT_TTL`]
//! ([`HealthCache`]): pollers and load balancers may ask as often as they like
//! without each request costing a gRPC round trip, and concurrent requests for a
//! stale body wait for one kernel call instead of making one each.

use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};

use agentos_proto::v1 as pb;
use axum::{
    body::Bytes,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::AppState;

/// How long `/health` waits for the kernel's doctor report.
pub const KERNEL_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one `/health` body is served before the kernel is asked again.
pub const REPORT_TTL: Duration = Duration::from_secs(1);

/// The last `/health` body and when it was built: read through a plain lock while
/// fresh; refreshed by one request at a time (the async lock) when stale.
#[derive(Default)]
pub struct HealthCache {
    body: std::sync::RwLock<Option<(Instant, Bytes)>>,
    refresh: tokio::sync::Mutex<()>,
}

impl HealthCache {
    fn fresh(&self) -> Option<Bytes> {
        let body = self
            .body
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        body.as_ref()
            .filter(|(at, _)| at.elapsed() < REPORT_TTL)
            .map(|(_, b)| b.clone())
    }

    fn store(&self, body: Bytes) {
        *self
            .body
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), body));
    }
}

/// The `/health` body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: Status,
    pub version: String,
    pub kernel: KernelStatus,
    /// Keyed by subsystem, in name order.
    pub doctor: BTreeMap<String, Subsystem>,
    pub registry: RegistryHealth,
}

/// Prebuilt app files that could not be loaded (they are skipped, never fatal).
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct RegistryHealth {
    /// `path: reason`, one per file.
    pub problems: Vec<String>,
}

/// `ok` when the kernel answered, else `degraded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Degraded,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KernelStatus {
    pub connected: bool,
    pub socket: String,
    pub uptime_ms: u64,
}

/// One subsystem's backend, without the kernel's free-form details.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Subsystem {
    pub backend: String,
    pub available: bool,
    pub reason: String,
}

/// Builds the body from the kernel's report, or `None` when it did not answer.
pub fn build(
    version: &str,
    socket: &Path,
    report: Option<&pb::DoctorReport>,
    problems: &[String],
) -> Health {
    let doctor = report
        .map(|r| {
            r.subsystems
                .iter()
                .map(|(name, s)| {
                    let sub = Subsystem {
                        backend: s.backend.clone(),
                        available: s.available,
                        reason: s.reason.clone(),
                    };
                    (name.clone(), sub)
                })
                .collect()
        })
        .unwrap_or_default();
    Health {
        status: if report.is_some() {
            Status::Ok
        } else {
            Status::Degraded
        },
        version: version.to_owned(),
        kernel: KernelStatus {
            connected: report.is_some(),
            socket: socket.display().to_string(),
            uptime_ms: report.map_or(0, |r| r.uptime_ms),
        },
        doctor,
        registry: RegistryHealth {
            problems: problems.to_vec(),
        },
    }
}

/// Is the kernel there, and which backend each subsystem got.
#[utoipa::path(get, path = "/health", tag = "system", security(()),
    responses((status = 200, body = Health)))]
pub(super) async fn handler(State(state): State<AppState>) -> Response {
    let cache = &state.health;
    let body = match cache.fresh() {
        Some(b) => b,
        None => {
            let _one = cache.refresh.lock().await;
            // Another request may have refreshed it while this one waited.
            match cache.fresh() {
                Some(b) => b,
                None => {
                    let body = body(&state).await;
                    cache.store(body.clone());
                    body
                }
            }
        }
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A new body, from a new kernel answer.
async fn body(state: &AppState) -> Bytes {
    let report = match state.kernel.doctor(KERNEL_TIMEOUT).await {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::debug!("/health: {e}");
            None
        }
    };
    let health = build(
        crate::VERSION,
        state.kernel.socket(),
        report.as_ref(),
        state.registry.problems(),
    );
    Bytes::from(serde_json::to_vec(&health).expect("Health serializes"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sub(backend: &str, available: bool, reason: &str) -> pb::SubsystemReport {
        pb::SubsystemReport {
            backend: backend.into(),
            available,
            reason: reason.into(),
            details: [("ring_entries".to_owned(), "256".to_owned())].into(),
        }
    }

    #[test]
    fn connected_kernel_gives_ok_and_its_report_without_details() {
        let report = pb::DoctorReport {
            subsystems: [
                ("io_uring".to_owned(), sub("io_uring", true, "probed")),
                (
                    "cgroups".to_owned(),
                    sub("unavailable", false, "no cgroup2 mount"),
                ),
            ]
            .into(),
            version: "9.9.9".into(),
            uptime_ms: 1234,
        };
        let body = serde_json::to_value(build(
            "0.1.0",
            Path::new("/d/kernel.sock"),
            Some(&report),
            &["apps/x.bp: not JSON".to_owned()],
        ))
        .unwrap();
        assert_eq!(
            body,
            json!({
                "status": "ok",
                "version": "0.1.0",
                "kernel": {"connected": true, "socket": "/d/kernel.sock", "uptime_ms": 1234},
                "doctor": {
                    "cgroups": {"backend": "unavailable", "available": false, "reason": "no cgroup2 mount"},
                    "io_uring": {"backend": "io_uring", "available": true, "reason": "probed"},
                },
                "registry": {"problems": ["apps/x.bp: not JSON"]},
            })
        );
    }

    #[test]
    fn missing_kernel_gives_degraded_and_an_empty_doctor() {
        let body =
            serde_json::to_value(build("0.1.0", Path::new("/d/kernel.sock"), None, &[])).unwrap();
        assert_eq!(
            body,
            json!({
                "status": "degraded",
                "version": "0.1.0",
                "kernel": {"connected": false, "socket": "/d/kernel.sock", "uptime_ms": 0},
                "doctor": {},
                "registry": {"problems": []},
            })
        );
    }
}
