//! [`RecordingHost`]: a [`ToolHost`] for tests that records every call and keeps
//! storage and files in memory.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
};

use serde_json::{Value, json};

use super::host::{DirEntry, Found, HostError, HttpRequest, HttpResponse, LogLevel, ToolHost};

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
        self.files().insert(path.to_owned(), content.to_owned());
        self
    }

    fn lock_calls(&self) -> MutexGuard<'_, Vec<HostCall>> {
        lock(&self.calls)
    }

    fn files(&self) -> MutexGuard<'_, BTreeMap<String, String>> {
        lock(&self.files)
    }

    fn storage(&self) -> MutexGuard<'_, BTreeMap<(String, String), Value>> {
        lock(&self.storage)
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
        let store = self.storage();
        Ok(store.get(&(app.to_owned(), key.to_owned())).cloned())
    }

    async fn storage_set(&self, app: &str, key: &str, value: Value) -> Result<(), HostError> {
        self.record(HostCall::StorageSet {
            app: app.into(),
            key: key.into(),
            value: value.clone(),
        });
        let mut store = self.storage();
        store.insert((app.to_owned(), key.to_owned()), value);
        Ok(())
    }

    async fn storage_delete(&self, app: &str, key: &str) -> Result<bool, HostError> {
        self.record(HostCall::StorageDelete {
            app: app.into(),
            key: key.into(),
        });
        let mut store = self.storage();
        Ok(store.remove(&(app.to_owned(), key.to_owned())).is_some())
    }

    async fn storage_list(&self, app: &str, prefix: &str) -> Result<Vec<String>, HostError> {
        self.record(HostCall::StorageList {
            app: app.into(),
            prefix: prefix.into(),
        });
        let store = self.storage();
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
        let files = self.files();
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
        let mut files = self.files();
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
        let files = self.files();
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
        let files = self.files();
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
        let mut files = self.files();
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
        let mut files = self.files();
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
        let mut files = self.files();
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
        let files = self.files();
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().expect("no test panics while holding the lock")
}
