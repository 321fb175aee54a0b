//! `StreamSyscall`: chunked reads and writes in constant memory.
//!
//! The first message opens a read or a write; [`read`] and [`write`] serve them,
//! with their bytes inline or through [`shared`] memory.
//! Every direction is bounded: a read sends through a channel of [`STREAM_DEPTH`]
//! messages (or, over shared memory, through a region's slots that the other side
//! hands back, each message naming one), so memory stays constant however large
//! the file; when the client drops the stream the next send fails and the task
//! stops.

mod read;
mod shared;
mod write;

use std::sync::Arc;

use agentos_proto::v1 as pb;
use pb::{stream_open::Op, stream_request::Msg as In};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use super::status::status;
use crate::{
    capability::Access,
    identity::Caller,
    kernel::Kernel,
    vfs::{VfsError, VirtPath},
};

/// Messages buffered between the file and the network, when they carry the bytes.
const STREAM_DEPTH: usize = 4;

pub type ResponseStream = ReceiverStream<Result<pb::StreamResponse, Status>>;
type Sender = mpsc::Sender<Result<pb::StreamResponse, Status>>;

/// Starts serving one stream.
pub async fn serve(
    kernel: Arc<Kernel>,
    caller: Caller,
    mut inbound: Streaming<pb::StreamRequest>,
) -> Result<ResponseStream, Status> {
    let first = inbound.message().await?.ok_or_else(|| {
        Status::invalid_argument("empty stream: the first message must be `open`")
    })?;
    let Some(In::Open(pb::StreamOpen { op: Some(op) })) = first.msg else {
        return Err(Status::invalid_argument(
            "the first message must be `open` with a read or a write",
        ));
    };
    let (tx, rx) = mpsc::channel(depth(&op));
    match op {
        Op::Read(r) => read::start(&kernel, &caller, r, inbound, tx).await?,
        Op::Write(w) => write::start(&kernel, &caller, w, inbound, tx).await?,
    }
    Ok(ReceiverStream::new(rx))
}

/// How many messages may wait for the network: a few chunks of bytes, or, over
/// shared memory, as many as the region has slots (each names one), so that the
/// stream's task can send a burst without waiting.
fn depth(op: &Op) -> usize {
    let transport = match op {
        Op::Read(r) => r.transport,
        Op::Write(w) => w.transport,
    };
    if transport == pb::StreamTransport::SharedMemory as i32 {
        shared::DEPTH
    } else {
        STREAM_DEPTH
    }
}

/// The caller's `raw` path, resolved once and authorised for `access`.
fn authorized(
    kernel: &Kernel,
    caller: &Caller,
    raw: &str,
    access: fn(std::path::PathBuf) -> Access,
) -> Result<VirtPath, Status> {
    kernel.path(caller, raw, access).map_err(status)
}

fn vfs_status(e: VfsError) -> Status {
    status(e.into())
}
