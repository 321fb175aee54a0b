//! Stream writes through shared memory: the client puts each chunk in a slot and
//! names it in a `shared` message; the kernel writes the slot out (on LocalFS, with
//! the io_uring write itself) and hands it back with `release`. As with inline
//! writes, a replace becomes visible only at `finish`.

use std::sync::Arc;

use agentos_proto::v1 as pb;
use pb::{stream_request::Msg as In, stream_response::Msg as Out};
use tokio_stream::StreamExt;

use super::{
    super::{Inbound, Sender, StreamError},
    Outbox, Stop, open, ready_now, run,
};
use crate::{
    error::KernelError,
    identity::Caller,
    kernel::Kernel,
    shm::{ClientAccess, Region},
    vfs::{Payload, Writer},
};

pub(in crate::syscall::stream) fn start(
    kernel: &Arc<Kernel>,
    caller: &Caller,
    writer: Writer,
    chunk: usize,
    inbound: Inbound,
    tx: Sender,
) -> Result<(), KernelError> {
    let opened = open(kernel, caller, chunk, ClientAccess::ReadWrite, &tx)?;
    let (region, slots) = (Arc::clone(&opened.region), opened.slots);
    run(kernel, opened, tx.clone(), async move {
        drain(writer, &region, slots, chunk, inbound, &tx).await
    });
    Ok(())
}

/// Writes each announced slot out and releases it, until `finish`; the bytes
/// written. Releases go out in bursts, and whenever the client has sent nothing
/// more yet (it may be waiting for them).
async fn drain(
    mut writer: Writer,
    region: &Arc<Region>,
    slots: usize,
    chunk: usize,
    mut inbound: Inbound,
    tx: &Sender,
) -> Result<u64, Stop> {
    let invalid = |e: StreamError| Stop::Failed(e.into());
    let mut bytes = 0u64;
    let mut out = Outbox::new(slots);
    loop {
        let next = match ready_now(&mut inbound) {
            Some(next) => next,
            None => {
                out.flush(tx).await?;
                inbound.next().await
            }
        };
        let msg = match next {
            Some(Ok(m)) => m.msg,
            Some(Err(_)) => return Err(Stop::Gone),
            None => {
                return Err(invalid(StreamError::Unfinished));
            }
        };
        match msg {
            Some(In::Shared(c)) => {
                let (slot, len) = (c.slot as usize, c.len as usize);
                if slot >= slots || len > chunk {
                    return Err(invalid(StreamError::OutsideRegion {
                        slot,
                        len,
                        slots,
                        chunk,
                    }));
                }
                if c.offset != bytes {
                    return Err(invalid(StreamError::OutOfOrder {
                        offset: c.offset,
                        sent: bytes,
                    }));
                }
                writer
                    .write(Payload::Shared(region.slice(slot * chunk, len)))
                    .await
                    .map_err(|e| Stop::Failed(e.into()))?;
                bytes += len as u64;
                out.push(Out::Release(c.slot), tx).await?;
            }
            Some(In::Finish(_)) => {
                out.flush(tx).await?;
                writer.commit().await.map_err(|e| Stop::Failed(e.into()))?;
                return Ok(bytes);
            }
            _ => {
                return Err(invalid(StreamError::Unexpected {
                    allowed: "`shared` and `finish`",
                    what: "a shared-memory write",
                }));
            }
        }
    }
}
