//! Batches: many syscalls in one request, in order or concurrently.
//!
//! A parallel batch is cut into one slice per CPU; each slice runs as its own task
//! (so the runtime's workers take one each), with its calls polled together and the
//! io_uring operations each poll starts submitted at once (`vfs::local::batched`).
//! Results come back in call order. Dropping the batch (the client went away)
//! aborts the slices still running.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use agentos_proto::v1 as pb;

use super::{Kernel, Progress, is_ok, respond};
use crate::{error::KernelError, identity::Caller};

/// Most calls in one batch.
pub const MAX_BATCH: usize = 10_000;
/// Parallel batches smaller than this run as one task: a slice must be worth a
/// task spawn and a worker wake-up.
const SLICE_MIN: usize = 16;

/// Runs a batch; results come back in call order with success/failure counts.
pub async fn run(
    kernel: &Arc<Kernel>,
    caller: &Caller,
    req: pb::BatchRequest,
) -> Result<pb::BatchResponse, KernelError> {
    if req.calls.len() > MAX_BATCH {
        return Err(KernelError::InvalidArgument(format!(
            "a batch holds at most {MAX_BATCH} calls, not {}",
            req.calls.len()
        )));
    }
    let parallel = req.mode() == pb::BatchMode::Parallel;
    let results = if parallel {
        run_parallel(kernel, caller, req.calls).await
    } else {
        let mut out = Vec::with_capacity(req.calls.len());
        let mut failed = false;
        for call in req.calls {
            if failed && req.stop_on_error {
                let name = super::name_of(&call);
                out.push(pb::SyscallResponse {
                    outcome: Some(pb::syscall_response::Outcome::Error(
                        KernelError::Cancelled.to_proto(name),
                    )),
                });
                continue;
            }
            let resp = respond(kernel, caller, call, &Progress::default()).await;
            failed |= !is_ok(&resp);
            out.push(resp);
        }
        out
    };
    let succeeded = results.iter().filter(|r| is_ok(r)).count() as u32;
    Ok(pb::BatchResponse {
        failed: results.len() as u32 - succeeded,
        succeeded,
        results,
    })
}

/// Runs `calls` concurrently, one slice per CPU; responses in call order.
async fn run_parallel(
    kernel: &Arc<Kernel>,
    caller: &Caller,
    calls: Vec<pb::SyscallRequest>,
) -> Vec<pb::SyscallResponse> {
    let slices = slice_count(calls.len());
    if slices < 2 {
        return run_slice(kernel, caller, calls).await;
    }
    let per = calls.len().div_ceil(slices);
    let mut names: Vec<Vec<&'static str>> = Vec::with_capacity(slices);
    let mut tasks = tokio::task::JoinSet::new();
    let mut calls = calls.into_iter();
    for i in 0..slices {
        let slice: Vec<_> = calls.by_ref().take(per).collect();
        names.push(slice.iter().map(super::name_of).collect());
        let (kernel, caller) = (Arc::clone(kernel), caller.clone());
        // Every slice is spawned (none runs inline): a task spawned from a worker
        // first sits in its unstealable LIFO slot, and only the next spawn moves it
        // where an idle worker can take it.
        tasks.spawn(async move { (i, run_slice(&kernel, &caller, slice).await) });
    }
    let mut done: Vec<Option<Vec<pb::SyscallResponse>>> = (0..slices).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, out)) => done[i] = Some(out),
            Err(e) => tracing::error!("a parallel batch slice failed: {e}"),
        }
    }
    done.into_iter()
        .zip(names)
        .flat_map(|(out, names)| {
            out.unwrap_or_else(|| {
                // The slice panicked: each of its calls reports an internal error.
                names
                    .into_iter()
                    .map(|n| pb::SyscallResponse {
                        outcome: Some(pb::syscall_response::Outcome::Error(
                            KernelError::Internal("the call's task panicked".into()).to_proto(n),
                        )),
                    })
                    .collect()
            })
        })
        .collect()
}

/// How many slices a parallel batch of `n` calls is cut into.
fn slice_count(n: usize) -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cpus = *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    cpus.min(n / SLICE_MIN).max(1)
}

/// Runs `calls` concurrently in this task, their io_uring submissions batched.
async fn run_slice(
    kernel: &Arc<Kernel>,
    caller: &Caller,
    calls: Vec<pb::SyscallRequest>,
) -> Vec<pb::SyscallResponse> {
    let progress: Vec<Progress> = calls.iter().map(|_| Progress::default()).collect();
    let futs = calls
        .into_iter()
        .zip(&progress)
        .map(|(call, p)| respond(kernel, caller, call, p));
    crate::vfs::local::batched(join_all(futs)).await
}

/// Polls every future in one task until all are done; outputs in input order.
fn join_all<F: Future>(futs: impl IntoIterator<Item = F>) -> JoinAll<F> {
    JoinAll {
        // One allocation for all of them, each future written into it once.
        slots: Box::into_pin(futs.into_iter().map(Slot::Running).collect()),
    }
}

enum Slot<F: Future> {
    Running(F),
    Done(F::Output),
    Taken,
}

struct JoinAll<F: Future> {
    slots: Pin<Box<[Slot<F>]>>,
}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
        // SAFETY: the slots never move (the boxed slice is never reallocated or
        // moved out of); a running future is only replaced by its output once it is
        // finished, which drops it in place.
        let slots = unsafe { self.slots.as_mut().get_unchecked_mut() };
        let mut pending = false;
        for slot in slots.iter_mut() {
            if let Slot::Running(f) = slot {
                // SAFETY: see above; `f` stays where it is until it is dropped.
                match unsafe { Pin::new_unchecked(f) }.poll(cx) {
                    Poll::Ready(v) => *slot = Slot::Done(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(
            slots
                .iter_mut()
                .map(|s| match std::mem::replace(s, Slot::Taken) {
                    Slot::Done(v) => v,
                    _ => unreachable!("every future finished and was taken once"),
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_batches_are_not_sliced() {
        assert_eq!(slice_count(0), 1);
        assert_eq!(slice_count(SLICE_MIN - 1), 1);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(slice_count(1000), cpus);
    }

    #[tokio::test]
    async fn join_all_keeps_input_order_whatever_finishes_first() {
        let futs = (0..5u64).map(|i| async move {
            tokio::time::sleep(std::time::Duration::from_millis(50 - i * 10)).await;
            i
        });
        assert_eq!(join_all(futs).await, vec![0, 1, 2, 3, 4]);
    }
}
