//! Stream writes: each incoming chunk goes to the VFS writer as it arrives; with
//! replace semantics nothing is visible until `finish`, and a stream that ends
//! without `finish` leaves the file as it was.

use std::sync::Arc;

use super::{
    Inbound, Sender, StreamError,
    read::{chunk_size, done, transport},
    shared,
};
use crate::{
    capability::Access,
    error::KernelError,
    identity::Caller,
    kernel::Kernel,
    vfs::{WriteMode, Writer},
};
use agentos_proto::v1 as pb;
use pb::stream_request::Msg as In;
use tokio_stream::StreamExt;

pub(super) async fn start(
    kernel: &Arc<Kernel>,
    caller: &Caller,
    w: pb::StreamWrite,
    inbound: Inbound,
    tx: Sender,
) -> Result<(), KernelError> {
    let transport = transport(w.transport)?;
    let chunk = chunk_size(w.chunk_size)?;
    let path = kernel.path(caller, &w.path, Access::Write)?;
    let mode = if w.append {
        WriteMode::Append
    } else {
        WriteMode::Replace
    };
    let writer = kernel.vfs.open_writer(&path, mode).await?;
    if transport == pb::StreamTransport::SharedMemory {
        return shared::write::start(kernel, caller, writer, chunk, inbound, tx);
    }
    tokio::spawn(async move {
        let outcome = receive(writer, inbound).await;
        let _ = tx.send(outcome.map(done)).await;
    });
    Ok(())
}

/// Writes the chunks until `finish`; the bytes written.
async fn receive(mut writer: Writer, mut inbound: Inbound) -> Result<u64, KernelError> {
    let mut bytes = 0u64;
    loop {
        match inbound.next().await.transpose()?.map(|m| m.msg) {
            Some(Some(In::Chunk(data))) => {
                bytes += data.len() as u64;
                writer.write(data.into()).await?;
            }
            Some(Some(In::Finish(_))) => {
                writer.commit().await?;
                return Ok(bytes);
            }
            Some(_) => {
                return Err(StreamError::Unexpected {
                    allowed: "`chunk` and `finish`",
                    what: "a write",
                }
                .into());
            }
            None => return Err(StreamError::Unfinished.into()),
        }
    }
}
