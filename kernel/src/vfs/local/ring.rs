//! The io_uring ring LocalFS runs on: one ring shared by every caller.
//!
//! # Design
//!
//! tonic handlers run on tokio's multi-thread runtime; `tokio-uring` would need a
//! current-thread runtime per ring and `!Send` futures, which does not fit. So the
//! ring is shared: a caller pushes its entry under the submission lock and calls
//! `io_uring_enter` to submit it itself. Most LocalFS operations on cached data
//! (reads, cached `openat2` lookups) complete during that very call, so the caller
//! then drains the completion queue and finds its own result with no thread hop at
//! all. Operations the kernel punts to its io-wq workers complete later: a reaper
//! thread (`agentos-uring`) sleeps in `io_uring_enter(GETEVENTS)` and dispatches
//! whatever lands, over oneshot channels, together with the memory the entry pointed
//! into (a read's buffer comes back filled).
//!
//! # Cancellation
//!
//! Dropping the caller's future does not cancel the operation: the in-flight table
//! keeps the memory alive until the kernel completes it, then drops it. An
//! `openat2` whose caller has gone has its new fd closed, so nothing leaks.
//!
//! # Host resources
//!
//! One ring and one thread, released when the last [`Ring`] handle drops and the
//! in-flight operations have completed.

use std::{
    cell::RefCell,
    collections::HashMap,
    ffi::CString,
    future::Future,
    io,
    os::fd::{FromRawFd, OwnedFd},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    thread,
};

use io_uring::{IoUring, opcode, squeue, types};
use tokio::sync::oneshot;

/// Ring size. Small: ops complete fast, and the CQ is twice as large.
const ENTRIES: u32 = 256;
/// `user_data` of the NOP that wakes the reaper to stop.
const WAKE: u64 = u64::MAX;
/// `io_uring_enter` flag: wait for completions.
const IORING_ENTER_GETEVENTS: u32 = 1;

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

type Inflight = HashMap<u64, (Owned, oneshot::Sender<Completed>)>;

tokio::task_local! {
    /// The rings with entries pushed but not yet submitted by this task, inside
    /// [`batched`].
    static DEFERRED: RefCell<Vec<Arc<Shared>>>;
}

/// Runs `fut` with io_uring submissions batched: every operation its futures start
/// in one poll is pushed, and all of them go to the kernel in a single
/// `io_uring_enter` after that poll (instead of one each). For syscall batches
/// whose calls run concurrently in one task.
pub async fn batched<F: Future>(fut: F) -> F::Output {
    DEFERRED
        .scope(
            RefCell::new(Vec::new()),
            Flushing {
                inner: Box::pin(fut),
            },
        )
        .await
}

/// Polls the inner future, then submits what its poll pushed.
struct Flushing<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for Flushing<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let out = self.inner.as_mut().poll(cx);
        let rings = DEFERRED.with(|d| std::mem::take(&mut *d.borrow_mut()));
        for ring in rings {
            // Completions wake this task's futures, so the next poll sees them.
            ring.flush();
        }
        out
    }
}

struct Shared {
    ring: IoUring,
    /// Serialises pushes to the submission queue (and the submit that follows).
    sq: Mutex<()>,
    /// Serialises draining the completion queue.
    cq: Mutex<()>,
    inflight: Mutex<Inflight>,
    next: AtomicU64,
    stopping: AtomicBool,
}

/// A handle to the ring; clones share it.
#[derive(Clone)]
pub(crate) struct Ring {
    inner: Arc<Handle>,
}

/// The last handle's drop stops the reaper (after in-flight operations finish).
struct Handle(Arc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.stopping.store(true, Ordering::SeqCst);
        let nop = opcode::Nop::new().build().user_data(WAKE);
        if let Err(e) = self.0.push_and_submit(&nop) {
            tracing::warn!("waking the io_uring reaper to stop: {e}");
        }
    }
}

/// Ring setup errors, kept for `doctor`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RingError {
    #[error("io_uring_setup failed: {0}")]
    Setup(#[source] io::Error),
    #[error("the kernel lacks io_uring opcode {0}")]
    MissingOpcode(&'static str),
    #[error("spawning the ring thread failed: {0}")]
    Thread(#[source] io::Error),
}

impl Ring {
    /// Sets up a ring and its reaper thread. ENOSYS/EPERM from `io_uring_setup` mean
    /// the host (or a seccomp filter) has no io_uring: the caller falls back.
    pub fn new() -> Result<Self, RingError> {
        let ring = IoUring::builder()
            .setup_clamp()
            .build(ENTRIES)
            .map_err(RingError::Setup)?;
        check_opcodes(&ring)?;
        let shared = Arc::new(Shared {
            ring,
            sq: Mutex::new(()),
            cq: Mutex::new(()),
            inflight: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        });
        let reaper = Arc::clone(&shared);
        thread::Builder::new()
            .name("agentos-uring".into())
            .spawn(move || reaper.reap_forever())
            .map_err(RingError::Thread)?;
        Ok(Self {
            inner: Arc::new(Handle(shared)),
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
        let shared = &self.inner.0;
        let (reply, rx) = oneshot::channel();
        let id = shared.next.fetch_add(1, Ordering::Relaxed) % WAKE;
        shared.lock_inflight().insert(id, (owned, reply));
        let entry = entry.user_data(id);
        // Inside `batched`, only push: the scope submits everything once per pass.
        let deferred = DEFERRED
            .try_with(|d| {
                let mut d = d.borrow_mut();
                if !d.iter().any(|s| Arc::ptr_eq(s, shared)) {
                    d.push(Arc::clone(shared));
                }
            })
            .is_ok();
        let pushed = if deferred {
            shared.push(&entry)
        } else {
            shared.push_and_submit(&entry)
        };
        if let Err(e) = pushed {
            shared.lock_inflight().remove(&id);
            return Err(e);
        }
        if !deferred {
            // Cached operations have completed inside the submit: collect them here.
            shared.drain(false);
        }
        rx.await
            .map_err(|_| io::Error::other("io_uring reaper dropped an operation"))
    }
}

impl Shared {
    fn lock_inflight(&self) -> std::sync::MutexGuard<'_, Inflight> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an entry without submitting it (a full queue is submitted first).
    fn push(&self, entry: &squeue::Entry) -> io::Result<()> {
        let _sq = self.sq.lock().unwrap_or_else(|p| p.into_inner());
        self.push_locked(entry)
    }

    fn push_locked(&self, entry: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: pushes are serialised by `sq`; the entry's memory sits in the
            // in-flight table until its completion is dispatched.
            let pushed = unsafe { self.ring.submission_shared().push(entry) };
            if pushed.is_ok() {
                return Ok(());
            }
            self.ring.submit()?; // queue full: hand what is queued to the kernel first
        }
    }

    fn push_and_submit(&self, entry: &squeue::Entry) -> io::Result<()> {
        let _sq = self.sq.lock().unwrap_or_else(|p| p.into_inner());
        self.push_locked(entry)?;
        self.submit_locked()
    }

    /// Submits what is queued, then dispatches what completed inline.
    fn flush(&self) {
        let submitted = {
            let _sq = self.sq.lock().unwrap_or_else(|p| p.into_inner());
            self.submit_locked()
        };
        if let Err(e) = submitted {
            tracing::warn!("io_uring submit of a batch: {e}");
        }
        self.drain(false);
    }

    fn submit_locked(&self) -> io::Result<()> {
        loop {
            match self.ring.submit() {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    // CQ overflow backlog: drain, then retry.
                    self.drain(true);
                }
                other => return other.map(drop),
            }
        }
    }

    /// Dispatches every completion in the queue. `wait` blocks for the lock (the
    /// reaper); callers only try, since whoever holds it dispatches theirs too.
    fn drain(&self, wait: bool) {
        let _cq = if wait {
            self.cq.lock().unwrap_or_else(|p| p.into_inner())
        } else {
            match self.cq.try_lock() {
                Ok(g) => g,
                Err(_) => return,
            }
        };
        // SAFETY: draining is serialised by `cq`.
        let done: Vec<(u64, i32)> = unsafe { self.ring.completion_shared() }
            .map(|c| (c.user_data(), c.result()))
            .collect();
        if done.is_empty() {
            return;
        }
        let mut inflight = self.lock_inflight();
        for (user_data, result) in done {
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
    }

    /// The reaper thread: waits for completions the callers did not collect.
    fn reap_forever(&self) {
        loop {
            // SAFETY: GETEVENTS with no submission and no argument.
            let waited = unsafe {
                self.ring
                    .submitter()
                    .enter::<libc::sigset_t>(0, 1, IORING_ENTER_GETEVENTS, None)
            };
            match waited {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(e) => {
                    tracing::error!("io_uring_enter failed, the reaper stops: {e}");
                    return;
                }
            }
            self.drain(true);
            if self.stopping.load(Ordering::SeqCst) && self.lock_inflight().is_empty() {
                return;
            }
        }
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
        (opcode::Nop::CODE, "NOP"),
    ];
    for (code, name) in needed {
        if !probe.is_supported(code) {
            return Err(RingError::MissingOpcode(name));
        }
    }
    Ok(())
}
