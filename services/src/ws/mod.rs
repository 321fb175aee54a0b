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
//! `generate_ui` and `chat` each run in a task of their own through the one
//! generator in [`AppState`] (the one `POST /api/generate-ui` uses, with its cache;
//! `generate_ui` goes to the user's own LLM endpoint first when their settings name
//! one, as `POST /api/generate-ui` does),
//! whose events are turned into server messages as they come
//! ([`ServerMsg::from_gen`]); the connection's loop keeps answering meanwhile. Those
//! tasks, like the forwarders, end with the connection: a client that goes away
//! cancels its generations.
//!
//! The upgrade request passed the same layers as every `/api` call: the host and
//! origin guard (a browser sends `Origin` on a WebSocket handshake), the rate limit
//! and the login check.

pub mod protocol;

use std::{collections::HashMap, sync::Arc};

use serde_json::Value;
use tokio::task::JoinSet;

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
    generate::{CachedGenerator, ChatMessage, GenEvent, Generator, UiGenerator},
    http::{AppState, EVENT_BUFFER, check_prompt},
    metrics::Metrics,
};
use protocol::{ClientMsg, ServerMsg, Utf8Stream};

/// Messages queued for one client before its producers wait.
const OUT_BUFFER: usize = 256;
/// Largest message a client may send (stdin chunks, prompts).
const MAX_MESSAGE: usize = 1 << 20;
/// Generations and chat replies one connection may run at once.
pub const MAX_JOBS: usize = 4;
/// Chat messages (the client's and the replies) a connection remembers.
pub const CHAT_HISTORY: usize = 40;

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
                kernel: Arc::clone(&state.kernel),
                apps: Arc::clone(&state.apps),
                metrics: Arc::clone(&state.metrics),
                generator: Arc::clone(&state.generator),
                history: Arc::default(),
                caller,
            };
            conn.run(socket).await;
        })
}

struct Connection {
    kernel: Arc<crate::kernel::KernelLink>,
    apps: Arc<Apps>,
    metrics: Arc<Metrics>,
    generator: Arc<CachedGenerator<Generator>>,
    /// This connection's chat so far; one reply at a time.
    history: Arc<tokio::sync::Mutex<Vec<ChatMessage>>>,
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
        let mut denials = self.apps.subscribe_denials();
        let mut watching = HashMap::new();
        // Generations and chat replies; dropping the set aborts those still running.
        let mut jobs = JoinSet::new();
        loop {
            let msg = tokio::select! {
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        match protocol::parse(text.as_str()) {
                            Ok(m) => self.handle(m, &out_tx, &mut watching, &mut jobs).await,
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
                Some(_) = jobs.join_next(), if !jobs.is_empty() => None,
                event = events.recv() => match event {
                    Ok(e) if e.owner == self.caller.user_id => Some(ServerMsg::AppEvent(Box::new(e))),
                    Ok(_) => None,
                    Err(broadcast::error::RecvError::Lagged(n)) => Some(ServerMsg::error(
                        "internal",
                        format!("{n} app events were dropped; reload the app list"),
                    )),
                    Err(broadcast::error::RecvError::Closed) => None,
                },
                denial = denials.recv() => match denial {
                    Ok(d) if d.owner == self.caller.user_id => Some(ServerMsg::Denial(Box::new(d))),
                    Ok(_) | Err(broadcast::error::RecvError::Closed) => None,
                    Err(broadcast::error::RecvError::Lagged(n)) => Some(ServerMsg::error(
                        "internal",
                        format!("{n} denials were dropped; see GET /api/apps/{{id}}/denials"),
                    )),
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
        jobs: &mut JoinSet<()>,
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
            ClientMsg::Subscribe {
                topic: Some(topic),
                app,
                ..
            } if topic == "events" => {
                if watching.get(EVENTS_KEY).is_some_and(|t| !t.is_finished()) {
                    return None;
                }
                let client = match self.kernel.client().await {
                    Ok(c) => c,
                    Err(e) => return Some(ServerMsg::error("kernel_unavailable", e.to_string())),
                };
                let task = tokio::spawn(forward_events(client, app, out.clone()));
                watching.insert(EVENTS_KEY.into(), task);
                None
            }
            ClientMsg::Subscribe {
                topic: Some(topic), ..
            } => Some(ServerMsg::error(
                "invalid_argument",
                format!("unknown topic {topic:?}: the one topic is \"events\""),
            )),
            ClientMsg::Subscribe { app_id: None, .. } => Some(ServerMsg::error(
                "invalid_argument",
                "subscribe needs an app_id, or topic \"events\"",
            )),
            ClientMsg::Subscribe {
                app_id: Some(app_id),
                ..
            } => {
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
            ClientMsg::GenerateUi { id, .. } | ClientMsg::Chat { id, .. }
                if jobs.len() >= MAX_JOBS =>
            {
                Some(ServerMsg::Error {
                    id,
                    code: "rate_limited",
                    message: format!(
                        "{MAX_JOBS} generations or replies are running on this connection; wait for one to end"
                    ),
                })
            }
            ClientMsg::GenerateUi { prompt, id } => {
                let prompt = match check_prompt(&prompt) {
                    Ok(p) => p.to_owned(),
                    Err(e) => return Some(api_error(id, e)),
                };
                let generator = Arc::clone(&self.generator);
                let kernel = Arc::clone(&self.kernel);
                let user = self.caller.user_id.clone();
                let out = out.clone();
                jobs.spawn(async move {
                    let run = |tx| async move {
                        let user_llm = crate::settings::llm_config(&kernel, &user).await;
                        let name = generator.inner().describe();
                        let _ = crate::generate::generate_for(
                            user_llm,
                            &*generator,
                            name,
                            &prompt,
                            &tx,
                        )
                        .await;
                    };
                    relay(id, out, run).await;
                });
                None
            }
            ClientMsg::Chat { text, id } => {
                let text = match check_prompt(&text) {
                    Ok(t) => t.to_owned(),
                    Err(e) => return Some(api_error(id, e)),
                };
                let generator = Arc::clone(&self.generator);
                let history = Arc::clone(&self.history);
                let out = out.clone();
                jobs.spawn(async move {
                    let run = |tx| async move {
                        let mut history = history.lock().await;
                        history.push(ChatMessage {
                            role: "user".into(),
                            content: text,
                        });
                        match generator.chat(&history, &tx).await {
                            Ok(reply) => history.push(ChatMessage {
                                role: "assistant".into(),
                                content: reply,
                            }),
                            // Unanswered: a retry should not repeat it.
                            Err(_) => drop(history.pop()),
                        }
                        let extra = history.len().saturating_sub(CHAT_HISTORY);
                        history.drain(..extra);
                    };
                    relay(id, out, run).await;
                });
                None
            }
        }
    }
}

/// Runs `run` with a sender of generator events and forwards each event to the
/// client as a server message for request `id`, until `run` is done; if the
/// client goes away, `run`'s sends fail and it stops (`GenError::Cancelled`).
async fn relay<F, Fut>(id: Option<Value>, out: mpsc::Sender<ServerMsg>, run: F)
where
    F: FnOnce(mpsc::Sender<GenEvent>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (tx, mut rx) = mpsc::channel(EVENT_BUFFER);
    let forward = async move {
        while let Some(event) = rx.recv().await {
            if out
                .send(ServerMsg::from_gen(id.clone(), event))
                .await
                .is_err()
            {
                return;
            }
        }
    };
    // `run` owns the sender: when it is done, the channel closes and `forward` ends.
    tokio::join!(run(tx), forward);
}

fn api_error(id: Option<Value>, e: crate::http::ApiError) -> ServerMsg {
    ServerMsg::Error {
        id,
        code: e.code(),
        message: e.public_message(),
    }
}

fn app_error(e: AppError) -> ServerMsg {
    let api = crate::http::ApiError::from(e);
    ServerMsg::error(api.code(), api.public_message())
}

/// Sends an app's output so far, then as it comes, until the process exits.
/// The `watching` key of the kernel-events forwarder (app ids never start with `:`).
const EVENTS_KEY: &str = ":events";

/// Forwards the kernel's live events (`StreamEvents`, filtered in the kernel to
/// `app` when given) as `kernel_event` messages, until the client or the kernel
/// goes away.
async fn forward_events(
    mut client: agentos_client::Client,
    app: Option<String>,
    out: mpsc::Sender<ServerMsg>,
) {
    use agentos_proto::v1::event_stream_message::Msg;
    use tokio_stream::StreamExt;
    let query = pb::EventQuery {
        app: app.unwrap_or_default(),
        ..Default::default()
    };
    let mut live = match client.stream_events(query).await {
        Ok(r) => r.into_inner(),
        Err(status) => {
            let _ = out
                .send(ServerMsg::error(
                    "kernel_unavailable",
                    status.message().to_owned(),
                ))
                .await;
            return;
        }
    };
    while let Some(Ok(m)) = live.next().await {
        let msg = match m.msg {
            Some(Msg::Event(e)) => ServerMsg::KernelEvent {
                event: crate::kernel::events::to_json(&e),
            },
            Some(Msg::Lagged(missed)) => ServerMsg::KernelEventsLagged { missed },
            None => continue,
        };
        if out.send(msg).await.is_err() {
            return;
        }
    }
}

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
