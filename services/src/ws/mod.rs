//! `GET /api/stream`: the desktop's WebSocket.
//!
//! Owns the message protocol ([`protocol`]) and the per-connection loop: one task
//! reads the client's messages and writes everything the server has to say, which
//! arrives on one channel from the helpers (app events, process bridges).
//!
//! A **process bridge** is made by `subscribe`: it opens the kernel's `ProcessIo`
//! stream for a native-process app (attach by pid; the kernel first sends what it
//! buffered), forwards output and the exit as `process_output`/`process_exit`, and
//! carries `stdin`, `close_stdin` and `resize` the other way. Bridges end with the
//! process or the connection.
//!
//! The upgrade request passed the same layers as every `/api` call: the host and
//! origin guard (a browser sends `Origin` on a WebSocket handshake), the rate limit
//! and the login check.

pub mod protocol;

use std::{collections::HashMap, sync::Arc};

use agentos_client::{CallError, pb};
use axum::{
    extract::{
        State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    response::Response,
};
use base64::Engine as _;
use pb::{process_input::Msg as In, process_output::Msg as Out};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::StreamExt as _;

use crate::{apps::Apps, auth::Caller, http::AppState, kernel::KernelLink, metrics::Metrics};
use protocol::{ClientMsg, ServerMsg};

/// Messages queued for one client before its producers wait.
const OUT_BUFFER: usize = 256;

/// Opens the stream (the `101 Switching Protocols` answer).
#[utoipa::path(get, path = "/stream", tag = "stream",
    responses((status = 101, description = "WebSocket: JSON messages with a `type` (see the ws::protocol module)"),
        (status = 401, body = crate::http::openapi::ErrorBody)))]
pub async fn handler(
    State(state): State<AppState>,
    caller: Caller,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| async move {
        let conn = Connection {
            kernel: Arc::clone(&state.kernel),
            apps: Arc::clone(&state.apps),
            metrics: Arc::clone(&state.metrics),
            caller,
        };
        conn.run(socket).await;
    })
}

struct Connection {
    kernel: Arc<KernelLink>,
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
        let mut bridges: HashMap<String, mpsc::Sender<pb::ProcessInput>> = HashMap::new();
        loop {
            let msg = tokio::select! {
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        match protocol::parse(text.as_str()) {
                            Ok(m) => self.handle(m, &out_tx, &mut bridges).await,
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
    }

    /// Acts on one client message; an immediate answer, if any.
    async fn handle(
        &self,
        msg: ClientMsg,
        out: &mpsc::Sender<ServerMsg>,
        bridges: &mut HashMap<String, mpsc::Sender<pb::ProcessInput>>,
    ) -> Option<ServerMsg> {
        match msg {
            ClientMsg::Ping { id } => Some(ServerMsg::Pong { id }),
            ClientMsg::Subscribe { app_id } => {
                if bridges.get(&app_id).is_some_and(|tx| !tx.is_closed()) {
                    return None;
                }
                match self.subscribe(&app_id, out.clone()).await {
                    Ok(tx) => {
                        bridges.insert(app_id, tx);
                        None
                    }
                    Err(e) => Some(e),
                }
            }
            ClientMsg::Stdin { app_id, data } => {
                input(bridges, &app_id, In::Stdin(data.into_bytes()))
            }
            ClientMsg::CloseStdin { app_id } => input(bridges, &app_id, In::CloseStdin(true)),
            ClientMsg::Resize { app_id, rows, cols } => {
                input(bridges, &app_id, In::Resize(pb::WindowSize { rows, cols }))
            }
            ClientMsg::Chat { .. } | ClientMsg::GenerateUi { .. } => Some(ServerMsg::error(
                "unimplemented",
                "chat and UI generation are not wired to a generator in this build",
            )),
        }
    }

    /// Starts a process bridge for the caller's app `app_id`.
    async fn subscribe(
        &self,
        app_id: &str,
        out: mpsc::Sender<ServerMsg>,
    ) -> Result<mpsc::Sender<pb::ProcessInput>, ServerMsg> {
        let app = self
            .apps
            .get(&self.caller.user_id, app_id)
            .map_err(|e| ServerMsg::error("not_found", e.to_string()))?;
        let pid = app.pid.ok_or_else(|| {
            ServerMsg::error(
                "invalid_argument",
                format!("{app_id} is not a native process app; it has no output"),
            )
        })?;
        let (tx, rx) = mpsc::channel(64);
        tx.send(pb::ProcessInput {
            msg: Some(In::Attach(pid)),
        })
        .await
        .expect("the receiver is alive");
        let mut output = self
            .kernel
            .call(
                "ProcessIo",
                crate::kernel::PROBE_TIMEOUT,
                |mut c| async move {
                    c.process_io(tokio_stream::wrappers::ReceiverStream::new(rx))
                        .await
                        .map(tonic::Response::into_inner)
                        .map_err(CallError::from)
                },
            )
            .await
            .map_err(|e| {
                let api = crate::http::ApiError::from(e);
                ServerMsg::error(api.code(), api.public_message())
            })?;
        let app_id = app_id.to_owned();
        tokio::spawn(async move {
            while let Some(item) = output.next().await {
                let msg = match item.map(|o| o.msg) {
                    Ok(Some(Out::Output(c))) => ServerMsg::ProcessOutput {
                        app_id: app_id.clone(),
                        pid,
                        stream: if c.stream == pb::OutputStream::Stderr as i32 {
                            "stderr"
                        } else {
                            "stdout"
                        },
                        data: base64::engine::general_purpose::STANDARD.encode(&c.data),
                        text: String::from_utf8_lossy(&c.data).into_owned(),
                        dropped: c.dropped,
                    },
                    Ok(Some(Out::Exit(e))) => ServerMsg::ProcessExit {
                        app_id: app_id.clone(),
                        pid,
                        code: e.code,
                        signal: e.signal,
                        oom_killed: e.oom_killed,
                        description: e.description,
                    },
                    Ok(None) => continue,
                    Err(st) => ServerMsg::error(
                        "internal",
                        format!("the process stream of {app_id} broke: {}", st.message()),
                    ),
                };
                let last = !matches!(msg, ServerMsg::ProcessOutput { .. });
                if out.send(msg).await.is_err() || last {
                    break;
                }
            }
        });
        Ok(tx)
    }
}

/// Sends `msg` to the process bridge of `app_id`; an error when there is none.
fn input(
    bridges: &HashMap<String, mpsc::Sender<pb::ProcessInput>>,
    app_id: &str,
    msg: In,
) -> Option<ServerMsg> {
    match bridges.get(app_id) {
        Some(tx) => {
            // A bridge whose process has exited just drops the input.
            let _ = tx.try_send(pb::ProcessInput { msg: Some(msg) });
            None
        }
        None => Some(ServerMsg::error(
            "not_found",
            format!("not subscribed to {app_id:?}; send subscribe first"),
        )),
    }
}
