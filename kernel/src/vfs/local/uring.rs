//! LocalFS primitives on io_uring, every path confined by `openat2(RESOLVE_BENEATH)`.
//!
//! Each primitive is one (or, for `stat`, two) ring operations. Names below a
//! directory fd are single components checked at the edge; a whole relative path is
//! only ever resolved by `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`,
//! whose `EAGAIN` (a concurrent rename during `..` resolution) is retried.

use std::{
    ffi::CString,
    io,
    mem::MaybeUninit,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::Path,
    sync::Arc,
};

use io_uring::{opcode, types};

use super::{
    OpenMode,
    ring::{Completed, Owned, Ring},
};
use crate::{
    shm::SharedBuf,
    vfs::{FileKind, Metadata, Payload},
};

/// `openat2` retries on `EAGAIN` before giving up.
const OPENAT2_RETRIES: usize = 16;

/// LocalFS I/O through an io_uring ring.
pub(crate) struct UringIo {
    ring: Ring,
    root: Arc<OwnedFd>,
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(if s.is_empty() { "." } else { s })
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

impl UringIo {
    /// Opens the mount's root directory (trusted configuration, opened directly).
    pub fn new(ring: Ring, host_root: &Path) -> io::Result<Self> {
        let root = std::fs::File::open(host_root)?;
        if !root.metadata()?.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        Ok(Self {
            ring,
            root: Arc::new(OwnedFd::from(root)),
        })
    }

    async fn run(&self, entry: io_uring::squeue::Entry, owned: Owned) -> io::Result<Completed> {
        // SAFETY: every caller builds `entry` from pointers into `owned`'s heap memory
        // (CStrings, boxed open_how/statx, Vec buffers) and fds it holds.
        unsafe { self.ring.run(entry, owned).await }
    }

    /// `openat2(dir, path, flags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`.
    pub async fn openat2(
        &self,
        dir: &Arc<OwnedFd>,
        path: &str,
        flags: i32,
        mode: u32,
    ) -> io::Result<Arc<OwnedFd>> {
        // openat2 refuses a mode without O_CREAT (EINVAL), unlike openat.
        let mode = if flags & libc::O_CREAT != 0 { mode } else { 0 };
        let how = types::OpenHow::new()
            .flags((flags | libc::O_CLOEXEC) as u64)
            .mode(u64::from(mode))
            .resolve(libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS);
        let mut owned = Owned {
            paths: vec![cstr(path)?],
            fds: vec![Arc::clone(dir)],
            how: Some(Box::new(how)),
            returns_fd: true,
            ..Owned::default()
        };
        for _ in 0..OPENAT2_RETRIES {
            let how_ptr: *const types::OpenHow = owned.how.as_deref().expect("set above");
            let entry =
                opcode::OpenAt2::new(types::Fd(dir.as_raw_fd()), owned.paths[0].as_ptr(), how_ptr)
                    .build();
            let done = self.run(entry, owned).await?;
            match done.io() {
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => owned = done.owned,
                // SAFETY: the kernel returned a new fd that only we hold.
                Ok(fd) => return Ok(Arc::new(unsafe { OwnedFd::from_raw_fd(fd as i32) })),
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::from_raw_os_error(libc::EAGAIN))
    }

    /// Whether `rel` resolves beneath the root: an `O_PATH` `openat2` into a direct
    /// descriptor the ring closes again, so no fd is made.
    pub async fn resolves(&self, rel: &str) -> io::Result<()> {
        if !self.ring.has_direct() {
            return self.open(rel, OpenMode::Path).await.map(drop);
        }
        // Direct descriptors have no fd flags: O_CLOEXEC is refused (EINVAL).
        let how = types::OpenHow::new()
            .flags(libc::O_PATH as u64)
            .resolve(libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS);
        let mut owned = Owned {
            paths: vec![cstr(rel)?],
            fds: vec![Arc::clone(&self.root)],
            how: Some(Box::new(how)),
            ..Owned::default()
        };
        for _ in 0..OPENAT2_RETRIES {
            let how_ptr: *const types::OpenHow = owned.how.as_deref().expect("set above");
            let entry = opcode::OpenAt2::new(
                types::Fd(self.root.as_raw_fd()),
                owned.paths[0].as_ptr(),
                how_ptr,
            )
            .file_index(Some(types::DestinationSlot::auto_target()))
            .build();
            // SAFETY: as for `run`; the entry asks for an automatic slot.
            let done = unsafe { self.ring.run_direct(entry, owned) }.await?;
            match done.io() {
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => owned = done.owned,
                // Every slot busy (many concurrent lookups): fall back to an fd.
                Err(e) if e.raw_os_error() == Some(libc::ENFILE) => {
                    return self.open(rel, OpenMode::Path).await.map(drop);
                }
                other => return other.map(drop),
            }
        }
        Err(io::Error::from_raw_os_error(libc::EAGAIN))
    }

    pub async fn open(&self, rel: &str, mode: OpenMode) -> io::Result<Arc<OwnedFd>> {
        let root = Arc::clone(&self.root);
        self.openat2(&root, rel, mode.flags(), 0o644).await
    }

    pub async fn open_dir(&self, rel: &str) -> io::Result<Arc<OwnedFd>> {
        let root = Arc::clone(&self.root);
        self.openat2(&root, rel, libc::O_RDONLY | libc::O_DIRECTORY, 0)
            .await
    }

    pub async fn open_at(
        &self,
        dir: &Arc<OwnedFd>,
        name: &str,
        mode: OpenMode,
    ) -> io::Result<Arc<OwnedFd>> {
        self.openat2(dir, name, mode.flags(), 0o644).await
    }

    pub async fn read_at(
        &self,
        file: &Arc<OwnedFd>,
        len: usize,
        offset: u64,
    ) -> io::Result<Vec<u8>> {
        let mut owned = Owned {
            buf: Vec::with_capacity(len),
            fds: vec![Arc::clone(file)],
            ..Owned::default()
        };
        let entry = opcode::Read::new(
            types::Fd(file.as_raw_fd()),
            owned.buf.as_mut_ptr(),
            len as u32,
        )
        .offset(offset)
        .build();
        let done = self.run(entry, std::mem::take(&mut owned)).await?;
        let n = done.io()? as usize;
        let mut buf = done.owned.buf;
        // SAFETY: the kernel initialised the first `n` bytes of the buffer.
        unsafe { buf.set_len(n) };
        Ok(buf)
    }

    /// Reads up to `buf.len()` bytes at `offset` straight into shared memory.
    pub async fn read_into(
        &self,
        file: &Arc<OwnedFd>,
        buf: SharedBuf,
        offset: u64,
    ) -> io::Result<usize> {
        let entry = opcode::Read::new(
            types::Fd(file.as_raw_fd()),
            buf.as_mut_ptr(),
            buf.len() as u32,
        )
        .offset(offset)
        .build();
        let owned = Owned {
            fds: vec![Arc::clone(file)],
            shared: Some(buf),
            ..Owned::default()
        };
        Ok(self.run(entry, owned).await?.io()? as usize)
    }

    /// Writes all of `data` at `offset` (`None`: at the file position, e.g. O_APPEND).
    pub async fn write_all_at(
        &self,
        file: &Arc<OwnedFd>,
        data: Payload,
        offset: Option<u64>,
    ) -> io::Result<()> {
        let len = data.len();
        let mut owned = Owned {
            fds: vec![Arc::clone(file)],
            ..Owned::default()
        };
        match data {
            Payload::Owned(v) => owned.buf = v,
            Payload::Shared(s) => owned.shared = Some(s),
        }
        let mut written = 0usize;
        while written < len {
            let rest = &owned.payload()[written..];
            let entry = opcode::Write::new(
                types::Fd(file.as_raw_fd()),
                rest.as_ptr(),
                rest.len() as u32,
            )
            .offset(offset.map_or(u64::MAX, |o| o + written as u64))
            .build();
            let done = self.run(entry, owned).await?;
            let n = done.io()? as usize;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero));
            }
            written += n;
            owned = done.owned;
        }
        Ok(())
    }

    pub async fn fsync(&self, file: &Arc<OwnedFd>) -> io::Result<()> {
        let owned = Owned {
            fds: vec![Arc::clone(file)],
            ..Owned::default()
        };
        let entry = opcode::Fsync::new(types::Fd(file.as_raw_fd())).build();
        self.run(entry, owned).await?.io().map(drop)
    }

    pub async fn ftruncate(&self, file: &Arc<OwnedFd>, len: u64) -> io::Result<()> {
        let owned = Owned {
            fds: vec![Arc::clone(file)],
            ..Owned::default()
        };
        let entry = opcode::Ftruncate::new(types::Fd(file.as_raw_fd()), len).build();
        self.run(entry, owned).await?.io().map(drop)
    }

    /// `statx` of an open fd (`AT_EMPTY_PATH`).
    pub async fn fstat(&self, file: &Arc<OwnedFd>) -> io::Result<Metadata> {
        let mut owned = Owned {
            paths: vec![CString::default()],
            fds: vec![Arc::clone(file)],
            // SAFETY: statx is plain old data; all-zero is a valid value.
            statx: Some(Box::new(unsafe {
                MaybeUninit::<libc::statx>::zeroed().assume_init()
            })),
            ..Owned::default()
        };
        let statx_ptr: *mut libc::statx = owned.statx.as_deref_mut().expect("set above");
        let entry = opcode::Statx::new(
            types::Fd(file.as_raw_fd()),
            owned.paths[0].as_ptr(),
            statx_ptr.cast(),
        )
        .flags(libc::AT_EMPTY_PATH)
        .mask(libc::STATX_BASIC_STATS | libc::STATX_BTIME)
        .build();
        let done = self.run(entry, owned).await?;
        done.io()?;
        Ok(metadata(done.owned.statx.as_deref().expect("kept")))
    }

    /// `stat` (following symlinks, confined): an `O_PATH` openat2, then `statx`.
    pub async fn stat(&self, rel: &str) -> io::Result<Metadata> {
        let root = Arc::clone(&self.root);
        let fd = self.openat2(&root, rel, libc::O_PATH, 0).await?;
        self.fstat(&fd).await
    }

    pub async fn mkdir_at(&self, dir: &Arc<OwnedFd>, name: &str) -> io::Result<()> {
        let owned = Owned {
            paths: vec![cstr(name)?],
            fds: vec![Arc::clone(dir)],
            ..Owned::default()
        };
        let entry = opcode::MkDirAt::new(types::Fd(dir.as_raw_fd()), owned.paths[0].as_ptr())
            .mode(0o755)
            .build();
        self.run(entry, owned).await?.io().map(drop)
    }

    pub async fn unlink_at(&self, dir: &Arc<OwnedFd>, name: &str, is_dir: bool) -> io::Result<()> {
        let owned = Owned {
            paths: vec![cstr(name)?],
            fds: vec![Arc::clone(dir)],
            ..Owned::default()
        };
        let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
        let entry = opcode::UnlinkAt::new(types::Fd(dir.as_raw_fd()), owned.paths[0].as_ptr())
            .flags(flags)
            .build();
        self.run(entry, owned).await?.io().map(drop)
    }

    /// `renameat2`; with `noreplace`, `RENAME_NOREPLACE` (fails with `EEXIST`).
    pub async fn rename_at(
        &self,
        from_dir: &Arc<OwnedFd>,
        from: &str,
        to_dir: &Arc<OwnedFd>,
        to: &str,
        noreplace: bool,
    ) -> io::Result<()> {
        let owned = Owned {
            paths: vec![cstr(from)?, cstr(to)?],
            fds: vec![Arc::clone(from_dir), Arc::clone(to_dir)],
            ..Owned::default()
        };
        let entry = opcode::RenameAt::new(
            types::Fd(from_dir.as_raw_fd()),
            owned.paths[0].as_ptr(),
            types::Fd(to_dir.as_raw_fd()),
            owned.paths[1].as_ptr(),
        )
        .flags(if noreplace { libc::RENAME_NOREPLACE } else { 0 })
        .build();
        self.run(entry, owned).await?.io().map(drop)
    }
}

/// Converts a `statx` record.
fn metadata(st: &libc::statx) -> Metadata {
    let kind = match u32::from(st.stx_mode) & libc::S_IFMT {
        libc::S_IFREG => FileKind::File,
        libc::S_IFDIR => FileKind::Directory,
        libc::S_IFLNK => FileKind::Symlink,
        _ => FileKind::Other,
    };
    let ns = |t: libc::statx_timestamp| t.tv_sec * 1_000_000_000 + i64::from(t.tv_nsec);
    Metadata {
        kind,
        size: st.stx_size,
        mode: u32::from(st.stx_mode) & 0o7777,
        modified_unix_ns: ns(st.stx_mtime),
        created_unix_ns: if st.stx_mask & libc::STATX_BTIME != 0 {
            ns(st.stx_btime)
        } else {
            0
        },
        inode: st.stx_ino,
        nlink: st.stx_nlink,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(dir: &Path) -> UringIo {
        UringIo::new(Ring::with_rings(1).expect("io_uring"), dir).unwrap()
    }

    /// Opens `rel` into a direct slot with no fallback: fails if no slot is free.
    async fn direct_open(u: &UringIo, rel: &str) -> io::Result<u32> {
        let how = types::OpenHow::new()
            .flags(libc::O_PATH as u64)
            .resolve(libc::RESOLVE_BENEATH);
        let owned = Owned {
            paths: vec![cstr(rel)?],
            fds: vec![Arc::clone(&u.root)],
            how: Some(Box::new(how)),
            ..Owned::default()
        };
        let entry = opcode::OpenAt2::new(
            types::Fd(u.root.as_raw_fd()),
            owned.paths[0].as_ptr(),
            owned.how.as_deref().unwrap(),
        )
        .file_index(Some(types::DestinationSlot::auto_target()))
        .build();
        // SAFETY: the entry points into `owned`.
        unsafe { u.ring.run_direct(entry, owned) }.await?.io()
    }

    /// statx always goes to io-wq, so each completion arrives while its caller
    /// waits and the reaper was parked: a lost wake-up would hang here.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn completions_from_io_wq_wake_the_parked_reaper() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"xyz").unwrap();
        let u = Arc::new(io(dir.path()));
        let run = async {
            for _ in 0..200 {
                assert_eq!(u.stat("f").await.unwrap().size, 3);
            }
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let u = Arc::clone(&u);
                    tokio::spawn(async move {
                        for _ in 0..100 {
                            assert_eq!(u.stat("f").await.unwrap().size, 3);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), run)
            .await
            .expect("every io-wq completion was delivered");
    }

    #[tokio::test]
    async fn direct_slots_are_closed_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let u = io(dir.path());
        assert!(u.ring.has_direct(), "this kernel has direct descriptors");
        // Three times as many opens as slots: each slot must have been closed.
        for _ in 0..3 * super::super::ring::DIRECT_SLOTS {
            direct_open(&u, "f").await.expect("a free direct slot");
        }
        let e = direct_open(&u, "missing").await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        assert_eq!(
            direct_open(&u, "../etc").await.unwrap_err().raw_os_error(),
            Some(libc::EXDEV),
            "RESOLVE_BENEATH holds on the direct path"
        );
    }

    #[tokio::test]
    async fn a_lone_lookup_leaves_no_file_open() {
        // tmpfs, where an unlinked file's space comes back the moment its last
        // reference goes: a slot still holding the file would keep it.
        let dir = tempfile::tempdir_in("/dev/shm").unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; 16 << 20]).unwrap();
        let u = io(dir.path());
        assert!(u.ring.has_direct(), "this kernel has direct descriptors");
        u.resolves("f").await.unwrap();
        let held = u.ring.direct_files();
        assert!(held.is_empty(), "the rings' tables still hold {held:?}");
        let free = || {
            let s = nix::sys::statvfs::statvfs(dir.path()).unwrap();
            s.blocks_free() * s.fragment_size()
        };
        let before = free();
        std::fs::remove_file(&path).unwrap();
        // The host may put the last reference a moment later; /dev/shm is shared
        // with the machine, so other programs' use shows up too: wait a little.
        let mut freed = 0;
        for _ in 0..100 {
            freed = free().saturating_sub(before);
            if freed >= 15 << 20 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            freed >= 15 << 20,
            "unlinking freed {freed} bytes: something still holds the file"
        );
    }

    #[tokio::test]
    async fn more_concurrent_lookups_than_slots_fall_back_and_free_every_slot() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let u = io(dir.path());
        let n = 2 * super::super::ring::DIRECT_SLOTS as usize;
        // All polled in one pass, as a parallel batch does: each holds its slot
        // until it is polled again, so the later ones find the table full.
        let all = super::super::batched(async {
            let mut futs: Vec<_> = (0..n).map(|_| Some(Box::pin(u.resolves("f")))).collect();
            let mut ok = 0;
            std::future::poll_fn(|cx| {
                let mut pending = false;
                for slot in &mut futs {
                    if let Some(f) = slot {
                        match f.as_mut().poll(cx) {
                            std::task::Poll::Ready(r) => {
                                ok += usize::from(r.is_ok());
                                *slot = None;
                            }
                            std::task::Poll::Pending => pending = true,
                        }
                    }
                }
                if pending {
                    std::task::Poll::Pending
                } else {
                    std::task::Poll::Ready(())
                }
            })
            .await;
            ok
        })
        .await;
        assert_eq!(all, n);
        for _ in 0..super::super::ring::DIRECT_SLOTS {
            direct_open(&u, "f").await.expect("every slot was released");
        }
    }
}
