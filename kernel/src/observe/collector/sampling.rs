//! Adaptive sampling: per category, keep one event in `every`, and move `every` so
//! that the collector's measured CPU overhead stays under its target.
//!
//! Producers pay one relaxed `fetch_add` to decide; events at
//! [`Severity::Warn`](super::Severity::Warn) and above are always kept. Every event
//! sampled out is counted per category ([`Sampler::sampled_out`]), so a query
//! always says how much it does not show.
//!
//! The controller ([`Sampler::adjust`]) runs on the collector thread once per
//! window. Over the budget, the categories that produced the most events in the
//! window are halved (their `every` doubles), the busiest first, until the
//! projected cost fits; under half the budget, every throttled category doubles
//! its rate back toward 1 in 1. Backpressure (the collector thread falling behind
//! the ring) counts as over budget.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::record::Category;

/// The largest `every`: one event in 65,536.
pub const MAX_EVERY: u32 = 1 << 16;

#[derive(Default)]
struct Rate {
    /// Keep one event in this many (1: keep all).
    every: AtomicU32,
    /// Events offered.
    seen: AtomicU64,
    /// Events dropped by sampling.
    sampled_out: AtomicU64,
}

pub struct Sampler {
    rates: [Rate; Category::COUNT],
    /// `seen` per category at the last adjustment.
    last_seen: std::sync::Mutex<[u64; Category::COUNT]>,
}

impl Default for Sampler {
    fn default() -> Self {
        let s = Self {
            rates: Default::default(),
            last_seen: Default::default(),
        };
        s.rates
            .iter()
            .for_each(|r| r.every.store(1, Ordering::Relaxed));
        s
    }
}

impl Sampler {
    /// Whether to keep the next event of `category` (counts it either way).
    #[inline]
    pub fn keep(&self, category: Category) -> bool {
        let r = &self.rates[category as usize];
        let n = r.seen.fetch_add(1, Ordering::Relaxed);
        let every = u64::from(r.every.load(Ordering::Relaxed));
        if every <= 1 || n.is_multiple_of(every) {
            return true;
        }
        r.sampled_out.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Counts an event that is kept whatever the rate (a warning or worse).
    #[inline]
    pub fn count(&self, category: Category) {
        self.rates[category as usize]
            .seen
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn every(&self, category: Category) -> u32 {
        self.rates[category as usize].every.load(Ordering::Relaxed)
    }

    pub fn seen(&self, category: Category) -> u64 {
        self.rates[category as usize].seen.load(Ordering::Relaxed)
    }

    pub fn sampled_out(&self, category: Category) -> u64 {
        self.rates[category as usize]
            .sampled_out
            .load(Ordering::Relaxed)
    }

    /// Moves the rates for the window just ended, in which the collector used
    /// `overhead` of the window's time against `target` (both fractions).
    pub fn adjust(&self, overhead: f64, target: f64) {
        let mut last = self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut window: Vec<(Category, u64)> = Category::ALL
            .into_iter()
            .map(|c| {
                let now = self.seen(c);
                let n = now - last[c as usize];
                last[c as usize] = now;
                (c, n)
            })
            .collect();
        if overhead > target {
            // Cost is roughly proportional to events kept: halve the busiest
            // categories until the projection fits.
            window.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
            let total: u64 = window.iter().map(|(_, n)| n).sum();
            let mut projected = overhead;
            for (c, n) in window {
                if projected <= target || n == 0 {
                    break;
                }
                let r = &self.rates[c as usize];
                let every = r.every.load(Ordering::Relaxed);
                if every < MAX_EVERY {
                    r.every.store(every * 2, Ordering::Relaxed);
                    projected -= overhead * (n as f64 / total.max(1) as f64) / 2.0;
                }
            }
        } else if overhead < target / 2.0 {
            for r in &self.rates {
                let every = r.every.load(Ordering::Relaxed);
                r.every.store((every / 2).max(1), Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_budget_halves_the_busiest_and_under_half_recovers() {
        let s = Sampler::default();
        for _ in 0..1000 {
            assert!(s.keep(Category::Syscall));
        }
        s.keep(Category::Vfs);
        // 3 % against 2 %: halving the busiest category is projected to suffice.
        s.adjust(0.03, 0.02);
        assert_eq!(s.every(Category::Syscall), 2);
        assert_eq!(
            s.every(Category::Vfs),
            1,
            "the quiet category keeps everything"
        );
        let kept = (0..1000).filter(|_| s.keep(Category::Syscall)).count();
        assert_eq!(kept, 500);
        assert_eq!(s.sampled_out(Category::Syscall), 500);
        s.adjust(0.001, 0.02);
        assert_eq!(s.every(Category::Syscall), 1);
    }
}
