//! io_uring-style execution: submit syscalls (sequence numbers come back at once),
//! reap their completions later.
//!
//! Each caller has its own completion queue, so one process never reaps another's
//! completions. Entries run concurrently; completions queue in finishing order.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};

use agentos_proto::v1 as pb;
use tokio::sync::Notify;

use super::{Kernel, Progress, respond};
use crate::{error::KernelError, identity::Caller};

/// Most entries in flight plus unreaped, per caller.
pub const MAX_QUEUED: u32 = 4096;
/// Longest reap wait.
const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Queue {
    next_seq: AtomicU64,
    in_flight: AtomicU32,
    ready: Mutex<VecDeque<pb::Completion>>,
    notify: Notify,
}

/// Every caller's completion queue.
#[derive(Default)]
pub struct CompletionQueues {
    queues: Mutex<HashMap<String, Arc<Queue>>>,
}

impl CompletionQueues {
    fn queue(&self, caller: &Caller) -> Arc<Queue> {
        let mut qs = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(qs.entry(caller.key()).or_default())
    }

    /// Starts every entry; returns their sequence numbers in entry order.
    pub fn submit(
        &self,
        kernel: &Arc<Kernel>,
        caller: &Caller,
        entries: Vec<pb::SubmitEntry>,
    ) -> Result<Vec<u64>, KernelError> {
        let q = self.queue(caller);
        let queued = q.in_flight.load(Ordering::Relaxed) as usize
            + q.ready.lock().unwrap_or_else(|p| p.into_inner()).len();
        if queued + entries.len() > MAX_QUEUED as usize {
            return Err(KernelError::ResourceExhausted(format!(
                "at most {MAX_QUEUED} submissions may be in flight or unreaped per caller"
            )));
        }
        let mut seqs = Vec::with_capacity(entries.len());
        for entry in entries {
            let seq = q.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
            seqs.push(seq);
            q.in_flight.fetch_add(1, Ordering::Relaxed);
            let (k, c, q) = (Arc::clone(kernel), caller.clone(), Arc::clone(&q));
            let req = entry.request.unwrap_or_default();
            tokio::spawn(async move {
                let response = respond(&k, &c, req, &Progress::default()).await;
                q.ready
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_back(pb::Completion {
                        sequence: seq,
                        user_data: entry.user_data,
                        response: Some(response),
                    });
                q.in_flight.fetch_sub(1, Ordering::Relaxed);
                q.notify.notify_waiters();
            });
        }
        Ok(seqs)
    }

    /// Waits until `min_complete` completions are ready (or the timeout), then takes
    /// up to `max_complete` (0 = all).
    pub async fn reap(&self, caller: &Caller, req: pb::ReapRequest) -> pb::ReapResponse {
        let q = self.queue(caller);
        let wait = Duration::from_millis(u64::from(req.timeout_ms)).min(MAX_WAIT);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = q.notify.notified();
            let ready = q.ready.lock().unwrap_or_else(|p| p.into_inner()).len();
            if ready >= req.min_complete as usize
                || q.in_flight.load(Ordering::Relaxed) == 0 && ready == 0 && req.min_complete == 0
            {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        let mut ready = q.ready.lock().unwrap_or_else(|p| p.into_inner());
        let n = if req.max_complete == 0 {
            ready.len()
        } else {
            ready.len().min(req.max_complete as usize)
        };
        pb::ReapResponse {
            completions: ready.drain(..n).collect(),
            in_flight: q.in_flight.load(Ordering::Relaxed),
        }
    }
}
