//! The virtual filesystem: a mount table of LocalFS and MemFS mounts.
//!
//! Virtual paths ([`VirtPath`]) are checked once at the edge. A path is resolved to
//! the mount with the longest matching prefix, and the rest of the path is handed to
//! that mount as a mount-relative path (`""` is the mount's root).
//!
//! * [`local`] maps a host directory. On Linux every operation goes through an
//!   io_uring ring, and every path is opened with `openat2(RESOLVE_BENEATH |
//!   RESOLVE_NO_MAGICLINKS)` relative to the mount's root fd, so `..`, absolute
//!   symlinks, symlinks swapped in after a check and `/proc` magic links cannot lead
//!   out. Hosts without io_uring or openat2 get the portable `std::fs` backend, whose
//!   confinement is a canonicalise-then-check and therefore racy (reported by doctor).
//! * [`mem`] keeps files in memory, bounded in total size.
//!
//! Replacing a file's content is atomic on both: LocalFS writes a temp file, fsyncs
//! it, renames it over the target and fsyncs the directory; a crash leaves the old
//! content and a journal entry from which the next start removes the temp file.

mod error;
pub mod local;
pub mod mem;
mod path;
mod types;

use std::sync::Arc;

pub use error::VfsError;
pub use path::{MAX_NAME, MAX_PATH, VirtPath};
pub use types::{DirEntry, FileKind, Metadata, Payload, WriteMode};

use self::{
    local::{LocalMount, LocalReader, LocalWriter},
    mem::{MemFs, MemReader, MemWriter},
};

/// Largest single `read` result; bigger transfers use the stream API.
pub const MAX_READ: u64 = 16 << 20;
/// Chunk size of copies.
const COPY_CHUNK: usize = 256 << 10;

/// A mounted filesystem.
pub enum MountFs {
    Local(LocalMount),
    Mem(Arc<MemFs>),
}

/// Dispatches one call to the mount's implementation.
macro_rules! on_mount {
    ($fs:expr, $m:ident => $call:expr) => {
        match $fs {
            MountFs::Local($m) => $call,
            MountFs::Mem($m) => $call,
        }
    };
}

struct Mount {
    at: VirtPath,
    fs: MountFs,
}

/// The mount table.
pub struct Vfs {
    /// Sorted deepest first, so the first prefix match is the longest.
    mounts: Vec<Mount>,
}

/// A resolved location: the virtual path (for messages) and its mount-relative part.
#[derive(Clone, Copy)]
pub struct Loc<'a> {
    pub vpath: &'a VirtPath,
    pub rel: &'a str,
}

impl Vfs {
    /// An empty mount table.
    pub fn new() -> Self {
        Self { mounts: Vec::new() }
    }

    /// Mounts `fs` at `at`. Mounting over an existing mount point replaces it.
    pub fn mount(&mut self, at: VirtPath, fs: MountFs) {
        self.mounts.retain(|m| m.at != at);
        self.mounts.push(Mount { at, fs });
        self.mounts
            .sort_by_key(|m| std::cmp::Reverse(m.at.components().count()));
    }

    /// The mount points and their kinds, for doctor and system info.
    pub fn mounts(&self) -> impl Iterator<Item = (&VirtPath, &MountFs)> {
        self.mounts.iter().map(|m| (&m.at, &m.fs))
    }

    fn resolve<'a>(&'a self, path: &'a VirtPath) -> Result<(&'a MountFs, Loc<'a>), VfsError> {
        for m in &self.mounts {
            if let Some(rel) = path.strip_prefix(&m.at) {
                return Ok((&m.fs, Loc { vpath: path, rel }));
            }
        }
        Err(VfsError::NotFound {
            path: path.to_string(),
        })
    }

    /// The host path behind a virtual path, when a LocalFS mount backs it.
    pub fn host_path(&self, path: &VirtPath) -> Option<std::path::PathBuf> {
        match self.resolve(path).ok()? {
            (MountFs::Local(m), loc) => Some(m.host_root().join(loc.rel)),
            (MountFs::Mem(_), _) => None,
        }
    }

    fn same_mount(&self, a: &VirtPath, b: &VirtPath) -> Result<bool, VfsError> {
        let (fa, _) = self.resolve(a)?;
        let (fb, _) = self.resolve(b)?;
        Ok(std::ptr::eq(fa, fb))
    }

    pub async fn read(&self, path: &VirtPath, offset: u64, len: u64) -> Result<Vec<u8>, VfsError> {
        let len = if len == 0 { MAX_READ } else { len };
        if len > MAX_READ {
            return Err(VfsError::TooLarge {
                path: path.to_string(),
                limit: MAX_READ,
            });
        }
        let (fs, loc) = self.resolve(path)?;
        on_mount!(fs, m => m.read(loc, offset, len).await)
    }

    pub async fn write(
        &self,
        path: &VirtPath,
        data: Vec<u8>,
        mode: WriteMode,
    ) -> Result<u64, VfsError> {
        let (fs, loc) = self.resolve(path)?;
        let n = data.len() as u64;
        on_mount!(fs, m => m.write(loc, data, mode).await)?;
        Ok(n)
    }

    pub async fn create(&self, path: &VirtPath, data: Vec<u8>) -> Result<(), VfsError> {
        let (fs, loc) = self.resolve(path)?;
        on_mount!(fs, m => m.create(loc, data).await)
    }

    pub async fn delete(&self, path: &VirtPath) -> Result<(), VfsError> {
        let (fs, loc) = self.resolve(path)?;
        self.refuse_mount_point(path)?;
        on_mount!(fs, m => m.delete(loc).await)
    }

    pub async fn list(&self, path: &VirtPath) -> Result<Vec<DirEntry>, VfsError> {
        let (fs, loc) = self.resolve(path)?;
        let mut entries = on_mount!(fs, m => m.list(loc).await)?;
        // Mount points directly below `path` show up as directories.
        for m in &self.mounts {
            if let Some(rest) = m.at.strip_prefix(path)
                && !rest.is_empty()
                && !rest.contains('/')
                && !entries.iter().any(|e| e.name == rest)
            {
                entries.push(DirEntry {
                    name: rest.to_owned(),
                    kind: FileKind::Directory,
                    utf8: true,
                });
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    pub async fn stat(&self, path: &VirtPath) -> Result<Metadata, VfsError> {
        let (fs, loc) = self.resolve(path)?;
        on_mount!(fs, m => m.stat(loc).await)
    }

    pub async fn exists(&self, path: &VirtPath) -> Result<bool, VfsError> {
        let (fs, loc) = self.resolve(path)?;
        on_mount!(fs, m => m.exists(loc).await)
    }

    pub async fn mkdir(&self, path: &VirtPath, parents: bool) -> Result<(), VfsError> {
        let (fs, loc) = self.resolve(path)?;
        on_mount!(fs, m => m.mkdir(loc, parents).await)
    }

    pub async fn rmdir(&self, path: &VirtPath, recursive: bool) -> Result<(), VfsError> {
        self.refuse_mount_point(path)?;
        let (fs, loc) = self.resolve(path)?;
        on_mount!(fs, m => m.rmdir(loc, recursive).await)
    }

    pub async fn truncate(&self, path: &VirtPath, size: u64) -> Result<(), VfsError> {
        let (fs, loc) = self.resolve(path)?;
        on_mount!(fs, m => m.truncate(loc, size).await)
    }

    /// Renames within a mount; across mounts, copies then deletes the source.
    pub async fn rename(&self, from: &VirtPath, to: &VirtPath) -> Result<(), VfsError> {
        self.refuse_mount_point(from)?;
        if self.same_mount(from, to)? {
            let (fs, src) = self.resolve(from)?;
            let (_, dst) = self.resolve(to)?;
            return on_mount!(fs, m => m.rename(src, dst).await);
        }
        if self.stat(from).await?.kind == FileKind::Directory {
            return Err(VfsError::CrossMount {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        self.copy(from, to, &|_, _| {}).await?;
        self.delete(from).await
    }

    /// Copies a file in chunks through the mounts' own I/O paths; the target's content
    /// is replaced atomically. `progress(done, total)` is called after every chunk.
    pub async fn copy(
        &self,
        from: &VirtPath,
        to: &VirtPath,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<u64, VfsError> {
        let reader = self.open_reader(from).await?;
        let total = reader.len();
        let mut writer = self.open_writer(to, WriteMode::Replace).await?;
        let mut done = 0;
        while done < total {
            let chunk = reader.read_at(done, COPY_CHUNK).await?;
            if chunk.is_empty() {
                break;
            }
            done += chunk.len() as u64;
            writer.write(chunk.into()).await?;
            progress(done, total);
        }
        writer.commit().await?;
        Ok(done)
    }

    /// The file at `path` as a raw fd, opened through the confined walk; `None` on
    /// a MemFS mount, which has no fds.
    pub(crate) async fn open_fd(
        &self,
        path: &VirtPath,
        mode: local::OpenMode,
    ) -> Result<Option<Arc<std::os::fd::OwnedFd>>, VfsError> {
        let (fs, loc) = self.resolve(path)?;
        match fs {
            MountFs::Local(m) => m.open_fd(loc, mode).await.map(Some),
            MountFs::Mem(_) => Ok(None),
        }
    }

    /// Opens a file for chunked reading.
    pub async fn open_reader(&self, path: &VirtPath) -> Result<Reader, VfsError> {
        let (fs, loc) = self.resolve(path)?;
        Ok(match fs {
            MountFs::Local(m) => Reader::Local(m.open_reader(loc).await?),
            MountFs::Mem(m) => Reader::Mem(m.open_reader(loc)?),
        })
    }

    /// Opens a file for chunked writing. With [`WriteMode::Replace`] nothing is visible
    /// until [`Writer::commit`]; dropping the writer uncommitted discards the data.
    pub async fn open_writer(&self, path: &VirtPath, mode: WriteMode) -> Result<Writer, VfsError> {
        let (fs, loc) = self.resolve(path)?;
        Ok(match fs {
            MountFs::Local(m) => Writer::Local(m.open_writer(loc, mode).await?),
            MountFs::Mem(m) => Writer::Mem(m.open_writer(loc, mode)?),
        })
    }

    fn refuse_mount_point(&self, path: &VirtPath) -> Result<(), VfsError> {
        if self.mounts.iter().any(|m| &m.at == path) {
            return Err(VfsError::Busy {
                path: path.to_string(),
            });
        }
        Ok(())
    }
}

impl Default for Vfs {
    fn default() -> Self {
        Self::new()
    }
}

/// A file open for chunked reads.
pub enum Reader {
    Local(LocalReader),
    Mem(MemReader),
}

impl Reader {
    /// The file's length when it was opened.
    pub fn len(&self) -> u64 {
        match self {
            Reader::Local(r) => r.len(),
            Reader::Mem(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Up to `len` bytes at `offset`; empty at the end of the file.
    pub async fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, VfsError> {
        match self {
            Reader::Local(r) => r.read_at(offset, len).await,
            Reader::Mem(r) => r.read_at(offset, len),
        }
    }

    /// Reads up to `buf.len()` bytes at `offset` into shared memory; 0 at the end.
    pub async fn read_into(
        &self,
        offset: u64,
        buf: crate::shm::SharedBuf,
    ) -> Result<usize, VfsError> {
        match self {
            Reader::Local(r) => r.read_into(offset, buf).await,
            Reader::Mem(r) => Ok(r.read_into(offset, &buf)),
        }
    }
}

/// A file open for chunked writes.
pub enum Writer {
    Local(LocalWriter),
    Mem(MemWriter),
}

impl Writer {
    pub async fn write(&mut self, data: Payload) -> Result<(), VfsError> {
        match self {
            Writer::Local(w) => w.write(data).await,
            Writer::Mem(w) => w.write(data),
        }
    }

    /// Makes the written content durable and visible.
    pub async fn commit(self) -> Result<(), VfsError> {
        match self {
            Writer::Local(w) => w.commit().await,
            Writer::Mem(w) => w.commit(),
        }
    }
}
