//! `StreamSyscall`: chunked reads and writes in constant memory.
//!
//! The first message opens a read or a write; [`read`] and [`write`] serve them,
//! with their bytes inline or through [`shared`] memory.
//! Every direction is bounded: a read sends through a channel of [`STREAM_DEPTH`]
//! messages (or, over shared memory, through a region's slots that the other side
//! hands back on the stream's control rings), so memory stays constant however large
//! the file; when the client drops the stream the next send fails and the task
//! stops.
//!
//! Bounded per stream is not bounded: a thousand streams that are never read would
//! each hold their few chunks. So every stream takes its footprint (the chunks its
//! channel may hold, or its shared region) from one [`Budget`] of
//! [`STREAM_BUDGET`] bytes for the whole kernel when it opens, and gives it back
//! when its answers are dropped; a stream that does not fit is refused with
//! `RESOURCE_EXHAUSTED` ([`StreamError::Busy`]).

mod error;
mod read;
// The rings that carry a shared stream's slot numbers wait on futexes: Linux's.
#[cfg_attr(not(target_os = "linux"), path = "shared_unsupported.rs")]
mod shared;
mod write;

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use agentos_proto::v1 as pb;
use pb::{stream_open::Op, stream_request::Msg as In};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};

pub use self::error::StreamError;
use crate::{error::KernelError, identity::Caller, kernel::Kernel};

/// Messages buffered between the file and the network, when they carry the bytes.
const STREAM_DEPTH: usize = 4;

/// The client's messages, as the transport delivers them.
pub type Inbound = Pin<Box<dyn Stream<Item = Result<pb::StreamRequest, KernelError>> + Send>>;
/// Bytes of buffers all open streams together may hold.
pub const STREAM_BUDGET: usize = 256 << 20;
/// The budget's unit: a semaphore permit stands for this many bytes.
const BUDGET_UNIT: usize = 4 << 10;

/// What open streams may buffer, kernel-wide (see the module docs).
pub struct Budget(Arc<Semaphore>);

impl Default for Budget {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(STREAM_BUDGET / BUDGET_UNIT)))
    }
}

impl Budget {
    /// Takes `bytes` from the budget, or refuses at once (never waits: a client
    /// that never reads must not make others queue behind it).
    fn take(&self, bytes: usize) -> Result<OwnedSemaphorePermit, StreamError> {
        let busy = || StreamError::Busy {
            wanted: bytes,
            budget: STREAM_BUDGET,
        };
        let units = u32::try_from(bytes.div_ceil(BUDGET_UNIT)).map_err(|_| busy())?;
        Arc::clone(&self.0)
            .try_acquire_many_owned(units)
            .map_err(|_| busy())
    }
}

/// The kernel's answers; the stream's share of the [`Budget`] goes back when
/// this is dropped (answered, or the client gone).
pub struct ResponseStream {
    rx: ReceiverStream<Result<pb::StreamResponse, KernelError>>,
    _budget: OwnedSemaphorePermit,
}

impl Stream for ResponseStream {
    type Item = Result<pb::StreamResponse, KernelError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.rx).poll_next(cx)
    }
}

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
    let budget = kernel.streams.take(footprint(&op))?;
    let (tx, rx) = mpsc::channel(depth(&op));
    match op {
        Op::Read(r) => read::start(&kernel, &caller, r, inbound, tx).await?,
        Op::Write(w) => write::start(&kernel, &caller, w, inbound, tx).await?,
    }
    Ok(ResponseStream {
        rx: ReceiverStream::new(rx),
        _budget: budget,
    })
}

/// Chunks an inline read holds beyond its channel's: the one being read, and the
/// copies tonic's encoder and HTTP/2's send buffer hold (measured: a thousand
/// unread 64 KiB streams took 480 KiB each, 7.5 chunks).
const READ_EXTRA: usize = 4;

/// The bytes a stream may hold at once: its shared region; or for an inline
/// read, the chunks in its channel and [`READ_EXTRA`]; for an inline write, the
/// message being written (the HTTP/2 window bounds what waits behind it).
fn footprint(op: &Op) -> usize {
    match op {
        Op::Read(r) if r.transport == pb::StreamTransport::SharedMemory as i32 => {
            shared::REGION_MAX
        }
        Op::Write(w) if w.transport == pb::StreamTransport::SharedMemory as i32 => {
            shared::REGION_MAX
        }
        // An oversized chunk is refused by `read::start`; count it at most.
        Op::Read(r) => read::chunk_size(r.chunk_size).unwrap_or(0) * (STREAM_DEPTH + READ_EXTRA),
        Op::Write(_) => read::MAX_CHUNK as usize,
    }
}

/// How many messages may wait for the network: a few chunks of bytes, or, over
/// shared memory, the region's announcement and the end.
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
