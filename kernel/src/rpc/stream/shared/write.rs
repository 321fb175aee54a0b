//! Stream writes through shared memory: the client puts each chunk in a slot and
//! names it in a `shared` message; the kernel writes the slot out (on LocalFS, with
//! the io_uring write itself) and hands it back with `release`. As with inline
//! writes, a replace becomes visible only at `finish`.

use std::sync::Arc;

use agentos_proto::v1 as pb;
use pb::{stream_request::Msg as In, stream_response::Msg as Out};
use tokio_stream::StreamExt;
use tonic::{Status, Streaming};

use super::{Outbox, Stop, open, ready_now, run};
use crate::{
    error::KernelError,
    identity::Caller,
    kernel::Kernel,
    rpc::{
        status::status,
        stream::{Sender, vfs_status},
    },
    shm::{ClientAccess, Region},
    vfs::{Payload, Writer},
};

pub(in crate::rpc::stream) fn start(
    kernel: &Arc<Kernel>,
    caller: &Caller,
    writer: Writer,
    chunk: usize,
    inbound: Streaming<pb::StreamRequest>,
    tx: Sender,
) -> Result<(), Status> {
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
    mut inbound: Streaming<pb::StreamRequest>,
    tx: &Sender,
) -> Result<u64, Stop> {
    let invalid = |m: String| Stop::Failed(status(KernelError::InvalidArgument(m)));
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
                return Err(Stop::Failed(Status::cancelled(
                    "stream ended without `finish`; nothing was written",
                )));
            }
        };
        match msg {
            Some(In::Shared(c)) => {
                let (slot, len) = (c.slot as usize, c.len as usize);
                if slot >= slots || len > chunk {
                    return Err(invalid(format!(
                        "slot {slot} with {len} bytes is outside a region of {slots} slots of {chunk}"
                    )));
                }
                if c.offset != bytes {
                    return Err(invalid(format!(
                        "a chunk at offset {}, but {bytes} bytes were sent so far",
                        c.offset
                    )));
                }
                writer
                    .write(Payload::Shared(region.slice(slot * chunk, len)))
                    .await
                    .map_err(|e| Stop::Failed(vfs_status(e)))?;
                bytes += len as u64;
                out.push(Out::Release(c.slot), tx).await?;
            }
            Some(In::Finish(_)) => {
                out.flush(tx).await?;
                writer
                    .commit()
                    .await
                    .map_err(|e| Stop::Failed(vfs_status(e)))?;
                return Ok(bytes);
            }
            _ => {
                return Err(invalid(
                    "only `shared` and `finish` may follow the `open` of a shared-memory write"
                        .into(),
                ));
            }
        }
    }
}
