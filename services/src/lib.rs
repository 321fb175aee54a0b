//! AgentOS services: the layer between the browser and the kernel daemon, what
//! systemd and launchd are to a desktop.
//!
//! The `agentos` binary (`src/main.rs`, one file per subcommand in `src/cli/`) is
//! glue over this library.
//!
//! # Organization
//!
//! One folder per service; each module's `//!` says what it owns.
//!
//! | module | owns |
//! |---|---|
//! | [`http`] | the HTTP edge (axum, loopback only): one router per resource, the layers (host/origin guard, auth, rate limit, body limit, timeout, metrics, tracing), errors as JSON in [`http::error`], the OpenAPI description |
//! | [`ws`] | `GET /api/stream`, the WebSocket: chat, UI generation, app events, native process I/O |
//! | [`apps`] | running apps: one lifecycle for Blueprint, native web and native-process apps, parent/child, focus, window state |
//! | [`registry`] | saved apps: per user, persisted through the kernel's filesystem |
//! | [`sessions`] | saved workspaces: per user, persisted through the kernel's filesystem |
//! | [`auth`] | users (argon2id), signed expiring session tokens, the API token and the one-time login token |
//! | [`providers`] | service providers for apps' tools: per-user storage with quotas, the user's files, system facts, the clipboard |
//! | [`metrics`] | Prometheus counters and histograms, written out as text |
//! | [`kernel`] | the gRPC link to the kernel daemon, starting and stopping it, syscalls as JSON |
//! | [`blueprint`] | the Blueprint format (built on the domain branch; see that module) |
//!
//! Domain modules ([`apps`], [`registry`], [`sessions`], [`auth`], [`blueprint`],
//! [`metrics`]) never import axum; only [`http`] and [`ws`] do.
//!
//! # Why the kernel's library is not linked
//!
//! This crate reaches the kernel only over gRPC, through `agentos-client`, and its
//! wire types come from `agentos-proto`. It used to link `agentos-kernel` for two
//! things: the doctor report (`agentos doctor` now runs the `agentos-kernel doctor`
//! binary, which asks the running kernel or probes the host itself, so there is one
//! formatter) and a status helper in a test (rebuilt there from its wire form).
//! Linking the daemon pulled io_uring, eBPF loading and the sandbox into a web
//! server that must not use them, and made every kernel change rebuild this crate;
//! the split keeps a clean process boundary, the same one a remote desktop would have.
//!
//! # What is left on the host
//!
//! `DATA_DIR/services.url` while `agentos up` runs, `DATA_DIR/api.token`, `DATA_DIR/auth/` (users, the token-signing key; all 0600)
//! and, through the kernel, the registry and sessions under `/.agentos/` of the
//! kernel's filesystem. A kernel this layer started is stopped when `agentos up`
//! stops, even on an error path (a `Drop` guard) or if `agentos` itself is killed
//! (the child's parent-death signal); a kernel it found running is left running.

pub mod apps;
pub mod auth;
pub mod blueprint;
#[doc(hidden)]
pub mod fuzz;
pub mod generate;
pub mod http;
pub mod kernel;
pub mod metrics;
pub mod providers;
pub mod registry;
pub mod sessions;
pub mod settings;
pub mod tools;
pub mod ws;

/// The file in the data directory where a running `agentos up` writes its URL
/// (`http://127.0.0.1:PORT`), for `agentos ps`, `apps` and `logs`.
pub const SERVICES_URL_FILE: &str = "services.url";

/// The version of this crate, reported by `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
