//! Stream reads through shared memory: the kernel reads each chunk straight into a
//! free slot (on LocalFS, with the io_uring read itself) and sends only the slot's
//! number; the client reads it in place and hands the slot back with `release`.

use std::sync::Arc;

use agentos_proto::v1 as pb;
use pb::{stream_request::Msg as In, stream_response::Msg as Out};
use tokio_stream::StreamExt;

use super::{
    super::{Inbound, Sender, StreamError, read::Span},
    Outbox, Stop, open, ready_now, run,
};
use crate::{
    error::KernelError,
    identity::Caller,
    kernel::Kernel,
    shm::{ClientAccess, Region},
    vfs::Reader,
};

pub(in crate::syscall::stream) fn start(
    kernel: &Arc<Kernel>,
    caller: &Caller,
    reader: Reader,
    span: Span,
    inbound: Inbound,
    tx: Sender,
) -> Result<(), KernelError> {
    let opened = open(kernel, caller, span.chunk, ClientAccess::Read, &tx)?;
    let (region, slots) = (Arc::clone(&opened.region), opened.slots);
    run(kernel, opened, tx.clone(), async move {
        fill(&reader, &region, slots, &span, inbound, &tx).await
    });
    Ok(())
}

/// Reads the span into free slots, announcing them in bursts; the bytes sent.
async fn fill(
    reader: &Reader,
    region: &Arc<Region>,
    slots: usize,
    span: &Span,
    mut inbound: Inbound,
    tx: &Sender,
) -> Result<u64, Stop> {
    let mut free: Vec<usize> = (0..slots).rev().collect();
    let mut held = vec![false; slots];
    let mut closed = false;
    let mut out = Outbox::new(slots);
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
        if free.is_empty() {
            out.flush(tx).await?; // the client can hand back only what it has seen
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
            .map_err(|e| Stop::Failed(e.into()))?;
        if n == 0 {
            break; // the file shrank since it was opened
        }
        held[slot] = true;
        let chunk = pb::SharedChunk {
            slot: slot as u32,
            offset,
            len: n as u32,
        };
        out.push(Out::Shared(chunk), tx).await?;
        offset += n as u64;
    }
    out.flush(tx).await?;
    Ok(offset - span.start)
}

fn ended() -> KernelError {
    StreamError::SlotsHeld.into()
}

/// The slot a request hands back, which must be one the client holds.
fn take_back(
    item: Result<pb::StreamRequest, KernelError>,
    held: &mut [bool],
) -> Result<usize, Stop> {
    let Ok(pb::StreamRequest { msg }) = item else {
        return Err(Stop::Gone);
    };
    match msg {
        Some(In::Release(s)) if held.get(s as usize).copied().unwrap_or(false) => {
            held[s as usize] = false;
            Ok(s as usize)
        }
        Some(In::Release(s)) => Err(Stop::Failed(StreamError::NotHeld(s).into())),
        _ => Err(Stop::Failed(
            StreamError::Unexpected {
                allowed: "`release`",
                what: "a shared-memory read",
            }
            .into(),
        )),
    }
}
