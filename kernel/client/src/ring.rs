//! A single-producer/single-consumer message ring in shared memory (Linux), for
//! two processes that mapped one segment (`shm_attach`): messages cross without
//! the kernel, and a side that runs dry sleeps on a futex in the segment, woken
//! only when it said it sleeps (io_uring's `NEED_WAKEUP` idea): a busy peer costs
//! no syscall.
//!
//! # Spin, then sleep
//!
//! A side that finds nothing to do spins on the peer's position for a while
//! before it sleeps: at most about what a futex sleep and wake-up cost
//! ([`SPIN_MAX`]), so it never pays more than twice the better choice. The
//! time adapts per side: it doubles after a wait that spinning ended and halves
//! after one that ended asleep, so a peer that answers at once is caught
//! without any syscall, and a machine too busy to run both sides at once
//! (where spinning only burns the peer's CPU) soon brings it down to
//! [`SPIN_MIN`].
//!
//! # Layout
//!
//! ```text
//! 0    magic "AGRING01" (u64), capacity (u64, a power of two)
//! 64   head: bytes the producer has published (u64); producer_sleeps (u32)
//! 128  tail: bytes the consumer has released (u64);  consumer_sleeps (u32)
//! 256  data: records [len: u32][payload], each padded to 8 bytes; a record
//!      that would not fit before the end is preceded by a WRAP word (u32::MAX)
//!      and starts again at 0
//! ```
//!
//! Positions only grow; `position % capacity` is the offset.
//!
//! # A hostile peer hurts only itself
//!
//! The peer may write anything anywhere in the segment at any time. So each side
//! keeps its own position and the capacity it validated when it attached, and
//! never reads either back; it reads the peer's position once per step and checks
//! it (it moves forward only, by a multiple of 8, never past the other side nor
//! more than the capacity ahead); it reads a length word once, into a local, and
//! checks the record against what was published and against the end of the data
//! area before copying the payload out (no double fetch, no reference into shared
//! memory). Anything else is [`RingError::Corrupt`], and the ring stays poisoned
//! for that side. Payload bytes can still be garbage: that is the peer's message.
//! Waits are futex naps of at most [`NAP`] under a deadline the caller gives, so
//! a peer that clears our sleep flag, or dies, costs latency, never a hang.
//!
//! # Example
//!
//! ```no_run
//! # fn demo(a: agentos_client::mapping::Mapping, b: agentos_client::mapping::Mapping)
//! # -> Result<(), agentos_client::ring::RingError> {
//! use std::time::Duration;
//! use agentos_client::ring::{self, Consumer, Producer};
//!
//! ring::init(&a)?; // once, by whoever made the segment
//! let (mut tx, mut rx) = (Producer::attach(a)?, Consumer::attach(b)?);
//! tx.send(b"hello", Duration::from_secs(1))?;
//! let mut buf = Vec::new();
//! rx.recv(&mut buf, Duration::from_secs(1))?;
//! assert_eq!(buf, b"hello");
//! # Ok(()) }
//! ```

use std::{
    sync::atomic::{AtomicU32, AtomicU64, Ordering, fence},
    time::{Duration, Instant},
};

use crate::mapping::Mapping;

/// The first 8 bytes of a ring.
pub const MAGIC: u64 = u64::from_le_bytes(*b"AGRING01");
/// Bytes before the data area.
pub const HEADER: usize = 256;
/// Smallest data area.
pub const MIN_CAPACITY: usize = 64;
/// Longest single futex sleep; the deadline is rechecked after each.
pub const NAP: Duration = Duration::from_millis(50);

const CAPACITY_AT: usize = 8;
/// Where the producer's position is (see the layout).
pub const HEAD_AT: usize = 64;
const PRODUCER_SLEEPS_AT: usize = 72;
/// Where the consumer's position is.
pub const TAIL_AT: usize = 128;
/// Where the consumer says it sleeps (non-zero) or not.
pub const CONSUMER_SLEEPS_AT: usize = 136;
const WRAP: u32 = u32::MAX;
const LEN_WORD: usize = 4;
/// The longest a side spins on the peer's position before it sleeps: about
/// what one futex sleep and wake-up cost on this project's machines (a 16-byte
/// ping-pong between two threads on a futex takes ~15 µs a round trip, two of
/// them). Spinning no longer than a sleep would cost keeps a side within twice
/// the best choice whatever the peer does (the classic spin-then-block bound).
pub const SPIN_MAX: Duration = Duration::from_micros(8);
/// The least a side spins, so that spinning can prove itself again after a
/// spell of sleeps (a peer on a busy machine, then a quiet one).
pub const SPIN_MIN: Duration = Duration::from_nanos(500);
/// Polls between two looks at the clock while spinning (a look costs ~30 ns).
const POLLS_PER_CLOCK: u32 = 16;

/// Why a ring operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The mapping holds no ring this side can use.
    #[error("not a ring: {0}")]
    BadHeader(String),
    /// The peer broke the ring's rules; this side will not use it again.
    #[error("the peer corrupted the ring: {0}")]
    Corrupt(String),
    /// The message can never fit.
    #[error("a message of {len} bytes does not fit a ring of {capacity} (at most {max})")]
    TooLarge {
        len: usize,
        capacity: usize,
        max: usize,
    },
    /// Nothing came (or no room was made) before the deadline.
    #[error("the peer did nothing within {0:?}")]
    Timeout(Duration),
}

/// Bytes a record of `len` payload bytes takes.
fn record(len: usize) -> usize {
    (LEN_WORD + len).next_multiple_of(8)
}

/// Writes a fresh ring header into `map` (writable, at least [`HEADER`] +
/// [`MIN_CAPACITY`] bytes); the data area is the largest power of two that fits.
/// Returns the capacity.
pub fn init(map: &Mapping) -> Result<usize, RingError> {
    let room = map.len().saturating_sub(HEADER);
    if room < MIN_CAPACITY {
        return Err(RingError::BadHeader(format!(
            "{} bytes hold no ring (at least {})",
            map.len(),
            HEADER + MIN_CAPACITY
        )));
    }
    let capacity = 1usize << room.ilog2();
    let mut header = [0u8; HEADER];
    header[..8].copy_from_slice(&MAGIC.to_le_bytes());
    header[CAPACITY_AT..CAPACITY_AT + 8].copy_from_slice(&(capacity as u64).to_le_bytes());
    map.write(0, &header)
        .map_err(|e| RingError::BadHeader(format!("writing the header: {e}")))?;
    fence(Ordering::SeqCst);
    Ok(capacity)
}

/// One side's view of the ring: the mapping and what it validated at attach.
struct Side {
    map: Mapping,
    capacity: u64,
    /// This side's own position (never read back from the ring).
    mine: u64,
    /// The peer's position as last validated.
    theirs: u64,
    poisoned: Option<String>,
    wakes: u64,
    /// How long this side spins before it sleeps, adapted to what paid: doubled
    /// after a wait spinning ended, halved after one that ended asleep, within
    /// [`SPIN_MIN`]..=[`SPIN_MAX`].
    spin: Duration,
}

impl Side {
    fn attach(map: Mapping) -> Result<Self, RingError> {
        if !map.is_writable() {
            return Err(RingError::BadHeader("the mapping is read-only".into()));
        }
        let mut header = [0u8; 16];
        map.read_into(0, &mut header)
            .map_err(|e| RingError::BadHeader(e.to_string()))?;
        let [magic, capacity] =
            [0, 8].map(|i| u64::from_le_bytes(header[i..i + 8].try_into().expect("8 bytes")));
        if magic != MAGIC {
            return Err(RingError::BadHeader(format!("magic {magic:#x}")));
        }
        let fits = map.len().saturating_sub(HEADER) as u64;
        if !capacity.is_power_of_two() || capacity < MIN_CAPACITY as u64 || capacity > fits {
            return Err(RingError::BadHeader(format!(
                "a capacity of {capacity} in a data area of {fits}"
            )));
        }
        Ok(Self {
            map,
            capacity,
            mine: 0,
            theirs: 0,
            poisoned: None,
            wakes: 0,
            spin: SPIN_MAX,
        })
    }

    fn u64_at(&self, at: usize) -> &AtomicU64 {
        // SAFETY: `at` is one of the header's 8-aligned offsets, inside the
        // mapping (page-aligned, at least HEADER long); only accessed atomically.
        unsafe { &*self.map.as_ptr().as_ptr().add(at).cast::<AtomicU64>() }
    }

    fn u32_at(&self, at: usize) -> &AtomicU32 {
        // SAFETY: as above, 4-aligned.
        unsafe { &*self.map.as_ptr().as_ptr().add(at).cast::<AtomicU32>() }
    }

    /// Lowers this side's own sleep flag (the consumer's: only it arms one
    /// outside `wait`).
    fn disarm(&self) {
        self.u32_at(CONSUMER_SLEEPS_AT).store(0, Ordering::Relaxed);
    }

    fn check(&self) -> Result<(), RingError> {
        match &self.poisoned {
            Some(why) => Err(RingError::Corrupt(why.clone())),
            None => Ok(()),
        }
    }

    fn poison(&mut self, why: String) -> RingError {
        self.poisoned = Some(why.clone());
        RingError::Corrupt(why)
    }

    /// Reads the peer's position at `at` once and validates it: forward only, a
    /// multiple of 8, and `ahead` (true for the producer's head seen by the
    /// consumer) at most a capacity ahead of ours, else never past ours.
    fn peer_position(&mut self, at: usize, ahead: bool) -> Result<u64, RingError> {
        let p = self.u64_at(at).load(Ordering::Acquire);
        let ok = p >= self.theirs
            && p.is_multiple_of(8)
            && if ahead {
                p >= self.mine && p - self.mine <= self.capacity
            } else {
                p <= self.mine && self.mine - p <= self.capacity
            };
        if !ok {
            return Err(self.poison(format!(
                "the peer's position {p} (was {}, ours {}, capacity {})",
                self.theirs, self.mine, self.capacity
            )));
        }
        self.theirs = p;
        Ok(p)
    }

    /// Publishes our position at `at` and wakes the peer if it said it sleeps
    /// on `peer_flag`.
    fn publish(&mut self, at: usize, peer_flag: usize) {
        self.u64_at(at).store(self.mine, Ordering::Release);
        self.wake_if_sleeping(peer_flag);
    }

    /// Wakes the peer if it said it sleeps on `peer_flag`.
    fn wake_if_sleeping(&mut self, peer_flag: usize) {
        if self.take_sleeper(peer_flag) {
            futex_wake(self.u32_at(peer_flag));
        }
    }

    /// Lowers the peer's sleep flag `peer_flag`; whether it was up (the peer
    /// sleeps, or is about to, and must be woken).
    fn take_sleeper(&mut self, peer_flag: usize) -> bool {
        // Pairs with the fence in `wait` and `arm`: either the peer sees our
        // position, or we see its flag.
        fence(Ordering::SeqCst);
        let flag = self.u32_at(peer_flag);
        if flag.load(Ordering::Relaxed) == 0 {
            return false;
        }
        flag.store(0, Ordering::Relaxed);
        self.wakes += 1;
        true
    }

    /// Waits until `ready` holds (it reads the peer's position): at once if it
    /// does, else spinning for this side's [`Side::spin`], then sleeping on
    /// `my_flag` in naps; `Timeout` after `timeout`.
    fn wait(
        &mut self,
        my_flag: usize,
        timeout: Duration,
        mut ready: impl FnMut(&mut Self) -> Result<bool, RingError>,
    ) -> Result<(), RingError> {
        if ready(self)? {
            return Ok(());
        }
        if timeout.is_zero() {
            // A poll: the caller asked not to wait, so no spinning either.
            return Err(RingError::Timeout(timeout));
        }
        let start = Instant::now();
        loop {
            for _ in 0..POLLS_PER_CLOCK {
                std::hint::spin_loop();
                if ready(self)? {
                    self.spin = (self.spin * 2).min(SPIN_MAX);
                    return Ok(());
                }
            }
            if start.elapsed() >= self.spin {
                break;
            }
        }
        // Spinning did not pay this time: less of it next time.
        self.spin = (self.spin / 2).max(SPIN_MIN);
        let deadline = Instant::now() + timeout;
        loop {
            self.u32_at(my_flag).store(1, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            let now = Instant::now();
            if ready(self)? {
                self.u32_at(my_flag).store(0, Ordering::Relaxed);
                return Ok(());
            }
            if now >= deadline {
                self.u32_at(my_flag).store(0, Ordering::Relaxed);
                return Err(RingError::Timeout(timeout));
            }
            futex_wait(self.u32_at(my_flag), 1, NAP.min(deadline - now));
        }
    }
}

/// The sending side.
pub struct Producer(Side);

/// The receiving side.
pub struct Consumer(Side);

impl Producer {
    /// Takes the producer's side of the ring [`init`] wrote in `map` (writable).
    pub fn attach(map: Mapping) -> Result<Self, RingError> {
        Side::attach(map).map(Self)
    }

    /// Waits up to `timeout` until the consumer has taken every message sent.
    pub fn drain(&mut self, timeout: Duration) -> Result<(), RingError> {
        self.0.check()?;
        self.0.wait_room(self.0.capacity as usize, timeout)
    }

    /// The mapping back (the ring stays as it is).
    pub fn into_mapping(self) -> Mapping {
        self.0.map
    }

    /// Bytes published so far (this side's position).
    pub fn position(&self) -> u64 {
        self.0.mine
    }

    /// The data area's size.
    pub fn capacity(&self) -> usize {
        self.0.capacity as usize
    }

    /// The largest message this ring carries.
    pub fn max_message(&self) -> usize {
        self.0.capacity as usize - LEN_WORD
    }

    /// Futex wakes this side has made (the consumer was asleep).
    pub fn wakes(&self) -> u64 {
        self.0.wakes
    }

    /// Sends one message, waiting up to `timeout` for room.
    pub fn send(&mut self, msg: &[u8], timeout: Duration) -> Result<(), RingError> {
        self.send_inner(msg, timeout, true)
    }

    /// Sends one message as [`Producer::send`] does, but leaves a sleeping
    /// consumer asleep: for a burst, which [`Producer::wake`] announces with one
    /// wake-up instead of one per message. The consumer is woken anyway before
    /// this side waits for room; left asleep, it finds the messages at the end
    /// of its nap ([`NAP`]) at the latest.
    pub fn send_quiet(&mut self, msg: &[u8], timeout: Duration) -> Result<(), RingError> {
        self.send_inner(msg, timeout, false)
    }

    /// Wakes the consumer if it sleeps (after [`Producer::send_quiet`]).
    pub fn wake(&mut self) {
        self.0.wake_if_sleeping(CONSUMER_SLEEPS_AT);
    }

    /// Lowers the consumer's sleep flag without a futex wake-up; whether it was
    /// up. For a consumer that sleeps elsewhere ([`Consumer::arm`]): the caller
    /// wakes it there (an eventfd), and counts as having woken it.
    pub fn take_sleeper(&mut self) -> bool {
        self.0.take_sleeper(CONSUMER_SLEEPS_AT)
    }

    fn send_inner(&mut self, msg: &[u8], timeout: Duration, wake: bool) -> Result<(), RingError> {
        let s = &mut self.0;
        s.check()?;
        let capacity = s.capacity as usize;
        let need = record(msg.len());
        if need > capacity || msg.len() > (WRAP - 1) as usize {
            return Err(RingError::TooLarge {
                len: msg.len(),
                capacity,
                max: capacity - LEN_WORD,
            });
        }
        let to_end = capacity - (s.mine % s.capacity) as usize;
        let wrap = if need > to_end { to_end } else { 0 };
        if !wake && s.wait_room(wrap + need, Duration::ZERO).is_err() {
            // About to wait for the consumer: it must not be asleep on what it
            // was not told of.
            s.check()?;
            s.wake_if_sleeping(CONSUMER_SLEEPS_AT);
        }
        if wrap > 0 {
            // Too little before the end: a wrap word, published alone, skips it.
            s.wait_room(to_end, timeout)?;
            s.put((s.mine % s.capacity) as usize, &WRAP.to_le_bytes());
            s.mine += to_end as u64;
            s.u64_at(HEAD_AT).store(s.mine, Ordering::Release);
        }
        s.wait_room(need, timeout)?;
        let at = (s.mine % s.capacity) as usize;
        s.put(at, &(msg.len() as u32).to_le_bytes());
        s.put(at + LEN_WORD, msg);
        s.mine += need as u64;
        if wake {
            s.publish(HEAD_AT, CONSUMER_SLEEPS_AT);
        } else {
            s.u64_at(HEAD_AT).store(s.mine, Ordering::Release);
        }
        Ok(())
    }
}

impl Side {
    /// Waits (as the producer) until `bytes` are free.
    fn wait_room(&mut self, bytes: usize, timeout: Duration) -> Result<(), RingError> {
        let (mine, capacity) = (self.mine, self.capacity);
        self.wait(PRODUCER_SLEEPS_AT, timeout, |s| {
            let tail = s.peer_position(TAIL_AT, false)?;
            Ok(capacity - (mine - tail) >= bytes as u64)
        })
    }

    /// Copies `bytes` to data offset `at` (the caller keeps it inside).
    fn put(&self, at: usize, bytes: &[u8]) {
        self.map
            .write(HEADER + at, bytes)
            .expect("inside the data area of a writable mapping");
    }
}

impl Consumer {
    /// Takes the consumer's side of the ring [`init`] wrote in `map` (writable:
    /// the consumer publishes its position).
    pub fn attach(map: Mapping) -> Result<Self, RingError> {
        Side::attach(map).map(Self)
    }

    /// Futex wakes this side has made (the producer was asleep).
    pub fn wakes(&self) -> u64 {
        self.0.wakes
    }

    /// Says this side is going to sleep somewhere of its own (an eventfd the
    /// producer writes when it finds the flag up, see [`Producer::take_sleeper`]),
    /// instead of in [`Consumer::recv`]'s futex wait: raises the sleep flag, then
    /// looks once more. True if a message is already there, with the flag
    /// lowered again: do not sleep. Else sleep, then [`Consumer::disarm`].
    pub fn arm(&mut self) -> Result<bool, RingError> {
        let s = &mut self.0;
        s.check()?;
        s.u32_at(CONSUMER_SLEEPS_AT).store(1, Ordering::Relaxed);
        // Pairs with the producer's fence in `take_sleeper`.
        fence(Ordering::SeqCst);
        let mine = s.mine;
        let ready = s.peer_position(HEAD_AT, true)? != mine;
        if ready {
            s.disarm();
        }
        Ok(ready)
    }

    /// Lowers the sleep flag [`Consumer::arm`] raised (this side is awake).
    pub fn disarm(&mut self) {
        self.0.disarm();
    }

    /// Receives one message into `buf` (replacing its contents), waiting up to
    /// `timeout` for one; its length.
    pub fn recv(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> Result<usize, RingError> {
        let s = &mut self.0;
        s.check()?;
        loop {
            let mine = s.mine;
            let mut head = 0;
            s.wait(CONSUMER_SLEEPS_AT, timeout, |s| {
                head = s.peer_position(HEAD_AT, true)?;
                Ok(head != mine)
            })?;
            let capacity = s.capacity as usize;
            let offset = (s.mine % s.capacity) as usize;
            let to_end = capacity - offset;
            let published = (head - s.mine) as usize;
            let mut word = [0u8; LEN_WORD];
            s.map
                .read_into(HEADER + offset, &mut word)
                .expect("inside the data area");
            let len = u32::from_le_bytes(word);
            if len == WRAP {
                if to_end > published {
                    return Err(s.poison(format!(
                        "a wrap at {offset} skips {to_end} bytes, {published} published"
                    )));
                }
                s.mine += to_end as u64;
                // The producer may be waiting for exactly this room.
                s.publish(TAIL_AT, PRODUCER_SLEEPS_AT);
                continue;
            }
            let need = record(len as usize);
            if need > to_end || need > published {
                return Err(s.poison(format!(
                    "a record of {len} bytes at {offset}: {published} published, {to_end} before the end"
                )));
            }
            buf.resize(len as usize, 0);
            s.map
                .read_into(HEADER + offset + LEN_WORD, buf)
                .expect("inside the data area");
            s.mine += need as u64;
            s.publish(TAIL_AT, PRODUCER_SLEEPS_AT);
            return Ok(len as usize);
        }
    }
}

/// `FUTEX_WAIT` on a word of shared memory (not `_PRIVATE`: the peer is another
/// process) while it holds `expected`, for at most `timeout`.
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos().into(),
    };
    // SAFETY: `word` is a live, aligned u32; the kernel only reads it. Spurious
    // returns (EAGAIN, EINTR, ETIMEDOUT) are fine: callers recheck.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0,
        )
    };
}

/// `FUTEX_WAKE` of one waiter on `word`.
fn futex_wake(word: &AtomicU32) {
    // SAFETY: as above.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            1,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0,
        )
    };
}

#[cfg(test)]
mod tests {
    use std::os::fd::{FromRawFd, OwnedFd};

    use super::*;

    /// Two writable mappings of one new memfd of `len` bytes, the first holding a
    /// fresh ring.
    fn pair(len: usize) -> (Mapping, Mapping) {
        // SAFETY: a new fd, owned below.
        let raw = unsafe { libc::memfd_create(c"agentos-test-ring".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(raw >= 0);
        // SAFETY: just created, owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        nix::unistd::ftruncate(&fd, len as i64).unwrap();
        let a = Mapping::new(&fd, len, true).unwrap();
        init(&a).unwrap();
        (a, Mapping::new(&fd, len, true).unwrap())
    }

    const LONG: Duration = Duration::from_secs(20);
    const SHORT: Duration = Duration::from_millis(20);

    fn message(i: usize) -> Vec<u8> {
        let len = (i * 37) % 300;
        (0..len).map(|j| (i + j) as u8).collect()
    }

    #[test]
    fn messages_cross_in_order_across_wraps_between_threads() {
        let (a, b) = pair(HEADER + 1024);
        let mut tx = Producer::attach(a).unwrap();
        let mut rx = Consumer::attach(b).unwrap();
        let n = 20_000;
        let sender = std::thread::spawn(move || {
            for i in 0..n {
                tx.send(&message(i), LONG).unwrap();
            }
            tx.wakes()
        });
        let mut buf = Vec::new();
        for i in 0..n {
            let len = rx.recv(&mut buf, LONG).unwrap();
            assert_eq!((len, &buf), (buf.len(), &message(i)), "message {i}");
        }
        sender.join().unwrap();
        assert_eq!(rx.recv(&mut buf, SHORT), Err(RingError::Timeout(SHORT)));
    }

    #[test]
    fn a_full_ring_holds_the_producer_and_a_busy_consumer_is_never_woken() {
        let (a, b) = pair(HEADER + 256);
        let mut tx = Producer::attach(a).unwrap();
        let mut rx = Consumer::attach(b).unwrap();
        let big = tx.max_message();
        let e = tx.send(&vec![0; big + 1], SHORT).unwrap_err();
        assert!(matches!(e, RingError::TooLarge { .. }), "{e}");
        let mut sent = 0;
        while tx.send(&[sent as u8; 24], Duration::ZERO).is_ok() {
            sent += 1;
        }
        assert_eq!(sent, 256 / 32, "records of 28 bytes take 32");
        assert_eq!(tx.send(b"x", SHORT), Err(RingError::Timeout(SHORT)));
        let mut buf = Vec::new();
        rx.recv(&mut buf, LONG).unwrap();
        assert_eq!(buf, [0; 24]);
        tx.send(b"x", Duration::ZERO).unwrap();
        // Nobody slept on the other side of any of these.
        assert_eq!((tx.wakes(), rx.wakes()), (0, 0));
        // The largest message fits, after a wrap.
        while rx.recv(&mut buf, Duration::ZERO).is_ok() {}
        let sender = std::thread::spawn(move || tx.send(&vec![7; big], LONG));
        assert_eq!(rx.recv(&mut buf, LONG).unwrap(), big);
        sender.join().unwrap().unwrap();
    }

    /// Whether the consumer says it sleeps, as the producer sees its flag.
    fn consumer_sleeps(tx: &Producer) -> bool {
        tx.0.u32_at(CONSUMER_SLEEPS_AT).load(Ordering::SeqCst) != 0
    }

    /// Waits until the consumer of `tx`'s ring has gone to sleep on it.
    fn until_asleep(tx: &Producer) {
        while !consumer_sleeps(tx) {
            std::thread::yield_now();
        }
    }

    /// A ring of `len` bytes whose consumer (on a thread, receiving `n`
    /// messages) has gone to sleep on it; and the messages' first bytes, when
    /// the thread is joined.
    fn asleep(
        len: usize,
        n: usize,
    ) -> (
        Producer,
        std::thread::JoinHandle<Vec<Result<u8, RingError>>>,
    ) {
        let (a, b) = pair(len);
        let tx = Producer::attach(a).unwrap();
        let mut rx = Consumer::attach(b).unwrap();
        let receiver = std::thread::spawn(move || {
            let mut buf = Vec::new();
            (0..n)
                .map(|_| rx.recv(&mut buf, LONG).map(|_| buf[0]))
                .collect()
        });
        until_asleep(&tx);
        (tx, receiver)
    }

    /// Runs `scenario` until a run in which the consumer was not woken by the
    /// end of a nap ([`NAP`], on a loaded machine) instead of by the producer:
    /// such a run cannot tell whether the producer woke it.
    fn without_nap_ends(mut scenario: impl FnMut() -> bool) {
        assert!(
            (0..5).any(|_| scenario()),
            "every run was disturbed by a nap's end"
        );
    }

    #[test]
    fn quiet_sends_wake_a_sleeping_consumer_once_for_the_burst() {
        without_nap_ends(|| {
            let (mut tx, receiver) = asleep(HEADER + 256, 3);
            for i in 0..3 {
                tx.send_quiet(&[i], LONG).unwrap();
            }
            assert_eq!(tx.wakes(), 0, "quiet sends wake nobody");
            let undisturbed = consumer_sleeps(&tx);
            tx.wake();
            assert_eq!(receiver.join().unwrap(), [Ok(0), Ok(1), Ok(2)]);
            if undisturbed {
                assert_eq!(tx.wakes(), 1, "one wake for the burst");
            }
            undisturbed
        });
    }

    #[test]
    fn a_quiet_send_wakes_the_consumer_before_it_waits_for_room() {
        without_nap_ends(|| {
            let (mut tx, receiver) = asleep(HEADER + 64, 5);
            // Four records of 16 bytes fill the 64-byte ring without a wake; the
            // fifth must wake the sleeping consumer to get room (left alone, it
            // would find them only at the end of a nap, with no wake counted).
            for i in 0..4 {
                tx.send_quiet(&[i; 12], Duration::ZERO).unwrap();
            }
            assert_eq!(tx.wakes(), 0);
            let undisturbed = consumer_sleeps(&tx);
            tx.send_quiet(&[4; 12], LONG).unwrap();
            if undisturbed {
                assert_eq!(tx.wakes(), 1, "woken before the wait for room");
            }
            tx.wake();
            let got = receiver.join().unwrap();
            assert_eq!(got, (0..5).map(Ok).collect::<Vec<_>>());
            undisturbed
        });
    }

    #[test]
    fn a_zero_timeout_polls_without_spinning_or_sleeping() {
        let (a, b) = pair(HEADER + 256);
        let _tx = Producer::attach(a).unwrap();
        let mut rx = Consumer::attach(b).unwrap();
        let spin = rx.0.spin;
        let mut buf = Vec::new();
        assert_eq!(
            rx.recv(&mut buf, Duration::ZERO),
            Err(RingError::Timeout(Duration::ZERO))
        );
        // A spin that ran and failed would have halved the budget.
        assert_eq!(rx.0.spin, spin);
        assert_eq!(rx.wakes(), 0);
    }

    #[test]
    fn a_sleeping_consumer_is_woken_by_the_next_message() {
        let (a, b) = pair(HEADER + 256);
        let mut tx = Producer::attach(a).unwrap();
        let mut rx = Consumer::attach(b).unwrap();
        let receiver = std::thread::spawn(move || {
            let mut buf = Vec::new();
            rx.recv(&mut buf, LONG).map(|_| buf)
        });
        // Wait until it sleeps (its flag is up), then send.
        until_asleep(&tx);
        tx.send(b"wake", LONG).unwrap();
        assert_eq!(receiver.join().unwrap().unwrap(), b"wake");
        assert_eq!(tx.wakes(), 1);
    }

    /// Writes `value` over the u64 or u32 at `at` of the ring, as a hostile peer.
    fn scribble(map: &Mapping, at: usize, bytes: &[u8]) {
        map.write(at, bytes).unwrap();
    }

    #[test]
    fn a_peer_scribbling_on_positions_or_lengths_gets_a_typed_error_and_poisons_only_the_ring() {
        let mut buf = Vec::new();
        // Each case: what the hostile producer writes, after one good message.
        let cases: [(&str, usize, Vec<u8>); 5] = [
            (
                "head past a capacity",
                HEAD_AT,
                (8u64 + 4096).to_le_bytes().to_vec(),
            ),
            ("head backwards", HEAD_AT, 0u64.to_le_bytes().to_vec()),
            ("head unaligned", HEAD_AT, 37u64.to_le_bytes().to_vec()),
            (
                "a length past what was published",
                HEADER + 16,
                200u32.to_le_bytes().to_vec(),
            ),
            (
                "a length past the end",
                HEADER + 16,
                100_000u32.to_le_bytes().to_vec(),
            ),
        ];
        for (what, at, bytes) in cases {
            let (a, b) = pair(HEADER + 256);
            let mut tx = Producer::attach(a).unwrap();
            let mut rx = Consumer::attach(b).unwrap();
            tx.send(b"first", LONG).unwrap();
            tx.send(b"second", LONG).unwrap();
            assert_eq!(rx.recv(&mut buf, LONG), Ok(5), "{what}");
            scribble(&tx.0.map, at, &bytes);
            let e = rx.recv(&mut buf, LONG).unwrap_err();
            assert!(matches!(e, RingError::Corrupt(_)), "{what}: {e}");
            // Poisoned for good, even if the peer puts things back.
            assert!(matches!(
                rx.recv(&mut buf, SHORT),
                Err(RingError::Corrupt(_))
            ));
        }
        // A hostile consumer: the tail past the head, or backwards.
        for tail in [80u64, 0] {
            let (a, b) = pair(HEADER + 256);
            let mut tx = Producer::attach(a).unwrap();
            let mut rx = Consumer::attach(b).unwrap();
            tx.send(&[1; 20], LONG).unwrap();
            tx.send(&[2; 20], LONG).unwrap();
            rx.recv(&mut buf, LONG).unwrap();
            tx.send(&[3; 20], LONG).unwrap();
            scribble(&rx.0.map, TAIL_AT, &tail.to_le_bytes());
            let e = tx.send(b"x", LONG).unwrap_err();
            assert!(matches!(e, RingError::Corrupt(_)), "tail {tail}: {e}");
        }
        // A wrecked header is refused at attach.
        let (a, b) = pair(HEADER + 256);
        scribble(&a, CAPACITY_AT, &(1u64 << 40).to_le_bytes());
        assert!(matches!(Consumer::attach(b), Err(RingError::BadHeader(_))));
        scribble(&a, 0, &[0; 8]);
        assert!(matches!(Producer::attach(a), Err(RingError::BadHeader(_))));
    }

    #[test]
    fn a_peer_that_clears_the_sleep_flag_costs_a_nap_not_a_hang() {
        let (a, b) = pair(HEADER + 256);
        let tx_map = a;
        let mut rx = Consumer::attach(b).unwrap();
        // A hostile "producer" that keeps clearing the consumer's flag and never
        // sends: the receive ends at its deadline.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = std::sync::Arc::clone(&stop);
        let meddler = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                scribble(&tx_map, CONSUMER_SLEEPS_AT, &0u32.to_le_bytes());
                std::thread::yield_now();
            }
        });
        let mut buf = Vec::new();
        let wait = Duration::from_millis(200);
        assert_eq!(rx.recv(&mut buf, wait), Err(RingError::Timeout(wait)));
        stop.store(true, Ordering::Relaxed);
        meddler.join().unwrap();
    }
}
