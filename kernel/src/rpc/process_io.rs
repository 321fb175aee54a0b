//! `ProcessIo`: one attached reader/writer per stream.
//!
//! Out: the bounded buffer's content first (with how many bytes were dropped), then
//! live chunks, then the exit. In: stdin bytes, EOF, PTY resizes and signals. The
//! output side ends with the process; dropping the stream detaches without touching
//! the process.

use std::sync::Arc;

use agentos_proto::v1 as pb;
use pb::{process_input::Msg as In, process_output::Msg as Out};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic::{Status, Streaming};

use super::status::status;
use crate::{
    identity::Caller,
    process::{OutputEvent, Process, Stream},
    {kernel::Kernel, syscall::process::exit_to_proto},
};

pub type ResponseStream = ReceiverStream<Result<pb::ProcessOutput, Status>>;

fn chunk(stream: Stream, data: Vec<u8>, dropped: u64) -> pb::ProcessOutput {
    let stream = match stream {
        Stream::Stdout => pb::OutputStream::Stdout,
        Stream::Stderr => pb::OutputStream::Stderr,
    };
    pb::ProcessOutput {
        msg: Some(Out::Output(pb::OutputChunk {
            stream: stream as i32,
            data,
            dropped,
        })),
    }
}

fn exit(p: &Process) -> pb::ProcessOutput {
    pb::ProcessOutput {
        msg: Some(Out::Exit(exit_to_proto(&p.exit().unwrap_or_default()))),
    }
}

pub async fn serve(
    kernel: Arc<Kernel>,
    caller: Caller,
    mut inbound: Streaming<pb::ProcessInput>,
) -> Result<ResponseStream, Status> {
    let first = inbound
        .message()
        .await?
        .ok_or_else(|| Status::invalid_argument("empty stream: first send `attach`"))?;
    let Some(In::Attach(pid)) = first.msg else {
        return Err(Status::invalid_argument(
            "the first message must be `attach` with a pid",
        ));
    };
    let p = crate::syscall::process::attach(&kernel, &caller, pid).map_err(status)?;
    let (tx, rx) = mpsc::channel(64);

    let (snapshot, live) = p.output.attach();
    let out = Arc::clone(&p);
    tokio::spawn(async move {
        for (stream, data, dropped) in snapshot {
            if (!data.is_empty() || dropped > 0)
                && tx.send(Ok(chunk(stream, data, dropped))).await.is_err()
            {
                return;
            }
        }
        if let Some(mut live) = live {
            loop {
                match live.recv().await {
                    Ok(OutputEvent::Chunk { stream, data }) => {
                        if tx.send(Ok(chunk(stream, data, 0))).await.is_err() {
                            return;
                        }
                    }
                    Ok(OutputEvent::Closed) | Err(RecvError::Closed) => break,
                    Err(RecvError::Lagged(n)) => {
                        tracing::debug!(pid = out.pid, "an attached reader lagged by {n} chunks")
                    }
                }
            }
        }
        let _ = tx.send(Ok(exit(&out))).await;
    });

    tokio::spawn(async move {
        while let Some(Ok(msg)) = inbound.next().await {
            let res = match msg.msg {
                Some(In::Stdin(data)) => p.write_stdin(&data).await,
                Some(In::CloseStdin(true)) => p.close_stdin().await,
                Some(In::Resize(ws)) => {
                    p.resize(ws.rows.clamp(1, 1000) as u16, ws.cols.clamp(1, 1000) as u16)
                }
                Some(In::Signal(sig)) => p.signal(sig),
                _ => Ok(()),
            };
            if let Err(e) = res {
                tracing::debug!(pid = p.pid, "process input: {e}");
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}
