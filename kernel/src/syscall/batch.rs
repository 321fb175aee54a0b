//! Batches: many syscalls in one request, in order or concurrently.

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
        // All calls run concurrently in this task; the io_uring operations each poll
        // starts go to the kernel in one submission (`vfs::local::batched`).
        let progress: Vec<Progress> = req.calls.iter().map(|_| Progress::default()).collect();
        let calls = req
            .calls
            .into_iter()
            .zip(&progress)
            .map(|(call, p)| respond(kernel, caller, call, p));
        crate::vfs::local::batched(join_all(calls.collect())).await
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

/// Polls every future in one task until all are done; outputs in input order.
fn join_all<F: Future>(futs: Vec<F>) -> JoinAll<F> {
    JoinAll {
        futs: futs.into_iter().map(|f| Some(Box::pin(f))).collect(),
        out: Vec::new(),
    }
}

struct JoinAll<F: Future> {
    futs: Vec<Option<Pin<Box<F>>>>,
    out: Vec<Option<F::Output>>,
}

// The futures are boxed and the outputs are never pinned, so moving a JoinAll is fine.
impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
        let this = &mut *self;
        if this.out.len() != this.futs.len() {
            this.out = this.futs.iter().map(|_| None).collect();
        }
        let mut pending = false;
        for (slot, out) in this.futs.iter_mut().zip(this.out.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(
            this.out
                .iter_mut()
                .map(|o| o.take().expect("every future finished"))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_all_keeps_input_order_whatever_finishes_first() {
        let futs = (0..5u64).map(|i| async move {
            tokio::time::sleep(std::time::Duration::from_millis(50 - i * 10)).await;
            i
        });
        assert_eq!(join_all(futs.collect()).await, vec![0, 1, 2, 3, 4]);
    }
}
