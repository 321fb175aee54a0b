//! Files in the kernel's filesystem, for the services' own state (registry,
//! sessions): every call goes through the kernel's VFS syscalls, whose whole-file
//! writes are atomic (temp file, fsync, rename, directory fsync; see the kernel's
//! `vfs` module), so a crash mid-save leaves the previous content.

use std::time::Duration;

use agentos_client::{CallError, pb};
use pb::{syscall::Call, syscall_result::Value};

use super::{KernelLink, LinkError};

/// How long one file call may take.
const FILE_TIMEOUT: Duration = Duration::from_secs(10);

impl KernelLink {
    /// The content of `path`, or `None` when it does not exist.
    pub async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, LinkError> {
        let path = path.to_owned();
        let r = self
            .call(
                "read",
                FILE_TIMEOUT,
                |mut c| async move { c.read(&path).await },
            )
            .await;
        match r {
            Ok(d) => Ok(Some(d)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces `path` with `data` atomically, creating its directory first.
    pub async fn write_file(&self, path: &str, data: Vec<u8>) -> Result<(), LinkError> {
        if let Some((dir, _)) = path.rsplit_once('/')
            && !dir.is_empty()
        {
            let dir = dir.to_owned();
            self.call("mkdir", FILE_TIMEOUT, |mut c| async move {
                c.call(Call::Mkdir(pb::MakeDirectory {
                    path: dir,
                    parents: true,
                }))
                .await
                .map(drop)
            })
            .await?;
        }
        let path = path.to_owned();
        self.call("write", FILE_TIMEOUT, |mut c| async move {
            c.write(&path, &data).await
        })
        .await
    }

    /// Deletes `path`; `false` when there was nothing to delete.
    pub async fn delete_file(&self, path: &str) -> Result<bool, LinkError> {
        let path = path.to_owned();
        let r = self
            .call("delete", FILE_TIMEOUT, |mut c| async move {
                c.call(Call::Delete(pb::DeleteFile { path }))
                    .await
                    .map(drop)
            })
            .await;
        match r {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The names of the files in `dir` (empty when it does not exist).
    pub async fn list_files(&self, dir: &str) -> Result<Vec<String>, LinkError> {
        let dir = dir.to_owned();
        let r = self
            .call("list", FILE_TIMEOUT, |mut c| async move {
                match c.call(Call::List(pb::ListDirectory { path: dir })).await? {
                    Value::Listing(l) => Ok(l
                        .entries
                        .into_iter()
                        .filter(|e| e.kind == pb::FileKind::File as i32)
                        .map(|e| e.name)
                        .collect()),
                    _ => Err(CallError::Empty("list")),
                }
            })
            .await;
        match r {
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            other => other,
        }
    }
}

fn is_not_found(e: &LinkError) -> bool {
    matches!(e, LinkError::Call { source, .. } if source.code() == pb::ErrorCode::NotFound)
}
