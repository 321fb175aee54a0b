//! LocalFS: a host directory mounted into the VFS.
//!
//! The composite operations (atomic replace, exclusive create, recursive mkdir and
//! rmdir, chunked readers and writers) are written once here over a small set of
//! primitives, which [`LocalIo`] implements twice: on io_uring with `openat2`
//! confinement ([`uring`], Linux) and on `std::fs` ([`portable`], elsewhere, with a
//! weaker, racy confinement check). The backend is chosen once, at start-up.
//!
//! # Host resources
//!
//! Atomic replaces create `.agentos-tmp-*` files next to their target; each is
//! recorded in the journal (`<data>/run/journal`) first, so that a kernel killed
//! mid-write leaves nothing behind after its next start ([`LocalFs::new`] sweeps).

mod journal;
mod portable;
#[cfg(target_os = "linux")]
mod ring;
#[cfg(not(target_os = "linux"))]
#[path = "no_uring.rs"]
mod ring;
#[cfg(target_os = "linux")]
mod uring;
#[cfg(not(target_os = "linux"))]
use ring as uring;

use std::{
    io,
    os::fd::{AsRawFd, OwnedFd},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

pub(crate) use self::ring::RingError;
pub use self::ring::batched;
use self::{journal::JournalEntry, portable::StdIo, ring::Ring, uring::UringIo};
pub use journal::Journal;

use super::{DirEntry, FileKind, Loc, Metadata, Payload, VfsError, WriteMode, path::split_parent};
use crate::shm::SharedBuf;

/// Prefix of the temp files of atomic replaces.
pub const TMP_PREFIX: &str = ".agentos-tmp-";

/// Read size for files whose size says nothing (e.g. /proc files report 0).
const READ_PROBE: usize = 64 << 10;

/// A LocalFS mount, shared by its readers and writers.
pub type LocalMount = Arc<LocalFs>;

/// How a file is opened.
#[derive(Clone, Copy, Debug)]
pub(crate) enum OpenMode {
    Read,
    /// `O_PATH`: resolve only.
    Path,
    Append,
    CreateNew,
    WriteExisting,
}

impl OpenMode {
    /// The `openat2` flags (io_uring only; `std::fs` has its own `OpenOptions`).
    #[cfg(target_os = "linux")]
    fn flags(self) -> i32 {
        match self {
            Self::Read => libc::O_RDONLY,
            Self::Path => libc::O_PATH,
            Self::Append => libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT,
            Self::CreateNew => libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            Self::WriteExisting => libc::O_WRONLY,
        }
    }
}

/// The shared io_uring ring, or why there is none.
pub enum RingChoice {
    Uring(RingHandle),
    Portable,
}

/// A started ring thread, shared by every io_uring LocalFS mount.
#[derive(Clone)]
pub struct RingHandle(Ring);

impl RingHandle {
    /// Starts the ring thread. An error means the host has no usable io_uring.
    pub fn start() -> Result<Self, String> {
        Ring::new().map(Self).map_err(|e: RingError| e.to_string())
    }

    /// How many rings serve LocalFS (one per CPU).
    pub fn rings(&self) -> usize {
        self.0.len()
    }
}

/// The I/O backend of one LocalFS mount.
enum LocalIo {
    Uring(UringIo),
    Std(StdIo),
}

/// An open directory.
enum Dir {
    Fd(Arc<OwnedFd>),
    Path(PathBuf),
}

/// A host directory mounted into the VFS.
pub struct LocalFs {
    io: LocalIo,
    host_root: PathBuf,
    journal: Option<Journal>,
    tmp_counter: AtomicU64,
}

impl LocalFs {
    /// Mounts `host_root`; with a journal, first removes temp files a crash left.
    pub fn new(
        host_root: &Path,
        ring: &RingChoice,
        journal: Option<Journal>,
    ) -> io::Result<LocalMount> {
        let io = match ring {
            RingChoice::Uring(r) => LocalIo::Uring(UringIo::new(r.0.clone(), host_root)?),
            RingChoice::Portable => LocalIo::Std(StdIo::new(host_root)?),
        };
        let host_root = std::fs::canonicalize(host_root)?;
        if let Some(j) = &journal {
            j.sweep(&host_root);
        }
        Ok(Arc::new(Self {
            io,
            host_root,
            journal,
            tmp_counter: AtomicU64::new(0),
        }))
    }

    /// The host directory this mount maps.
    pub fn host_root(&self) -> &Path {
        &self.host_root
    }

    /// `"io_uring"` or `"std::fs"`.
    pub fn backend(&self) -> &'static str {
        match self.io {
            LocalIo::Uring(_) => "io_uring",
            LocalIo::Std(_) => "std::fs",
        }
    }

    // ---- primitives, dispatched to the backend ----

    async fn open(&self, rel: &str, mode: OpenMode) -> io::Result<Arc<OwnedFd>> {
        match &self.io {
            LocalIo::Uring(u) => u.open(rel, mode).await,
            LocalIo::Std(s) => s.open(rel, mode).await,
        }
    }

    async fn open_dir(&self, rel: &str) -> io::Result<Dir> {
        match &self.io {
            LocalIo::Uring(u) => u.open_dir(rel).await.map(Dir::Fd),
            LocalIo::Std(s) => s.open_dir(rel).map(Dir::Path),
        }
    }

    async fn open_at(&self, dir: &Dir, name: &str, mode: OpenMode) -> io::Result<Arc<OwnedFd>> {
        match (&self.io, dir) {
            (LocalIo::Uring(u), Dir::Fd(fd)) => u.open_at(fd, name, mode).await,
            (LocalIo::Std(s), Dir::Path(p)) => {
                s.open(&rel_join(&self.host_root, p, name)?, mode).await
            }
            _ => unreachable!("directory handles come from the same backend"),
        }
    }

    async fn read_at(&self, file: &Arc<OwnedFd>, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        match &self.io {
            LocalIo::Uring(u) => u.read_at(file, len, offset).await,
            LocalIo::Std(s) => s.read_at(file, len, offset).await,
        }
    }

    async fn read_into(
        &self,
        file: &Arc<OwnedFd>,
        buf: SharedBuf,
        offset: u64,
    ) -> io::Result<usize> {
        match &self.io {
            LocalIo::Uring(u) => u.read_into(file, buf, offset).await,
            LocalIo::Std(s) => s.read_into(file, buf, offset).await,
        }
    }

    async fn write_all_at(
        &self,
        file: &Arc<OwnedFd>,
        data: Payload,
        offset: Option<u64>,
    ) -> io::Result<()> {
        match &self.io {
            LocalIo::Uring(u) => u.write_all_at(file, data, offset).await,
            LocalIo::Std(s) => s.write_all_at(file, data, offset).await,
        }
    }

    async fn fsync(&self, file: &Arc<OwnedFd>) -> io::Result<()> {
        match &self.io {
            LocalIo::Uring(u) => u.fsync(file).await,
            LocalIo::Std(s) => s.fsync(file).await,
        }
    }

    async fn fsync_dir(&self, dir: &Dir) -> io::Result<()> {
        match (&self.io, dir) {
            (LocalIo::Uring(u), Dir::Fd(fd)) => u.fsync(fd).await,
            (LocalIo::Std(s), Dir::Path(p)) => s.fsync_dir(p).await,
            _ => unreachable!("directory handles come from the same backend"),
        }
    }

    async fn fstat(&self, file: &Arc<OwnedFd>) -> io::Result<Metadata> {
        match &self.io {
            LocalIo::Uring(u) => u.fstat(file).await,
            LocalIo::Std(s) => s.fstat(file).await,
        }
    }

    async fn mkdir_at(&self, dir: &Dir, name: &str) -> io::Result<()> {
        match (&self.io, dir) {
            (LocalIo::Uring(u), Dir::Fd(fd)) => u.mkdir_at(fd, name).await,
            (LocalIo::Std(_), Dir::Path(p)) => std::fs::create_dir(p.join(name)),
            _ => unreachable!("directory handles come from the same backend"),
        }
    }

    async fn unlink_at(&self, dir: &Dir, name: &str, is_dir: bool) -> io::Result<()> {
        match (&self.io, dir) {
            (LocalIo::Uring(u), Dir::Fd(fd)) => u.unlink_at(fd, name, is_dir).await,
            (LocalIo::Std(_), Dir::Path(p)) if is_dir => std::fs::remove_dir(p.join(name)),
            (LocalIo::Std(_), Dir::Path(p)) => {
                let target = p.join(name);
                if std::fs::symlink_metadata(&target)?.is_dir() {
                    return Err(io::Error::from_raw_os_error(libc::EISDIR));
                }
                std::fs::remove_file(target)
            }
            _ => unreachable!("directory handles come from the same backend"),
        }
    }

    /// Renames; with `noreplace`, fails with `EEXIST` instead of replacing `to`.
    async fn rename_at(
        &self,
        from_dir: &Dir,
        from: &str,
        to_dir: &Dir,
        to: &str,
        noreplace: bool,
    ) -> io::Result<()> {
        match (&self.io, from_dir, to_dir) {
            (LocalIo::Uring(u), Dir::Fd(a), Dir::Fd(b)) => {
                u.rename_at(a, from, b, to, noreplace).await
            }
            (LocalIo::Std(_), Dir::Path(a), Dir::Path(b)) if noreplace => {
                std::fs::hard_link(a.join(from), b.join(to))?;
                std::fs::remove_file(a.join(from))
            }
            (LocalIo::Std(_), Dir::Path(a), Dir::Path(b)) => {
                std::fs::rename(a.join(from), b.join(to))
            }
            _ => unreachable!("directory handles come from the same backend"),
        }
    }

    async fn list_dir(&self, dir: &Dir) -> io::Result<Vec<DirEntry>> {
        let path = match dir {
            // Reading through our own fd's /proc link lists exactly the directory the
            // confined openat2 opened.
            Dir::Fd(fd) => PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
            Dir::Path(p) => p.clone(),
        };
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let ft = entry.file_type()?;
            let kind = if ft.is_dir() {
                FileKind::Directory
            } else if ft.is_file() {
                FileKind::File
            } else if ft.is_symlink() {
                FileKind::Symlink
            } else {
                FileKind::Other
            };
            let raw = entry.file_name();
            let name = raw.to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) {
                continue;
            }
            out.push(DirEntry {
                utf8: raw.to_str().is_some(),
                name,
                kind,
            });
        }
        Ok(out)
    }

    async fn stat_rel(&self, rel: &str) -> io::Result<Metadata> {
        match &self.io {
            LocalIo::Uring(u) => u.stat(rel).await,
            LocalIo::Std(s) => s.stat(rel).await,
        }
    }

    async fn ftruncate(&self, file: &Arc<OwnedFd>, len: u64) -> io::Result<()> {
        match &self.io {
            LocalIo::Uring(u) => u.ftruncate(file, len).await,
            LocalIo::Std(s) => s.ftruncate(file, len).await,
        }
    }

    // ---- the filesystem operations ----

    /// Reads up to `len` bytes at `offset`, until EOF. No `stat` first: on io_uring
    /// an open and reads of cached data complete inline, while a statx would be
    /// punted to a kernel worker; a directory fails the read with EISDIR anyway.
    pub async fn read(&self, loc: Loc<'_>, offset: u64, len: u64) -> Result<Vec<u8>, VfsError> {
        let err = |e| VfsError::from_io("read", loc.vpath, e);
        let file = self.open(loc.rel, OpenMode::Read).await.map_err(err)?;
        let mut out = Vec::new();
        let len = len as usize;
        while out.len() < len {
            let want = (len - out.len()).min(READ_PROBE.max(out.len()));
            let chunk = self
                .read_at(&file, want, offset + out.len() as u64)
                .await
                .map_err(err)?;
            if chunk.is_empty() {
                break;
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Whether the path resolves (one confined `openat2(O_PATH)`, no statx).
    pub async fn exists(&self, loc: Loc<'_>) -> Result<bool, VfsError> {
        let resolved = match &self.io {
            LocalIo::Uring(u) => u.resolves(loc.rel).await,
            LocalIo::Std(s) => s.open(loc.rel, OpenMode::Path).await.map(drop),
        };
        match resolved {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => Ok(false),
            Err(e) => Err(VfsError::from_io("exists", loc.vpath, e)),
        }
    }

    pub async fn write(
        self: &Arc<Self>,
        loc: Loc<'_>,
        data: Vec<u8>,
        mode: WriteMode,
    ) -> Result<(), VfsError> {
        let mut w = self.open_writer(loc, mode).await?;
        w.write(data.into()).await?;
        w.commit().await
    }

    /// Creates a file with `data`, atomically: the name appears with its content.
    pub async fn create(self: &Arc<Self>, loc: Loc<'_>, data: Vec<u8>) -> Result<(), VfsError> {
        let mut w = self.open_writer(loc, WriteMode::Replace).await?;
        w.noreplace = true;
        w.write(data.into()).await?;
        w.commit().await
    }

    pub async fn delete(&self, loc: Loc<'_>) -> Result<(), VfsError> {
        let err = |e| VfsError::from_io("delete", loc.vpath, e);
        let (parent, name) = split_parent(loc.rel).ok_or(VfsError::Busy {
            path: loc.vpath.to_string(),
        })?;
        let dir = self.open_dir(parent).await.map_err(err)?;
        self.unlink_at(&dir, name, false).await.map_err(err)
    }

    pub async fn list(&self, loc: Loc<'_>) -> Result<Vec<DirEntry>, VfsError> {
        let err = |e| VfsError::from_io("list", loc.vpath, e);
        let dir = self.open_dir(loc.rel).await.map_err(err)?;
        self.list_dir(&dir).await.map_err(err)
    }

    pub async fn stat(&self, loc: Loc<'_>) -> Result<Metadata, VfsError> {
        self.stat_rel(loc.rel)
            .await
            .map_err(|e| VfsError::from_io("stat", loc.vpath, e))
    }

    pub async fn mkdir(&self, loc: Loc<'_>, parents: bool) -> Result<(), VfsError> {
        let err = |e| VfsError::from_io("mkdir", loc.vpath, e);
        let Some((parent, name)) = split_parent(loc.rel) else {
            return if parents {
                Ok(())
            } else {
                Err(VfsError::AlreadyExists {
                    path: loc.vpath.to_string(),
                })
            };
        };
        if !parents {
            let dir = self.open_dir(parent).await.map_err(err)?;
            return self.mkdir_at(&dir, name).await.map_err(err);
        }
        let mut dir = self.open_dir("").await.map_err(err)?;
        let mut sofar = String::new();
        for comp in loc.rel.split('/') {
            match self.mkdir_at(&dir, comp).await {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => return Err(err(e)),
            }
            if !sofar.is_empty() {
                sofar.push('/');
            }
            sofar.push_str(comp);
            dir = self.open_dir(&sofar).await.map_err(err)?;
        }
        Ok(())
    }

    pub async fn rmdir(&self, loc: Loc<'_>, recursive: bool) -> Result<(), VfsError> {
        let err = |e| VfsError::from_io("rmdir", loc.vpath, e);
        let (parent, name) = split_parent(loc.rel).ok_or(VfsError::Busy {
            path: loc.vpath.to_string(),
        })?;
        if recursive {
            self.empty_tree(loc.rel).await.map_err(err)?;
        }
        let dir = self.open_dir(parent).await.map_err(err)?;
        self.unlink_at(&dir, name, true).await.map_err(err)
    }

    /// Removes everything below the directory `rel` (depth first, no symlink followed:
    /// symlinks are unlinked, never descended into).
    async fn empty_tree(&self, rel: &str) -> io::Result<()> {
        let mut stack = vec![(rel.to_owned(), false)];
        while let Some((dir_rel, emptied)) = stack.pop() {
            let dir = self.open_dir(&dir_rel).await?;
            if emptied {
                let (parent, name) = split_parent(&dir_rel).expect("below the root");
                if dir_rel != rel {
                    let pdir = self.open_dir(parent).await?;
                    self.unlink_at(&pdir, name, true).await?;
                }
                continue;
            }
            stack.push((dir_rel.clone(), true));
            for entry in self.list_dir(&dir).await? {
                let child = format!("{dir_rel}/{}", entry.name)
                    .trim_start_matches('/')
                    .to_owned();
                if entry.kind == FileKind::Directory {
                    stack.push((child, false));
                } else {
                    self.unlink_at(&dir, &entry.name, false).await?;
                }
            }
        }
        Ok(())
    }

    pub async fn truncate(&self, loc: Loc<'_>, size: u64) -> Result<(), VfsError> {
        let err = |e| VfsError::from_io("truncate", loc.vpath, e);
        let file = self
            .open(loc.rel, OpenMode::WriteExisting)
            .await
            .map_err(err)?;
        self.ftruncate(&file, size).await.map_err(err)
    }

    pub async fn rename(&self, from: Loc<'_>, to: Loc<'_>) -> Result<(), VfsError> {
        let err = |e| VfsError::from_io("move", from.vpath, e);
        let busy = |l: Loc<'_>| VfsError::Busy {
            path: l.vpath.to_string(),
        };
        let (fp, fname) = split_parent(from.rel).ok_or_else(|| busy(from))?;
        let (tp, tname) = split_parent(to.rel).ok_or_else(|| busy(to))?;
        let fdir = self.open_dir(fp).await.map_err(err)?;
        let tdir = self
            .open_dir(tp)
            .await
            .map_err(|e| VfsError::from_io("move", to.vpath, e))?;
        self.rename_at(&fdir, fname, &tdir, tname, false)
            .await
            .map_err(err)
    }

    /// The file at `loc`, opened through the confined walk, as a raw fd (the fd
    /// syscalls; the description may be shared: reopen it before changing it).
    pub(crate) async fn open_fd(
        &self,
        loc: Loc<'_>,
        mode: OpenMode,
    ) -> Result<Arc<OwnedFd>, VfsError> {
        self.open(loc.rel, mode)
            .await
            .map_err(|e| VfsError::from_io("open", loc.vpath, e))
    }

    pub async fn open_reader(self: &Arc<Self>, loc: Loc<'_>) -> Result<LocalReader, VfsError> {
        let err = |e| VfsError::from_io("open", loc.vpath, e);
        let file = self.open(loc.rel, OpenMode::Read).await.map_err(err)?;
        let meta = self.fstat(&file).await.map_err(err)?;
        if meta.kind == FileKind::Directory {
            return Err(VfsError::IsADirectory {
                path: loc.vpath.to_string(),
            });
        }
        Ok(LocalReader {
            fs: Arc::clone(self),
            file,
            len: meta.size,
            path: loc.vpath.to_string(),
        })
    }

    pub async fn open_writer(
        self: &Arc<Self>,
        loc: Loc<'_>,
        mode: WriteMode,
    ) -> Result<LocalWriter, VfsError> {
        let err = |e| VfsError::from_io("write", loc.vpath, e);
        let (parent, name) = split_parent(loc.rel).ok_or(VfsError::IsADirectory {
            path: loc.vpath.to_string(),
        })?;
        if mode == WriteMode::Append {
            let file = self.open(loc.rel, OpenMode::Append).await.map_err(err)?;
            return Ok(LocalWriter {
                fs: Arc::clone(self),
                path: loc.vpath.to_string(),
                file,
                offset: 0,
                replace: None,
                noreplace: false,
            });
        }
        let dir = self.open_dir(parent).await.map_err(err)?;
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = tmp_name(n, name);
        let journal = match &self.journal {
            Some(j) => Some(
                j.record(&self.host_root, &join_rel(parent, &tmp))
                    .map_err(err)?,
            ),
            None => None,
        };
        let file = self
            .open_at(&dir, &tmp, OpenMode::CreateNew)
            .await
            .map_err(err)?;
        Ok(LocalWriter {
            fs: Arc::clone(self),
            path: loc.vpath.to_string(),
            file,
            offset: 0,
            replace: Some(Replace {
                dir,
                tmp,
                name: name.to_owned(),
                _journal: journal,
                committed: false,
            }),
            noreplace: false,
        })
    }
}

fn tmp_name(n: u64, name: &str) -> String {
    let mut tmp = format!("{TMP_PREFIX}{}-{n}-", std::process::id());
    for c in name.chars() {
        if tmp.len() + c.len_utf8() > super::MAX_NAME {
            break;
        }
        tmp.push(c);
    }
    tmp
}

fn join_rel(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// The mount-relative path of `dir/name`, for the std backend's re-confinement.
fn rel_join(root: &Path, dir: &Path, name: &str) -> io::Result<String> {
    let rel = dir
        .strip_prefix(root)
        .map_err(|_| io::Error::from_raw_os_error(libc::EXDEV))?;
    let rel = rel
        .to_str()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    Ok(join_rel(rel, name))
}

/// A LocalFS file open for chunked reads.
pub struct LocalReader {
    fs: LocalMount,
    file: Arc<OwnedFd>,
    len: u64,
    path: String,
}

impl LocalReader {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub async fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, VfsError> {
        self.fs
            .read_at(&self.file, len, offset)
            .await
            .map_err(|e| VfsError::from_io("read", &self.path, e))
    }

    pub async fn read_into(&self, offset: u64, buf: SharedBuf) -> Result<usize, VfsError> {
        self.fs
            .read_into(&self.file, buf, offset)
            .await
            .map_err(|e| VfsError::from_io("read", &self.path, e))
    }
}

struct Replace {
    dir: Dir,
    tmp: String,
    name: String,
    /// Held, never read: dropping it removes the journal entry.
    _journal: Option<JournalEntry>,
    committed: bool,
}

/// A LocalFS file open for chunked writes; see [`crate::vfs::Writer`].
pub struct LocalWriter {
    fs: LocalMount,
    path: String,
    file: Arc<OwnedFd>,
    offset: u64,
    replace: Option<Replace>,
    noreplace: bool,
}

impl LocalWriter {
    pub async fn write(&mut self, data: Payload) -> Result<(), VfsError> {
        let n = data.len() as u64;
        let at = self.replace.as_ref().map(|_| self.offset);
        self.fs
            .write_all_at(&self.file, data, at)
            .await
            .map_err(|e| VfsError::from_io("write", &self.path, e))?;
        self.offset += n;
        Ok(())
    }

    /// fsync, then (for a replace) rename over the target and fsync the directory.
    pub async fn commit(mut self) -> Result<(), VfsError> {
        let err = |e| VfsError::from_io("write", &self.path, e);
        self.fs.fsync(&self.file).await.map_err(err)?;
        if let Some(r) = &mut self.replace {
            self.fs
                .rename_at(&r.dir, &r.tmp, &r.dir, &r.name, self.noreplace)
                .await
                .map_err(err)?;
            r.committed = true;
            self.fs.fsync_dir(&r.dir).await.map_err(err)?;
        }
        Ok(())
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        let Some(r) = &self.replace else { return };
        if r.committed {
            return;
        }
        // Not committed: remove the temp file now (a quick, synchronous unlink), so a
        // dropped stream or a failed write leaves the target as it was.
        let res = match &r.dir {
            Dir::Fd(fd) => nix::unistd::unlinkat(
                fd.as_ref(),
                r.tmp.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .map_err(io::Error::from),
            Dir::Path(p) => std::fs::remove_file(p.join(&r.tmp)),
        };
        if let Err(e) = res {
            tracing::warn!(path = %self.path, "removing an uncommitted temp file failed: {e}");
        }
    }
}
