//! The io_uring rings LocalFS runs on: one per CPU (up to [`MAX_RINGS`]), shared by
//! every caller.
//!
//! # Design
//!
//! tonic handlers run on tokio's multi-thread runtime; `tokio-uring` would need a
//! current-thread runtime per ring and `!Send` futures, which does not fit. So the
//! rings are shared: a caller picks the ring of the CPU it runs on, pushes its entry
//! under that ring's submission lock and calls `io_uring_enter` to submit it itself.
//! One ring per CPU keeps two workers from queueing on one lock while the other's
//! `io_uring_enter` runs the (inline) operations it submitted. Most LocalFS operations on cached data
//! (reads, cached `openat2` lookups) complete during that very call, so the caller
//! then drains the completion queue and finds its own result with no thread hop at
//! all. Operations the kernel punts to its io-wq workers complete later: a reaper
//! thread (`agentos-uring<N>`) sleeps in `io_uring_enter(GETEVENTS)` and dispatches
//! whatever lands, over oneshot channels, together with the memory the entry pointed
//! into (a read's buffer comes back filled).
//!
//! The reaper waits on the ring only while operations are in flight: a CQE posted
//! while it sits in `GETEVENTS` wakes it, and waking a thread per inline completion
//! costs more than the operation. So a caller whose drain leaves operations in flight
//! wakes the reaper, which waits on the ring until nothing is in flight, then parks
//! on a condition variable again.
//!
//! # Direct descriptors
//!
//! Each ring registers a sparse table of [`DIRECT_SLOTS`] fixed files. An operation
//! that only needs to know whether a path resolves (`exists`) opens it into a slot
//! the kernel picks ([`Ring::run_direct`]) and closes the slot with a ring `CLOSE`:
//! no fd-table entry, no `close(2)`. Inside a batch the `CLOSE`s ride along with
//! the batch's own submission; a lone lookup submits its `CLOSE` at once, so an
//! idle ring holds no file.
//!
//! # Cancellation
//!
//! Dropping the caller's future does not cancel the operation: the in-flight table
//! keeps the memory alive until the kernel completes it, then drops it. An
//! `openat2` whose caller has gone has its new fd closed, so nothing leaks.
//!
//! # Host resources
//!
//! One ring and one reaper thread per CPU, released when the last [`Ring`] handle
//! drops and the in-flight operations have completed.

use std::{
    cell::RefCell,
    collections::HashMap,
    ffi::CString,
    future::Future,
    io,
    os::fd::{FromRawFd, OwnedFd},
    pin::Pin,
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    thread,
};

use io_uring::{IoUring, opcode, squeue, types};
use tokio::sync::oneshot;

/// Ring size. Small: ops complete fast, and the CQ is twice as large.
const ENTRIES: u32 = 256;
/// Most rings, whatever the CPU count (each has a reaper thread).
pub(crate) const MAX_RINGS: usize = 8;
/// `user_data` of the NOP that wakes the reaper to stop.
const WAKE: u64 = u64::MAX;
/// `user_data` of the fire-and-forget `CLOSE` of a direct descriptor.
const CLOSED_SLOT: u64 = u64::MAX - 1;
/// Direct-descriptor slots per ring.
pub(super) const DIRECT_SLOTS: u32 = 1024;
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
    /// Shared memory the op reads into or writes from (kept mapped until it completes).
    pub shared: Option<crate::shm::SharedBuf>,
    /// A successful result is a new fd the caller must own (closed if the caller left).
    pub returns_fd: bool,
    /// A successful result is a direct-descriptor slot (closed if the caller left).
    pub returns_slot: bool,
}

impl Owned {
    /// The bytes a write sends: the shared range if there is one, else `buf`.
    pub fn payload(&self) -> &[u8] {
        self.shared.as_ref().map_or(&self.buf, |s| s.as_slice())
    }
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
    /// Whether the sparse direct-descriptor table is registered.
    direct: bool,
    /// Whether the reaper waits on the ring (true) or parks on `reaper_wake`.
    reaper_active: Mutex<bool>,
    reaper_wake: Condvar,
    /// `reaper_active`, readable without the lock (a hint; the lock decides).
    reaper_hint: AtomicBool,
}

/// A handle to the rings; clones share them.
#[derive(Clone)]
pub(crate) struct Ring {
    inner: Arc<Handle>,
    /// Every ring registered its direct-descriptor table (decided at set-up).
    direct: bool,
}

/// The last handle's drop stops the reapers (after in-flight operations finish).
struct Handle(Vec<Arc<Shared>>);

impl Drop for Handle {
    fn drop(&mut self) {
        for shared in &self.0 {
            shared.stopping.store(true, Ordering::SeqCst);
            shared.wake_reaper();
            let nop = opcode::Nop::new().build().user_data(WAKE);
            if let Err(e) = shared.push_and_submit(&nop) {
                tracing::warn!("waking the io_uring reaper to stop: {e}");
            }
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
    /// Sets up one ring (and its reaper thread) per CPU. ENOSYS/EPERM from
    /// `io_uring_setup` mean the host (or a seccomp filter) has no io_uring: the
    /// caller falls back.
    pub fn new() -> Result<Self, RingError> {
        let n = thread::available_parallelism().map_or(1, |n| n.get().min(MAX_RINGS));
        Self::with_rings(n)
    }

    /// Sets up `n` rings.
    pub fn with_rings(n: usize) -> Result<Self, RingError> {
        let mut rings = Vec::with_capacity(n);
        for i in 0..n.max(1) {
            let ring = IoUring::builder()
                .setup_clamp()
                .build(ENTRIES)
                .map_err(RingError::Setup)?;
            check_opcodes(&ring)?;
            // Without the table (kernels before 5.19), `run_direct` is never used.
            let direct = ring.submitter().register_files_sparse(DIRECT_SLOTS).is_ok()
                && is_supported(&ring, opcode::Close::CODE);
            let shared = Arc::new(Shared {
                ring,
                sq: Mutex::new(()),
                cq: Mutex::new(()),
                inflight: Mutex::new(HashMap::new()),
                next: AtomicU64::new(0),
                stopping: AtomicBool::new(false),
                direct,
                reaper_active: Mutex::new(false),
                reaper_wake: Condvar::new(),
                reaper_hint: AtomicBool::new(false),
            });
            let reaper = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("agentos-uring{i}"))
                .spawn(move || reaper.reap_forever())
                .map_err(RingError::Thread)?;
            rings.push(shared);
        }
        Ok(Self {
            direct: rings.iter().all(|s| s.direct),
            inner: Arc::new(Handle(rings)),
        })
    }

    /// How many rings there are.
    pub fn len(&self) -> usize {
        self.inner.0.len()
    }

    /// The ring of the CPU this thread runs on (any ring is correct; this one's
    /// lock is the least contended).
    fn local(&self) -> &Arc<Shared> {
        let rings = &self.inner.0;
        // SAFETY: sched_getcpu takes no arguments; -1 (unknown) picks ring 0.
        let cpu = unsafe { libc::sched_getcpu() };
        &rings[usize::try_from(cpu).unwrap_or(0) % rings.len()]
    }

    /// Submits `entry` (which points into `owned`) and waits for its completion.
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` must point into heap memory owned by `owned` (or into
    /// fds it holds), so that moving `owned` does not move what the kernel reads or
    /// writes.
    pub async unsafe fn run(&self, entry: squeue::Entry, owned: Owned) -> io::Result<Completed> {
        // SAFETY: the caller's contract.
        unsafe { Self::run_on(self.local(), entry, owned) }.await
    }

    /// The names of the files every ring's direct-descriptor table holds, as the
    /// host reports them (`UserFiles` in the ring fd's `/proc/self/fdinfo`).
    #[cfg(test)]
    pub fn direct_files(&self) -> Vec<String> {
        use std::os::fd::AsRawFd;
        let mut names = Vec::new();
        for shared in &self.inner.0 {
            let info =
                std::fs::read_to_string(format!("/proc/self/fdinfo/{}", shared.ring.as_raw_fd()))
                    .expect("reading the ring's fdinfo");
            // `UserFiles:\t<count>`, then one `index: name` line per occupied slot.
            let mut lines = info.lines().skip_while(|l| !l.starts_with("UserFiles:"));
            assert!(lines.next().is_some(), "fdinfo lists UserFiles");
            names.extend(
                lines
                    .map_while(|l| l.trim().split_once(": "))
                    .filter(|(i, _)| i.parse::<u32>().is_ok())
                    .map(|(_, name)| name.to_owned()),
            );
        }
        names
    }

    /// Whether the rings have direct-descriptor tables ([`Ring::run_direct`] works).
    pub fn has_direct(&self) -> bool {
        self.direct
    }

    /// Submits `entry`, an open into an automatically allocated direct-descriptor
    /// slot, waits for it and closes the slot again on the same ring (see
    /// [`Shared::close_slot`]). The result is the slot the open used.
    ///
    /// # Safety
    ///
    /// As for [`Ring::run`]; `entry` must name `DestinationSlot::auto_target()`.
    pub async unsafe fn run_direct(
        &self,
        entry: squeue::Entry,
        mut owned: Owned,
    ) -> io::Result<Completed> {
        let shared = self.local();
        owned.returns_slot = true;
        // SAFETY: the caller's contract.
        let done = unsafe { Self::run_on(shared, entry, owned) }.await?;
        if let Ok(slot) = done.io() {
            shared.close_slot(slot);
        }
        Ok(done)
    }

    /// # Safety
    ///
    /// As for [`Ring::run`].
    async unsafe fn run_on(
        shared: &Arc<Shared>,
        entry: squeue::Entry,
        owned: Owned,
    ) -> io::Result<Completed> {
        let (reply, rx) = oneshot::channel();
        let id = shared.next.fetch_add(1, Ordering::Relaxed) % CLOSED_SLOT;
        shared.lock_inflight().insert(id, (owned, reply));
        let deferred = match shared.enqueue(&entry.user_data(id)) {
            Ok(deferred) => deferred,
            Err(e) => {
                shared.lock_inflight().remove(&id);
                return Err(e);
            }
        };
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

    /// Closes direct-descriptor `slot`. Inside [`batched`] the `CLOSE` is only
    /// queued and goes out with the scope's flush, at no syscall of its own;
    /// elsewhere it is submitted at once (without waiting for it): an idle ring
    /// must not keep a file referenced, or its space stays taken after an unlink
    /// and its filesystem cannot be unmounted.
    fn close_slot(self: &Arc<Self>, slot: u32) {
        if let Err(e) = self.enqueue(&close_entry(slot)) {
            tracing::warn!(slot, "io_uring close of a direct descriptor: {e}");
        }
    }

    /// Inside [`batched`], only pushes `entry` (the scope submits everything once
    /// per pass) and says so with `true`; elsewhere pushes and submits it.
    fn enqueue(self: &Arc<Self>, entry: &squeue::Entry) -> io::Result<bool> {
        let deferred = DEFERRED
            .try_with(|d| {
                let mut d = d.borrow_mut();
                if !d.iter().any(|s| Arc::ptr_eq(s, self)) {
                    d.push(Arc::clone(self));
                }
            })
            .is_ok();
        if deferred {
            self.push(entry)?;
        } else {
            self.push_and_submit(entry)?;
        }
        Ok(deferred)
    }

    fn push_and_submit(&self, entry: &squeue::Entry) -> io::Result<()> {
        let _sq = self.sq.lock().unwrap_or_else(|p| p.into_inner());
        self.push_locked(entry)?;
        self.submit_locked()
    }

    /// Submits what is queued, then dispatches what completed inline.
    fn flush(self: &Arc<Self>) {
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
                    // CQ overflow backlog: drain, then retry. The submission lock is
                    // held, so orphaned slots are queued for closing right here.
                    for slot in self.drain_locked(true) {
                        self.push_locked(&close_entry(slot))?;
                    }
                }
                other => return other.map(drop),
            }
        }
    }

    /// Dispatches every completion in the queue. `wait` blocks for the lock (the
    /// reaper); callers only try, since whoever holds it dispatches theirs too.
    fn drain(self: &Arc<Self>, wait: bool) {
        let orphans = self.drain_locked(wait);
        // Closed after the completion lock is released (pushing takes the
        // submission lock, which is taken before it elsewhere).
        for slot in orphans {
            self.close_slot(slot);
        }
        if !wait && !self.lock_inflight().is_empty() {
            // Something did not complete inline (or another drainer holds the lock):
            // the reaper waits for it.
            self.wake_reaper();
        }
    }

    /// Makes the reaper wait on the ring.
    fn wake_reaper(&self) {
        if self.reaper_hint.load(Ordering::Acquire) {
            return;
        }
        let mut active = self.reaper_active.lock().unwrap_or_else(|p| p.into_inner());
        *active = true;
        self.reaper_hint.store(true, Ordering::Release);
        self.reaper_wake.notify_one();
    }

    /// Parks the reaper until it has something to wait for; false once it should stop.
    fn reaper_park(&self) -> bool {
        let mut active = self.reaper_active.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            // Decided under the lock that `wake_reaper` takes: a caller that put an
            // operation in flight after this check also sets `active` after it.
            if self.lock_inflight().is_empty() {
                if self.stopping.load(Ordering::SeqCst) {
                    return false;
                }
                *active = false;
                self.reaper_hint.store(false, Ordering::Release);
            }
            if *active {
                return true;
            }
            active = self
                .reaper_wake
                .wait(active)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Dispatches completions; returns the direct slots whose callers had left.
    fn drain_locked(&self, wait: bool) -> Vec<u32> {
        let _cq = if wait {
            self.cq.lock().unwrap_or_else(|p| p.into_inner())
        } else {
            match self.cq.try_lock() {
                Ok(g) => g,
                Err(_) => return Vec::new(),
            }
        };
        // SAFETY: draining is serialised by `cq`.
        let done: Vec<(u64, i32)> = unsafe { self.ring.completion_shared() }
            .map(|c| (c.user_data(), c.result()))
            .collect();
        let mut orphans = Vec::new();
        if done.is_empty() {
            return orphans;
        }
        let mut inflight = self.lock_inflight();
        for (user_data, result) in done {
            let Some((owned, reply)) = inflight.remove(&user_data) else {
                continue; // a CLOSE of a direct slot, or the stop NOP
            };
            if let Err(back) = reply.send(Completed { result, owned })
                && back.result >= 0
            {
                if back.owned.returns_fd {
                    // SAFETY: the kernel just gave us this fd and nobody else has it.
                    drop(unsafe { OwnedFd::from_raw_fd(back.result) });
                } else if back.owned.returns_slot {
                    orphans.push(back.result as u32);
                }
            }
        }
        orphans
    }

    /// The reaper thread: waits for completions the callers did not collect.
    fn reap_forever(self: &Arc<Self>) {
        while self.reaper_park() {
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
        }
    }
}

/// Every opcode LocalFS uses must be supported, or LocalFS falls back as a whole.
/// A fire-and-forget `CLOSE` of direct-descriptor `slot`.
fn close_entry(slot: u32) -> squeue::Entry {
    opcode::Close::new(types::Fixed(slot))
        .build()
        .user_data(CLOSED_SLOT)
}

fn is_supported(ring: &IoUring, code: u8) -> bool {
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe).is_ok() && probe.is_supported(code)
}

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
