//! Clocks for the permission cache's TTLs: [`CoarseClock`] (the default),
//! [`MonotonicClock`] and [`ManualClock`] for tests.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// A source of monotonic time for TTLs.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// [`Instant::now`]: exact, and slower than [`CoarseClock`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The monotonic clock at scheduler-tick resolution.
///
/// A cache hit reads the clock once, and `Instant::now` (`CLOCK_MONOTONIC`, 20–35
/// ns on the development VM) is a good part of a hit's cost. TTLs are seconds
/// long, so the default reads Linux's `CLOCK_MONOTONIC_COARSE` instead (~5 ns, the
/// time at the last scheduler tick, 1–10 ms old), turned into an `Instant`. Where
/// that clock is missing (not Linux), it reads `Instant::now`.
#[derive(Debug, Clone, Copy)]
pub struct CoarseClock {
    /// `Instant::now()` and the coarse clock, read together when made; `None` when
    /// the coarse clock is unavailable.
    base: Instant,
    base_coarse: Option<Duration>,
}

impl CoarseClock {
    pub fn new() -> Self {
        let base_coarse = coarse_now();
        Self {
            base: Instant::now(),
            base_coarse,
        }
    }
}

impl Default for CoarseClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for CoarseClock {
    fn now(&self) -> Instant {
        match (self.base_coarse, coarse_now()) {
            (Some(base), Some(now)) => self.base + now.saturating_sub(base),
            _ => Instant::now(),
        }
    }
}

/// `CLOCK_MONOTONIC_COARSE` since boot.
#[cfg(target_os = "linux")]
fn coarse_now() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` that outlives the call, which
    // writes only to it; an unknown clock id fails with EINVAL, handled below.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

/// No coarse clock here: [`CoarseClock`] reads `Instant::now`.
#[cfg(not(target_os = "linux"))]
fn coarse_now() -> Option<Duration> {
    None
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock {
    base: Instant,
    offset_ns: AtomicU64,
}

impl ManualClock {
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
            offset_ns: AtomicU64::new(0),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.offset_ns.fetch_add(ns, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.offset_ns.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;

    #[test]
    fn coarse_clock_follows_real_time() {
        let clock = CoarseClock::new();
        #[cfg(target_os = "linux")]
        assert!(
            clock.base_coarse.is_some(),
            "CLOCK_MONOTONIC_COARSE is readable"
        );
        let (c0, i0) = (clock.now(), Instant::now());
        // Within a few ticks of Instant::now, and never ahead of it by more.
        assert!(c0 <= i0 + Duration::from_millis(50), "{c0:?} vs {i0:?}");
        assert!(i0.duration_since(c0) < Duration::from_millis(50));
        thread::sleep(Duration::from_millis(120));
        let c1 = clock.now();
        let moved = c1.duration_since(c0);
        assert!(
            moved >= Duration::from_millis(90) && moved < Duration::from_secs(5),
            "moved {moved:?}"
        );
        let mut last = clock.now();
        for _ in 0..10_000 {
            let t = clock.now();
            assert!(t >= last, "monotonic");
            last = t;
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_secs(3));
        assert_eq!(clock.now(), t0 + Duration::from_secs(3));
        let shared = Arc::new(ManualClock::new());
        assert_eq!(Clock::now(&shared), shared.now());
    }
}
