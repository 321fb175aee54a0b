//! Denials, live: the kernel's `DENIAL` events matched to the running app whose
//! process was refused, sent to its owner's WebSocket connections, and the grants
//! that answer them ("allow once", "always") sent back through `UpdateSandbox`.
//!
//! One task ([`watch`]) follows the kernel's `WatchEvents` for as long as the
//! services run, dialling again after the kernel restarts. Each app keeps its last
//! [`KEPT`] denials, so a window opened after the fact can still show them.

use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use agentos_client::{CallError, pb};
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt as _;
use utoipa::ToSchema;

use super::{AppError, Apps, KERNEL_TIMEOUT};
use crate::kernel::KernelLink;

/// Denials kept per app.
pub const KEPT: usize = 20;
/// How long to wait before watching again after the kernel's stream ended.
const REDIAL: Duration = Duration::from_secs(1);

/// What the kernel refused one app's process.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Denial {
    /// The running app's id.
    pub app_id: String,
    pub pid: u32,
    /// What it tried, for people, as the app sees it: `read /home/u/notes.txt` (the
    /// virtual path it named, not the host path behind it).
    pub access: String,
    /// Why: the missing grant or the rule that refused it (paths as the app sees them).
    pub reason: String,
    /// The path as the app named it, when the access is to one.
    pub path: Option<String>,
    /// The grant that would allow it (CLI form, `read:/var/lib/…/notes.txt`), to pass
    /// to `POST /api/apps/{id}/grants`; absent when no grant can. It names the host
    /// path the kernel's policy holds, so it is for the request, not for people.
    pub capability: Option<String>,
    /// Which wall refused it: `capability` (the kernel's check of a call on its socket),
    /// `lsm` or `cgroup_connect` (the kernel wall in the host kernel); empty from older
    /// kernels.
    pub wall: String,
    pub at_unix_ms: u64,
    #[serde(skip)]
    pub owner: String,
}

/// How long a grant lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantScope {
    /// One call, then it is used up.
    Once,
    /// Until the app closes (and in the sessions it is saved in).
    Always,
}

/// Per app, the denials kept.
pub(super) type Kept = VecDeque<Denial>;

impl Apps {
    /// `pid`'s app, if one of the running apps owns it, told of `denial`.
    fn report_denial(&self, pid: u32, denial: pb::Denial) -> Option<Denial> {
        let mut t = self.lock();
        let app = t.apps.values().find(|a| a.pid == Some(pid))?;
        let d = Denial {
            app_id: app.id.clone(),
            pid,
            access: denial.access,
            reason: denial.reason,
            path: Some(denial.path).filter(|p| !p.is_empty()),
            capability: Some(denial.capability).filter(|c| !c.is_empty()),
            wall: denial.wall,
            at_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            owner: app.owner.clone(),
        };
        let kept = t.denials.entry(d.app_id.clone()).or_default();
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(d.clone());
        drop(t);
        // No subscriber is not an error.
        let _ = self.denials.send(d.clone());
        Some(d)
    }

    /// Every denial from now on (of all users: filter on `owner`).
    pub fn subscribe_denials(&self) -> tokio::sync::broadcast::Receiver<Denial> {
        self.denials.subscribe()
    }

    /// The last denials of one of `owner`'s apps, oldest first.
    pub fn denials(&self, owner: &str, id: &str) -> Result<Vec<Denial>, AppError> {
        let t = self.lock();
        if t.apps.get(id).is_none_or(|a| a.owner != owner) {
            return Err(AppError::NotFound(id.to_owned()));
        }
        Ok(t.denials
            .get(id)
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default())
    }

    /// Grants `capability` to the process of one of `owner`'s apps, for one call or
    /// for good; "always" also goes into the app's manifest, so a saved session
    /// relaunches it with the grant.
    pub async fn grant(
        &self,
        owner: &str,
        id: &str,
        capability: &str,
        scope: GrantScope,
    ) -> Result<u32, AppError> {
        let pid = self.get(owner, id)?.pid.ok_or_else(|| {
            AppError::Invalid(format!(
                "{id} is not a native process app; only a process is granted capabilities"
            ))
        })?;
        let request = pb::UpdateSandboxRequest {
            pid,
            grant: vec![capability.to_owned()],
            once: scope == GrantScope::Once,
            ..Default::default()
        };
        self.kernel
            .call("UpdateSandbox", KERNEL_TIMEOUT, |mut c| async move {
                c.update_sandbox(request)
                    .await
                    .map(drop)
                    .map_err(CallError::from)
            })
            .await?;
        if scope == GrantScope::Always {
            let mut t = self.lock();
            if let Some(super::AppSource::NativeProcess { manifest }) =
                t.apps.get_mut(id).map(|a| &mut a.source)
                && !manifest.grants.iter().any(|g| g == capability)
            {
                manifest.grants.push(capability.to_owned());
            }
        }
        Ok(pid)
    }
}

/// Follows the kernel's denials until the task is aborted.
pub async fn watch(apps: Arc<Apps>, kernel: Arc<KernelLink>) {
    loop {
        match kernel.client().await {
            Ok(mut c) => match c.watch_events(pb::WatchEventsRequest {}).await {
                Ok(stream) => {
                    let mut events = stream.into_inner();
                    while let Some(Ok(ev)) = events.next().await {
                        // The managed process the denial is attributed to (a child of an
                        // app's process acts in its cgroup); the task's own pid from a
                        // kernel that does not say.
                        let pid = if ev.managed_pid != 0 {
                            ev.managed_pid
                        } else {
                            ev.pid
                        };
                        if ev.kind == pb::EventKind::Denial as i32
                            && let Some(denial) = ev.denial
                            && apps.report_denial(pid, denial).is_none()
                        {
                            tracing::debug!(pid, "a denial of a process no app owns");
                        }
                    }
                    tracing::debug!("the kernel's event stream ended; watching again");
                }
                Err(e) => tracing::debug!("watching the kernel's events: {e}"),
            },
            Err(e) => tracing::debug!("watching the kernel's events: {e}"),
        }
        kernel.reset();
        tokio::time::sleep(REDIAL).await;
    }
}
