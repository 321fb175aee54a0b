//! [`PermissionCache`]: recent decisions, keyed by (process id, [`Access`]).
//!
//! Its design, and how to order it with policy changes, are on [`PermissionCache`].

use std::{
    collections::HashMap,
    hash::BuildHasherDefault,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::{
    access::{Access, Decision},
    clock::{Clock, CoarseClock},
    key::{Key, KeyHasher, KeyView, Prehashed, Probe},
    policy::Policy,
};

/// A process id as the kernel sees it (the host pid of a managed process).
pub type Pid = u32;

/// The number of generation counters; pids equal modulo this share one.
pub const GENERATION_SLOTS: usize = 4096;

/// How big a cache is and how long its entries live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// The most entries held at once; 0 disables the cache.
    pub capacity: usize,
    /// How long an entry lives after it is stored.
    pub ttl: Duration,
    /// How many independently locked shards to split the entries over (at least
    /// 1, at most `capacity`).
    pub shards: usize,
}

impl Default for CacheConfig {
    /// 4096 entries, 60 s, 16 shards.
    fn default() -> Self {
        Self {
            capacity: 4096,
            ttl: Duration::from_secs(60),
            shards: 16,
        }
    }
}

/// Counters since the cache was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing live (absent, expired or stale).
    pub misses: u64,
    /// Live entries dropped to make room (dead ones replaced are not counted).
    pub evictions: u64,
    /// Entries held now, live or not yet replaced.
    pub entries: usize,
}

/// A bounded, TTL'd, per-process-invalidated cache of [`Decision`]s.
///
/// # Design
///
/// * **Bounded.** At most `capacity` entries, split over shards; a full shard evicts
///   with the clock algorithm: the hand takes the first entry that is dead
///   (expired or stale) or was not hit since the hand last passed it.
/// * **TTL.** Every entry expires `ttl` after it was stored. Time comes from a
///   [`Clock`]: by default the [`CoarseClock`] (scheduler-tick resolution, so an
///   entry lives up to one tick longer), in tests a
///   [`ManualClock`](super::ManualClock) they step.
/// * **Invalidation by generation.** Every process id maps to a generation counter;
///   [`invalidate_process`](PermissionCache::invalidate_process) bumps it, and an
///   entry stored under an older generation is a miss. Invalidation is O(1) and
///   takes no lock. The counters are a fixed table indexed by pid, so pids that are
///   equal modulo [`GENERATION_SLOTS`] share one: invalidating one also drops the
///   other's entries (a spurious miss, never a stale hit).
/// * **Thread-safe.** `&self` everywhere. Shards are `std::sync::Mutex`es picked by
///   the key's hash, so threads checking different keys rarely meet; statistics are
///   counted under the shard lock and summed by [`stats`](PermissionCache::stats).
///   The key is hashed once, with a keyed hash (see `key.rs`), and that hash picks
///   the shard and the bucket.
///
/// # Ordering with policy changes
///
/// Store the new policy first, then call `invalidate_process`.
/// [`get_or_insert_with`](PermissionCache::get_or_insert_with) reads the generation
/// before it computes a decision and does not store the decision if the generation
/// moved meanwhile, so a decision computed from an old policy is never served after
/// `invalidate_process` returns. Call it also when a process exits, before its pid
/// can be reused.
pub struct PermissionCache<C: Clock = CoarseClock> {
    shards: Box<[Padded<Mutex<Shard>>]>,
    generations: Box<[AtomicU64]>,
    hasher: KeyHasher,
    ttl: Duration,
    capacity: usize,
    clock: C,
}

impl PermissionCache<CoarseClock> {
    /// A cache on the [`CoarseClock`].
    pub fn new(config: CacheConfig) -> Self {
        Self::with_clock(config, CoarseClock::new())
    }
}

impl Default for PermissionCache<CoarseClock> {
    fn default() -> Self {
        Self::new(CacheConfig::default())
    }
}

impl<C: Clock> PermissionCache<C> {
    /// A cache that reads time from `clock`.
    pub fn with_clock(config: CacheConfig, clock: C) -> Self {
        let n = config.shards.clamp(1, config.capacity.max(1));
        let shards = (0..n)
            .map(|i| {
                // Spread the capacity exactly: the first `capacity % n` shards get one more.
                let cap = config.capacity / n + usize::from(i < config.capacity % n);
                Padded(Mutex::new(Shard::new(cap)))
            })
            .collect();
        let generations = (0..GENERATION_SLOTS).map(|_| AtomicU64::new(0)).collect();
        Self {
            shards,
            generations,
            hasher: KeyHasher::new(),
            ttl: config.ttl,
            capacity: config.capacity,
            clock,
        }
    }

    /// The cached decision for `pid` doing `access`, if one is live.
    pub fn get(&self, pid: Pid, access: &Access) -> Option<Decision> {
        let generation = self.generation(pid);
        let hash = self.hash(pid, access);
        let now = self.clock.now();
        self.shard(hash).lookup(hash, pid, access, generation, now)
    }

    /// The cached decision for `pid` doing `access`, or `decide()`'s, which is then
    /// stored. `decide` runs without any lock held.
    pub fn get_or_insert_with(
        &self,
        pid: Pid,
        access: &Access,
        decide: impl FnOnce() -> Decision,
    ) -> Decision {
        let generation = self.generation(pid);
        let hash = self.hash(pid, access);
        let now = self.clock.now();
        if let Some(d) = self.shard(hash).lookup(hash, pid, access, generation, now) {
            return d;
        }
        let decision = decide();
        // A policy change while `decide` ran may have made its answer stale.
        if self.generation(pid) == generation {
            let key = Key {
                hash,
                pid,
                access: access.clone(),
            };
            let expires = now.checked_add(self.ttl).unwrap_or(now);
            self.shard(hash)
                .insert(key, decision.clone(), generation, expires, now, |p| {
                    self.generation(p)
                });
        }
        decision
    }

    /// [`Policy::check`] through the cache.
    pub fn check(&self, pid: Pid, policy: &Policy, access: &Access) -> Decision {
        self.get_or_insert_with(pid, access, || policy.check(access))
    }

    /// Drops every cached decision of `pid` (and of pids sharing its generation
    /// counter). Call it after storing a new policy, and when the process exits.
    pub fn invalidate_process(&self, pid: Pid) {
        self.generations[generation_slot(pid)].fetch_add(1, Ordering::AcqRel);
    }

    /// The current generation of `pid`'s entries.
    pub fn generation(&self, pid: Pid) -> u64 {
        self.generations[generation_slot(pid)].load(Ordering::Acquire)
    }

    /// Drops every entry (statistics are kept).
    pub fn clear(&self) {
        for s in &*self.shards {
            let mut shard = lock(&s.0);
            shard.index.clear();
            shard.slots.clear();
            shard.hand = 0;
        }
    }

    /// Hits, misses, evictions and the number of entries held.
    pub fn stats(&self) -> CacheStats {
        let mut total = CacheStats::default();
        for s in &*self.shards {
            let shard = lock(&s.0);
            total.hits += shard.hits;
            total.misses += shard.misses;
            total.evictions += shard.evictions;
            total.entries += shard.slots.len();
        }
        total
    }

    /// The number of entries held, live or not yet replaced.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.0).slots.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn hash(&self, pid: Pid, access: &Access) -> u64 {
        self.hasher.key(pid, access)
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        // Bits 32.. pick the shard; the map uses the low bits (bucket) and the top 7
        // (control byte), so the choices stay independent.
        let i = ((hash >> 32) as usize) % self.shards.len();
        lock(&self.shards[i].0)
    }
}

impl<C: Clock> std::fmt::Debug for PermissionCache<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PermissionCache")
            .field("capacity", &self.capacity)
            .field("ttl", &self.ttl)
            .field("shards", &self.shards.len())
            .field("stats", &self.stats())
            .finish()
    }
}

fn generation_slot(pid: Pid) -> usize {
    pid as usize % GENERATION_SLOTS
}

/// Locks a shard. A panic while it was held (which no code path here should
/// cause) may have left its map and slots out of step, so a poisoned shard is
/// emptied rather than trusted.
fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => {
            let mut g = poisoned.into_inner();
            g.index.clear();
            g.slots.clear();
            g.hand = 0;
            m.clear_poison();
            g
        }
    }
}

/// Keeps each shard's lock on its own cache line(s).
#[repr(align(128))]
struct Padded<T>(T);

struct Shard {
    index: HashMap<Key, usize, BuildHasherDefault<Prehashed>>,
    slots: Vec<Slot>,
    capacity: usize,
    /// The clock hand: the next slot to consider for eviction.
    hand: usize,
    hits: u64,
    misses: u64,
    evictions: u64,
}

struct Slot {
    key: Key,
    decision: Decision,
    generation: u64,
    expires: Instant,
    /// Hit since the hand last passed: spared once.
    referenced: bool,
}

impl Shard {
    fn new(capacity: usize) -> Self {
        Self {
            index: HashMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default()),
            slots: Vec::with_capacity(capacity),
            capacity,
            hand: 0,
            hits: 0,
            misses: 0,
            evictions: 0,
        }
    }

    fn lookup(
        &mut self,
        hash: u64,
        pid: Pid,
        access: &Access,
        generation: u64,
        now: Instant,
    ) -> Option<Decision> {
        let probe = Probe { hash, pid, access };
        if let Some(&i) = self.index.get(&probe as &dyn KeyView) {
            let slot = &mut self.slots[i];
            if slot.generation == generation && now < slot.expires {
                slot.referenced = true;
                self.hits += 1;
                return Some(slot.decision.clone());
            }
        }
        self.misses += 1;
        None
    }

    fn insert(
        &mut self,
        key: Key,
        decision: Decision,
        generation: u64,
        expires: Instant,
        now: Instant,
        current_generation: impl Fn(Pid) -> u64,
    ) {
        if self.capacity == 0 {
            return;
        }
        let slot = Slot {
            key,
            decision,
            generation,
            expires,
            referenced: false,
        };
        // Another thread stored the same key meanwhile, or a dead entry sits there.
        if let Some(&i) = self.index.get(&slot.key) {
            self.slots[i] = slot;
            return;
        }
        if self.slots.len() < self.capacity {
            self.index.insert(slot.key.clone(), self.slots.len());
            self.slots.push(slot);
            return;
        }
        let i = self.victim(now, current_generation);
        self.index.remove(&self.slots[i].key);
        self.index.insert(slot.key.clone(), i);
        self.slots[i] = slot;
    }

    /// The clock: the first dead slot, or the first slot not hit since the hand
    /// last passed; at most two turns.
    fn victim(&mut self, now: Instant, current_generation: impl Fn(Pid) -> u64) -> usize {
        loop {
            let i = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let slot = &mut self.slots[i];
            if now >= slot.expires || slot.generation != current_generation(slot.key.pid) {
                return i;
            }
            if slot.referenced {
                slot.referenced = false;
            } else {
                self.evictions += 1;
                return i;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{Arc, Barrier, atomic::AtomicUsize},
        thread,
    };

    use super::*;
    use crate::capability::clock::ManualClock;

    fn read(p: &str) -> Access {
        Access::Read(p.into())
    }

    fn cache(
        capacity: usize,
        ttl_s: u64,
        shards: usize,
    ) -> (PermissionCache<Arc<ManualClock>>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        let c = PermissionCache::with_clock(
            CacheConfig {
                capacity,
                ttl: Duration::from_secs(ttl_s),
                shards,
            },
            Arc::clone(&clock),
        );
        (c, clock)
    }

    /// Stores `d` for (pid, access) and says whether `decide` ran.
    fn put(c: &PermissionCache<Arc<ManualClock>>, pid: Pid, a: &Access, d: Decision) -> bool {
        let mut ran = false;
        let got = c.get_or_insert_with(pid, a, || {
            ran = true;
            d.clone()
        });
        assert_eq!(got, d);
        ran
    }

    #[test]
    fn a_second_lookup_hits_and_counts() {
        let (c, _) = cache(8, 60, 1);
        assert_eq!(c.get(1, &read("/a")), None);
        assert!(put(&c, 1, &read("/a"), Decision::Allow));
        assert!(
            !put(&c, 1, &read("/a"), Decision::Allow),
            "second lookup must hit"
        );
        assert_eq!(c.get(1, &read("/a")), Some(Decision::Allow));
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.evictions, s.entries), (2, 2, 0, 1));
    }

    #[test]
    fn keys_are_per_process_and_per_access() {
        let (c, _) = cache(8, 60, 2);
        put(&c, 1, &read("/a"), Decision::Allow);
        let deny = Decision::deny("no");
        put(&c, 2, &read("/a"), deny.clone());
        put(&c, 1, &Access::Write("/a".into()), deny.clone());
        assert_eq!(c.get(1, &read("/a")), Some(Decision::Allow));
        assert_eq!(c.get(2, &read("/a")), Some(deny.clone()));
        assert_eq!(c.get(1, &Access::Write("/a".into())), Some(deny));
        assert_eq!(c.get(3, &read("/a")), None);
        assert_eq!(c.get(1, &read("/b")), None);
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let (c, clock) = cache(8, 10, 1);
        put(&c, 1, &read("/a"), Decision::Allow);
        clock.advance(Duration::from_secs(9));
        assert_eq!(c.get(1, &read("/a")), Some(Decision::Allow));
        clock.advance(Duration::from_secs(1));
        assert_eq!(c.get(1, &read("/a")), None, "expired at exactly the TTL");
        assert!(
            put(&c, 1, &read("/a"), Decision::Allow),
            "an expired entry is recomputed"
        );
        assert_eq!(c.get(1, &read("/a")), Some(Decision::Allow));
        assert_eq!(c.len(), 1, "the expired entry was replaced in place");
    }

    #[test]
    fn zero_ttl_never_hits() {
        let (c, _) = cache(8, 0, 1);
        put(&c, 1, &read("/a"), Decision::Allow);
        assert_eq!(c.get(1, &read("/a")), None);
    }

    #[test]
    fn invalidation_drops_only_that_process() {
        let (c, _) = cache(8, 60, 4);
        put(&c, 7, &read("/a"), Decision::Allow);
        put(&c, 8, &read("/a"), Decision::Allow);
        let g = c.generation(7);
        c.invalidate_process(7);
        assert_eq!(c.generation(7), g + 1);
        assert_eq!(c.get(7, &read("/a")), None);
        assert_eq!(c.get(8, &read("/a")), Some(Decision::Allow));
        assert!(put(&c, 7, &read("/a"), Decision::deny("revoked")));
        assert_eq!(c.get(7, &read("/a")), Some(Decision::deny("revoked")));
    }

    #[test]
    fn pids_sharing_a_generation_slot_are_invalidated_together() {
        let (c, _) = cache(8, 60, 1);
        let other = 5 + GENERATION_SLOTS as Pid;
        put(&c, 5, &read("/a"), Decision::Allow);
        put(&c, other, &read("/a"), Decision::Allow);
        c.invalidate_process(5);
        assert_eq!(
            c.get(other, &read("/a")),
            None,
            "spurious miss, never stale"
        );
    }

    #[test]
    fn a_decision_computed_across_a_policy_change_is_not_stored() {
        let (c, _) = cache(8, 60, 1);
        let d = c.get_or_insert_with(1, &read("/a"), || {
            // The policy changes while the old one is being checked.
            c.invalidate_process(1);
            Decision::Allow
        });
        assert_eq!(d, Decision::Allow, "the caller still gets its answer");
        assert_eq!(c.get(1, &read("/a")), None, "but it is not cached");
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn capacity_is_a_hard_bound_and_evictions_are_counted() {
        let (c, _) = cache(4, 60, 1);
        for i in 0..10 {
            put(&c, 1, &read(&format!("/f{i}")), Decision::Allow);
            assert!(c.len() <= 4);
        }
        let s = c.stats();
        assert_eq!(s.entries, 4);
        assert_eq!(s.evictions, 6);
        // The four newest are held.
        for i in 6..10 {
            assert_eq!(
                c.get(1, &read(&format!("/f{i}"))),
                Some(Decision::Allow),
                "/f{i}"
            );
        }
    }

    #[test]
    fn capacity_is_split_over_shards_without_exceeding_it() {
        let (c, _) = cache(10, 60, 3);
        for i in 0..1000 {
            put(&c, i, &read("/x"), Decision::Allow);
        }
        assert_eq!(c.len(), 10);
        assert_eq!(c.capacity(), 10);
        let (tiny, _) = cache(2, 60, 16);
        for i in 0..10 {
            put(&tiny, i, &read("/x"), Decision::Allow);
        }
        assert!(tiny.len() <= 2);
    }

    #[test]
    fn clock_eviction_spares_recently_hit_entries() {
        let (c, _) = cache(3, 60, 1);
        for p in ["/a", "/b", "/c"] {
            put(&c, 1, &read(p), Decision::Allow);
        }
        // /a is hit, so the hand passes over it and takes /b.
        assert!(c.get(1, &read("/a")).is_some());
        put(&c, 1, &read("/d"), Decision::Allow);
        assert!(c.get(1, &read("/a")).is_some(), "the hit entry survived");
        assert!(c.get(1, &read("/b")).is_none(), "the unreferenced one went");
        assert!(c.get(1, &read("/c")).is_some());
        assert!(c.get(1, &read("/d")).is_some());
    }

    #[test]
    fn dead_entries_are_replaced_before_live_ones() {
        let (c, clock) = cache(3, 60, 1);
        put(&c, 1, &read("/a"), Decision::Allow);
        clock.advance(Duration::from_secs(30));
        put(&c, 2, &read("/b"), Decision::Allow);
        put(&c, 3, &read("/c"), Decision::Allow);
        c.invalidate_process(3);
        clock.advance(Duration::from_secs(31)); // /a has expired, /c is stale
        assert!(
            c.get(2, &read("/b")).is_some(),
            "/b is live and now referenced"
        );
        put(&c, 4, &read("/d"), Decision::Allow); // takes /a
        put(&c, 4, &read("/e"), Decision::Allow); // spares /b, takes /c
        assert_eq!(c.stats().evictions, 0, "only dead entries were replaced");
        assert!(c.get(2, &read("/b")).is_some());
        assert!(c.get(4, &read("/d")).is_some());
        assert!(c.get(4, &read("/e")).is_some());
    }

    #[test]
    fn zero_capacity_disables_the_cache() {
        let (c, _) = cache(0, 60, 4);
        assert!(put(&c, 1, &read("/a"), Decision::Allow));
        assert!(put(&c, 1, &read("/a"), Decision::Allow));
        assert_eq!(c.len(), 0);
        assert!(c.is_empty());
    }

    #[test]
    fn clear_drops_everything() {
        let (c, _) = cache(8, 60, 2);
        put(&c, 1, &read("/a"), Decision::Allow);
        put(&c, 2, &read("/b"), Decision::Allow);
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.get(1, &read("/a")), None);
    }

    #[test]
    fn check_goes_through_the_policy_once() {
        let (c, _) = cache(8, 60, 1);
        let policy = Policy::parse_cli(["read:/data"]).unwrap();
        assert!(c.check(1, &policy, &read("/data/x")).is_allowed());
        assert!(!c.check(1, &policy, &read("/database")).is_allowed());
        assert!(c.check(1, &policy, &read("/data/x")).is_allowed());
        assert_eq!(c.stats().hits, 1);
        // A new policy takes effect once the process is invalidated.
        let narrower = Policy::deny_all();
        c.invalidate_process(1);
        assert!(!c.check(1, &narrower, &read("/data/x")).is_allowed());
    }

    #[test]
    fn poisoned_shards_are_emptied_not_trusted() {
        let (c, _) = cache(8, 60, 1);
        put(&c, 1, &read("/a"), Decision::Allow);
        let r = thread::scope(|s| {
            s.spawn(|| {
                let _guard = c.shards[0].0.lock().unwrap();
                panic!("poison the shard");
            })
            .join()
        });
        assert!(r.is_err());
        assert_eq!(c.get(1, &read("/a")), None);
        assert!(put(&c, 1, &read("/a"), Decision::Allow));
        assert_eq!(c.get(1, &read("/a")), Some(Decision::Allow));
    }

    #[test]
    fn concurrent_use_keeps_decisions_right_and_counts_exact() {
        const THREADS: usize = 8;
        const ROUNDS: usize = 2000;
        let (c, _) = cache(64, 60, 4);
        let policy = Policy::parse_cli(["read:/ok"]).unwrap();
        let decided = AtomicUsize::new(0);
        let barrier = Barrier::new(THREADS);
        thread::scope(|s| {
            for t in 0..THREADS {
                let (c, policy, decided, barrier) = (&c, &policy, &decided, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    for r in 0..ROUNDS {
                        let pid = ((t + r) % 5) as Pid;
                        let path = if r % 2 == 0 { "/ok/f" } else { "/no/f" };
                        let a = read(&format!("{path}{}", r % 40));
                        let d = c.get_or_insert_with(pid, &a, || {
                            decided.fetch_add(1, Ordering::Relaxed);
                            policy.check(&a)
                        });
                        assert_eq!(d.is_allowed(), path == "/ok/f", "{a}");
                        if r % 500 == 0 {
                            c.invalidate_process(pid);
                        }
                    }
                });
            }
        });
        let s = c.stats();
        assert_eq!(s.hits + s.misses, (THREADS * ROUNDS) as u64);
        assert_eq!(s.misses, decided.load(Ordering::Relaxed) as u64);
        assert!(s.hits > 0, "{s:?}");
        assert!(s.entries <= 64);
    }

    #[test]
    fn concurrent_invalidation_never_serves_a_stale_decision() {
        // A writer flips the policy between deny-all (even versions) and allow-all
        // (odd), storing version v and then bumping pid 1's generation, so the
        // generation equals the version between its steps. A reader whose whole
        // call ran while version v was current and fully published (generation v)
        // must get policy v's answer, hit or miss.
        use std::sync::{RwLock, atomic::AtomicBool};
        let (c, _) = cache(16, 60, 2);
        let policies = [Policy::deny_all(), Policy::parse_cli(["read:/"]).unwrap()];
        let version = RwLock::new(0u64);
        let stop = AtomicBool::new(false);
        let checked = AtomicUsize::new(0);
        thread::scope(|s| {
            s.spawn(|| {
                // Run until readers have checked enough calls (bounded in time), so
                // a loaded machine cannot starve the readers of every window.
                let start = std::time::Instant::now();
                let mut v = 0;
                while v < 3000
                    || (checked.load(Ordering::Relaxed) < 50
                        && start.elapsed() < Duration::from_secs(20))
                {
                    v += 1;
                    *version.write().unwrap() = v;
                    c.invalidate_process(1);
                    if v % 64 == 0 {
                        thread::sleep(Duration::from_micros(200));
                    }
                }
                stop.store(true, Ordering::SeqCst);
            });
            for _ in 0..2 {
                s.spawn(|| {
                    let a = read("/x");
                    while !stop.load(Ordering::SeqCst) {
                        let before = *version.read().unwrap();
                        let published = c.generation(1) == before;
                        let d = c.get_or_insert_with(1, &a, || {
                            let v = *version.read().unwrap();
                            policies[(v % 2) as usize].check(&a)
                        });
                        let after = *version.read().unwrap();
                        if published && before == after {
                            checked.fetch_add(1, Ordering::Relaxed);
                            assert_eq!(d.is_allowed(), before % 2 == 1, "version {before}");
                        }
                    }
                });
            }
        });
        assert!(
            checked.load(Ordering::Relaxed) > 0,
            "no call ran inside one version"
        );
    }
}
