//! The I/O of one native-process app: a task attached to the kernel's `ProcessIo`
//! stream for the app's whole life, so output is never lost between viewers.
//!
//! Output goes into a bounded log (the newest [`LOG_LIMIT`] bytes; `agentos logs`,
//! `GET /api/apps/{id}/logs`) and out to every subscriber (WebSocket bridges).
//! Input (stdin, resizes, signals) goes in through one sender. The log and the
//! subscriptions are changed under one lock, so a new subscriber gets the log and
//! then every later chunk, with no gap and no repeat.

use std::{
    collections::VecDeque,
    sync::{Mutex, PoisonError},
};

use agentos_client::pb;
use pb::process_output::Msg as Out;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::{Stream, StreamExt as _};
use utoipa::ToSchema;

/// Bytes of output kept per app.
pub const LOG_LIMIT: usize = 256 << 10;
/// Events buffered per subscriber before a slow one misses some.
const SUBSCRIBER_BUFFER: usize = 1024;

/// Which stream a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    Stdout,
    Stderr,
}

/// Something the process did.
#[derive(Clone, Debug, PartialEq)]
pub enum ProcEvent {
    Output {
        stream: StreamKind,
        data: Vec<u8>,
        /// Bytes the kernel dropped before this chunk.
        dropped: u64,
    },
    Exit(pb::ExitInfo),
}

#[derive(Default)]
struct Log {
    chunks: VecDeque<(StreamKind, Vec<u8>)>,
    bytes: usize,
    /// Bytes dropped here (the log was full) or by the kernel.
    dropped: u64,
    exit: Option<pb::ExitInfo>,
}

/// A snapshot of an app's output.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Logs {
    pub pid: u32,
    pub output: Vec<LogChunk>,
    /// Bytes no longer (or never) in `output`.
    pub dropped_bytes: u64,
    pub exit: Option<ExitSummary>,
}

/// One chunk of output, as text (invalid UTF-8 replaced).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LogChunk {
    pub stream: StreamKind,
    pub text: String,
}

/// How a process ended.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExitSummary {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub description: String,
}

impl From<&pb::ExitInfo> for ExitSummary {
    fn from(e: &pb::ExitInfo) -> Self {
        Self {
            code: e.code,
            signal: e.signal,
            oom_killed: e.oom_killed,
            description: e.description.clone(),
        }
    }
}

/// The I/O of one running process.
pub struct ProcessIo {
    pub pid: u32,
    input: mpsc::Sender<pb::ProcessInput>,
    log: Mutex<Log>,
    events: broadcast::Sender<ProcEvent>,
}

impl ProcessIo {
    /// Wraps an attached `ProcessIo` stream: `input` feeds it, `output` is read by a
    /// task until the process exits or the stream ends.
    pub fn start(
        pid: u32,
        input: mpsc::Sender<pb::ProcessInput>,
        mut output: impl Stream<Item = Result<pb::ProcessOutput, tonic::Status>>
        + Send
        + Unpin
        + 'static,
    ) -> std::sync::Arc<Self> {
        let io = std::sync::Arc::new(Self {
            pid,
            input,
            log: Mutex::new(Log::default()),
            events: broadcast::channel(SUBSCRIBER_BUFFER).0,
        });
        let weak = std::sync::Arc::downgrade(&io);
        tokio::spawn(async move {
            while let Some(item) = output.next().await {
                let Some(io) = weak.upgrade() else { return };
                let event = match item.map(|o| o.msg) {
                    Ok(Some(Out::Output(c))) => ProcEvent::Output {
                        stream: if c.stream == pb::OutputStream::Stderr as i32 {
                            StreamKind::Stderr
                        } else {
                            StreamKind::Stdout
                        },
                        data: c.data,
                        dropped: c.dropped,
                    },
                    Ok(Some(Out::Exit(e))) => ProcEvent::Exit(e),
                    Ok(None) => continue,
                    Err(st) => {
                        tracing::warn!("the I/O stream of pid {pid} broke: {}", st.message());
                        ProcEvent::Exit(pb::ExitInfo {
                            description: format!("the kernel stream broke: {}", st.message()),
                            ..Default::default()
                        })
                    }
                };
                let done = matches!(event, ProcEvent::Exit(_));
                io.record(event);
                if done {
                    return;
                }
            }
        });
        io
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, event: ProcEvent) {
        let mut log = self.lock();
        match &event {
            ProcEvent::Output {
                stream,
                data,
                dropped,
            } => {
                log.dropped += dropped;
                log.bytes += data.len();
                log.chunks.push_back((*stream, data.clone()));
                while log.bytes > LOG_LIMIT {
                    let Some((_, old)) = log.chunks.pop_front() else {
                        break;
                    };
                    log.bytes -= old.len();
                    log.dropped += old.len() as u64;
                }
            }
            ProcEvent::Exit(e) => log.exit = Some(e.clone()),
        }
        // Under the lock: see `subscribe`. No subscriber is not an error.
        let _ = self.events.send(event);
    }

    /// The log so far (as events) and every event after it.
    pub fn subscribe(&self) -> (Vec<ProcEvent>, broadcast::Receiver<ProcEvent>) {
        let log = self.lock();
        let mut backlog: Vec<ProcEvent> = log
            .chunks
            .iter()
            .map(|(stream, data)| ProcEvent::Output {
                stream: *stream,
                data: data.clone(),
                dropped: 0,
            })
            .collect();
        backlog.extend(log.exit.clone().map(ProcEvent::Exit));
        (backlog, self.events.subscribe())
    }

    /// The log as text.
    pub fn logs(&self) -> Logs {
        let log = self.lock();
        Logs {
            pid: self.pid,
            output: log
                .chunks
                .iter()
                .map(|(stream, data)| LogChunk {
                    stream: *stream,
                    text: String::from_utf8_lossy(data).into_owned(),
                })
                .collect(),
            dropped_bytes: log.dropped,
            exit: log.exit.as_ref().map(ExitSummary::from),
        }
    }

    /// Sends input to the process; `false` once it no longer takes any.
    pub fn send(&self, msg: pb::process_input::Msg) -> bool {
        self.input
            .try_send(pb::ProcessInput { msg: Some(msg) })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(stream: i32, data: &[u8]) -> Result<pb::ProcessOutput, tonic::Status> {
        Ok(pb::ProcessOutput {
            msg: Some(Out::Output(pb::OutputChunk {
                stream,
                data: data.to_vec(),
                dropped: 0,
            })),
        })
    }

    #[tokio::test]
    async fn logs_then_subscribers_see_everything_once() {
        let (in_tx, _in_rx) = mpsc::channel(1);
        let (out_tx, out_rx) = mpsc::channel(8);
        let io = ProcessIo::start(
            7,
            in_tx,
            tokio_stream::wrappers::ReceiverStream::new(out_rx),
        );
        out_tx.send(out(0, b"one\n")).await.unwrap();
        out_tx.send(out(1, b"err\n")).await.unwrap();
        // Wait for the reader through a subscription made before the exit.
        let (_, mut rx) = io.subscribe();
        out_tx
            .send(Ok(pb::ProcessOutput {
                msg: Some(Out::Exit(pb::ExitInfo {
                    code: Some(2),
                    ..Default::default()
                })),
            }))
            .await
            .unwrap();
        loop {
            if let ProcEvent::Exit(_) = rx.recv().await.unwrap() {
                break;
            }
        }
        let logs = io.logs();
        assert_eq!(logs.output.len(), 2);
        assert_eq!(logs.output[1].stream, StreamKind::Stderr);
        assert_eq!(logs.exit.unwrap().code, Some(2));
        let (backlog, _) = io.subscribe();
        assert_eq!(backlog.len(), 3, "two chunks and the exit");
        assert!(matches!(backlog[2], ProcEvent::Exit(_)));
    }

    #[test]
    fn the_log_keeps_the_newest_bytes() {
        let (in_tx, _) = mpsc::channel(1);
        let io = ProcessIo {
            pid: 1,
            input: in_tx,
            log: Mutex::new(Log::default()),
            events: broadcast::channel(4).0,
        };
        for _ in 0..5 {
            io.record(ProcEvent::Output {
                stream: StreamKind::Stdout,
                data: vec![b'x'; LOG_LIMIT / 2],
                dropped: 0,
            });
        }
        let logs = io.logs();
        assert_eq!(logs.output.len(), 2);
        assert_eq!(logs.dropped_bytes, 3 * (LOG_LIMIT / 2) as u64);
    }
}
