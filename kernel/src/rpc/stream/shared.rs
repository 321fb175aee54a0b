//! Stream reads through shared memory: the kernel reads each chunk straight into a
//! slot of a sealed memfd region (on LocalFS, with the io_uring read itself) and
//! sends only the slot's number; the client, which received the memfd through the
//! fd socket, reads it there and hands the slot back with `release`. No file byte
//! crosses the socket, and the kernel fills only free slots, so memory is bounded
//! by the region.
//!
//! The filling runs on its own thread ([`bulk`]), not on the runtime's workers:
//! a task woken from a worker waits in that worker's unstealable LIFO slot, so the
//! response encoder woken by each announcement would run only when the copying
//! task paused, one after the other on one core. Woken from a foreign thread, it
//! goes to the shared queue, and an idle worker encodes while the copy goes on.
//!
//! The region holds enough slots to cover a release's round trip (a chunk's
//! announcement reaching the client and its `release` coming back, ~100 µs on a
//! loaded VM) several times over: with only a few slots, the kernel sat idle
//! waiting for slots even though the client handed each back at once.

use std::{
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll, Waker},
};

use agentos_proto::v1 as pb;
use pb::{stream_request::Msg as In, stream_response::Msg as Out};
use tokio_stream::{Stream, StreamExt};
use tonic::{Status, Streaming};

use super::{Sender, read::Span, read::done, vfs_status};
use crate::{
    error::KernelError, identity::Caller, rpc::status::status, shm::Region, syscall::Kernel,
    vfs::Reader,
};

/// A stream's region aims at this size ...
const REGION_TARGET: usize = 16 << 20;
/// ... within these slot counts.
const MIN_SLOTS: usize = 4;
const MAX_SLOTS: usize = 64;

/// Slots in the region of a stream of `chunk`-byte chunks.
pub(super) fn slots_for(chunk: usize) -> usize {
    (REGION_TARGET / chunk.max(1)).clamp(MIN_SLOTS, MAX_SLOTS)
}

/// Why filling stopped early: an error to report, or a client that went away.
enum Stop {
    Failed(Status),
    Gone,
}

pub(super) async fn start(
    kernel: &Arc<Kernel>,
    caller: &Caller,
    reader: Reader,
    span: Span,
    inbound: Streaming<pb::StreamRequest>,
    tx: Sender,
) -> Result<(), Status> {
    if caller.pid.is_none() || caller.managed.is_some() {
        return Err(status(KernelError::FailedPrecondition(
            "shared-memory streams need the kernel's own Unix socket (the memfd is handed over \
             on kernel.fds.sock beside it); use the inline transport"
                .into(),
        )));
    }
    let slots = slots_for(span.chunk);
    let region = kernel.shm.region(slots * span.chunk).map_err(status)?;
    let ticket = kernel.shm.offer(caller.uid, &region).map_err(status)?;
    let announce = pb::StreamResponse {
        msg: Some(Out::Region(pb::SharedRegion {
            ticket: ticket.to_vec(),
            size: region.len() as u64,
            slots: slots as u32,
            slot_size: span.chunk as u32,
        })),
    };
    tx.try_send(Ok(announce))
        .map_err(|_| Status::internal("a new stream's channel is full"))?;
    let broker = Arc::clone(&kernel.shm);
    bulk().spawn(async move {
        match fill(&reader, &region, slots, &span, inbound, &tx).await {
            Ok(bytes) => {
                // The offer stays: a client may claim it after the last chunk.
                let _ = tx.send(Ok(done(bytes))).await;
            }
            Err(stop) => {
                broker.withdraw(&ticket);
                if let Stop::Failed(e) = stop {
                    let _ = tx.send(Err(e)).await;
                }
            }
        }
    });
    Ok(())
}

/// The runtime that fills shared regions: one thread, started on first use.
fn bulk() -> &'static tokio::runtime::Handle {
    static BULK: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    BULK.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("building the bulk-copy runtime");
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("agentos-bulk".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .expect("starting the bulk-copy thread");
        handle
    })
}

/// Reads the span into free slots, announcing each; the bytes sent.
async fn fill(
    reader: &Reader,
    region: &Arc<Region>,
    slots: usize,
    span: &Span,
    mut inbound: Streaming<pb::StreamRequest>,
    tx: &Sender,
) -> Result<u64, Stop> {
    let mut free: Vec<usize> = (0..slots).rev().collect();
    let mut held = vec![false; slots];
    let mut closed = false;
    let mut offset = span.start;
    while offset < span.end {
        // Take back every slot already released, so that the next read reuses the
        // one handed back last (still in the CPU's cache) rather than a cold one:
        // the slots in use stay as few as the round trip needs.
        // A client that closed its side may still read what the free slots hold.
        while !closed && let Some(item) = ready_now(&mut inbound) {
            match item {
                Some(item) => free.push(take_back(item, &mut held)?),
                None => closed = true,
            }
        }
        let slot = match free.pop() {
            Some(s) => s,
            None if closed => return Err(Stop::Failed(ended())),
            None => match inbound.next().await {
                Some(item) => take_back(item, &mut held)?,
                None => return Err(Stop::Failed(ended())),
            },
        };
        let want = span.chunk.min((span.end - offset) as usize);
        let buf = region.slice(slot * span.chunk, want);
        let n = reader
            .read_into(offset, buf)
            .await
            .map_err(|e| Stop::Failed(vfs_status(e)))?;
        if n == 0 {
            break; // the file shrank since it was opened
        }
        held[slot] = true;
        let chunk = pb::StreamResponse {
            msg: Some(Out::Shared(pb::SharedChunk {
                slot: slot as u32,
                offset,
                len: n as u32,
            })),
        };
        tx.send(Ok(chunk)).await.map_err(|_| Stop::Gone)?;
        offset += n as u64;
    }
    Ok(offset - span.start)
}

/// The next request if one has already arrived, without waiting.
fn ready_now<S: Stream + Unpin>(s: &mut S) -> Option<Option<S::Item>> {
    match Pin::new(s).poll_next(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(item) => Some(item),
        Poll::Pending => None,
    }
}

fn ended() -> Status {
    Status::cancelled("the request stream ended while the client held every slot")
}

/// The slot a request hands back, which must be one the client holds.
fn take_back(item: Result<pb::StreamRequest, Status>, held: &mut [bool]) -> Result<usize, Stop> {
    let Ok(pb::StreamRequest { msg }) = item else {
        return Err(Stop::Gone);
    };
    match msg {
        Some(In::Release(s)) if held.get(s as usize).copied().unwrap_or(false) => {
            held[s as usize] = false;
            Ok(s as usize)
        }
        Some(In::Release(s)) => Err(Stop::Failed(status(KernelError::InvalidArgument(format!(
            "release of slot {s}, which the client does not hold"
        ))))),
        _ => Err(Stop::Failed(status(KernelError::InvalidArgument(
            "only `release` may follow the `open` of a shared-memory read".into(),
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_cover_the_round_trip_within_bounds() {
        assert_eq!(slots_for(1 << 20), 16);
        assert_eq!(slots_for(4 << 20), MIN_SLOTS);
        assert_eq!(slots_for(4096), MAX_SLOTS);
        assert_eq!(slots_for(0), MAX_SLOTS);
        assert!(slots_for(4 << 20) * (4 << 20) <= REGION_TARGET);
    }
}
