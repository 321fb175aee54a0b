//! Named pipes the kernel holds: a `pipe2(O_CLOEXEC)` pair sized with
//! `F_SETPIPE_SZ`.
//!
//! The kernel keeps one copy of each end until it closes it ([`Pipe::close`]); a
//! process that opens an end receives a duplicate of that same descriptor (the
//! handed-out fd is the real pipe). For its own reads and writes the kernel
//! reopens each end through `/proc/self/fd` with `O_NONBLOCK`: a new open file
//! description of the same pipe, so the kernel's non-blocking mode never leaks into
//! the descriptors the processes hold (`O_NONBLOCK` belongs to the description).

use std::{
    collections::HashMap,
    io,
    os::fd::{AsRawFd, OwnedFd},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
};

#[cfg(target_os = "linux")]
use std::os::fd::AsFd;

use nix::fcntl::OFlag;
#[cfg(target_os = "linux")]
use nix::fcntl::{FcntlArg, fcntl};
use tokio::io::unix::AsyncFd;

use super::{check_name, check_owner, not_found};
use crate::{error::KernelError, shm::Handout};

/// Most bytes a pipe may hold (`F_SETPIPE_SZ`): 1 MiB was slower than 64 KiB on
/// this machine kind (TOOLCHAIN.md), so larger buys nothing.
pub const MAX_CAPACITY: u32 = 1 << 20;
/// Most bytes one `PipeRead` returns.
pub const MAX_READ: u32 = 1 << 20;
/// Default `PipeRead` size.
pub const DEFAULT_READ: u32 = 64 << 10;
/// Live pipes the kernel allows, all callers together.
pub const MAX_PIPES: usize = 1024;

/// Which end of a pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Read,
    Write,
}

impl End {
    fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// One end as the kernel holds it.
struct Held {
    /// The descriptor processes receive (blocking, as `pipe2` made it).
    shared: Arc<OwnedFd>,
    /// The kernel's own non-blocking description of the same end.
    io: AsyncFd<OwnedFd>,
}

impl Held {
    fn new(fd: OwnedFd, end: End) -> io::Result<Self> {
        let mode = match end {
            End::Read => OFlag::O_RDONLY,
            End::Write => OFlag::O_WRONLY,
        };
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let own = nix::fcntl::open(
            path.as_str(),
            mode | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        // SAFETY: `own` is an open fd that the AsyncFd owns until it drops.
        let io = unsafe { AsyncFd::register(own) }.map_err(|e| e.into_parts().1)?;
        Ok(Self {
            shared: Arc::new(fd),
            io,
        })
    }
}

/// A pipe and what the kernel did with it.
pub struct Pipe {
    pub name: String,
    /// The managed process that created it (`None`: the user).
    pub owner: Option<u32>,
    capacity: u32,
    read: Mutex<Option<Arc<Held>>>,
    write: Mutex<Option<Arc<Held>>>,
    handed: AtomicU32,
    written: AtomicU64,
    drained: AtomicU64,
}

/// A pipe's counters, for `PipeStats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeStats {
    pub capacity: u32,
    pub buffered: u32,
    pub read_open: bool,
    pub write_open: bool,
    pub handed_out: u32,
    pub written: u64,
    pub read: u64,
}

impl Pipe {
    fn slot(&self, end: End) -> &Mutex<Option<Arc<Held>>> {
        match end {
            End::Read => &self.read,
            End::Write => &self.write,
        }
    }

    fn held(&self, end: End) -> Result<Arc<Held>, KernelError> {
        self.slot(end)
            .lock()
            .expect("pipe lock")
            .clone()
            .ok_or_else(|| {
                KernelError::FailedPrecondition(format!(
                    "the kernel closed the {} end of pipe {:?}",
                    end.name(),
                    self.name
                ))
            })
    }

    /// The descriptor of `end` to hand to a process.
    pub fn open(&self, end: End) -> Result<Handout, KernelError> {
        let held = self.held(end)?;
        self.handed.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::clone(&held.shared) as Handout)
    }

    /// Writes all of `data` through the kernel's write end, waiting for room.
    pub async fn write(&self, data: &[u8]) -> Result<u64, KernelError> {
        let held = self.held(End::Write)?;
        let mut done = 0;
        while done < data.len() {
            let mut ready = held.io.writable().await.map_err(io_error)?;
            match ready.try_io(|fd| {
                nix::unistd::write(fd.get_ref(), &data[done..]).map_err(io::Error::from)
            }) {
                Ok(Ok(n)) => {
                    done += n;
                    self.written.fetch_add(n as u64, Ordering::Relaxed);
                }
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EPIPE) => {
                    return Err(KernelError::FailedPrecondition(format!(
                        "pipe {:?} has no reader left (EPIPE) after {done} bytes",
                        self.name
                    )));
                }
                Ok(Err(e)) => return Err(io_error(e)),
                Err(_would_block) => {}
            }
        }
        Ok(done as u64)
    }

    /// Reads up to `max` bytes through the kernel's read end, waiting for one;
    /// empty at end of file.
    pub async fn read(&self, max: usize) -> Result<Vec<u8>, KernelError> {
        let held = self.held(End::Read)?;
        let mut buf = vec![0u8; max];
        loop {
            let mut ready = held.io.readable().await.map_err(io_error)?;
            match ready.try_io(|fd| nix::unistd::read(fd.get_ref(), &mut buf).map_err(Into::into)) {
                Ok(Ok(n)) => {
                    buf.truncate(n);
                    self.drained.fetch_add(n as u64, Ordering::Relaxed);
                    return Ok(buf);
                }
                Ok(Err(e)) => return Err(io_error(e)),
                Err(_would_block) => {}
            }
        }
    }

    /// Closes the kernel's copy of `end` (handed-out copies stay open).
    pub fn close(&self, end: End) -> Result<(), KernelError> {
        self.slot(end)
            .lock()
            .expect("pipe lock")
            .take()
            .map(drop)
            .ok_or_else(|| {
                KernelError::FailedPrecondition(format!(
                    "the kernel's {} end of pipe {:?} is already closed",
                    end.name(),
                    self.name
                ))
            })
    }

    pub fn stats(&self) -> PipeStats {
        let read = self.read.lock().expect("pipe lock").clone();
        let buffered = read.as_ref().map_or(0, |h| {
            let mut n: libc::c_int = 0;
            // SAFETY: FIONREAD writes one int through a valid pointer; fd is open.
            let r = unsafe { libc::ioctl(h.io.as_raw_fd(), libc::FIONREAD, &mut n) };
            if r == 0 { n.max(0) as u32 } else { 0 }
        });
        PipeStats {
            capacity: self.capacity,
            buffered,
            read_open: read.is_some(),
            write_open: self.write.lock().expect("pipe lock").is_some(),
            handed_out: self.handed.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            read: self.drained.load(Ordering::Relaxed),
        }
    }
}

fn io_error(e: io::Error) -> KernelError {
    KernelError::Internal(format!("pipe I/O: {e}"))
}

/// The kernel's pipes, by name.
#[derive(Default)]
pub struct Pipes {
    by_name: Mutex<HashMap<String, Arc<Pipe>>>,
}

/// Off Linux (macOS) there are no pipes: the kernel keeps its own ends by reopening
/// them through `/proc/self/fd` (a file description of its own, non-blocking), and hands
/// the others to managed processes, neither of which that host has.
#[cfg(not(target_os = "linux"))]
fn portable_pipe(_capacity: u32) -> Result<(OwnedFd, OwnedFd), KernelError> {
    Err(KernelError::Unsupported(
        "pipes need Linux: /proc/self/fd to reopen the kernel's ends, and managed processes \
         to hand the others to"
            .into(),
    ))
}

impl Pipes {
    /// A new pipe of `capacity` bytes (0: Linux's default), owned by `owner`.
    pub fn create(
        &self,
        name: &str,
        capacity: u32,
        owner: Option<u32>,
    ) -> Result<Arc<Pipe>, KernelError> {
        check_name(name)?;
        if capacity > MAX_CAPACITY {
            return Err(KernelError::InvalidArgument(format!(
                "pipe capacity {capacity}: at most {MAX_CAPACITY} bytes"
            )));
        }
        let mut pipes = self.by_name.lock().expect("pipes lock");
        if pipes.contains_key(name) {
            return Err(KernelError::FailedPrecondition(format!(
                "a pipe named {name:?} already exists"
            )));
        }
        if pipes.len() >= MAX_PIPES {
            return Err(KernelError::ResourceExhausted(format!(
                "the kernel holds {MAX_PIPES} pipes, its limit"
            )));
        }
        #[cfg(target_os = "linux")]
        let made = |e: nix::Error| KernelError::Internal(format!("pipe2: {e}"));
        #[cfg(target_os = "linux")]
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(made)?;
        #[cfg(not(target_os = "linux"))]
        let (r, w) = portable_pipe(capacity)?;
        #[cfg(target_os = "linux")]
        if capacity > 0 {
            fcntl(w.as_fd(), FcntlArg::F_SETPIPE_SZ(capacity as libc::c_int)).map_err(|e| {
                KernelError::ResourceExhausted(format!(
                    "F_SETPIPE_SZ {capacity}: {e} (see /proc/sys/fs/pipe-max-size and pipe-user-pages-soft)"
                ))
            })?;
        }
        #[cfg(target_os = "linux")]
        let size = fcntl(w.as_fd(), FcntlArg::F_GETPIPE_SZ).map_err(made)?;
        #[cfg(not(target_os = "linux"))]
        let size = 0;
        let held = |fd, end| {
            Held::new(fd, end)
                .map(|h| Mutex::new(Some(Arc::new(h))))
                .map_err(|e| {
                    KernelError::Internal(format!("reopening the pipe's {end:?} end: {e}"))
                })
        };
        let pipe = Arc::new(Pipe {
            name: name.to_owned(),
            owner,
            capacity: size as u32,
            read: held(r, End::Read)?,
            write: held(w, End::Write)?,
            handed: AtomicU32::new(0),
            written: AtomicU64::new(0),
            drained: AtomicU64::new(0),
        });
        pipes.insert(name.to_owned(), Arc::clone(&pipe));
        Ok(pipe)
    }

    pub fn get(&self, name: &str) -> Result<Arc<Pipe>, KernelError> {
        self.by_name
            .lock()
            .expect("pipes lock")
            .get(name)
            .cloned()
            .ok_or_else(|| not_found("pipe", name))
    }

    /// Forgets the pipe (the kernel's ends close; handed-out ones stay open).
    pub fn destroy(&self, name: &str, caller: Option<u32>) -> Result<(), KernelError> {
        let mut pipes = self.by_name.lock().expect("pipes lock");
        let pipe = pipes.get(name).ok_or_else(|| not_found("pipe", name))?;
        check_owner("pipe", name, pipe.owner, caller)?;
        pipes.remove(name);
        Ok(())
    }

    /// Drops the pipes `pid` created.
    pub fn release(&self, pid: u32) {
        self.by_name
            .lock()
            .expect("pipes lock")
            .retain(|_, p| p.owner != Some(pid));
    }

    pub fn len(&self) -> usize {
        self.by_name.lock().expect("pipes lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_written_by_the_kernel_come_out_of_a_handed_out_read_end() {
        let pipes = Pipes::default();
        let p = pipes.create("t.a", 0, None).unwrap();
        assert_eq!(p.write(b"hello").await.unwrap(), 5);
        assert_eq!(p.stats().buffered, 5);
        // the descriptor a process would receive is the pipe itself, and blocking
        let fd = p.open(End::Read).unwrap();
        let flags = fcntl(fd.as_fd(), FcntlArg::F_GETFL).unwrap();
        assert_eq!(flags & libc::O_NONBLOCK, 0, "processes get a blocking fd");
        let mut buf = [0u8; 8];
        let n = nix::unistd::read(fd.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        // and the other way: what a process writes, the kernel reads
        let w = p.open(End::Write).unwrap();
        nix::unistd::write(w.as_fd(), b"back").unwrap();
        assert_eq!(p.read(64).await.unwrap(), b"back");
        let s = p.stats();
        assert_eq!((s.handed_out, s.written, s.read), (2, 5, 4));
    }

    #[tokio::test]
    async fn eof_once_every_write_end_is_closed_and_epipe_without_readers() {
        let pipes = Pipes::default();
        let p = pipes.create("t.b", 0, None).unwrap();
        let w = p.open(End::Write).unwrap();
        p.close(End::Write).unwrap();
        assert!(p.close(End::Write).is_err(), "closed twice");
        assert!(p.open(End::Write).is_err(), "nothing left to hand out");
        nix::unistd::write(w.as_fd(), b"x").unwrap();
        assert_eq!(p.read(64).await.unwrap(), b"x");
        drop(w); // the last writer
        assert_eq!(p.read(64).await.unwrap(), b"", "end of file");

        let q = pipes.create("t.c", 0, None).unwrap();
        q.close(End::Read).unwrap();
        let e = q.write(b"y").await.unwrap_err();
        assert!(matches!(e, KernelError::FailedPrecondition(_)), "{e}");
    }

    #[tokio::test]
    async fn capacity_is_set_with_f_setpipe_sz_and_bounded() {
        let pipes = Pipes::default();
        let p = pipes.create("t.d", 256 << 10, None).unwrap();
        let fd = p.open(End::Write).unwrap();
        let real = fcntl(fd.as_fd(), FcntlArg::F_GETPIPE_SZ).unwrap();
        assert_eq!(real, 256 << 10);
        assert_eq!(p.stats().capacity, 256 << 10);
        let e = pipes.create("t.e", MAX_CAPACITY + 1, None).err().unwrap();
        assert!(matches!(e, KernelError::InvalidArgument(_)), "{e}");
        let e = pipes.create("t.d", 0, None).err().unwrap();
        assert!(matches!(e, KernelError::FailedPrecondition(_)), "{e}");
    }

    #[tokio::test]
    async fn a_process_exit_releases_what_it_created() {
        let pipes = Pipes::default();
        pipes.create("mine", 0, Some(7)).unwrap();
        pipes.create("other", 0, Some(8)).unwrap();
        pipes.create("user", 0, None).unwrap();
        assert!(pipes.destroy("mine", Some(8)).is_err(), "not its creator");
        pipes.release(7);
        assert!(pipes.get("mine").is_err());
        assert_eq!(pipes.len(), 2);
        pipes.destroy("other", None).unwrap();
        assert_eq!(pipes.len(), 1);
    }
}
