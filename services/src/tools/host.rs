//! [`ToolHost`]: what tools need from outside pure code.
//!
//! `storage.*`, `fs.*`, `system.*`, `app.*` and `http.*` reach the kernel, the disk,
//! other apps or the network. The HTTP layer implements this trait over the kernel
//! client; tests use [`super::RecordingHost`]. By the time a method is called, the caller's
//! permission for the namespace has been checked, and for `http.*` the URL's host is
//! one the app may reach; the host still applies the app's kernel grants.

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why the host could not do what a tool asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HostError {
    #[error("{what} not found")]
    NotFound { what: String },
    /// The kernel refused (the app's grants do not cover it).
    #[error("denied: {reason}")]
    Denied { reason: String },
    #[error("quota exceeded: {what}")]
    QuotaExceeded { what: String },
    /// The facility is down (no kernel connection, the network unreachable).
    #[error("unavailable: {reason}")]
    Unavailable { reason: String },
}

/// An entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
}

/// A search match: its path under the user's files, and its entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    pub path: String,
    #[serde(flatten)]
    pub entry: DirEntry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpMethod {
    Get,
    Post,
}

/// An outgoing request whose host has already been allowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: HttpMethod,
    pub url: String,
    pub content_type: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

/// The outside world, as tools see it. `app` is always the calling app's id.
pub trait ToolHost: Send + Sync {
    /// The value under `key` in the app's store, if any.
    fn storage_get(
        &self,
        app: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Value>, HostError>> + Send;
    fn storage_set(
        &self,
        app: &str,
        key: &str,
        value: Value,
    ) -> impl Future<Output = Result<(), HostError>> + Send;
    /// Whether the key existed.
    fn storage_delete(
        &self,
        app: &str,
        key: &str,
    ) -> impl Future<Output = Result<bool, HostError>> + Send;
    /// The app's keys that start with `prefix`, sorted.
    fn storage_list(
        &self,
        app: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, HostError>> + Send;
    fn fs_read(
        &self,
        app: &str,
        path: &str,
    ) -> impl Future<Output = Result<String, HostError>> + Send;
    /// Writes `content`, byte for byte, atomically (a reader sees the old or the new
    /// content, never half).
    fn fs_write(
        &self,
        app: &str,
        path: &str,
        content: &[u8],
    ) -> impl Future<Output = Result<(), HostError>> + Send;
    /// Names containing `query` below the folder `path`, nearer first, at most
    /// `max_depth` levels down and `limit` of them: `{matches: [{path, name, is_dir,
    /// size}], truncated}`.
    fn fs_search(
        &self,
        app: &str,
        path: &str,
        query: &str,
        max_depth: usize,
        limit: usize,
    ) -> impl Future<Output = Result<Value, HostError>> + Send;
    fn fs_list(
        &self,
        app: &str,
        path: &str,
    ) -> impl Future<Output = Result<Vec<DirEntry>, HostError>> + Send;
    fn fs_delete(
        &self,
        app: &str,
        path: &str,
    ) -> impl Future<Output = Result<(), HostError>> + Send;
    /// Creates a folder and its missing parents.
    fn fs_mkdir(&self, app: &str, path: &str)
    -> impl Future<Output = Result<(), HostError>> + Send;
    /// Renames or moves a file or folder.
    fn fs_move(
        &self,
        app: &str,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<(), HostError>> + Send;
    fn fs_copy(
        &self,
        app: &str,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<(), HostError>> + Send;
    /// `{path, is_dir, size, modified_unix_ms}`.
    fn fs_stat(
        &self,
        app: &str,
        path: &str,
    ) -> impl Future<Output = Result<Value, HostError>> + Send;
    /// Host and AgentOS facts for `system.info`.
    fn system_info(&self) -> impl Future<Output = Result<Value, HostError>> + Send;
    /// Milliseconds since the Unix epoch (a seam, so tests control the clock).
    fn now_unix_ms(&self) -> impl Future<Output = Result<i64, HostError>> + Send;
    fn system_log(
        &self,
        app: &str,
        level: LogLevel,
        message: &str,
    ) -> impl Future<Output = Result<(), HostError>> + Send;
    /// Launches a registry app as a child of `app`; returns the new instance's id.
    fn app_launch(
        &self,
        app: &str,
        target: &str,
    ) -> impl Future<Output = Result<String, HostError>> + Send;
    fn app_close(
        &self,
        app: &str,
        target: &str,
    ) -> impl Future<Output = Result<(), HostError>> + Send;
    fn app_focus(
        &self,
        app: &str,
        target: &str,
    ) -> impl Future<Output = Result<(), HostError>> + Send;
    fn http(
        &self,
        app: &str,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, HostError>> + Send;
}
