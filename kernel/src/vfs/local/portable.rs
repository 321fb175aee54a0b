//! LocalFS primitives on `std::fs`, for hosts without io_uring or `openat2`.
//!
//! Confinement here is weaker than on Linux, and doctor says so: a path is joined to
//! the mount root, its deepest existing ancestor is canonicalised and must still lie
//! below the canonical root. A symlink swapped in between that check and the open
//! wins the race. Blocking calls run on tokio's blocking pool.

use std::{
    fs, io,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    path::{Path, PathBuf},
    sync::Arc,
};

use super::OpenMode;
use crate::vfs::{FileKind, Metadata};
use crate::{shm::SharedBuf, vfs::Payload};

/// LocalFS I/O through `std::fs`.
pub(crate) struct StdIo {
    root: PathBuf,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("blocking task failed: {e}")))?
}

impl StdIo {
    pub fn new(host_root: &Path) -> io::Result<Self> {
        let root = fs::canonicalize(host_root)?;
        if !root.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        Ok(Self { root })
    }

    /// The host path of `rel`, refused (`EXDEV`) when an existing ancestor leads out.
    pub fn confine(&self, rel: &str) -> io::Result<PathBuf> {
        confine(&self.root, rel)
    }

    pub async fn open(&self, rel: &str, mode: OpenMode) -> io::Result<Arc<OwnedFd>> {
        let path = self.confine(rel)?;
        blocking(move || open_path(&path, mode)).await
    }

    pub fn open_dir(&self, rel: &str) -> io::Result<PathBuf> {
        let path = self.confine(rel)?;
        if !fs::metadata(&path)?.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        Ok(path)
    }

    pub async fn read_at(
        &self,
        file: &Arc<OwnedFd>,
        len: usize,
        offset: u64,
    ) -> io::Result<Vec<u8>> {
        let file = Arc::clone(file);
        blocking(move || {
            let mut buf = vec![0; len];
            let n = nix::sys::uio::pread(file.as_fd(), &mut buf, offset as i64)?;
            buf.truncate(n);
            Ok(buf)
        })
        .await
    }

    pub async fn read_into(
        &self,
        file: &Arc<OwnedFd>,
        buf: SharedBuf,
        offset: u64,
    ) -> io::Result<usize> {
        let file = Arc::clone(file);
        blocking(move || {
            // SAFETY: `buf` (moved in) keeps its `len()` writable bytes mapped.
            let n = unsafe {
                libc::pread(
                    file.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    offset as libc::off_t,
                )
            };
            usize::try_from(n).map_err(|_| io::Error::last_os_error())
        })
        .await
    }

    pub async fn write_all_at(
        &self,
        file: &Arc<OwnedFd>,
        data: Payload,
        offset: Option<u64>,
    ) -> io::Result<()> {
        let file = Arc::clone(file);
        blocking(move || {
            let data = data.as_slice();
            let mut done = 0;
            while done < data.len() {
                let n = match offset {
                    Some(o) => nix::sys::uio::pwrite(
                        file.as_fd(),
                        &data[done..],
                        (o + done as u64) as i64,
                    )?,
                    None => nix::unistd::write(file.as_fd(), &data[done..])?,
                };
                if n == 0 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero));
                }
                done += n;
            }
            Ok(())
        })
        .await
    }

    pub async fn fsync(&self, file: &Arc<OwnedFd>) -> io::Result<()> {
        let file = Arc::clone(file);
        blocking(move || Ok(nix::unistd::fsync(file.as_fd())?)).await
    }

    pub async fn fsync_dir(&self, dir: &Path) -> io::Result<()> {
        let dir = dir.to_owned();
        blocking(move || fs::File::open(dir)?.sync_all()).await
    }

    pub async fn ftruncate(&self, file: &Arc<OwnedFd>, len: u64) -> io::Result<()> {
        let file = Arc::clone(file);
        blocking(move || Ok(nix::unistd::ftruncate(file.as_fd(), len as i64)?)).await
    }

    pub async fn fstat(&self, file: &Arc<OwnedFd>) -> io::Result<Metadata> {
        let file = Arc::clone(file);
        blocking(move || Ok(metadata(&nix::sys::stat::fstat(file.as_fd())?))).await
    }

    pub async fn stat(&self, rel: &str) -> io::Result<Metadata> {
        let path = self.confine(rel)?;
        blocking(move || Ok(metadata(&nix::sys::stat::stat(&path)?))).await
    }
}

fn open_path(path: &Path, mode: OpenMode) -> io::Result<Arc<OwnedFd>> {
    let mut o = fs::OpenOptions::new();
    match mode {
        OpenMode::Read | OpenMode::Path => o.read(true),
        OpenMode::Append => o.append(true).create(true),
        OpenMode::CreateNew => o.write(true).create_new(true),
        OpenMode::WriteExisting => o.write(true),
    };
    Ok(Arc::new(OwnedFd::from(o.open(path)?)))
}

fn confine(root: &Path, rel: &str) -> io::Result<PathBuf> {
    let full = root.join(rel);
    let mut probe = full.as_path();
    loop {
        match fs::canonicalize(probe) {
            Ok(real) if real.starts_with(root) => return Ok(full),
            Ok(_) => return Err(io::Error::from_raw_os_error(libc::EXDEV)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match probe.parent() {
                Some(parent) => probe = parent,
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
}

#[expect(
    clippy::unnecessary_cast,
    reason = "stat field types differ across platforms (u16 st_mode on macOS)"
)]
fn metadata(st: &nix::sys::stat::FileStat) -> Metadata {
    let fmt = st.st_mode as u32 & libc::S_IFMT as u32;
    let kind = if fmt == libc::S_IFREG as u32 {
        FileKind::File
    } else if fmt == libc::S_IFDIR as u32 {
        FileKind::Directory
    } else if fmt == libc::S_IFLNK as u32 {
        FileKind::Symlink
    } else {
        FileKind::Other
    };
    Metadata {
        kind,
        size: st.st_size as u64,
        mode: st.st_mode as u32 & 0o7777,
        modified_unix_ns: st.st_mtime as i64 * 1_000_000_000 + st.st_mtime_nsec as i64,
        created_unix_ns: 0,
        inode: st.st_ino as u64,
        nlink: st.st_nlink as u32,
    }
}
