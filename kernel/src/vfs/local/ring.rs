//! The io_uring ring LocalFS runs on: one ring, owned by one dedicated thread.
//!
//! # Design
//!
//! tonic handlers run on tokio's multi-thread runtime; `tokio-uring` would need a
//! current-thread runtime per ring and `!Send` futures, which does not fit. So one
//! `std::thread` owns an [`IoUring`] and everything in flight. Callers build a
//! submission queue entry whose pointers point into heap memory carried by
//! [`Owned`], send both over a channel, and bump an eventfd. The ring thread keeps a
//! one-shot `POLL_ADD` armed on that eventfd, so a single `io_uring_enter` waits both
//! for completions and for new work. Completions go back over a oneshot channel
//! together with the `Owned` memory (a read's buffer comes back filled).
//!
//! # Cancellation
//!
//! Dropping the caller's future does not cancel the operation: the ring thread keeps
//! the memory alive until the kernel completes it, then drops it. An `openat2` whose
//! caller has gone has its new fd closed, so nothing leaks.
//!
//! # Host resources
//!
//! One ring and one eventfd, released when the last [`Ring`] handle drops and the
//! in-flight operations have completed.

use std::{
    collections::HashMap,
    ffi::CString,
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    sync::{Arc, mpsc},
    thread,
};

use io_uring::{IoUring, opcode, squeue, types};
use tokio::sync::oneshot;

/// Ring size. Small: ops complete fast, and the CQ is twice as large.
const ENTRIES: u32 = 256;
/// `user_data` of the eventfd poll.
const WAKE: u64 = u64::MAX;

/// Memory (and fds) an in-flight entry points into; kept alive until it completes.
#[derive(Default)]
pub(crate) struct Owned {
    pub buf: Vec<u8>,
    pub paths: Vec<CString>,
    #[expect(
        dead_code,
        reason = "held, never read: keeps the fds open until the op completes"
    )]
    pub fds: Vec<Arc<OwnedFd>>,
    pub how: Option<Box<types::OpenHow>>,
    pub statx: Option<Box<libc::statx>>,
    /// A successful result is a new fd the caller must own (closed if the caller left).
    pub returns_fd: bool,
}

/// What a completion hands back.
pub(crate) struct Completed {
    /// The CQE result: a value `>= 0` or `-errno`.
    pub result: i32,
    pub owned: Owned,
}

impl Completed {
    /// The result as `io::Result`.
    pub fn io(&self) -> io::Result<u32> {
        if self.result < 0 {
            Err(io::Error::from_raw_os_error(-self.result))
        } else {
            Ok(self.result as u32)
        }
    }
}

struct Submission {
    entry: squeue::Entry,
    owned: Owned,
    reply: oneshot::Sender<Completed>,
}

/// A handle to the ring thread; clones share the ring.
#[derive(Clone)]
pub(crate) struct Ring {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Submission>,
    wake: Arc<OwnedFd>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The sender is dropped right after this; the thread sees the channel close.
        let _ = wake(&self.wake);
    }
}

/// Ring setup errors, kept for `doctor`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RingError {
    #[error("io_uring_setup failed: {0}")]
    Setup(#[source] io::Error),
    #[error("eventfd failed: {0}")]
    EventFd(#[source] io::Error),
    #[error("the kernel lacks io_uring opcode {0}")]
    MissingOpcode(&'static str),
    #[error("spawning the ring thread failed: {0}")]
    Thread(#[source] io::Error),
}

impl Ring {
    /// Sets up a ring and its thread. ENOSYS/EPERM from `io_uring_setup` mean the host
    /// (or a seccomp filter) has no io_uring: the caller falls back.
    pub fn new() -> Result<Self, RingError> {
        let ring = IoUring::builder()
            .setup_clamp()
            .build(ENTRIES)
            .map_err(RingError::Setup)?;
        check_opcodes(&ring)?;
        // SAFETY: eventfd has no memory-safety preconditions; the result is checked.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(RingError::EventFd(io::Error::last_os_error()));
        }
        // SAFETY: `efd` is a fresh fd we own.
        let wake_fd = Arc::new(unsafe { OwnedFd::from_raw_fd(efd) });
        let (tx, rx) = mpsc::channel();
        let thread_wake = Arc::clone(&wake_fd);
        thread::Builder::new()
            .name("agentos-uring".into())
            .spawn(move || run(ring, rx, &thread_wake))
            .map_err(RingError::Thread)?;
        Ok(Self {
            inner: Arc::new(Inner { tx, wake: wake_fd }),
        })
    }

    /// Submits `entry` (which points into `owned`) and waits for its completion.
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` must point into heap memory owned by `owned` (or into
    /// fds it holds), so that moving `owned` does not move what the kernel reads or
    /// writes.
    pub async unsafe fn run(&self, entry: squeue::Entry, owned: Owned) -> io::Result<Completed> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .tx
            .send(Submission {
                entry,
                owned,
                reply,
            })
            .map_err(|_| io::Error::other("io_uring thread has stopped"))?;
        wake(&self.inner.wake)?;
        rx.await
            .map_err(|_| io::Error::other("io_uring thread dropped an operation"))
    }
}

fn wake(fd: &OwnedFd) -> io::Result<()> {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to an eventfd.
    let n = unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    if n == 8 || io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Every opcode LocalFS uses must be supported, or LocalFS falls back as a whole.
fn check_opcodes(ring: &IoUring) -> Result<(), RingError> {
    let mut probe = io_uring::Probe::new();
    if ring.submitter().register_probe(&mut probe).is_err() {
        return Ok(()); // Old kernels lack the probe but may have the ops; failures will say.
    }
    let needed = [
        (opcode::OpenAt2::CODE, "OPENAT2"),
        (opcode::Read::CODE, "READ"),
        (opcode::Write::CODE, "WRITE"),
        (opcode::Statx::CODE, "STATX"),
        (opcode::Fsync::CODE, "FSYNC"),
        (opcode::RenameAt::CODE, "RENAMEAT"),
        (opcode::UnlinkAt::CODE, "UNLINKAT"),
        (opcode::MkDirAt::CODE, "MKDIRAT"),
        (opcode::Ftruncate::CODE, "FTRUNCATE"),
        (opcode::Close::CODE, "CLOSE"),
        (opcode::PollAdd::CODE, "POLL_ADD"),
    ];
    for (code, name) in needed {
        if !probe.is_supported(code) {
            return Err(RingError::MissingOpcode(name));
        }
    }
    Ok(())
}

fn run(mut ring: IoUring, rx: mpsc::Receiver<Submission>, wake_fd: &OwnedFd) {
    let wake_fd = wake_fd.as_raw_fd();
    let mut inflight: HashMap<u64, (Owned, oneshot::Sender<Completed>)> = HashMap::new();
    let mut next: u64 = 0;
    let mut open = true;
    arm_wake(&mut ring, wake_fd);
    let mut done = Vec::with_capacity(64);
    loop {
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(e) => {
                tracing::error!("io_uring_enter failed, ring thread stops: {e}");
                return;
            }
        }
        done.clear();
        done.extend(ring.completion().map(|c| (c.user_data(), c.result())));
        let mut woken = false;
        for &(user_data, result) in &done {
            if user_data == WAKE {
                woken = true;
                continue;
            }
            let Some((owned, reply)) = inflight.remove(&user_data) else {
                continue;
            };
            if let Err(back) = reply.send(Completed { result, owned })
                && back.owned.returns_fd
                && back.result >= 0
            {
                // SAFETY: the kernel just gave us this fd and nobody else has it.
                drop(unsafe { OwnedFd::from_raw_fd(back.result) });
            }
        }
        if woken {
            let mut counter = 0u64;
            // SAFETY: reads 8 bytes into a live u64 from our nonblocking eventfd.
            unsafe { libc::read(wake_fd, (&mut counter as *mut u64).cast(), 8) };
            loop {
                match rx.try_recv() {
                    Ok(sub) => {
                        let id = next;
                        next = next.wrapping_add(1) % (u64::MAX - 1);
                        let entry = sub.entry.user_data(id);
                        inflight.insert(id, (sub.owned, sub.reply));
                        push(&mut ring, &entry);
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            if open {
                arm_wake(&mut ring, wake_fd);
            }
        }
        if !open && inflight.is_empty() {
            return;
        }
    }
}

fn arm_wake(ring: &mut IoUring, wake_fd: RawFd) {
    let poll = opcode::PollAdd::new(types::Fd(wake_fd), libc::POLLIN as u32)
        .build()
        .user_data(WAKE);
    push(ring, &poll);
}

fn push(ring: &mut IoUring, entry: &squeue::Entry) {
    loop {
        // SAFETY: the entry's pointers stay valid: their memory sits in `inflight`
        // (or is the eventfd, which outlives the ring thread).
        if unsafe { ring.submission().push(entry) }.is_ok() {
            return;
        }
        // Queue full: hand what is queued to the kernel, then retry.
        if let Err(e) = ring.submit() {
            tracing::warn!("io_uring submit while the queue was full: {e}");
        }
    }
}
