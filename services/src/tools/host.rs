//! [`ToolHost`]: what tools need from outside pure code, and a recording fake of it.
//!
//! `storage.*`, `fs.*`, `system.*`, `app.*` and `http.*` reach the kernel, the disk,
//! other apps or the network. The HTTP layer implements this trait over the kernel
//! client; tests use [`RecordingHost`]. By the time a method is called, the caller's
//! permission for the namespace has been checked, and for `http.*` the URL's host is
//! one the app may reach; the host still applies the app's kernel grants.

use std::{collections::BTreeMap, future::Future, sync::Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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

/// One call a [`RecordingHost`] received.
#[derive(Debug, Clone, PartialEq)]
pub enum HostCall {
    StorageGet {
        app: String,
        key: String,
    },
    StorageSet {
        app: String,
        key: String,
        value: Value,
    },
    StorageDelete {
        app: String,
        key: String,
    },
    StorageList {
        app: String,
        prefix: String,
    },
    FsRead {
        app: String,
        path: String,
    },
    FsWrite {
        app: String,
        path: String,
        content: String,
    },
    FsList {
        app: String,
        path: String,
    },
    FsDelete {
        app: String,
        path: String,
    },
    FsMkdir {
        app: String,
        path: String,
    },
    FsMove {
        app: String,
        from: String,
        to: String,
    },
    FsCopy {
        app: String,
        from: String,
        to: String,
    },
    FsStat {
        app: String,
        path: String,
    },
    FsSearch {
        app: String,
        path: String,
        query: String,
        max_depth: usize,
        limit: usize,
    },
    SystemInfo,
    Now,
    Log {
        app: String,
        level: LogLevel,
        message: String,
    },
    AppLaunch {
        app: String,
        target: String,
    },
    AppClose {
        app: String,
        target: String,
    },
    AppFocus {
        app: String,
        target: String,
    },
    Http {
        app: String,
        request: HttpRequest,
    },
}

/// A [`ToolHost`] for tests: records every call and keeps storage and files in memory.
#[derive(Debug, Default)]
pub struct RecordingHost {
    calls: Mutex<Vec<HostCall>>,
    storage: Mutex<BTreeMap<(String, String), Value>>,
    files: Mutex<BTreeMap<String, String>>,
    http_reply: Option<HttpResponse>,
    now_ms: i64,
}

impl RecordingHost {
    pub fn new() -> Self {
        Self::default()
    }

    /// The calls so far, in order.
    pub fn calls(&self) -> Vec<HostCall> {
        self.lock_calls().clone()
    }

    /// Sets what `http` answers (without one, it is `Unavailable`).
    pub fn with_http_reply(mut self, reply: HttpResponse) -> Self {
        self.http_reply = Some(reply);
        self
    }

    /// Sets what `now_unix_ms` answers.
    pub fn with_now_ms(mut self, ms: i64) -> Self {
        self.now_ms = ms;
        self
    }

    /// Adds a file for `fs.read` to find.
    pub fn with_file(self, path: &str, content: &str) -> Self {
        self.files
            .lock()
            .expect("no test panics while holding the lock")
            .insert(path.to_owned(), content.to_owned());
        self
    }

    fn lock_calls(&self) -> std::sync::MutexGuard<'_, Vec<HostCall>> {
        self.calls
            .lock()
            .expect("no test panics while holding the lock")
    }

    fn record(&self, call: HostCall) {
        self.lock_calls().push(call);
    }
}

impl ToolHost for RecordingHost {
    async fn storage_get(&self, app: &str, key: &str) -> Result<Option<Value>, HostError> {
        self.record(HostCall::StorageGet {
            app: app.into(),
            key: key.into(),
        });
        let store = self
            .storage
            .lock()
            .expect("no test panics while holding the lock");
        Ok(store.get(&(app.to_owned(), key.to_owned())).cloned())
    }

    async fn storage_set(&self, app: &str, key: &str, value: Value) -> Result<(), HostError> {
        self.record(HostCall::StorageSet {
            app: app.into(),
            key: key.into(),
            value: value.clone(),
        });
        let mut store = self
            .storage
            .lock()
            .expect("no test panics while holding the lock");
        store.insert((app.to_owned(), key.to_owned()), value);
        Ok(())
    }

    async fn storage_delete(&self, app: &str, key: &str) -> Result<bool, HostError> {
        self.record(HostCall::StorageDelete {
            app: app.into(),
            key: key.into(),
        });
        let mut store = self
            .storage
            .lock()
            .expect("no test panics while holding the lock");
        Ok(store.remove(&(app.to_owned(), key.to_owned())).is_some())
    }

    async fn storage_list(&self, app: &str, prefix: &str) -> Result<Vec<String>, HostError> {
        self.record(HostCall::StorageList {
            app: app.into(),
            prefix: prefix.into(),
        });
        let store = self
            .storage
            .lock()
            .expect("no test panics while holding the lock");
        Ok(store
            .keys()
            .filter(|(a, k)| a == app && k.starts_with(prefix))
            .map(|(_, k)| k.clone())
            .collect())
    }

    async fn fs_read(&self, app: &str, path: &str) -> Result<String, HostError> {
        self.record(HostCall::FsRead {
            app: app.into(),
            path: path.into(),
        });
        let files = self
            .files
            .lock()
            .expect("no test panics while holding the lock");
        files
            .get(path)
            .cloned()
            .ok_or_else(|| HostError::NotFound { what: path.into() })
    }

    async fn fs_write(&self, app: &str, path: &str, content: &[u8]) -> Result<(), HostError> {
        let content = String::from_utf8_lossy(content).into_owned();
        self.record(HostCall::FsWrite {
            app: app.into(),
            path: path.into(),
            content: content.clone(),
        });
        let mut files = self
            .files
            .lock()
            .expect("no test panics while holding the lock");
        files.insert(path.to_owned(), content);
        Ok(())
    }

    async fn fs_search(
        &self,
        app: &str,
        path: &str,
        query: &str,
        max_depth: usize,
        limit: usize,
    ) -> Result<Value, HostError> {
        self.record(HostCall::FsSearch {
            app: app.into(),
            path: path.into(),
            query: query.into(),
            max_depth,
            limit,
        });
        let files = self
            .files
            .lock()
            .expect("no test panics while holding the lock");
        let dir = format!("{}/", path.trim_end_matches('/'));
        let query = query.to_lowercase();
        let matches: Vec<Found> = files
            .iter()
            .filter(|(p, _)| {
                p.strip_prefix(&dir).is_some_and(|rest| {
                    rest.split('/').count() <= max_depth
                        && rest
                            .rsplit('/')
                            .next()
                            .is_some_and(|n| n.to_lowercase().contains(&query))
                })
            })
            .take(limit)
            .map(|(p, c)| Found {
                path: p.clone(),
                entry: DirEntry {
                    name: p.rsplit('/').next().unwrap_or_default().to_owned(),
                    is_dir: false,
                    size: c.len() as u64,
                },
            })
            .collect();
        Ok(json!({"matches": matches, "truncated": false}))
    }

    async fn fs_list(&self, app: &str, path: &str) -> Result<Vec<DirEntry>, HostError> {
        self.record(HostCall::FsList {
            app: app.into(),
            path: path.into(),
        });
        let files = self
            .files
            .lock()
            .expect("no test panics while holding the lock");
        let dir = format!("{}/", path.trim_end_matches('/'));
        Ok(files
            .iter()
            .filter_map(|(p, c)| {
                let name = p.strip_prefix(&dir)?;
                Some(DirEntry {
                    name: name.to_owned(),
                    is_dir: false,
                    size: c.len() as u64,
                })
            })
            .collect())
    }

    async fn fs_delete(&self, app: &str, path: &str) -> Result<(), HostError> {
        self.record(HostCall::FsDelete {
            app: app.into(),
            path: path.into(),
        });
        let mut files = self
            .files
            .lock()
            .expect("no test panics while holding the lock");
        files
            .remove(path)
            .map(drop)
            .ok_or_else(|| HostError::NotFound { what: path.into() })
    }

    async fn fs_mkdir(&self, app: &str, path: &str) -> Result<(), HostError> {
        self.record(HostCall::FsMkdir {
            app: app.into(),
            path: path.into(),
        });
        Ok(())
    }

    async fn fs_move(&self, app: &str, from: &str, to: &str) -> Result<(), HostError> {
        self.record(HostCall::FsMove {
            app: app.into(),
            from: from.into(),
            to: to.into(),
        });
        let mut files = self
            .files
            .lock()
            .expect("no test panics while holding the lock");
        let content = files
            .remove(from)
            .ok_or_else(|| HostError::NotFound { what: from.into() })?;
        files.insert(to.to_owned(), content);
        Ok(())
    }

    async fn fs_copy(&self, app: &str, from: &str, to: &str) -> Result<(), HostError> {
        self.record(HostCall::FsCopy {
            app: app.into(),
            from: from.into(),
            to: to.into(),
        });
        let mut files = self
            .files
            .lock()
            .expect("no test panics while holding the lock");
        let content = files
            .get(from)
            .cloned()
            .ok_or_else(|| HostError::NotFound { what: from.into() })?;
        files.insert(to.to_owned(), content);
        Ok(())
    }

    async fn fs_stat(&self, app: &str, path: &str) -> Result<Value, HostError> {
        self.record(HostCall::FsStat {
            app: app.into(),
            path: path.into(),
        });
        let files = self
            .files
            .lock()
            .expect("no test panics while holding the lock");
        let c = files
            .get(path)
            .ok_or_else(|| HostError::NotFound { what: path.into() })?;
        Ok(
            serde_json::json!({"path": path, "is_dir": false, "size": c.len(), "modified_unix_ms": 0}),
        )
    }

    async fn system_info(&self) -> Result<Value, HostError> {
        self.record(HostCall::SystemInfo);
        Ok(json!({"os": "AgentOS", "version": crate::VERSION}))
    }

    async fn now_unix_ms(&self) -> Result<i64, HostError> {
        self.record(HostCall::Now);
        Ok(self.now_ms)
    }

    async fn system_log(&self, app: &str, level: LogLevel, message: &str) -> Result<(), HostError> {
        self.record(HostCall::Log {
            app: app.into(),
            level,
            message: message.into(),
        });
        Ok(())
    }

    async fn app_launch(&self, app: &str, target: &str) -> Result<String, HostError> {
        self.record(HostCall::AppLaunch {
            app: app.into(),
            target: target.into(),
        });
        Ok(format!("{target}-1"))
    }

    async fn app_close(&self, app: &str, target: &str) -> Result<(), HostError> {
        self.record(HostCall::AppClose {
            app: app.into(),
            target: target.into(),
        });
        Ok(())
    }

    async fn app_focus(&self, app: &str, target: &str) -> Result<(), HostError> {
        self.record(HostCall::AppFocus {
            app: app.into(),
            target: target.into(),
        });
        Ok(())
    }

    async fn http(&self, app: &str, request: HttpRequest) -> Result<HttpResponse, HostError> {
        self.record(HostCall::Http {
            app: app.into(),
            request,
        });
        self.http_reply
            .clone()
            .ok_or_else(|| HostError::Unavailable {
                reason: "no reply configured".into(),
            })
    }
}
