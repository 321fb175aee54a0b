//! Background syscalls: PENDING → RUNNING → COMPLETED / FAILED / CANCELLED.
//!
//! Each task is a tokio task; cancelling aborts it at its next await point (the
//! io_uring ring keeps any in-flight buffer alive until the kernel is done with it).
//!
//! # Cancellation
//!
//! [`Tasks::cancel`] answers only once the aborted task has been dropped, so by then
//! the work has stopped and its clean-up has run (an uncommitted writer has removed
//! its temp file; the target is untouched). A task that finished before the abort
//! took hold keeps its real outcome: cancelling is never reported for work that
//! completed.
//! Finished tasks are kept for [`TASK_TTL`] so their result can be read, then
//! dropped by [`Tasks::reap_expired`], which the daemon runs periodically.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use agentos_proto::v1 as pb;
use pb::TaskState;

use super::{Kernel, Progress, is_ok, respond};
use crate::{error::KernelError, identity::Caller};

/// How long a finished task's status stays readable.
pub const TASK_TTL: Duration = Duration::from_secs(600);
/// Most tasks (running or finished) at once.
pub const MAX_TASKS: usize = 10_000;

struct Task {
    owner: Caller,
    state: TaskState,
    progress: Progress,
    result: Option<pb::SyscallResponse>,
    created: u64,
    finished: u64,
    finished_at: Option<Instant>,
    abort: Option<tokio::task::JoinHandle<()>>,
}

/// Marks its task cancelled when dropped before the task finished (an abort).
struct MarkCancelledOnDrop(Arc<Kernel>, String);

impl Drop for MarkCancelledOnDrop {
    fn drop(&mut self) {
        self.0.tasks.mark_cancelled(&self.1);
    }
}

/// The task table.
#[derive(Default)]
pub struct Tasks {
    tasks: Mutex<HashMap<String, Task>>,
    next: std::sync::atomic::AtomicU64,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Tasks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Task>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `req` in the background and returns its id.
    pub fn spawn(
        &self,
        kernel: &Arc<Kernel>,
        caller: &Caller,
        req: pb::SyscallRequest,
    ) -> Result<String, KernelError> {
        let id = format!(
            "task-{}",
            self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
        );
        let progress = Progress::default();
        {
            let mut tasks = self.lock();
            if tasks.len() >= MAX_TASKS {
                return Err(KernelError::ResourceExhausted(format!(
                    "{MAX_TASKS} async tasks exist already"
                )));
            }
            tasks.insert(
                id.clone(),
                Task {
                    owner: caller.clone(),
                    state: TaskState::Pending,
                    progress: progress.clone(),
                    result: None,
                    created: unix_ms(),
                    finished: 0,
                    finished_at: None,
                    abort: None,
                },
            );
        }
        let (k, c, task_id) = (Arc::clone(kernel), caller.clone(), id.clone());
        let handle = tokio::spawn(async move {
            // Dropped last, after the syscall's own future (and its clean-up): an
            // aborted task is CANCELLED only then, whoever waits for it.
            let _stopped = MarkCancelledOnDrop(Arc::clone(&k), task_id.clone());
            k.tasks.set_state(&task_id, TaskState::Running);
            let resp = respond(&k, &c, req, &progress).await;
            k.tasks.finish(&task_id, resp);
        });
        if let Some(t) = self.lock().get_mut(&id) {
            t.abort = Some(handle);
        }
        Ok(id)
    }

    fn set_state(&self, id: &str, state: TaskState) {
        if let Some(t) = self.lock().get_mut(id)
            && t.state == TaskState::Pending
        {
            t.state = state;
        }
    }

    fn finish(&self, id: &str, resp: pb::SyscallResponse) {
        if let Some(t) = self.lock().get_mut(id) {
            if t.state == TaskState::Cancelled {
                return;
            }
            t.state = if is_ok(&resp) {
                TaskState::Completed
            } else {
                TaskState::Failed
            };
            if t.state == TaskState::Completed {
                t.progress.set(1.0);
            }
            t.result = Some(resp);
            t.finished = unix_ms();
            t.finished_at = Some(Instant::now());
        }
    }

    /// The task's status; other callers' tasks are not found.
    pub fn status(&self, caller: &Caller, id: &str) -> Result<pb::AsyncTaskStatus, KernelError> {
        let tasks = self.lock();
        let t = tasks
            .get(id)
            .filter(|t| t.owner.uid == caller.uid)
            .ok_or_else(|| KernelError::NotFound(format!("task {id:?}")))?;
        Ok(pb::AsyncTaskStatus {
            task_id: id.to_owned(),
            state: t.state as i32,
            progress: t.progress.get(),
            result: t.result.clone(),
            created_unix_ms: t.created,
            finished_unix_ms: t.finished,
        })
    }

    /// Cancels a pending or running task and answers once its work has stopped; a
    /// finished one is left as it is.
    pub async fn cancel(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<pb::AsyncTaskStatus, KernelError> {
        let handle = {
            let mut tasks = self.lock();
            let t = tasks
                .get_mut(id)
                .filter(|t| t.owner.uid == caller.uid)
                .ok_or_else(|| KernelError::NotFound(format!("task {id:?}")))?;
            if matches!(t.state, TaskState::Pending | TaskState::Running) {
                t.abort.take()
            } else {
                None
            }
        };
        if let Some(h) = handle {
            h.abort();
            // Dropped (or finished) once this returns: the clean-up of its writer
            // and buffers has run. A panic in the task is its own failure.
            let _ = h.await;
            self.mark_cancelled(id);
        }
        self.status(caller, id)
    }

    /// CANCELLED, unless the task finished first.
    fn mark_cancelled(&self, id: &str) {
        if let Some(t) = self.lock().get_mut(id)
            && matches!(t.state, TaskState::Pending | TaskState::Running)
        {
            t.state = TaskState::Cancelled;
            t.finished = unix_ms();
            t.finished_at = Some(Instant::now());
        }
    }

    /// Drops finished tasks older than `ttl`; returns how many.
    pub fn reap_expired(&self, ttl: Duration) -> usize {
        let mut tasks = self.lock();
        let before = tasks.len();
        tasks.retain(|_, t| t.finished_at.is_none_or(|at| at.elapsed() < ttl));
        before - tasks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: TaskState, finished_at: Option<Instant>) -> Task {
        Task {
            owner: Caller::local(),
            state,
            progress: Progress::default(),
            result: None,
            created: 0,
            finished: 0,
            finished_at,
            abort: None,
        }
    }

    #[test]
    fn expired_finished_tasks_are_dropped_and_running_ones_kept() {
        let tasks = Tasks::default();
        let old = Instant::now() - Duration::from_secs(10);
        tasks
            .lock()
            .insert("done-old".into(), task(TaskState::Completed, Some(old)));
        tasks.lock().insert(
            "done-new".into(),
            task(TaskState::Failed, Some(Instant::now())),
        );
        tasks
            .lock()
            .insert("running".into(), task(TaskState::Running, None));
        assert_eq!(tasks.reap_expired(Duration::from_secs(5)), 1);
        let caller = Caller::local();
        assert!(tasks.status(&caller, "done-old").is_err());
        assert_eq!(
            tasks.status(&caller, "done-new").unwrap().state,
            TaskState::Failed as i32
        );
        assert_eq!(
            tasks.status(&caller, "running").unwrap().state,
            TaskState::Running as i32
        );
        // Another uid does not see them.
        let other = Caller {
            uid: caller.uid + 1,
            ..caller
        };
        assert!(matches!(
            tasks.status(&other, "running"),
            Err(KernelError::NotFound(_))
        ));
    }
}
