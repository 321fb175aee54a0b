//! The control rings of a shared-memory stream (Linux): slot numbers travel
//! between the kernel and its client through two [`ring`]s in a small memfd
//! segment both map, not over the gRPC stream, which carries only the stream's
//! setup (the region's announcement) and its final status.
//!
//! # Layout
//!
//! ```text
//! 0             the ring to the client (the kernel produces): RING_BYTES
//! RING_BYTES    the ring to the kernel (the client produces): RING_BYTES
//! ```
//!
//! Each holds a [`ring`] of a 4 KiB data area: every message is a record of at
//! most 24 bytes, and at most one message per slot (64 at most) and an [`Msg::End`]
//! are ever unread on either ring, so a sender never waits for room unless its peer
//! broke the protocol.
//!
//! # Messages
//!
//! * a read: the kernel sends [`Msg::Full`] for each chunk it put in a slot, the
//!   client hands the slot back with [`Msg::Free`], and the kernel ends with
//!   [`Msg::End`] (the status follows on the gRPC stream);
//! * a write: the client sends [`Msg::Full`] for each slot it filled, the kernel
//!   hands it back with [`Msg::Free`] once written out, and the client's
//!   [`Msg::End`] commits; the kernel sends [`Msg::End`] if it stops early.
//!
//! A peer may write anything into the segment: the rings validate positions and
//! lengths ([`ring`]'s "A hostile peer hurts only itself"), [`Msg::decode`] the
//! message's shape, and the receiver of a slot number checks that the slot is
//! one the protocol lets the peer name.

use std::{
    os::fd::{AsFd, OwnedFd},
    time::Duration,
};

use crate::{
    mapping::Mapping,
    ring::{self, Consumer, Producer, RingError},
};

/// Bytes of one ring's mapping: its header and a data area of 4 KiB.
pub const RING_BYTES: usize = 8192;
/// Bytes of the control segment: the ring to the client, then the one to the kernel.
pub const SEGMENT_BYTES: usize = 2 * RING_BYTES;
/// Longest message: [`Msg::Full`]'s tag and fields.
const MAX_MSG: usize = 1 + 4 + 8 + 4;

const FULL: u8 = 1;
const FREE: u8 = 2;
const END: u8 = 3;

/// Which end of the stream a [`Control`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Kernel,
    Client,
}

/// One control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    /// `len` bytes of the file at `offset` are in `slot`, which is the
    /// receiver's until it sends it back as [`Msg::Free`].
    Full { slot: u32, offset: u64, len: u32 },
    /// The sender is done with `slot`: it is the other side's again.
    Free { slot: u32 },
    /// No more messages from this side: from the kernel, the stream's status is
    /// on the gRPC stream; from a writing client, commit.
    End,
}

impl Msg {
    /// The message's bytes: a tag, then its fields, little-endian.
    fn encode(self, out: &mut [u8; MAX_MSG]) -> &[u8] {
        match self {
            Msg::Full { slot, offset, len } => {
                out[0] = FULL;
                out[1..5].copy_from_slice(&slot.to_le_bytes());
                out[5..13].copy_from_slice(&offset.to_le_bytes());
                out[13..17].copy_from_slice(&len.to_le_bytes());
                &out[..17]
            }
            Msg::Free { slot } => {
                out[0] = FREE;
                out[1..5].copy_from_slice(&slot.to_le_bytes());
                &out[..5]
            }
            Msg::End => {
                out[0] = END;
                &out[..1]
            }
        }
    }

    /// A message from its bytes; anything but one of the three shapes is the
    /// peer's corruption.
    pub fn decode(bytes: &[u8]) -> Result<Self, RingError> {
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        match (bytes.first(), bytes.len()) {
            (Some(&FULL), 17) => Ok(Msg::Full {
                slot: u32_at(1),
                offset: u64::from_le_bytes(bytes[5..13].try_into().expect("8 bytes")),
                len: u32_at(13),
            }),
            (Some(&FREE), 5) => Ok(Msg::Free { slot: u32_at(1) }),
            (Some(&END), 1) => Ok(Msg::End),
            (tag, len) => Err(RingError::Corrupt(format!(
                "a control message of {len} bytes with tag {tag:?}"
            ))),
        }
    }
}

/// One side's two rings: what it sends and what it receives.
pub struct Control {
    tx: Producer,
    rx: Consumer,
    buf: Vec<u8>,
    /// Messages [`Control::send_in_burst`] sends between two wake-ups ...
    burst: usize,
    /// ... and how many it has sent since the last.
    unannounced: usize,
    /// An eventfd the peer sleeps on instead of the ring's futex ([`Control::notify_by`]).
    notifier: Option<OwnedFd>,
}

/// Maps ring `index` of the segment `fd`.
fn map_ring<F: AsFd + ?Sized>(fd: &F, index: usize) -> Result<Mapping, RingError> {
    Mapping::at(fd, (index * RING_BYTES) as u64, RING_BYTES, true)
        .map_err(|e| RingError::BadHeader(format!("mapping control ring {index}: {e}")))
}

impl Control {
    /// Writes both rings' headers into a fresh segment of [`SEGMENT_BYTES`]
    /// (whoever made it, once).
    pub fn init<F: AsFd + ?Sized>(fd: &F) -> Result<(), RingError> {
        for index in 0..2 {
            ring::init(&map_ring(fd, index)?)?;
        }
        Ok(())
    }

    /// Takes `side`'s ends of the rings in the segment `fd` (mapped writable).
    pub fn attach<F: AsFd + ?Sized>(fd: &F, side: Side) -> Result<Self, RingError> {
        let (out, inn) = match side {
            Side::Kernel => (0, 1),
            Side::Client => (1, 0),
        };
        Ok(Self {
            tx: Producer::attach(map_ring(fd, out)?)?,
            rx: Consumer::attach(map_ring(fd, inn)?)?,
            buf: Vec::with_capacity(MAX_MSG),
            burst: 1,
            unannounced: 0,
            notifier: None,
        })
    }

    /// Sends `msg`, waiting up to `timeout` for room (there always is, unless
    /// the peer broke the protocol), and wakes a sleeping peer.
    pub fn send(&mut self, msg: Msg, timeout: Duration) -> Result<(), RingError> {
        let mut bytes = [0u8; MAX_MSG];
        match self.notifier {
            None => self.tx.send(msg.encode(&mut bytes), timeout),
            Some(_) => {
                self.tx.send_quiet(msg.encode(&mut bytes), timeout)?;
                self.wake();
                Ok(())
            }
        }
    }

    /// Wakes a sleeping peer by writing the eventfd `fd` rather than with a
    /// futex wake-up: for a peer that waits in its event loop
    /// ([`Control::arm`], then `fd` readable) instead of on a blocking thread,
    /// so that a wake-up is one thread woken, not a hop through a thread pool
    /// and back. `fd` should be non-blocking: a peer that fills the counter
    /// then goes unwoken (it finds the messages at its nap's end), and the
    /// writer never waits.
    pub fn notify_by(&mut self, fd: OwnedFd) {
        self.notifier = Some(fd);
    }

    /// Makes [`Control::send_in_burst`] wake a sleeping peer once every `every`
    /// messages (a stream: most of its slots).
    pub fn set_burst(&mut self, every: usize) {
        self.burst = every.max(1);
    }

    /// Sends `msg` as [`Control::send`] does, but wakes a sleeping peer only once
    /// per burst (see [`Control::set_burst`]) instead of for every message: a peer
    /// that keeps up then takes a burst in one go and pays one wake-up for it.
    /// The sender must [`Control::wake`] the peer before it waits for the peer
    /// itself, and at the end; a peer left asleep finds the messages at the end
    /// of its nap ([`ring::NAP`]) at the latest (see [`Producer::send_quiet`]).
    pub fn send_in_burst(&mut self, msg: Msg, timeout: Duration) -> Result<(), RingError> {
        let mut bytes = [0u8; MAX_MSG];
        self.tx.send_quiet(msg.encode(&mut bytes), timeout)?;
        self.unannounced += 1;
        if self.unannounced >= self.burst {
            self.wake();
        }
        Ok(())
    }

    /// Wakes the peer if it sleeps on this side's messages; a new burst begins.
    pub fn wake(&mut self) {
        self.unannounced = 0;
        let Some(fd) = &self.notifier else {
            self.tx.wake();
            return;
        };
        if self.tx.take_sleeper() {
            // EAGAIN (the peer filled the counter) is the peer's own doing.
            let _ = nix::unistd::write(fd, &1u64.to_ne_bytes());
        }
    }

    /// Says this side is about to sleep on its eventfd rather than in
    /// [`Control::recv`]: true if a message is already there (do not sleep);
    /// see [`Consumer::arm`]. [`Control::disarm`] once awake.
    pub fn arm(&mut self) -> Result<bool, RingError> {
        self.rx.arm()
    }

    /// This side is awake again after [`Control::arm`].
    pub fn disarm(&mut self) {
        self.rx.disarm();
    }

    /// The next message, waiting up to `timeout` (zero: a poll).
    pub fn recv(&mut self, timeout: Duration) -> Result<Msg, RingError> {
        if self.rx.recv(&mut self.buf, timeout)? > MAX_MSG {
            return Err(RingError::Corrupt(format!(
                "a control message of {} bytes",
                self.buf.len()
            )));
        }
        Msg::decode(&self.buf)
    }

    /// Wake-ups this side has made (the peer slept): for tests and benches.
    pub fn wakes(&self) -> u64 {
        self.tx.wakes() + self.rx.wakes()
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::{FromRawFd, OwnedFd};

    use super::*;

    fn segment() -> OwnedFd {
        // SAFETY: a new fd, owned below.
        let raw =
            unsafe { libc::memfd_create(c"agentos-test-control".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(raw >= 0);
        // SAFETY: just created, owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        nix::unistd::ftruncate(&fd, SEGMENT_BYTES as i64).unwrap();
        Control::init(&fd).unwrap();
        fd
    }

    #[test]
    fn messages_cross_both_ways_and_every_shape_round_trips() {
        let fd = segment();
        let mut kernel = Control::attach(&fd, Side::Kernel).unwrap();
        let mut client = Control::attach(&fd, Side::Client).unwrap();
        let msgs = [
            Msg::Full {
                slot: 63,
                offset: u64::MAX - 1,
                len: 4 << 20,
            },
            Msg::Free { slot: 7 },
            Msg::End,
        ];
        for m in msgs {
            kernel.send(m, Duration::ZERO).unwrap();
            client.send(m, Duration::ZERO).unwrap();
        }
        for m in msgs {
            assert_eq!(client.recv(Duration::ZERO), Ok(m));
            assert_eq!(kernel.recv(Duration::ZERO), Ok(m));
        }
        assert!(matches!(
            client.recv(Duration::ZERO),
            Err(RingError::Timeout(_))
        ));
    }

    #[test]
    fn a_ring_holds_a_message_per_slot_and_an_end_without_waiting() {
        let fd = segment();
        let mut kernel = Control::attach(&fd, Side::Kernel).unwrap();
        for slot in 0..64 {
            let full = Msg::Full {
                slot,
                offset: 0,
                len: 1,
            };
            kernel.send(full, Duration::ZERO).unwrap();
        }
        kernel.send(Msg::End, Duration::ZERO).unwrap();
    }

    #[test]
    fn a_burst_wakes_a_sleeping_peer_once_per_burst_and_wake_ends_it() {
        let fd = segment();
        let mut kernel = Control::attach(&fd, Side::Kernel).unwrap();
        // The client's sleep flag on the ring to it, raised by hand: the client
        // says it sleeps (nobody waits on the futex, so a wake-up costs nothing).
        let ring = map_ring(&fd, 0).unwrap();
        let asleep =
            |yes: bool| ring.write(ring::CONSUMER_SLEEPS_AT, &u32::from(yes).to_le_bytes());
        let sleeps = || {
            let mut word = [0u8; 4];
            ring.read_into(ring::CONSUMER_SLEEPS_AT, &mut word).unwrap();
            u32::from_le_bytes(word) == 1
        };
        kernel.set_burst(3);
        asleep(true).unwrap();
        let free = |slot| Msg::Free { slot };
        for slot in 0..2 {
            kernel.send_in_burst(free(slot), Duration::ZERO).unwrap();
        }
        assert_eq!((kernel.wakes(), sleeps()), (0, true), "inside a burst");
        kernel.send_in_burst(free(2), Duration::ZERO).unwrap();
        assert_eq!((kernel.wakes(), sleeps()), (1, false), "at the burst's end");
        // A wake-up before the burst is full starts a new one.
        asleep(true).unwrap();
        kernel.send_in_burst(free(3), Duration::ZERO).unwrap();
        kernel.wake();
        assert_eq!(kernel.wakes(), 2);
        asleep(true).unwrap();
        for slot in 4..6 {
            kernel.send_in_burst(free(slot), Duration::ZERO).unwrap();
        }
        assert_eq!((kernel.wakes(), sleeps()), (2, true), "two of a new burst");
        // A plain send wakes at once.
        kernel.send(Msg::End, Duration::ZERO).unwrap();
        assert_eq!(kernel.wakes(), 3);
    }

    /// A new non-blocking eventfd.
    fn eventfd() -> OwnedFd {
        // SAFETY: a new fd, owned below.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        assert!(raw >= 0);
        // SAFETY: just created, owned by nothing else.
        unsafe { OwnedFd::from_raw_fd(raw) }
    }

    /// Both sides of a fresh segment's rings, the kernel's set to wake the client through
    /// the returned (non-blocking) eventfd.
    fn sides_with_eventfd() -> (Control, Control, OwnedFd) {
        let fd = segment();
        let mut kernel = Control::attach(&fd, Side::Kernel).unwrap();
        let client = Control::attach(&fd, Side::Client).unwrap();
        let wake = eventfd();
        kernel.notify_by(wake.try_clone().unwrap());
        (kernel, client, wake)
    }

    /// The eventfd's counter, drained (0: nobody wrote it).
    fn drained(fd: &OwnedFd) -> u64 {
        let mut word = [0u8; 8];
        match nix::unistd::read(fd, &mut word) {
            Ok(8) => u64::from_ne_bytes(word),
            Err(nix::errno::Errno::EAGAIN) => 0,
            other => panic!("reading the eventfd: {other:?}"),
        }
    }

    #[test]
    fn a_peer_asleep_on_an_eventfd_is_woken_there_once_per_burst() {
        let (mut kernel, mut client, wake) = sides_with_eventfd();
        kernel.set_burst(3);
        let full = |slot| Msg::Full {
            slot,
            offset: 0,
            len: 1,
        };
        assert_eq!(client.arm(), Ok(false), "nothing there: sleep");
        for slot in 0..2 {
            kernel.send_in_burst(full(slot), Duration::ZERO).unwrap();
        }
        assert_eq!((drained(&wake), kernel.wakes()), (0, 0), "inside a burst");
        kernel.send_in_burst(full(2), Duration::ZERO).unwrap();
        assert_eq!(
            (drained(&wake), kernel.wakes()),
            (1, 1),
            "at the burst's end"
        );
        // The write lowered the flag: an awake client is not written to again.
        kernel.send(Msg::End, Duration::ZERO).unwrap();
        assert_eq!(drained(&wake), 0, "woken already");
        client.disarm();
        for m in [full(0), full(1), full(2), Msg::End] {
            assert_eq!(client.recv(Duration::ZERO), Ok(m));
        }
        // Armed again: a plain send writes the eventfd at once ...
        assert_eq!(client.arm(), Ok(false));
        kernel.send(full(3), Duration::ZERO).unwrap();
        assert_eq!(drained(&wake), 1);
        client.disarm();
        // ... and arming with a message waiting says so instead of sleeping.
        assert_eq!(client.arm(), Ok(true));
        kernel.wake();
        assert_eq!(drained(&wake), 0, "the flag was lowered again");
    }

    #[test]
    fn a_peer_that_fills_its_eventfd_goes_unwoken_and_the_waker_never_waits() {
        let (mut kernel, mut client, wake) = sides_with_eventfd();
        // The counter's largest value: one more write would block (EAGAIN here).
        nix::unistd::write(&wake, &(u64::MAX - 1).to_ne_bytes()).unwrap();
        assert_eq!(client.arm(), Ok(false));
        kernel.send(Msg::End, Duration::ZERO).unwrap();
        assert_eq!(kernel.wakes(), 1, "the flag was up: a wake-up was due");
        assert_eq!(drained(&wake), u64::MAX - 1, "only the peer's own writes");
        client.disarm();
        assert_eq!(client.recv(Duration::ZERO), Ok(Msg::End));
    }

    #[test]
    fn a_malformed_message_is_the_peers_corruption() {
        for bad in [
            &[][..],
            &[FULL, 1, 2],
            &[FREE; 9],
            &[END, 0],
            &[9, 0, 0, 0, 0],
        ] {
            let e = Msg::decode(bad).unwrap_err();
            assert!(matches!(e, RingError::Corrupt(_)), "{bad:?}: {e}");
        }
    }
    /// Runs `op` at once, then in naps of [`ring::NAP`] while it times out.
    fn patiently<T>(mut op: impl FnMut(Duration) -> Result<T, RingError>) -> T {
        let mut t = Duration::ZERO;
        loop {
            match op(t) {
                Err(RingError::Timeout(_)) => t = ring::NAP,
                other => return other.unwrap(),
            }
        }
    }

    /// The kernel's side of a shared read, as `fill` and `run` do it: `FULL`s
    /// with a wake-up per burst of all but a quarter of the slots and before it
    /// waits for a slot, then an `END` that must fit at once.
    fn serve_read(mut kernel: Control, chunks: u32, slots: u32) {
        let freed = |msg| match msg {
            Msg::Free { slot } => slot,
            other => panic!("{other:?} from the client"),
        };
        let mut free: Vec<u32> = (0..slots).rev().collect();
        kernel.set_burst(slots as usize - (slots as usize / 4).max(1));
        for offset in 0..chunks {
            while let Ok(msg) = kernel.recv(Duration::ZERO) {
                free.push(freed(msg));
            }
            let slot = free.pop().unwrap_or_else(|| {
                kernel.wake();
                freed(patiently(|t| kernel.recv(t)))
            });
            let full = Msg::Full {
                slot,
                offset: offset.into(),
                len: 1,
            };
            patiently(|t| kernel.send_in_burst(full, t));
        }
        kernel
            .send(Msg::End, Duration::ZERO)
            .expect("an End fits at once after every slot's FULL");
    }

    #[test]
    fn a_read_shaped_exchange_always_ends_on_the_ring() {
        // Three times as many chunks as slots, as the integration test; each
        // stream's End must come off the ring (a missing one is the CI hang).
        for round in 0..200 {
            let fd = segment();
            let kernel = Control::attach(&fd, Side::Kernel).unwrap();
            let mut client = Control::attach(&fd, Side::Client).unwrap();
            let server = std::thread::spawn(move || serve_read(kernel, 193, 64));
            let (mut got, mut naps) = (0, 0);
            loop {
                let msg = loop {
                    let t = if naps == 0 { Duration::ZERO } else { ring::NAP };
                    match client.recv(t) {
                        Ok(m) => break m,
                        Err(RingError::Timeout(_)) => naps += 1,
                        Err(e) => panic!("round {round}: {e}"),
                    }
                    assert!(naps < 100, "round {round}: no End after {got} chunks");
                };
                naps = 0;
                match msg {
                    Msg::Full { slot, offset, .. } => {
                        assert_eq!(offset, got, "round {round}");
                        got += 1;
                        client.send(Msg::Free { slot }, Duration::ZERO).unwrap();
                    }
                    Msg::End => break,
                    Msg::Free { .. } => panic!("round {round}: a FREE from the kernel"),
                }
            }
            assert_eq!(got, 193, "round {round}");
            server.join().unwrap();
        }
    }
}
