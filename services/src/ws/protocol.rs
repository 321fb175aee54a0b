//! The messages of `GET /api/stream`: JSON objects tagged by `type`.
//!
//! From the client:
//!
//! | `type` | fields | answer |
//! |---|---|---|
//! | `ping` | `id`? | `pong` with the same `id` |
//! | `subscribe` | `app_id` (a running native-process app) | its `process_output`s (what was buffered first), then `process_exit` |
//! | `stdin` | `app_id`, `data` (text) | — |
//! | `close_stdin` | `app_id` | — (the process reads end of file) |
//! | `resize` | `app_id`, `rows`, `cols` | — (its PTY's window size) |
//! | `chat`, `generate_ui` | `text` / `prompt` | `error` `unimplemented` until the generators are merged |
//!
//! From the server: `pong`, `app_event` (the caller's apps launched, focused,
//! moved, closed), `process_output` (`data` base64 and `text`, lossy UTF-8),
//! `process_exit`, `error` (`code` from the HTTP error table, `message`); `token`,
//! `thought`, `ui_component`, `ui_complete` and `denial` are reserved for the
//! generators and the kernel's denials.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::apps::AppEvent;

/// A message from the client.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    Ping {
        #[serde(default)]
        id: Option<Value>,
    },
    Subscribe {
        app_id: String,
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
    },
    GenerateUi {
        #[serde(default)]
        prompt: String,
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
    ProcessOutput {
        app_id: String,
        pid: u32,
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The bytes, base64.
        data: String,
        /// The bytes as text, invalid UTF-8 replaced.
        text: String,
        /// Bytes the kernel dropped before this chunk (its buffer overflowed).
        dropped: u64,
    },
    ProcessExit {
        app_id: String,
        pid: u32,
        code: Option<i32>,
        signal: Option<i32>,
        oom_killed: bool,
        description: String,
    },
    Error {
        code: &'static str,
        message: String,
    },
}

impl ServerMsg {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
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
        assert_eq!(code(r#"{"type":"ping","extra":1}"#), "invalid_body");
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
