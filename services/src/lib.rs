//! AgentOS services: the layer between the browser and the kernel daemon.
//!
//! The `agentos` binary (`src/main.rs`, `src/cli/`) is glue over this library.
//!
//! # Organization
//!
//! * [`kernel`] reaches the kernel daemon: [`kernel::KernelLink`] keeps one lazily
//!   (re)connected gRPC client over the kernel's Unix socket, and
//!   [`kernel::KernelChild`] starts `agentos-kernel` as a child process, waits until
//!   its socket answers and stops it again (SIGTERM, then SIGKILL).
//! * [`http`] is the HTTP edge (axum, loopback only): `GET /health`, the `/api` tree,
//!   and the desktop's static files with an SPA fallback. Errors become JSON in one
//!   place, [`http::error`].
//! * [`syscall_json`] turns a syscall name and proto3 JSON arguments into a
//!   `Syscall`, and results and errors back into JSON (`agentos call`), all from the
//!   embedded descriptor set.
//!
//! # What is left on the host
//!
//! Nothing of its own. A kernel this layer started is stopped when `agentos up`
//! stops, even on an error path (a `Drop` guard) or if `agentos` itself is killed
//! (the child's parent-death signal); a kernel it found running is left running.

pub mod blueprint;
pub mod generate;
pub mod http;
pub mod kernel;
pub mod syscall_json;
pub mod tools;

/// The version of this crate, reported by `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
