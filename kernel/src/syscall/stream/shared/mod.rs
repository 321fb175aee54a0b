//! Streams whose bytes travel through shared memory instead of the socket.
//!
//! Whoever has the bytes puts them in a slot of a sealed memfd region and sends
//! only the slot's number; the other side takes them from there and hands the slot
//! back with `release`. Only free slots are filled, so memory is bounded by the
//! region. [`read`] fills slots from a file, [`write`] drains them into one.
//!
//! The region is offered under a one-shot ticket ([`crate::shm::Broker`]), which
//! the client exchanges for the memfd on the fd socket beside the kernel's.
//!
//! The streams run on their own thread ([`bulk`]), not on the runtime's workers:
//! a task woken from a worker waits in that worker's unstealable LIFO slot, so the
//! response encoder woken by each message would run only when the copying task
//! paused, one after the other on one core. Woken from a foreign thread, it goes
//! to the shared queue, and an idle worker encodes while the copy goes on.
//!
//! The region holds enough slots to cover a release's round trip (a chunk's
//! announcement reaching the other side and its `release` coming back, ~100 µs on
//! a loaded VM) several times over: with only a few slots, the kernel sat idle
//! waiting for slots even though the client handed each back at once.
//!
//! Announcements and releases go out in bursts ([`Outbox`]): a send into the
//! response channel wakes the runtime worker that encodes it, and on a VM that
//! wake (an inter-processor interrupt) cost the sending thread ~35 µs, a quarter
//! of a 1 MiB copy. In a burst only the first message wakes anyone.

pub(super) mod read;
pub(super) mod write;

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll, Waker},
};

use agentos_proto::v1 as pb;
use pb::stream_response::Msg as Out;
use tokio_stream::Stream;

use super::{Sender, StreamError, read::done};
use crate::{
    error::KernelError,
    identity::Caller,
    kernel::Kernel,
    shm::{ClientAccess, Region, Ticket},
};

/// A stream's region aims at this size ...
pub(super) const REGION_TARGET: usize = 16 << 20;
/// ... within these slot counts.
const MIN_SLOTS: usize = 4;
const MAX_SLOTS: usize = 64;
/// Messages a shared-memory stream may queue toward the network: one per slot,
/// the region's announcement and the end.
pub(super) const DEPTH: usize = MAX_SLOTS + 2;

/// Slots in the region of a stream of `chunk`-byte chunks.
fn slots_for(chunk: usize) -> usize {
    (REGION_TARGET / chunk.max(1)).clamp(MIN_SLOTS, MAX_SLOTS)
}

/// Messages held back to go out in one burst: at most half the region's slots,
/// so the other side gets slots back to work on while the kernel fills the rest.
struct Outbox {
    held: Vec<pb::StreamResponse>,
    burst: usize,
}

impl Outbox {
    fn new(slots: usize) -> Self {
        let burst = (slots / 2).max(1);
        Self {
            held: Vec::with_capacity(burst),
            burst,
        }
    }

    /// Holds `msg`; sends the burst once it is full.
    async fn push(&mut self, msg: Out, tx: &Sender) -> Result<(), Stop> {
        self.held.push(pb::StreamResponse { msg: Some(msg) });
        if self.held.len() >= self.burst {
            self.flush(tx).await?;
        }
        Ok(())
    }

    /// Sends what is held (the channel has room for a region's worth).
    async fn flush(&mut self, tx: &Sender) -> Result<(), Stop> {
        for msg in self.held.drain(..) {
            tx.send(Ok(msg)).await.map_err(|_| Stop::Gone)?;
        }
        Ok(())
    }
}

/// Why a stream stopped early: an error to report, or a client that went away.
enum Stop {
    Failed(KernelError),
    Gone,
}

/// A region offered to the caller and announced on the stream.
struct Opened {
    region: Arc<Region>,
    ticket: Ticket,
    slots: usize,
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

/// Makes the stream's region, offers it to the caller and announces it (the
/// stream's first message).
fn open(
    kernel: &Kernel,
    caller: &Caller,
    chunk: usize,
    access: ClientAccess,
    tx: &Sender,
) -> Result<Opened, KernelError> {
    reachable(caller)?;
    let slots = slots_for(chunk);
    let region = kernel.shm.region(slots * chunk, access)?;
    let ticket = kernel.shm.offer(caller.uid, &region)?;
    let announce = pb::StreamResponse {
        msg: Some(Out::Region(pb::SharedRegion {
            ticket: ticket.to_vec(),
            size: region.len() as u64,
            slots: slots as u32,
            slot_size: chunk as u32,
        })),
    };
    tx.try_send(Ok(announce))
        .expect("a new stream's channel has room for its announcement");
    Ok(Opened {
        region,
        ticket,
        slots,
    })
}

/// Runs a stream on the bulk thread and ends it: `done` with the bytes moved, or
/// the error. A stream that stopped early withdraws its offer; one that finished
/// leaves it, since its client may claim the memfd after the last chunk.
fn run(
    kernel: &Kernel,
    opened: Opened,
    tx: Sender,
    stream: impl Future<Output = Result<u64, Stop>> + Send + 'static,
) {
    let broker = Arc::clone(&kernel.shm);
    let ticket = opened.ticket;
    bulk().spawn(async move {
        match stream.await {
            Ok(bytes) => {
                let _ = tx.send(Ok(done(bytes))).await;
            }
            Err(stop) => {
                broker.withdraw(&ticket);
                if let Stop::Failed(e) = stop {
                    let _ = tx.send(Err(e)).await;
                }
            }
        }
    });
}

/// The runtime that runs shared-memory streams: one thread, started on first use.
fn bulk() -> &'static tokio::runtime::Handle {
    static BULK: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    BULK.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("building the bulk-copy runtime");
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("agentos-bulk".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .expect("starting the bulk-copy thread");
        handle
    })
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

    #[tokio::test]
    async fn an_outbox_sends_in_bursts_of_half_the_slots() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(DEPTH);
        let mut out = Outbox::new(4);
        let release = |s| Out::Release(s);
        out.push(release(0), &tx).await.ok().unwrap();
        assert!(rx.try_recv().is_err(), "one message is held back");
        out.push(release(1), &tx).await.ok().unwrap();
        out.push(release(2), &tx).await.ok().unwrap();
        let sent: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(sent.len(), 2, "the burst of two went out, the third waits");
        out.flush(&tx).await.ok().unwrap();
        let last = rx.try_recv().unwrap().unwrap();
        assert!(matches!(last.msg, Some(Out::Release(2))));
        assert_eq!(Outbox::new(1).burst, 1);
    }

    #[test]
    fn regions_cover_the_round_trip_within_bounds() {
        assert_eq!(slots_for(1 << 20), 16);
        assert_eq!(slots_for(4 << 20), MIN_SLOTS);
        assert_eq!(slots_for(4096), MAX_SLOTS);
        assert_eq!(slots_for(0), MAX_SLOTS);
        assert!(slots_for(4 << 20) * (4 << 20) <= REGION_TARGET);
    }
}
