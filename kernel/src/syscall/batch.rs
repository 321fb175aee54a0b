//! Batches: many syscalls in one request, in order or concurrently.

use std::sync::Arc;

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
        let mut set = tokio::task::JoinSet::new();
        let n = req.calls.len();
        for (i, call) in req.calls.into_iter().enumerate() {
            let (k, c) = (Arc::clone(kernel), caller.clone());
            set.spawn(async move { (i, respond(&k, &c, call, &Progress::default()).await) });
        }
        let mut out: Vec<Option<pb::SyscallResponse>> = vec![None; n];
        while let Some(done) = set.join_next().await {
            let (i, resp) =
                done.map_err(|e| KernelError::Internal(format!("batch task failed: {e}")))?;
            out[i] = Some(resp);
        }
        out.into_iter()
            .map(|r| r.expect("every index joined"))
            .collect()
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
