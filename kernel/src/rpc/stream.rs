//! `StreamSyscall`: chunked reads and writes in constant memory.
//!
//! A read sends chunks through a channel of [`STREAM_DEPTH`] slots, so at most that
//! many chunks are buffered however large the file; when the client drops the
//! stream, the next send fails and the reader stops. A write appends each incoming
//! chunk to the VFS writer as it arrives; with replace semantics nothing is visible
//! until `finish`, and a stream that ends without `finish` leaves the file as it was.

use std::sync::Arc;

use agentos_proto::v1 as pb;
use pb::{stream_open::Op, stream_request::Msg as In, stream_response::Msg as Out};
use tokio::sync::mpsc;
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic::{Status, Streaming};

use super::status::status;
use crate::{
    capability::Access, error::KernelError, identity::Caller, syscall::Kernel, vfs::WriteMode,
};

/// Chunks buffered between the file and the network.
const STREAM_DEPTH: usize = 4;
const DEFAULT_CHUNK: u32 = 64 << 10;
const MAX_CHUNK: u32 = 4 << 20;

pub type ResponseStream = ReceiverStream<Result<pb::StreamResponse, Status>>;

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
    let (tx, rx) = mpsc::channel(STREAM_DEPTH);
    match op {
        Op::Read(r) => {
            let chunk = match r.chunk_size {
                0 => DEFAULT_CHUNK,
                n if n > MAX_CHUNK => {
                    return Err(status(KernelError::InvalidArgument(format!(
                        "chunk_size {n} exceeds {MAX_CHUNK}"
                    ))));
                }
                n => n,
            } as usize;
            let path = crate::syscall::fs_path(&kernel, &caller, &r.path).map_err(status)?;
            let host = kernel
                .vfs
                .host_path(&path)
                .unwrap_or_else(|| path.as_str().into());
            kernel
                .authorize(&caller, &[Access::Read(host)])
                .map_err(status)?;
            let reader = kernel
                .vfs
                .open_reader(&path)
                .await
                .map_err(|e| status(e.into()))?;
            let end = if r.length == 0 {
                reader.len()
            } else {
                reader.len().min(r.offset.saturating_add(r.length))
            };
            tokio::spawn(async move {
                let mut offset = r.offset;
                while offset < end {
                    let want = chunk.min((end - offset) as usize);
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
                        Err(e) => Err(status(e.into())),
                    };
                    let failed = msg.is_err();
                    if tx.send(msg).await.is_err() || failed {
                        return; // client gone (cancelled), or error sent
                    }
                }
                let done = pb::StreamResponse {
                    msg: Some(Out::Done(pb::StreamDone {
                        bytes: offset - r.offset,
                    })),
                };
                let _ = tx.send(Ok(done)).await;
            });
        }
        Op::Write(w) => {
            let path = crate::syscall::fs_path(&kernel, &caller, &w.path).map_err(status)?;
            let host = kernel
                .vfs
                .host_path(&path)
                .unwrap_or_else(|| path.as_str().into());
            kernel
                .authorize(&caller, &[Access::Write(host)])
                .map_err(status)?;
            let mode = if w.append {
                WriteMode::Append
            } else {
                WriteMode::Replace
            };
            let mut writer = kernel
                .vfs
                .open_writer(&path, mode)
                .await
                .map_err(|e| status(e.into()))?;
            tokio::spawn(async move {
                let mut bytes = 0u64;
                let outcome = loop {
                    match inbound.next().await {
                        Some(Ok(pb::StreamRequest {
                            msg: Some(In::Chunk(data)),
                        })) => {
                            bytes += data.len() as u64;
                            if let Err(e) = writer.write(data).await {
                                break Err(status(e.into()));
                            }
                        }
                        Some(Ok(pb::StreamRequest {
                            msg: Some(In::Finish(_)),
                        })) => {
                            break writer
                                .commit()
                                .await
                                .map(|()| bytes)
                                .map_err(|e| status(e.into()));
                        }
                        Some(Ok(_)) => {
                            break Err(Status::invalid_argument(
                                "only `chunk` and `finish` may follow `open`",
                            ));
                        }
                        Some(Err(e)) => break Err(e),
                        None => {
                            break Err(Status::cancelled(
                                "stream ended without `finish`; nothing was written",
                            ));
                        }
                    }
                };
                let msg = outcome.map(|bytes| pb::StreamResponse {
                    msg: Some(Out::Done(pb::StreamDone { bytes })),
                });
                let _ = tx.send(msg).await;
            });
        }
    }
    Ok(ReceiverStream::new(rx))
}
