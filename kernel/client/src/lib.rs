//! A small client for the AgentOS kernel, with no dependency on the kernel itself:
//! what a program needs to reach a kernel and run syscalls on it.
//!
//! * [`paths`]: where a kernel listens (`DIR/kernel.sock`, the default data
//!   directory, `$AGENTOS_KERNEL_SOCKET` inside a managed process), shared with the
//!   kernel so the two cannot disagree.
//! * [`connect`]: [`Client::connect_uds`], [`Client::connect_tcp`] (bearer token),
//!   [`Client::connect_env`]; HTTP/2 windows and message limits sized for bulk streams.
//! * [`error`]: [`CallError`], one error for a failed syscall whatever layer it failed
//!   in, with the kernel's `SyscallError` (code, syscall, path, errno) when there is one.
//! * [`call`]: [`Client::call`] and [`Client::batch`], plus a few typed helpers.
//!   Every other RPC is on the generated client, which [`Client`] derefs to.
//! * `shared` (Linux): [`Client::read_shared`] and [`Client::write_shared`], streams
//!   whose bytes travel in a memfd both sides map instead of through the socket,
//!   and `control`, the rings that carry their slot numbers.
//! * `mapping` (Linux): [`mapping::Mapping`], a shared mapping of an fd the kernel
//!   handed over, and [`Client::map_file`], a VFS file mapped into this process.
//! * `ring` (Linux): a single-producer/single-consumer message ring in a shared
//!   segment, with futex wake-ups only when the peer sleeps, safe against a
//!   hostile peer ([`ring::Producer`], [`ring::Consumer`]).
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use agentos_client::Client;
//!
//! // Inside a sandbox: the process's own socket; elsewhere, the default data dir's.
//! let mut kernel = Client::connect_env().await?;
//! kernel.write("/notes.txt", b"hello").await?;
//! assert_eq!(kernel.read("/notes.txt").await?, b"hello");
//! # Ok(()) }
//! ```

pub mod call;
pub mod causality;
pub mod connect;
#[cfg(target_os = "linux")]
pub mod control;
pub mod error;
#[cfg(feature = "logging")]
pub mod logging;
#[cfg(target_os = "linux")]
pub mod mapping;
pub mod paths;
#[cfg(target_os = "linux")]
pub mod ring;
#[cfg(target_os = "linux")]
pub mod shared;

pub use self::{
    connect::{Auth, Client, ConnectError, RawClient, uds_channel},
    error::{CallError, syscall_error},
    paths::{SOCKET_ENV, default_data_dir, socket_path, token_path},
};
pub use agentos_proto::v1 as pb;
