//! Streams whose bytes travel through shared memory instead of the socket (Linux).
//!
//! Whoever has the bytes puts them in a slot of a sealed memfd region and names
//! the slot on the stream's control rings ([`agentos_client::control`], in a
//! second sealed memfd both sides map); the other side takes them from there and
//! hands the slot back on the rings. Only free slots are filled, so memory is
//! bounded by the region. The gRPC stream carries the region's announcement and
//! the final status, nothing per chunk. [`read`] fills slots from a file,
//! [`write`] drains them into one.
//!
//! The region and the control segment are offered under one-shot tickets
//! ([`crate::shm::Broker`]), which the client exchanges for the memfds on the fd
//! socket beside the kernel's; a third ticket carries a non-blocking eventfd
//! the kernel writes to wake a sleeping client ([`Control::notify_by`]), so the
//! client waits in its event loop rather than on a thread of its blocking pool.
//!
//! # Threads
//!
//! Each stream runs on a thread of tokio's blocking pool ([`run`]): it waits on
//! the rings' futexes (only when the client holds every slot, or holds back the
//! next chunk of a write), and a LocalFS read or write of cached data completes
//! inside its own `io_uring_enter`, so the copy runs on that thread too. The
//! number of such threads is bounded by the streams' budget (a region each).
//!
//! # A hostile client
//!
//! The client can write anything into the control segment at any time. The
//! rings validate every position and length they read from it; every slot
//! number, length and offset a message names is checked against what the
//! protocol lets the client name ([`StreamError::NotHeld`],
//! [`StreamError::OutsideRegion`], [`StreamError::OutOfOrder`]); any of it
//! ends that one stream with `INVALID_ARGUMENT` ([`StreamError::Control`] for a
//! broken ring). The segments are sealed against shrinking, so the kernel's
//! own mappings never fault. Waits are naps of [`ring::NAP`], between which the
//! kernel looks whether the client cancelled the call.

pub(super) mod read;
pub(super) mod write;

use std::{
    os::fd::{FromRawFd, OwnedFd},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Duration,
};

use agentos_client::{
    control::{self, Control, Msg, Side},
    ring::{self, RingError},
};
use agentos_proto::v1 as pb;
use pb::stream_response::Msg as Out;
use tokio_stream::Stream;

use super::{
    Inbound, Sender, StreamError,
    read::{MAX_CHUNK, done},
};
use crate::{
    error::KernelError,
    identity::Caller,
    kernel::Kernel,
    shm::{Claimant, ClientAccess, Handout, Region, Ticket},
};

/// A stream's region aims at this size ...
const REGION_AIM: usize = 4 << 20;
/// ... within these slot counts (the control rings hold a message per slot).
const MIN_SLOTS: usize = 4;
const MAX_SLOTS: usize = 64;
/// The largest region a stream gets (its largest chunks, [`MIN_SLOTS`] of
/// them): what the streams' budget counts for one.
pub(super) const REGION_MAX: usize = MIN_SLOTS * MAX_CHUNK as usize;
/// Messages a shared-memory stream sends on the gRPC stream: the region's
/// announcement and the end.
pub(super) const DEPTH: usize = 2;

/// Slots in the region of a stream of `chunk`-byte chunks.
///
/// Few bytes: every stream's region is a fresh memfd whose pages the first
/// copies fault in and zero, and the more slots the copies cycle through, the
/// less of their destination is still in the cache. Raw 1 MiB io_uring reads of
/// the bench's page-cached file, each into the next of N 1 MiB slots of a new
/// memfd, ran at 93 % (4 slots), 88 % (8) and 79 % (16) of the same reads into
/// one reused buffer (97 %, 96 % and 87 % when the memfd was already faulted
/// in). Enough slots, though, that the kernel seldom waits for one while a
/// woken client comes back (see [`burst_for`]).
fn slots_for(chunk: usize) -> usize {
    (REGION_AIM / chunk.max(1)).clamp(MIN_SLOTS, MAX_SLOTS)
}

/// Messages after which the kernel wakes a sleeping client: most of the slots,
/// leaving a quarter (at least one) to fill while the client wakes up. A
/// wake-up is the costly part of the kernel's side (an eventfd write that wakes
/// another CPU took ~15 µs of the stream's thread in this project's VM, a fifth
/// of a 1 MiB copy), so the fewer the better, while the slots stay few.
fn burst_for(slots: usize) -> usize {
    slots - (slots / 4).max(1)
}

/// Why a stream stopped early: an error to report, or a client that went away.
enum Stop {
    Failed(KernelError),
    Gone,
}

impl From<KernelError> for Stop {
    fn from(e: KernelError) -> Self {
        Self::Failed(e)
    }
}

impl From<StreamError> for Stop {
    fn from(e: StreamError) -> Self {
        Self::Failed(e.into())
    }
}

/// A stream's state, on its thread.
struct Shared {
    region: Arc<Region>,
    slots: usize,
    control: Control,
    /// Holds the control segment's share of the broker's budget while the
    /// kernel maps it.
    _segment: Arc<Region>,
    inbound: Inbound,
    /// The client closed its request side (it goes on through the rings).
    closed: bool,
    tx: Sender,
    tickets: [Ticket; 3],
}

/// Whether `caller` can receive a memfd: only on the kernel's own Unix socket,
/// whose fd socket lies beside it. A TCP caller may be elsewhere, and a managed
/// process sees neither socket (its own is inside its sandbox).
fn reachable(caller: &Caller) -> Result<(), StreamError> {
    if caller.pid.is_none() || caller.managed.is_some() {
        return Err(StreamError::NoFdSocket);
    }
    Ok(())
}

/// Makes the stream's region and control segment, offers both to the caller and
/// announces them (the stream's first message).
fn open(
    kernel: &Kernel,
    caller: &Caller,
    chunk: usize,
    access: ClientAccess,
    inbound: Inbound,
    tx: Sender,
) -> Result<Shared, KernelError> {
    reachable(caller)?;
    let slots = slots_for(chunk);
    let region = kernel.shm.region(slots * chunk, access)?;
    let segment = kernel.shm.region_named(
        c"agentos-stream-control",
        control::SEGMENT_BYTES,
        ClientAccess::ReadWrite,
    )?;
    let mut control = Control::init(&*segment)
        .and_then(|()| Control::attach(&*segment, Side::Kernel))
        .map_err(|e| KernelError::Internal(format!("a stream's control rings: {e}")))?;
    // A sleeping client is woken once per burst (and before the kernel waits for
    // it), not per message: see `read` and `write`.
    control.set_burst(burst_for(slots));
    let wake = wake_fd()?;
    let ticket = kernel.shm.offer(caller.uid, &region)?;
    let control_ticket = kernel.shm.offer(caller.uid, &segment).inspect_err(|_| {
        kernel.shm.withdraw(&ticket);
    })?;
    let handout = wake
        .try_clone()
        .map_err(|e| KernelError::Internal(format!("a stream's eventfd: dup: {e}")))?;
    let wake_ticket = kernel
        .shm
        .offer_fd(Claimant::User(caller.uid), Arc::new(handout) as Handout)
        .inspect_err(|_| {
            kernel.shm.withdraw(&ticket);
            kernel.shm.withdraw(&control_ticket);
        })?;
    control.notify_by(wake);
    let announce = pb::StreamResponse {
        msg: Some(Out::Region(pb::SharedRegion {
            ticket: ticket.to_vec(),
            size: region.len() as u64,
            slots: slots as u32,
            slot_size: chunk as u32,
            control_ticket: control_ticket.to_vec(),
            wake_ticket: wake_ticket.to_vec(),
        })),
    };
    tx.try_send(Ok(announce))
        .expect("a new stream's channel has room for its announcement");
    Ok(Shared {
        region,
        slots,
        control,
        _segment: segment,
        inbound,
        closed: false,
        tx,
        tickets: [ticket, control_ticket, wake_ticket],
    })
}

/// The eventfd the kernel writes to wake a sleeping client (see
/// [`Control::notify_by`]): non-blocking, so a client that fills its counter
/// never holds the stream's thread.
fn wake_fd() -> Result<OwnedFd, KernelError> {
    // SAFETY: plain syscall; a non-negative result is a new fd we own.
    let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if raw < 0 {
        let e = std::io::Error::last_os_error();
        return Err(KernelError::Internal(format!("a stream's eventfd: {e}")));
    }
    // SAFETY: just made, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Runs a stream on a blocking-pool thread and ends it: `END` on the rings (the
/// client may be waiting there), then `done` with the bytes moved, or the
/// error. A stream that stopped early withdraws its offers; one that finished
/// leaves them, since its client may claim the memfds after the last chunk.
fn run(
    kernel: &Kernel,
    mut shared: Shared,
    stream: impl FnOnce(&mut Shared) -> Result<u64, Stop> + Send + 'static,
) {
    let broker = Arc::clone(&kernel.shm);
    tokio::task::spawn_blocking(move || {
        let outcome = stream(&mut shared);
        // The client also ends the stream on the status below when this `End` cannot
        // be put on the ring; say so, it should not happen.
        if let Err(e) = shared.control.send(Msg::End, Duration::ZERO) {
            tracing::warn!("a shared-memory stream's End did not reach its ring: {e}");
        }
        let end = match outcome {
            Ok(bytes) => Ok(done(bytes)),
            Err(stop) => {
                for ticket in &shared.tickets {
                    broker.withdraw(ticket);
                }
                match stop {
                    Stop::Failed(e) => Err(e),
                    Stop::Gone => return,
                }
            }
        };
        let _ = shared.tx.blocking_send(end);
    });
}

impl Shared {
    /// Runs `op` on the rings: at once if it can, else in naps of [`ring::NAP`],
    /// between which it looks whether the client is still there.
    fn wait<T>(
        &mut self,
        mut op: impl FnMut(&mut Control, Duration) -> Result<T, RingError>,
    ) -> Result<T, Stop> {
        let mut timeout = Duration::ZERO;
        loop {
            match op(&mut self.control, timeout) {
                Ok(v) => return Ok(v),
                Err(RingError::Timeout(_)) => self.client_there()?,
                Err(e) => return Err(StreamError::Control(e.to_string()).into()),
            }
            timeout = ring::NAP;
        }
    }

    /// The client's next message, waiting for it.
    fn recv(&mut self) -> Result<Msg, Stop> {
        self.wait(|c, t| c.recv(t))
    }

    /// The client's next message if one is there.
    fn poll(&mut self) -> Result<Option<Msg>, Stop> {
        match self.control.recv(Duration::ZERO) {
            Ok(m) => Ok(Some(m)),
            Err(RingError::Timeout(_)) => Ok(None),
            Err(e) => Err(StreamError::Control(e.to_string()).into()),
        }
    }

    /// Sends `msg` (there is room unless the client broke the protocol), waking
    /// a sleeping client once per burst (and at `control.wake()`).
    fn send_in_burst(&mut self, msg: Msg) -> Result<(), Stop> {
        self.wait(|c, t| c.send_in_burst(msg, t))
    }

    /// The client's next message: at once if it is there, else after waking
    /// the client (it may sleep on messages of a burst) and waiting.
    fn next(&mut self) -> Result<Msg, Stop> {
        match self.poll()? {
            Some(msg) => Ok(msg),
            None => {
                self.control.wake();
                self.recv()
            }
        }
    }

    /// `Gone` once the client cancelled the call; a message on its request
    /// stream after the `open` is a protocol error; its end is not (the client
    /// goes on through the rings).
    fn client_there(&mut self) -> Result<(), Stop> {
        if self.tx.is_closed() {
            return Err(Stop::Gone);
        }
        if self.closed {
            return Ok(());
        }
        match ready_now(&mut self.inbound) {
            None => Ok(()),
            Some(None) => {
                self.closed = true;
                Ok(())
            }
            Some(Some(Err(_))) => Err(Stop::Gone),
            Some(Some(Ok(_))) => Err(StreamError::AfterOpen.into()),
        }
    }
}

/// The next request if one has already arrived, without waiting.
fn ready_now<S: Stream + Unpin>(s: &mut S) -> Option<Option<S::Item>> {
    match Pin::new(s).poll_next(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(item) => Some(item),
        Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_callers_on_the_kernel_socket_get_shared_memory() {
        let local = Caller::local();
        assert!(reachable(&local).is_ok(), "{local:?}");
        let tcp = Caller {
            pid: None,
            ..local.clone()
        };
        assert!(matches!(reachable(&tcp), Err(StreamError::NoFdSocket)));
        let managed = Caller {
            managed: Some(7),
            ..local
        };
        assert!(matches!(reachable(&managed), Err(StreamError::NoFdSocket)));
    }

    #[test]
    fn the_wake_eventfd_never_blocks_the_streams_thread() {
        let fd = wake_fd().unwrap();
        let flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL).unwrap();
        assert_ne!(flags & libc::O_NONBLOCK, 0, "flags {flags:#o}");
    }

    #[test]
    fn regions_cover_the_round_trip_within_bounds() {
        assert_eq!(slots_for(1 << 20), 4);
        assert_eq!(slots_for(64 << 10), MAX_SLOTS);
        assert_eq!(slots_for(4 << 20), MIN_SLOTS);
        assert_eq!(slots_for(4096), MAX_SLOTS);
        assert_eq!(slots_for(0), MAX_SLOTS);
        let max = MAX_CHUNK as usize;
        assert!(slots_for(max) * max <= REGION_MAX);
        // A burst leaves at least one slot to fill while the client wakes.
        assert_eq!(burst_for(MIN_SLOTS), 3);
        assert_eq!(burst_for(MAX_SLOTS), 48);
        assert!((MIN_SLOTS..=MAX_SLOTS).all(|n| (1..n).contains(&burst_for(n))));
    }
}
