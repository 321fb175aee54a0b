//! The messages of `GET /api/stream`: JSON objects tagged by `type`.
//!
//! From the client:
//!
//! | `type` | fields | answer |
//! |---|---|---|
//! | `ping` | `id`? | `pong` with the same `id` |
//! | `subscribe` | `app_id` (a running native-process app) | its `process_output`s (what was buffered first), then `process_exit` |
//! | `subscribe` | `topic`: `"events"`, `app`? | the kernel's events as they happen, one `kernel_event` each (only `app`'s when given); `kernel_events_lagged` when some were missed |
//! | `stdin` | `app_id`, `data` (text) | — |
//! | `close_stdin` | `app_id` | — (the process reads end of file) |
//! | `resize` | `app_id`, `rows`, `cols` | — (its PTY's window size) |
//! | `generate_ui` | `prompt`, `id`? | `thought`s and `token`s, a `ui_component` per component (parents first), then `ui_complete` with the Blueprint; or `error` |
//! | `chat` | `text`, `id`? | `token`s, then `chat_complete` with the whole reply; or `error` |
//!
//! From the server: `pong`, `app_event` (`event`: launched, focused, window or
//! closed; `app_id`; `data`: the app), `kernel_event` (`event`: `seq`,
//! `timestamp_ns`, `category`, `severity`, `name`, `pid`, `app`, `causality`,
//! `value`, `code`), `kernel_events_lagged` (`missed`), `process_output` (`data` as text,
//! `data_base64` exact), `process_exit` (`code`, `signal` by name), `error`
//! (`code` from the HTTP error table, `message`); for a generation or a chat
//! reply `thought` (`text`), `token` (`text`), `ui_component` (`component` with
//! its children as ids, `placeholders`: those children, still to come, `parent`),
//! `ui_complete` (`blueprint`), `chat_complete` (`text`). Every message that
//! answers a `chat` or `generate_ui` carries its `id`, when it had one, so a
//! client can run several at once (up to [`super::MAX_JOBS`]; one more is an
//! `error` `rate_limited`). `denial` (`app_id`, `pid`, `access`, `reason`, `path`,
//! `capability`, `at_unix_ms`): the kernel refused one of the user's apps something,
//! told in the app's own view of its files; `POST /api/apps/{id}/grants` with that
//! `capability` (which names the host path) answers it.
//!
//! Chat history is per connection: each `chat` is answered knowing the earlier
//! ones (the last [`super::CHAT_HISTORY`] messages).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    apps::{AppEvent, Denial},
    blueprint::{Blueprint, FlatComponent},
    generate::{Completion, GenEvent},
};

/// A message from the client.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    Ping {
        #[serde(default)]
        id: Option<Value>,
    },
    /// A native-process app's output (`app_id`), or the kernel's events
    /// (`topic: "events"`, optionally only one `app`'s).
    Subscribe {
        #[serde(default)]
        app_id: Option<String>,
        #[serde(default)]
        topic: Option<String>,
        #[serde(default)]
        app: Option<String>,
    },
    Stdin {
        app_id: String,
        data: String,
    },
    CloseStdin {
        app_id: String,
    },
    Resize {
        app_id: String,
        rows: u32,
        cols: u32,
    },
    Chat {
        #[serde(default)]
        text: String,
        /// Echoed in every message that answers this one.
        #[serde(default)]
        id: Option<Value>,
    },
    GenerateUi {
        #[serde(default)]
        prompt: String,
        #[serde(default)]
        id: Option<Value>,
    },
}

/// A message to the client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
    },
    AppEvent(Box<AppEvent>),
    /// The kernel refused an app's process something: `app_id`, `pid`, `access`,
    /// `reason`, `path` (as the app sees them), and the `capability` that
    /// `POST /api/apps/{id}/grants` would add.
    Denial(Box<Denial>),
    /// One of the kernel collector's events (see `kernel::events`).
    KernelEvent {
        event: Value,
    },
    /// This subscriber fell behind the kernel's ring and missed `missed` events.
    KernelEventsLagged {
        missed: u64,
    },
    ProcessOutput {
        app_id: String,
        pid: u32,
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The output as text. A UTF-8 character split between chunks is sent
        /// whole with the later one; invalid bytes become U+FFFD.
        data: String,
        /// The exact bytes of this chunk, base64.
        data_base64: String,
        /// Bytes the kernel dropped before this chunk (its buffer overflowed).
        dropped: u64,
    },
    ProcessExit {
        app_id: String,
        pid: u32,
        code: Option<i32>,
        /// The signal that killed it, by name (`SIGKILL`).
        signal: Option<String>,
        oom_killed: bool,
        description: String,
    },
    Thought {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        text: String,
    },
    Token {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        text: String,
    },
    UiComponent {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        /// The component, its `children` as ids.
        component: Box<FlatComponent>,
        /// Its children not sent yet: show a placeholder for each.
        placeholders: Vec<String>,
        /// The component that showed a placeholder for this one.
        parent: Option<String>,
    },
    UiComplete {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        /// The whole app, validated.
        blueprint: Box<Blueprint>,
    },
    ChatComplete {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        /// The whole reply.
        text: String,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        code: &'static str,
        message: String,
    },
}

impl ServerMsg {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::Error {
            id: None,
            code,
            message: message.into(),
        }
    }

    /// The message for one step of a generation or chat reply answering request `id`.
    pub fn from_gen(id: Option<Value>, event: GenEvent) -> Self {
        match event {
            GenEvent::Thought { text } => Self::Thought { id, text },
            GenEvent::Token { text } => Self::Token { id, text },
            GenEvent::Component {
                component,
                placeholders,
                parent,
            } => Self::UiComponent {
                id,
                component,
                placeholders,
                parent,
            },
            GenEvent::Complete {
                result: Completion::Blueprint(blueprint),
            } => Self::UiComplete { id, blueprint },
            GenEvent::Complete {
                result: Completion::Reply(text),
            } => Self::ChatComplete { id, text },
            GenEvent::Error { code, message } => Self::Error { id, code, message },
        }
    }

    /// The JSON text of this message.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("server messages serialize")
    }
}

/// Parses a client message; an `error` message for the client when it does not.
pub fn parse(text: &str) -> Result<ClientMsg, ServerMsg> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ServerMsg::error("malformed_json", format!("not JSON: {e}")))?;
    serde_json::from_value(value)
        .map_err(|e| ServerMsg::error("invalid_body", format!("not a client message: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_client_messages_and_explains_bad_ones() {
        assert_eq!(
            parse(r#"{"type":"ping","id":3}"#).unwrap(),
            ClientMsg::Ping { id: Some(json!(3)) }
        );
        assert_eq!(
            parse(r#"{"type":"resize","app_id":"a1","rows":40,"cols":100}"#).unwrap(),
            ClientMsg::Resize {
                app_id: "a1".into(),
                rows: 40,
                cols: 100
            }
        );
        let code = |t: &str| match parse(t) {
            Err(ServerMsg::Error { code, .. }) => code,
            other => panic!("{t}: {other:?}"),
        };
        assert_eq!(code("{"), "malformed_json");
        assert_eq!(code(r#"{"type":"dance"}"#), "invalid_body");
        assert_eq!(code(r#"{"type":"stdin","app_id":"a1"}"#), "invalid_body");
        assert_eq!(
            parse(r#"{"type":"subscribe","topic":"events","app":"notes"}"#).unwrap(),
            ClientMsg::Subscribe {
                app_id: None,
                topic: Some("events".into()),
                app: Some("notes".into()),
            }
        );
        assert_eq!(code(r#"{"type":"ping","extra":1}"#), "invalid_body");
    }

    #[test]
    fn generator_events_become_server_messages_with_the_requests_id() {
        let text = |m: ServerMsg| serde_json::from_str::<Value>(&m.to_text()).unwrap();
        let id = Some(json!("r1"));
        assert_eq!(
            text(ServerMsg::from_gen(
                id.clone(),
                GenEvent::Token { text: "Hi".into() }
            )),
            json!({"type": "token", "id": "r1", "text": "Hi"})
        );
        assert_eq!(
            text(ServerMsg::from_gen(
                None,
                GenEvent::Complete {
                    result: Completion::Reply("Hi there".into())
                }
            )),
            json!({"type": "chat_complete", "text": "Hi there"})
        );
        assert_eq!(
            text(ServerMsg::from_gen(
                id,
                GenEvent::Error {
                    code: "not_understood",
                    message: "no".into()
                }
            )),
            json!({"type": "error", "id": "r1", "code": "not_understood", "message": "no"})
        );
        let bp =
            crate::blueprint::parse(include_str!("../../../apps/blueprint/calculator.bp")).unwrap();
        let first = crate::blueprint::flatten(&bp).into_iter().next().unwrap();
        let m = text(ServerMsg::from_gen(
            None,
            GenEvent::Component {
                component: Box::new(first.clone()),
                placeholders: first.children.clone(),
                parent: None,
            },
        ));
        assert_eq!(m["type"], "ui_component");
        assert_eq!(m["component"]["id"], json!(first.id));
        let m = text(ServerMsg::from_gen(
            None,
            GenEvent::Complete {
                result: Completion::Blueprint(Box::new(bp)),
            },
        ));
        assert_eq!(m["type"], "ui_complete");
        assert_eq!(m["blueprint"]["app"]["id"], "calculator");
    }

    #[test]
    fn characters_split_between_chunks_arrive_whole() {
        let mut s = Utf8Stream::default();
        let euro = "€".as_bytes();
        assert_eq!(s.push(&[b'a', euro[0]]), "a");
        assert_eq!(s.push(&euro[1..]), "€");
        assert_eq!(s.push(b"\xffok"), "\u{fffd}ok");
        assert_eq!(s.push(b""), "");
    }

    #[test]
    fn server_messages_carry_their_type() {
        let v: Value = serde_json::from_str(&ServerMsg::Pong { id: None }.to_text()).unwrap();
        assert_eq!(v, json!({"type": "pong"}));
        let v: Value =
            serde_json::from_str(&ServerMsg::error("unimplemented", "later").to_text()).unwrap();
        assert_eq!(
            v,
            json!({"type": "error", "code": "unimplemented", "message": "later"})
        );
    }
}

/// Turns a stream's chunks into text without breaking a UTF-8 character that a
/// chunk boundary splits: the incomplete tail waits for the next chunk.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// The text of `chunk` (after any bytes held back from the last one).
    pub fn push(&mut self, chunk: &[u8]) -> String {
        self.pending.extend_from_slice(chunk);
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(good).expect("checked as valid"));
                    match e.error_len() {
                        // An invalid sequence: replace it and go on.
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &bad[n..];
                        }
                        // An incomplete character at the end: keep it for later.
                        None => {
                            rest = bad;
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        out
    }
}
