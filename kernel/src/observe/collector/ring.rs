//! [`Ring`]: a lock-free, multi-producer ring of [`Record`]s that overwrites the
//! oldest, readable by any number of readers at any position.
//!
//! Each slot is a seqlock of atomic words: a writer takes a position with one
//! `fetch_add`, marks the slot odd (being written) with that position, stores the
//! words and marks it even; a reader copies the words and keeps them only if the
//! slot's stamp is the even one for the position it wants before and after. So a
//! write is a handful of uncontended atomic stores, no lock, no allocation, and a
//! reader never blocks a writer; a reader that falls more than the ring's length
//! behind learns how many it lost ([`Read::Lost`]).

use std::sync::atomic::{AtomicU64, Ordering, fence};

use super::record::{Category, Record, Severity};

/// Slots in the collector's ring.
pub const RING_SLOTS: usize = 1 << 16;

const WORDS: usize = 6;

#[derive(Default)]
struct Slot {
    /// `2 * position + 1` while being written, `2 * position + 2` once written.
    stamp: AtomicU64,
    words: [AtomicU64; WORDS],
}

/// What a reader found at a position.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    Event(Record),
    /// Not written yet (or being written).
    Pending,
    /// Overwritten by a later lap of the ring.
    Lost,
}

pub struct Ring {
    slots: Box<[Slot]>,
    mask: u64,
    head: AtomicU64,
}

impl Ring {
    /// A ring of `slots` slots (a power of two).
    pub fn new(slots: usize) -> Self {
        assert!(slots.is_power_of_two(), "ring size must be a power of two");
        Self {
            slots: (0..slots).map(|_| Slot::default()).collect(),
            mask: slots as u64 - 1,
            head: AtomicU64::new(0),
        }
    }

    pub fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// The next position to be written: every position below it has been taken.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// Appends `r`; its position.
    ///
    /// Two writers meet in a slot only when one was stalled for a whole lap; then the
    /// slot goes to the later lap: the earlier writer gives up if the later one has begun
    /// (its record is overwritten anyway: a reader gets [`Read::Lost`]), and the later
    /// waits for an earlier one still writing. So a slot's words have one writer at a
    /// time, and its stamp never goes backwards.
    pub fn push(&self, r: &Record) -> u64 {
        let pos = self.head.fetch_add(1, Ordering::AcqRel);
        let slot = &self.slots[(pos & self.mask) as usize];
        let mine = 2 * pos + 1;
        let mut spins = 0u32;
        let mut seen = slot.stamp.load(Ordering::Relaxed);
        loop {
            if seen > mine {
                return pos;
            }
            if seen % 2 == 1 {
                // An earlier lap's writer is mid-write: it finishes in a few stores unless
                // it was preempted, so spin briefly, then let it run.
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                seen = slot.stamp.load(Ordering::Relaxed);
                continue;
            }
            match slot
                .stamp
                .compare_exchange_weak(seen, mine, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        fence(Ordering::Release);
        for (w, v) in slot.words.iter().zip(pack(r)) {
            w.store(v, Ordering::Relaxed);
        }
        slot.stamp.store(2 * pos + 2, Ordering::Release);
        pos
    }

    /// The record at `pos`.
    pub fn get(&self, pos: u64) -> Read {
        let slot = &self.slots[(pos & self.mask) as usize];
        let want = 2 * pos + 2;
        let before = slot.stamp.load(Ordering::Acquire);
        if before != want {
            return if before > want {
                Read::Lost
            } else {
                Read::Pending
            };
        }
        let mut words = [0u64; WORDS];
        for (v, w) in words.iter_mut().zip(&slot.words) {
            *v = w.load(Ordering::Relaxed);
        }
        fence(Ordering::Acquire);
        if slot.stamp.load(Ordering::Relaxed) != want {
            return Read::Lost;
        }
        unpack(words).map_or(Read::Lost, Read::Event)
    }
}

fn pack(r: &Record) -> [u64; WORDS] {
    [
        r.ts_ns,
        r.causality,
        u64::from(r.pid) | (r.category as u64) << 32 | (r.severity as u64) << 40,
        r.value,
        r.name.as_ptr() as u64,
        r.name.len() as u64 | u64::from(r.code as u32) << 32,
    ]
}

fn unpack(w: [u64; WORDS]) -> Option<Record> {
    let category = Category::from_u8((w[2] >> 32) as u8)?;
    let len = (w[5] & 0xffff_ffff) as usize;
    // SAFETY: the words were written by `pack` from a `&'static str` (only `push`
    // writes a slot, and the stamp check above proved this copy is one whole
    // write), so pointer and length name that same static, valid UTF-8 string.
    let name: &'static str = unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(w[4] as *const u8, len))
    };
    Some(Record {
        ts_ns: w[0],
        causality: w[1],
        pid: w[2] as u32,
        category,
        severity: Severity::from_u8((w[2] >> 40) as u8),
        value: w[3],
        name,
        code: (w[5] >> 32) as u32 as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u64) -> Record {
        Record::now(Category::Syscall, Severity::Info, "read")
            .value(i)
            .pid(i as u32)
            .code(-(i as i32))
    }

    #[test]
    fn records_round_trip_and_old_laps_are_reported_lost() {
        let ring = Ring::new(8);
        for i in 0..8 {
            assert_eq!(ring.push(&rec(i)), i);
        }
        assert_eq!(ring.get(3), Read::Event(rec_at(&ring, 3)));
        let Read::Event(r) = ring.get(5) else {
            panic!("slot 5 was written")
        };
        assert_eq!((r.value, r.pid, r.code, r.name), (5, 5, -5, "read"));
        assert_eq!(ring.get(8), Read::Pending);
        ring.push(&rec(8)); // overwrites position 0
        assert_eq!(ring.get(0), Read::Lost);
        assert!(matches!(ring.get(8), Read::Event(r) if r.value == 8));
    }

    fn rec_at(ring: &Ring, pos: u64) -> Record {
        match ring.get(pos) {
            Read::Event(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// Has `writers` threads push `each` records (value, pid and causality all one number)
    /// into a ring of `slots` while a reader thread reads the newest lap until they are
    /// done; asserts no record read was torn and some were read.
    fn writers_race_a_reader(slots: usize, writers: u64, each: u64) {
        use std::sync::{Arc, atomic::AtomicBool};
        let ring = Arc::new(Ring::new(slots));
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (ring, done) = (Arc::clone(&ring), Arc::clone(&done));
            std::thread::spawn(move || {
                let (mut seen, mut torn) = (0u64, 0u64);
                while !done.load(Ordering::Relaxed) {
                    let head = ring.head();
                    for pos in head.saturating_sub(slots as u64)..head {
                        if let Read::Event(r) = ring.get(pos) {
                            seen += 1;
                            if r.value != r.causality || r.pid != r.value as u32 {
                                torn += 1;
                            }
                        }
                    }
                }
                (seen, torn)
            })
        };
        let threads: Vec<_> = (0..writers)
            .map(|t| {
                let ring = Arc::clone(&ring);
                std::thread::spawn(move || {
                    for i in 0..each {
                        let v = t << 32 | i;
                        ring.push(
                            &Record::now(Category::Vfs, Severity::Debug, "w")
                                .value(v)
                                .pid(v as u32)
                                .causality(v),
                        );
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|w| w.join().unwrap());
        done.store(true, Ordering::Relaxed);
        let (seen, torn) = reader.join().unwrap();
        assert_eq!(torn, 0, "{torn} torn records of {seen} read");
        assert!(seen > 0);
        assert_eq!(ring.head(), writers * each);
    }

    #[test]
    fn concurrent_writers_never_produce_a_torn_record() {
        writers_race_a_reader(64, 2, 50_000);
    }

    /// Writers a whole lap apart share a slot: with a ring of 2 slots and more writers
    /// than cores, one is often preempted mid-write while another laps it.
    #[test]
    fn writers_lapping_each_other_never_produce_a_torn_record() {
        writers_race_a_reader(2, 4, 500_000);
    }
}
