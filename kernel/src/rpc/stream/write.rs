//! Stream writes: each incoming chunk goes to the VFS writer as it arrives; with
//! replace semantics nothing is visible until `finish`, and a stream that ends
//! without `finish` leaves the file as it was.

use std::sync::Arc;

use agentos_proto::v1 as pb;
use pb::stream_request::Msg as In;
use tokio_stream::StreamExt;
use tonic::{Status, Streaming};

use super::{
    Sender, authorized,
    read::{chunk_size, done, transport},
    shared, vfs_status,
};
use crate::{
    capability::Access,
    identity::Caller,
    kernel::Kernel,
    vfs::{WriteMode, Writer},
};

pub(super) async fn start(
    kernel: &Arc<Kernel>,
    caller: &Caller,
    w: pb::StreamWrite,
    inbound: Streaming<pb::StreamRequest>,
    tx: Sender,
) -> Result<(), Status> {
    let transport = transport(w.transport)?;
    let chunk = chunk_size(w.chunk_size)?;
    let path = authorized(kernel, caller, &w.path, Access::Write)?;
    let mode = if w.append {
        WriteMode::Append
    } else {
        WriteMode::Replace
    };
    let writer = kernel
        .vfs
        .open_writer(&path, mode)
        .await
        .map_err(vfs_status)?;
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
async fn receive(
    mut writer: Writer,
    mut inbound: Streaming<pb::StreamRequest>,
) -> Result<u64, Status> {
    let mut bytes = 0u64;
    loop {
        match inbound.next().await.transpose()?.map(|m| m.msg) {
            Some(Some(In::Chunk(data))) => {
                bytes += data.len() as u64;
                writer.write(data.into()).await.map_err(vfs_status)?;
            }
            Some(Some(In::Finish(_))) => {
                writer.commit().await.map_err(vfs_status)?;
                return Ok(bytes);
            }
            Some(_) => {
                return Err(Status::invalid_argument(
                    "only `chunk` and `finish` may follow `open`",
                ));
            }
            None => {
                return Err(Status::cancelled(
                    "stream ended without `finish`; nothing was written",
                ));
            }
        }
    }
}
