//! Stream reads: the range is checked and the file opened before the stream is
//! answered, then a task sends it chunk by chunk, inline or through shared memory.

use std::sync::Arc;

use super::{Inbound, Sender, StreamError, shared};
use crate::{
    capability::Access, error::KernelError, identity::Caller, kernel::Kernel, vfs::Reader,
};
use agentos_proto::v1 as pb;
use pb::stream_response::Msg as Out;

const DEFAULT_CHUNK: u32 = 64 << 10;
pub(super) const MAX_CHUNK: u32 = 4 << 20;

/// What a read sends: the file's bytes from `start` to `end`, `chunk` at a time.
pub(super) struct Span {
    pub start: u64,
    pub end: u64,
    pub chunk: usize,
}

pub(super) async fn start(
    kernel: &Arc<Kernel>,
    caller: &Caller,
    r: pb::StreamRead,
    inbound: Inbound,
    tx: Sender,
) -> Result<(), KernelError> {
    let chunk = chunk_size(r.chunk_size)?;
    let transport = transport(r.transport)?;
    let path = kernel.path(caller, &r.path, Access::Read)?;
    let reader = kernel.vfs.open_reader(&path).await?;
    let end = if r.length == 0 {
        reader.len()
    } else {
        reader.len().min(r.offset.saturating_add(r.length))
    };
    let span = Span {
        start: r.offset,
        end,
        chunk,
    };
    match transport {
        pb::StreamTransport::Inline => {
            tokio::spawn(inline(reader, span, tx));
            Ok(())
        }
        pb::StreamTransport::SharedMemory => {
            shared::read::start(kernel, caller, reader, span, inbound, tx)
        }
    }
}

/// A request's chunk size, checked; 0 means [`DEFAULT_CHUNK`].
pub(super) fn chunk_size(n: u32) -> Result<usize, StreamError> {
    match n {
        0 => Ok(DEFAULT_CHUNK as usize),
        n if n > MAX_CHUNK => Err(StreamError::ChunkTooLarge {
            size: n,
            max: MAX_CHUNK,
        }),
        n => Ok(n as usize),
    }
}

/// A request's transport, checked.
pub(super) fn transport(t: i32) -> Result<pb::StreamTransport, StreamError> {
    pb::StreamTransport::try_from(t).map_err(|_| StreamError::UnknownTransport(t))
}

/// Sends the span in `DataChunk`s, then `StreamDone`.
async fn inline(reader: Reader, span: Span, tx: Sender) {
    let mut offset = span.start;
    while offset < span.end {
        let want = span.chunk.min((span.end - offset) as usize);
        let msg = match reader.read_at(offset, want).await {
            Ok(data) if data.is_empty() => break,
            Ok(data) => {
                let n = data.len() as u64;
                let m = Ok(pb::StreamResponse {
                    msg: Some(Out::Chunk(pb::DataChunk { offset, data })),
                });
                offset += n;
                m
            }
            Err(e) => Err(e.into()),
        };
        let failed = msg.is_err();
        if tx.send(msg).await.is_err() || failed {
            return; // client gone (cancelled), or error sent
        }
    }
    let _ = tx.send(Ok(done(offset - span.start))).await;
}

pub(super) fn done(bytes: u64) -> pb::StreamResponse {
    pb::StreamResponse {
        msg: Some(Out::Done(pb::StreamDone { bytes })),
    }
}
