//! `GET /api/stream`: the desktop's WebSocket.
//!
//! Owns the message protocol (JSON objects with a `type`): from the client `chat`,
//! `generate_ui`, `ping`, `subscribe`; from the server `token`, `thought`,
//! `ui_component`, `ui_complete`, `app_event`, `process_output`, `process_exit`,
//! `denial`, `error`, `pong`. Native processes' stdin, output, PTY resizes and exits
//! travel here, bridged to the kernel's `ProcessIo` stream.
