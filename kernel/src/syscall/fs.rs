//! The 14 filesystem syscalls: each path is resolved once against the caller's
//! working directory and checked ([`Kernel::path`], the handler's first line), then
//! handed to the VFS.

use agentos_proto::v1 as pb;
use pb::syscall_result::Value;

use super::{Kernel, Progress};
use crate::{
    capability::Access,
    error::KernelError,
    identity::Caller,
    observe::collector::{Category, Severity, monotonic_ns},
    vfs::{DirEntry, FileKind, Metadata, VirtPath, WriteMode},
};

pub(super) async fn read(k: &Kernel, c: &Caller, r: pb::ReadFile) -> Result<Value, KernelError> {
    let p = k.path(c, &r.path, Access::Read)?;
    Ok(Value::Data(
        timed(k, c, "read", k.vfs.read(&p, r.offset, r.length)).await?,
    ))
}

pub(super) async fn write(k: &Kernel, c: &Caller, r: pb::WriteFile) -> Result<Value, KernelError> {
    let p = k.path(c, &r.path, Access::Write)?;
    let mode = if r.append {
        WriteMode::Append
    } else {
        WriteMode::Replace
    };
    Ok(Value::Count(
        timed(k, c, "write", k.vfs.write(&p, r.data, mode)).await?,
    ))
}

pub(super) async fn create(
    k: &Kernel,
    c: &Caller,
    r: pb::CreateFile,
) -> Result<Value, KernelError> {
    let p = k.path(c, &r.path, Access::Create)?;
    timed(k, c, "create", k.vfs.create(&p, r.data)).await?;
    Ok(Value::Unit(pb::Unit {}))
}

pub(super) async fn delete(
    k: &Kernel,
    c: &Caller,
    r: pb::DeleteFile,
) -> Result<Value, KernelError> {
    let p = k.path(c, &r.path, Access::Delete)?;
    timed(k, c, "delete", k.vfs.delete(&p)).await?;
    Ok(Value::Unit(pb::Unit {}))
}

pub(super) async fn list(
    k: &Kernel,
    c: &Caller,
    r: pb::ListDirectory,
) -> Result<Value, KernelError> {
    let p = k.path(c, &r.path, Access::List)?;
    let entries = timed(k, c, "list", k.vfs.list(&p))
        .await?
        .into_iter()
        .map(entry_to_proto)
        .collect();
    Ok(Value::Listing(pb::DirListing { entries }))
}

pub(super) async fn stat(k: &Kernel, c: &Caller, r: pb::StatFile) -> Result<Value, KernelError> {
    let p = k.path(c, &r.path, Access::Read)?;
    let meta = timed(k, c, "stat", k.vfs.stat(&p)).await?;
    Ok(Value::Stat(stat_to_proto(&p, &meta)))
}

pub(super) async fn rename(k: &Kernel, c: &Caller, r: pb::MoveFile) -> Result<Value, KernelError> {
    let from = k.path(c, &r.from, Access::Delete)?;
    let to = k.path(c, &r.to, Access::Create)?;
    timed(k, c, "rename", k.vfs.rename(&from, &to)).await?;
    Ok(Value::Unit(pb::Unit {}))
}

pub(super) async fn copy(
    k: &Kernel,
    c: &Caller,
    r: pb::CopyFile,
    progress: &Progress,
) -> Result<Value, KernelError> {
    let from = k.path(c, &r.from, Access::Read)?;
    let to = k.path(c, &r.to, Access::Create)?;
    let report = |done: u64, total: u64| {
        if total > 0 {
            progress.set(done as f64 / total as f64);
        }
    };
    Ok(Value::Count(
        timed(k, c, "copy", k.vfs.copy(&from, &to, &report)).await?,
    ))
}

pub(super) async fn mkdir(
    k: &Kernel,
    c: &Caller,
    r: pb::MakeDirectory,
) -> Result<Value, KernelError> {
    let p = k.path(c, &r.path, Access::Create)?;
    timed(k, c, "mkdir", k.vfs.mkdir(&p, r.parents)).await?;
    Ok(Value::Unit(pb::Unit {}))
}

pub(super) async fn rmdir(
    k: &Kernel,
    c: &Caller,
    r: pb::RemoveDirectory,
) -> Result<Value, KernelError> {
    let p = k.path(c, &r.path, Access::Delete)?;
    timed(k, c, "rmdir", k.vfs.rmdir(&p, r.recursive)).await?;
    Ok(Value::Unit(pb::Unit {}))
}

pub(super) fn getcwd(k: &Kernel, c: &Caller) -> Result<Value, KernelError> {
    let cwd = k.callers.cwd(c);
    if c.managed.is_some() {
        k.check(c, Access::List(k.host_path(&cwd)))?;
    }
    Ok(Value::Path(cwd.to_string()))
}

pub(super) async fn setcwd(k: &Kernel, c: &Caller, r: pb::SetCwd) -> Result<Value, KernelError> {
    let p = k.path(c, &r.path, Access::List)?;
    if timed(k, c, "stat", k.vfs.stat(&p)).await?.kind != FileKind::Directory {
        return Err(crate::vfs::VfsError::NotADirectory {
            path: p.to_string(),
        }
        .into());
    }
    k.callers.set_cwd(c, p.clone());
    Ok(Value::Path(p.to_string()))
}

pub(super) async fn truncate(
    k: &Kernel,
    c: &Caller,
    r: pb::TruncateFile,
) -> Result<Value, KernelError> {
    let p = k.path(c, &r.path, Access::Write)?;
    timed(k, c, "truncate", k.vfs.truncate(&p, r.size)).await?;
    Ok(Value::Unit(pb::Unit {}))
}

pub(super) async fn exists(
    k: &Kernel,
    c: &Caller,
    r: pb::FileExists,
) -> Result<Value, KernelError> {
    let p = k.path(c, &r.path, Access::Read)?;
    Ok(Value::Flag(timed(k, c, "exists", k.vfs.exists(&p)).await?))
}

/// Runs one VFS operation and records its latency (category `vfs`).
async fn timed<T>(
    k: &Kernel,
    c: &Caller,
    op: &'static str,
    run: impl Future<Output = Result<T, crate::vfs::VfsError>>,
) -> Result<T, crate::vfs::VfsError> {
    let start = monotonic_ns();
    let out = run.await;
    let severity = if out.is_ok() {
        Severity::Debug
    } else {
        Severity::Info
    };
    k.collector
        .emit(super::event(c, Category::Vfs, severity, op).value(monotonic_ns() - start));
    out
}

fn kind_to_proto(kind: FileKind) -> i32 {
    (match kind {
        FileKind::File => pb::FileKind::File,
        FileKind::Directory => pb::FileKind::Directory,
        FileKind::Symlink => pb::FileKind::Symlink,
        FileKind::Other => pb::FileKind::Other,
    }) as i32
}

fn entry_to_proto(e: DirEntry) -> pb::DirEntry {
    pb::DirEntry {
        name: e.name,
        kind: kind_to_proto(e.kind),
        utf8: e.utf8,
    }
}

fn stat_to_proto(p: &VirtPath, m: &Metadata) -> pb::FileStat {
    pb::FileStat {
        path: p.to_string(),
        kind: kind_to_proto(m.kind),
        size: m.size,
        mode: m.mode,
        modified_unix_ns: m.modified_unix_ns,
        created_unix_ns: m.created_unix_ns,
        inode: m.inode,
        nlink: m.nlink,
    }
}
