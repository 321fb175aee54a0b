//! `GET /api/stream`: the desktop's WebSocket.
//!
//! Owns the message protocol ([`protocol`]) and the per-connection loop: one task
//! reads the client's messages and writes everything the server has to say, which
//! arrives on one channel from the helpers (app events, process bridges).
//!
//! `subscribe` starts a forwarder for a native-process app: the app's output so
//! far (its log, kept by `apps::process` from launch on, so nothing is lost before
//! anyone watches), then each chunk as it comes, as `process_output`, and finally
//! `process_exit`. `stdin`, `close_stdin` and `resize` go to the process through
//! the same `apps::process` handle. Forwarders end with the process or the
//! connection; several connections may watch one process.
//!
//! The upgrade request passed the same layers as every `/api` call: the host and
//! origin guard (a browser sends `Origin` on a WebSocket handshake), the rate limit
//! and the login check.

pub mod protocol;

use std::{collections::HashMap, sync::Arc};

use agentos_client::pb;
use axum::{
    extract::{
        State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    response::Response,
};
use base64::Engine as _;
use pb::process_input::Msg as In;
use tokio::sync::{broadcast, mpsc};

use crate::{
    apps::{AppError, Apps, ProcEvent, ProcessIo, process::StreamKind},
    auth::Caller,
    http::AppState,
    metrics::Metrics,
};
use protocol::{ClientMsg, ServerMsg, Utf8Stream};

/// Messages queued for one client before its producers wait.
const OUT_BUFFER: usize = 256;
/// Largest message a client may send (stdin chunks, prompts).
const MAX_MESSAGE: usize = 1 << 20;

/// Opens the stream (the `101 Switching Protocols` answer).
#[utoipa::path(get, path = "/stream", tag = "stream",
    responses((status = 101, description = "WebSocket: JSON messages with a `type` (see the ws::protocol module)"),
        (status = 401, body = crate::http::openapi::ErrorBody)))]
pub async fn handler(
    State(state): State<AppState>,
    caller: Caller,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            let conn = Connection {
                apps: Arc::clone(&state.apps),
                metrics: Arc::clone(&state.metrics),
                caller,
            };
            conn.run(socket).await;
        })
}

struct Connection {
    apps: Arc<Apps>,
    metrics: Arc<Metrics>,
    caller: Caller,
}

/// Counts the connection in `agentos_ws_connections` while it lives.
struct Counted(Arc<Metrics>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.ws_connections.dec();
    }
}

impl Connection {
    async fn run(self, mut socket: WebSocket) {
        self.metrics.ws_connections.inc();
        let _counted = Counted(Arc::clone(&self.metrics));
        let (out_tx, mut out_rx) = mpsc::channel::<ServerMsg>(OUT_BUFFER);
        let mut events = self.apps.subscribe();
        let mut watching = HashMap::new();
        loop {
            let msg = tokio::select! {
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        match protocol::parse(text.as_str()) {
                            Ok(m) => self.handle(m, &out_tx, &mut watching).await,
                            Err(e) => Some(e),
                        }
                    }
                    Some(Ok(Message::Binary(_))) => Some(ServerMsg::error(
                        "malformed_json",
                        "send JSON text messages",
                    )),
                    // Pings are answered by axum; pongs need nothing.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                },
                Some(out) = out_rx.recv() => Some(out),
                event = events.recv() => match event {
                    Ok(e) if e.owner == self.caller.user_id => Some(ServerMsg::AppEvent(Box::new(e))),
                    Ok(_) => None,
                    Err(broadcast::error::RecvError::Lagged(n)) => Some(ServerMsg::error(
                        "internal",
                        format!("{n} app events were dropped; reload the app list"),
                    )),
                    Err(broadcast::error::RecvError::Closed) => None,
                },
            };
            if let Some(m) = msg
                && socket.send(Message::text(m.to_text())).await.is_err()
            {
                break;
            }
        }
        for task in watching.into_values() {
            task.abort();
        }
    }

    /// Acts on one client message; an immediate answer, if any.
    async fn handle(
        &self,
        msg: ClientMsg,
        out: &mpsc::Sender<ServerMsg>,
        watching: &mut HashMap<String, tokio::task::JoinHandle<()>>,
    ) -> Option<ServerMsg> {
        let input = |app_id: &str, msg: In| match self.apps.io(&self.caller.user_id, app_id) {
            Ok(io) => {
                // A process that has exited just drops the input.
                io.send(msg);
                None
            }
            Err(e) => Some(app_error(e)),
        };
        match msg {
            ClientMsg::Ping { id } => Some(ServerMsg::Pong { id }),
            ClientMsg::Subscribe { app_id } => {
                if watching.get(&app_id).is_some_and(|t| !t.is_finished()) {
                    return None;
                }
                match self.apps.io(&self.caller.user_id, &app_id) {
                    Ok(io) => {
                        let task = tokio::spawn(forward(app_id.clone(), io, out.clone()));
                        watching.insert(app_id, task);
                        None
                    }
                    Err(e) => Some(app_error(e)),
                }
            }
            ClientMsg::Stdin { app_id, data } => input(&app_id, In::Stdin(data.into_bytes())),
            ClientMsg::CloseStdin { app_id } => input(&app_id, In::CloseStdin(true)),
            ClientMsg::Resize { app_id, rows, cols } => {
                input(&app_id, In::Resize(pb::WindowSize { rows, cols }))
            }
            ClientMsg::Chat { .. } | ClientMsg::GenerateUi { .. } => Some(ServerMsg::error(
                "unimplemented",
                "chat and UI generation are not wired to a generator in this build",
            )),
        }
    }
}

fn app_error(e: AppError) -> ServerMsg {
    let api = crate::http::ApiError::from(e);
    ServerMsg::error(api.code(), api.public_message())
}

/// Sends an app's output so far, then as it comes, until the process exits.
async fn forward(app_id: String, io: Arc<ProcessIo>, out: mpsc::Sender<ServerMsg>) {
    let pid = io.pid;
    let (backlog, mut rx) = io.subscribe();
    drop(io);
    let (mut stdout, mut stderr) = (Utf8Stream::default(), Utf8Stream::default());
    let mut message = |event: ProcEvent| match event {
        ProcEvent::Output {
            stream,
            data,
            dropped,
        } => ServerMsg::ProcessOutput {
            app_id: app_id.clone(),
            pid,
            stream: match stream {
                StreamKind::Stdout => "stdout",
                StreamKind::Stderr => "stderr",
            },
            data: match stream {
                StreamKind::Stdout => stdout.push(&data),
                StreamKind::Stderr => stderr.push(&data),
            },
            data_base64: base64::engine::general_purpose::STANDARD.encode(&data),
            dropped,
        },
        ProcEvent::Exit(e) => ServerMsg::ProcessExit {
            app_id: app_id.clone(),
            pid,
            code: e.code,
            signal: e.signal.map(signal_name),
            oom_killed: e.oom_killed,
            description: e.description,
        },
    };
    for event in backlog {
        let exit = matches!(event, ProcEvent::Exit(_));
        if out.send(message(event)).await.is_err() || exit {
            return;
        }
    }
    loop {
        let event = match rx.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                let _ = out
                    .send(ServerMsg::error(
                        "internal",
                        format!("{n} output chunks of {app_id} were dropped (a slow reader)"),
                    ))
                    .await;
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let exit = matches!(event, ProcEvent::Exit(_));
        if out.send(message(event)).await.is_err() || exit {
            return;
        }
    }
}

/// `SIGKILL` for 9; the number for a signal Linux does not name.
fn signal_name(n: i32) -> String {
    nix::sys::signal::Signal::try_from(n).map_or_else(|_| n.to_string(), |s| s.as_str().to_owned())
}
