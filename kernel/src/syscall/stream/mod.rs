//! `StreamSyscall`: chunked reads and writes in constant memory.
//!
//! The first message opens a read or a write; [`read`] and [`write`] serve them,
//! with their bytes inline or through [`shared`] memory.
//! Every direction is bounded: a read sends through a channel of [`STREAM_DEPTH`]
//! messages (or, over shared memory, through a region's slots that the other side
//! hands back, each message naming one), so memory stays constant however large
//! the file; when the client drops the stream the next send fails and the task
//! stops.

mod error;
mod read;
mod shared;
mod write;

use std::{pin::Pin, sync::Arc};

use agentos_proto::v1 as pb;
use pb::{stream_open::Op, stream_request::Msg as In};
use tokio::sync::mpsc;
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};

pub use self::error::StreamError;
use crate::{error::KernelError, identity::Caller, kernel::Kernel};

/// Messages buffered between the file and the network, when they carry the bytes.
const STREAM_DEPTH: usize = 4;

/// The client's messages, as the transport delivers them.
pub type Inbound = Pin<Box<dyn Stream<Item = Result<pb::StreamRequest, KernelError>> + Send>>;
/// The kernel's answers.
pub type ResponseStream = ReceiverStream<Result<pb::StreamResponse, KernelError>>;
type Sender = mpsc::Sender<Result<pb::StreamResponse, KernelError>>;

/// Starts serving one stream.
pub async fn serve(
    kernel: Arc<Kernel>,
    caller: Caller,
    mut inbound: Inbound,
) -> Result<ResponseStream, KernelError> {
    let first = inbound.next().await.ok_or(StreamError::Empty)??;
    let Some(In::Open(pb::StreamOpen { op: Some(op) })) = first.msg else {
        return Err(StreamError::NotOpened.into());
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
