//! Service providers (storage, filesystem, system, clipboard): what apps' tools
//! reach outside pure code, per user, through the kernel.
//!
//! Plain Rust, no HTTP. The tool runner calls `tools::ToolHost`; its
//! implementation, `http::UserHost`, is a thin adapter over [`Providers`] and the
//! caller's user id, whose methods take the same arguments plus the user, and
//! whose [`ProviderError`] has `HostError`'s variants.
//! Permission checks against the app's Blueprint happen in the tool runner before
//! any call here.
//!
//! * **storage**: a JSON object per user and app, in the kernel's filesystem at
//!   `/.agentos/users/<user>/storage/<app>.json`, replaced atomically by the
//!   kernel's write; at most [`STORAGE_KEYS`] keys and [`STORAGE_BYTES`] bytes per app.
//! * **filesystem**: the user's files, `/.agentos/users/<user>/files/` of the
//!   kernel's filesystem; paths are relative to it and may not climb out (`..`).
//! * **system**: the kernel's `system_info`, the clock, the log (tracing, with the
//!   app's id).
//! * **clipboard**: one text per user, in memory.
//!
//! One user cannot name another's files or stores: the user's id is part of every
//! path, and comes from the session, never from the app.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use agentos_client::pb;
use serde_json::{Value, json};

use crate::{
    kernel::{KernelLink, LinkError},
    registry::{user_dir, valid_id},
};

/// Most keys one app may keep.
pub const STORAGE_KEYS: usize = 1024;
/// Most bytes one app's store may take (as JSON).
pub const STORAGE_BYTES: usize = 256 << 10;
/// How long a `system_info` call may take.
const SYSTEM_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a provider could not do what was asked (the variants of `tools::HostError`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("denied: {reason}")]
    Denied { reason: String },
    #[error("quota exceeded: {what}")]
    QuotaExceeded { what: String },
    #[error("unavailable: {reason}")]
    Unavailable { reason: String },
}

impl From<LinkError> for ProviderError {
    fn from(e: LinkError) -> Self {
        use agentos_client::pb::ErrorCode as C;
        match &e {
            LinkError::Call { source, .. } => match source.code() {
                C::NotFound => Self::NotFound {
                    what: source.to_string(),
                },
                C::PermissionDenied | C::InvalidArgument => Self::Denied {
                    reason: source.to_string(),
                },
                C::ResourceExhausted => Self::QuotaExceeded {
                    what: source.to_string(),
                },
                _ => Self::Unavailable {
                    reason: e.to_string(),
                },
            },
            _ => Self::Unavailable {
                reason: e.to_string(),
            },
        }
    }
}

pub use crate::tools::{DirEntry, Found};

/// How deep `fs.search` goes below its folder, at most (and by default).
pub const SEARCH_MAX_DEPTH: usize = 16;
pub const SEARCH_DEFAULT_DEPTH: usize = 8;
/// How many matches `fs.search` answers, at most (and by default).
pub const SEARCH_MAX_RESULTS: usize = 500;
pub const SEARCH_DEFAULT_RESULTS: usize = 100;
/// How many folders one search lists, at most, whatever it finds.
pub const SEARCH_MAX_FOLDERS: usize = 2000;

/// What `fs.search` found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchResult {
    /// Paths under the user's files, in breadth-first order (nearer first).
    pub matches: Vec<Found>,
    /// The limit on depth, results or folders cut the search short.
    pub truncated: bool,
}

/// What `fs.stat` tells of a path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileInfo {
    /// The path under the user's files, with a leading `/`.
    pub path: String,
    pub is_dir: bool,
    pub size: u64,
    pub modified_unix_ms: i64,
}

/// A kernel "not found" names the user's path, not the kernel's.
fn named(e: ProviderError, path: &str) -> ProviderError {
    match e {
        ProviderError::NotFound { .. } => ProviderError::NotFound {
            what: path.to_owned(),
        },
        other => other,
    }
}

/// The providers of every user.
pub struct Providers {
    kernel: Arc<KernelLink>,
    /// One store write at a time: a write reads, changes and replaces the file.
    storage: tokio::sync::Mutex<()>,
    clipboard: Mutex<HashMap<String, String>>,
}

fn check_app(app: &str) -> Result<(), ProviderError> {
    if valid_id(app) {
        Ok(())
    } else {
        Err(ProviderError::Denied {
            reason: format!("{app:?} is not an app id"),
        })
    }
}

impl Providers {
    pub fn new(kernel: Arc<KernelLink>) -> Self {
        Self {
            kernel,
            storage: tokio::sync::Mutex::new(()),
            clipboard: Mutex::new(HashMap::new()),
        }
    }

    fn store_path(user: &str, app: &str) -> String {
        format!("{}/{app}.json", user_dir(user, "storage"))
    }

    async fn load(&self, user: &str, app: &str) -> Result<BTreeMap<String, Value>, ProviderError> {
        check_app(app)?;
        match self.kernel.read_file(&Self::store_path(user, app)).await? {
            None => Ok(BTreeMap::new()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| ProviderError::Unavailable {
                reason: format!("the store of {app} is damaged: {e}"),
            }),
        }
    }

    /// The value under `key` in `app`'s store, if any.
    pub async fn storage_get(
        &self,
        user: &str,
        app: &str,
        key: &str,
    ) -> Result<Option<Value>, ProviderError> {
        Ok(self.load(user, app).await?.remove(key))
    }

    /// Sets `key`; over the quota nothing changes.
    pub async fn storage_set(
        &self,
        user: &str,
        app: &str,
        key: &str,
        value: Value,
    ) -> Result<(), ProviderError> {
        let _one = self.storage.lock().await;
        let mut store = self.load(user, app).await?;
        store.insert(key.to_owned(), value);
        if store.len() > STORAGE_KEYS {
            return Err(ProviderError::QuotaExceeded {
                what: format!("{app} may keep {STORAGE_KEYS} keys"),
            });
        }
        let bytes = serde_json::to_vec(&store).expect("JSON values serialize");
        if bytes.len() > STORAGE_BYTES {
            return Err(ProviderError::QuotaExceeded {
                what: format!("{app}'s store may take {STORAGE_BYTES} bytes"),
            });
        }
        Ok(self
            .kernel
            .write_file(&Self::store_path(user, app), bytes)
            .await?)
    }

    /// Deletes `key`; whether it existed.
    pub async fn storage_delete(
        &self,
        user: &str,
        app: &str,
        key: &str,
    ) -> Result<bool, ProviderError> {
        let _one = self.storage.lock().await;
        let mut store = self.load(user, app).await?;
        if store.remove(key).is_none() {
            return Ok(false);
        }
        let bytes = serde_json::to_vec(&store).expect("JSON values serialize");
        self.kernel
            .write_file(&Self::store_path(user, app), bytes)
            .await?;
        Ok(true)
    }

    /// `app`'s keys that start with `prefix`, sorted.
    pub async fn storage_list(
        &self,
        user: &str,
        app: &str,
        prefix: &str,
    ) -> Result<Vec<String>, ProviderError> {
        Ok(self
            .load(user, app)
            .await?
            .into_keys()
            .filter(|k| k.starts_with(prefix))
            .collect())
    }

    /// The path in the kernel's filesystem of the user's `path`.
    fn file_path(user: &str, path: &str) -> Result<String, ProviderError> {
        let rel = path.trim_start_matches('/');
        let bad = rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
        if bad && !rel.is_empty() {
            return Err(ProviderError::Denied {
                reason: format!("{path:?}: name a file under your files, without . or .."),
            });
        }
        let root = user_dir(user, "files");
        Ok(if rel.is_empty() {
            root
        } else {
            format!("{root}/{rel}")
        })
    }

    /// The text of the user's file `path`.
    pub async fn fs_read(&self, user: &str, path: &str) -> Result<String, ProviderError> {
        let p = Self::file_path(user, path)?;
        let bytes = self
            .kernel
            .read_file(&p)
            .await?
            .ok_or_else(|| ProviderError::NotFound {
                what: path.to_owned(),
            })?;
        String::from_utf8(bytes).map_err(|_| ProviderError::Denied {
            reason: format!("{path} is not text"),
        })
    }

    /// Replaces the user's file `path` with `content`, byte for byte, atomically
    /// (creating its directory).
    pub async fn fs_write(
        &self,
        user: &str,
        path: &str,
        content: &[u8],
    ) -> Result<(), ProviderError> {
        let p = Self::file_path(user, path)?;
        Ok(self.kernel.write_file(&p, content.to_vec()).await?)
    }

    /// The files and folders below the user's folder `path` whose name contains
    /// `query` (case-insensitive), breadth first through the kernel's listings, at
    /// most `max_depth` levels down and `limit` matches (see the `SEARCH_*` bounds).
    pub async fn fs_search(
        &self,
        user: &str,
        path: &str,
        query: &str,
        max_depth: usize,
        limit: usize,
    ) -> Result<SearchResult, ProviderError> {
        let needle = query.trim().to_lowercase();
        if needle.is_empty() {
            return Err(ProviderError::Denied {
                reason: "give a name, or part of one, to search for".into(),
            });
        }
        Self::file_path(user, path)?;
        let (max_depth, limit) = (
            max_depth.min(SEARCH_MAX_DEPTH),
            limit.clamp(1, SEARCH_MAX_RESULTS),
        );
        let root = format!("/{}", path.trim_matches('/'));
        let mut queue = std::collections::VecDeque::from([(root, 1usize)]);
        let (mut matches, mut truncated, mut listed) = (Vec::new(), false, 0);
        while let Some((dir, depth)) = queue.pop_front() {
            if listed == SEARCH_MAX_FOLDERS {
                truncated = true;
                break;
            }
            listed += 1;
            for entry in self.fs_list(user, &dir).await? {
                let child = format!("{}/{}", dir.trim_end_matches('/'), entry.name);
                if entry.is_dir {
                    if depth < max_depth {
                        queue.push_back((child.clone(), depth + 1));
                    } else {
                        truncated = true;
                    }
                }
                if entry.name.to_lowercase().contains(&needle) {
                    if matches.len() == limit {
                        return Ok(SearchResult {
                            matches,
                            truncated: true,
                        });
                    }
                    matches.push(Found { path: child, entry });
                }
            }
        }
        Ok(SearchResult { matches, truncated })
    }

    /// The entries of the user's directory `path` (empty when it does not exist).
    pub async fn fs_list(&self, user: &str, path: &str) -> Result<Vec<DirEntry>, ProviderError> {
        let p = Self::file_path(user, path)?;
        let call = pb::syscall::Call::List(pb::ListDirectory { path: p.clone() });
        let listing = self
            .kernel
            .call(
                "list",
                SYSTEM_TIMEOUT,
                |mut c| async move { c.call(call).await },
            )
            .await;
        match listing {
            Ok(pb::syscall_result::Value::Listing(l)) => {
                let mut out = Vec::with_capacity(l.entries.len());
                for e in l.entries {
                    let is_dir = e.kind == pb::FileKind::Directory as i32;
                    // A file's size is its stat; one that vanished meanwhile shows 0.
                    let size = if is_dir {
                        0
                    } else {
                        match self.stat(&format!("{p}/{}", e.name)).await {
                            Ok(st) => st.size,
                            Err(_) => 0,
                        }
                    };
                    out.push(DirEntry {
                        name: e.name,
                        is_dir,
                        size,
                    });
                }
                Ok(out)
            }
            Ok(_) => Ok(Vec::new()),
            Err(e) => match ProviderError::from(e) {
                ProviderError::NotFound { .. } => Ok(Vec::new()),
                other => Err(other),
            },
        }
    }

    /// Deletes the user's file `path`, or the folder `path` with what it holds.
    pub async fn fs_delete(&self, user: &str, path: &str) -> Result<(), ProviderError> {
        let p = Self::file_path(user, path)?;
        if p == user_dir(user, "files") {
            return Err(ProviderError::Denied {
                reason: "the root of your files cannot be deleted".into(),
            });
        }
        let st = self.stat(&p).await.map_err(|e| named(e, path))?;
        if st.kind == pb::FileKind::Directory as i32 {
            let call = pb::syscall::Call::Rmdir(pb::RemoveDirectory {
                path: p,
                recursive: true,
            });
            self.fs_call("rmdir", call)
                .await
                .map_err(|e| named(e, path))?;
            return Ok(());
        }
        if self.kernel.delete_file(&p).await? {
            Ok(())
        } else {
            Err(ProviderError::NotFound {
                what: path.to_owned(),
            })
        }
    }

    /// One filesystem syscall (already confined to the user's files by its caller).
    async fn fs_call(
        &self,
        name: &'static str,
        call: pb::syscall::Call,
    ) -> Result<pb::syscall_result::Value, ProviderError> {
        Ok(self
            .kernel
            .call(
                name,
                SYSTEM_TIMEOUT,
                |mut c| async move { c.call(call).await },
            )
            .await?)
    }

    /// The kernel's stat of a path in its filesystem.
    async fn stat(&self, p: &str) -> Result<pb::FileStat, ProviderError> {
        let call = pb::syscall::Call::Stat(pb::StatFile { path: p.to_owned() });
        match self.fs_call("stat", call).await? {
            pb::syscall_result::Value::Stat(st) => Ok(st),
            _ => Err(ProviderError::Unavailable {
                reason: "the kernel answered stat with something else".into(),
            }),
        }
    }

    /// The kernel path of the user's `to`, which must not exist yet: a move or copy
    /// never replaces what is there.
    async fn free_path(&self, user: &str, to: &str) -> Result<String, ProviderError> {
        let p = Self::file_path(user, to)?;
        match self.stat(&p).await {
            Ok(_) => Err(ProviderError::Denied {
                reason: format!("{to} already exists"),
            }),
            Err(ProviderError::NotFound { .. }) => Ok(p),
            Err(e) => Err(e),
        }
    }

    /// Creates the user's folder `path` (and missing parents; an existing one is fine).
    pub async fn fs_mkdir(&self, user: &str, path: &str) -> Result<(), ProviderError> {
        let p = Self::file_path(user, path)?;
        let call = pb::syscall::Call::Mkdir(pb::MakeDirectory {
            path: p,
            parents: true,
        });
        self.fs_call("mkdir", call).await.map(drop)
    }

    /// Renames or moves the user's file or folder `from` to `to` (one `rename(2)`).
    pub async fn fs_move(&self, user: &str, from: &str, to: &str) -> Result<(), ProviderError> {
        let call = pb::syscall::Call::Move(pb::MoveFile {
            from: Self::file_path(user, from)?,
            to: self.free_path(user, to).await?,
        });
        self.fs_call("move", call)
            .await
            .map(drop)
            .map_err(|e| named(e, from))
    }

    /// Copies the user's file `from` to `to`.
    pub async fn fs_copy(&self, user: &str, from: &str, to: &str) -> Result<(), ProviderError> {
        let call = pb::syscall::Call::Copy(pb::CopyFile {
            from: Self::file_path(user, from)?,
            to: self.free_path(user, to).await?,
        });
        self.fs_call("copy", call)
            .await
            .map(drop)
            .map_err(|e| named(e, from))
    }

    /// What the user's `path` is: file or folder, size, last change.
    pub async fn fs_stat(&self, user: &str, path: &str) -> Result<FileInfo, ProviderError> {
        let p = Self::file_path(user, path)?;
        let st = self.stat(&p).await.map_err(|e| named(e, path))?;
        Ok(FileInfo {
            path: format!("/{}", path.trim_start_matches('/')),
            is_dir: st.kind == pb::FileKind::Directory as i32,
            size: st.size,
            modified_unix_ms: st.modified_unix_ns / 1_000_000,
        })
    }

    /// Host and AgentOS facts, from the kernel.
    pub async fn system_info(&self) -> Result<Value, ProviderError> {
        let call = pb::syscall::Call::SystemInfo(pb::GetSystemInfo {});
        let v = self
            .kernel
            .call("system_info", SYSTEM_TIMEOUT, |mut c| async move {
                c.call(call).await
            })
            .await?;
        let pb::syscall_result::Value::SystemInfo(i) = v else {
            return Err(ProviderError::Unavailable {
                reason: "the kernel answered system_info with something else".into(),
            });
        };
        Ok(json!({
            "os": i.os,
            "kernel_release": i.kernel_release,
            "hostname": i.hostname,
            "arch": i.arch,
            "cpus": i.cpus,
            "memory_total_bytes": i.memory_total_bytes,
            "memory_available_bytes": i.memory_available_bytes,
            "agentos_version": i.agentos_version,
            "services_version": crate::VERSION,
            "kernel_uptime_ms": i.kernel_uptime_ms,
        }))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_unix_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    /// Writes an app's message to the services' log.
    pub fn system_log(&self, user: &str, app: &str, level: tracing::Level, message: &str) {
        match level {
            tracing::Level::ERROR => tracing::error!(user, app, "{message}"),
            tracing::Level::WARN => tracing::warn!(user, app, "{message}"),
            tracing::Level::INFO => tracing::info!(user, app, "{message}"),
            _ => tracing::debug!(user, app, "{message}"),
        }
    }

    /// The user's clipboard text.
    pub fn clipboard_read(&self, user: &str) -> Option<String> {
        self.clip().get(user).cloned()
    }

    /// Replaces the user's clipboard text.
    pub fn clipboard_write(&self, user: &str, text: &str) {
        self.clip().insert(user.to_owned(), text.to_owned());
    }

    fn clip(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.clipboard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_stay_in_the_users_files() {
        assert_eq!(
            Providers::file_path("u1", "notes/a.txt").unwrap(),
            "/.agentos/users/u1/files/notes/a.txt"
        );
        assert_eq!(
            Providers::file_path("u1", "/notes").unwrap(),
            "/.agentos/users/u1/files/notes"
        );
        assert_eq!(
            Providers::file_path("u1", "").unwrap(),
            "/.agentos/users/u1/files"
        );
        for bad in ["../u2/files/x", "a/../../x", "a//b", "./a"] {
            assert!(
                matches!(
                    Providers::file_path("u1", bad),
                    Err(ProviderError::Denied { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_clipboard_is_per_user() {
        let p = Providers::new(Arc::new(KernelLink::new("/nonexistent.sock".into())));
        p.clipboard_write("u1", "one");
        assert_eq!(p.clipboard_read("u1").as_deref(), Some("one"));
        assert_eq!(p.clipboard_read("u2"), None);
    }
}
