//! The collector: one place every subsystem's events go, and the eBPF probes' too.
//!
//! # The path of an event
//!
//! A producer (syscall dispatch, the process table, the scheduler, the VFS path, the
//! access check, timeouts) builds a [`Record`] and calls [`Collector::emit`]: the
//! [`Sampler`] decides in one relaxed `fetch_add` whether to keep it (warnings and
//! worse always are; every drop is counted per category), and a kept record goes
//! into the lock-free [`Ring`] of [`RING_SLOTS`] slots, which overwrites the oldest.
//! The probes' events come in through [`Collector::ingest`] (fed from the
//! [`EventHub`](super::EventHub)), which attributes them to the managed process,
//! its app and its causality id.
//!
//! The collector's own thread (`agentos-collect`) follows the ring: per metric
//! (category and name) it keeps a [`Welford`] mean and variance and emits an
//! `anomaly` event for a value beyond 3σ; every window it measures its own CPU
//! time (`CLOCK_THREAD_CPUTIME_ID`) against the window's length, and the sampler
//! throttles or recovers the busiest categories to hold the target (2 % by
//! default). Falling behind the ring is backpressure: it counts as over budget, and
//! what the ring overwrote before the thread read it is counted as lost.
//!
//! Queries ([`Collector::query`]) and live subscriptions ([`Cursor`]) read the ring
//! directly; a subscriber that falls a whole ring behind is told how many events it
//! missed.
//!
//! # Causality
//!
//! A causality id is a `u64` that names one request chain: the services layer makes
//! one per HTTP request and sends it in the `x-agentos-causality` gRPC metadata; the
//! kernel puts it on the syscall's events, on a process spawned by that syscall
//! (and so on that process's own events and the probes' events about it).
//!
//! Nothing is left on the host: the thread stops when the collector is dropped.

mod cpu;
mod record;
mod ring;
mod sampling;
mod welford;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

pub use self::{
    cpu::thread_cpu_time,
    record::{Category, Record, Severity, monotonic_ns},
    ring::{RING_SLOTS, Read, Ring},
    sampling::{MAX_EVERY, Sampler},
    welford::{WARM_UP, Welford, Z_THRESHOLD},
};
use super::event::{EventDetail, ProcessEvent, ProcessEventKind, WALL_CAPABILITY};

/// The overhead the collector aims to stay under, as a fraction of one core.
pub const DEFAULT_TARGET: f64 = 0.02;
/// How often the collector thread follows the ring.
const TICK: Duration = Duration::from_millis(5);
/// How often it measures itself and moves the sampling rates.
const WINDOW: Duration = Duration::from_millis(100);
/// Processes remembered after their exit, for queries by app.
const PROCESS_MEMORY: usize = 4096;

/// Counters a query reports beside its events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Events offered per category, kept or not.
    pub emitted: u64,
    /// Events sampled out.
    pub sampled_out: u64,
    /// Events the ring overwrote before the collector thread read them.
    pub lost: u64,
    /// Anomalies found.
    pub anomalies: u64,
    /// The last window's measured overhead (fraction of one core).
    pub overhead: f64,
    pub target: f64,
    /// Per category: (category, keep one in `every`, offered, sampled out).
    pub categories: Vec<(Category, u32, u64, u64)>,
}

/// What a managed process is, for attribution.
#[derive(Clone, Debug)]
struct Known {
    app: Arc<str>,
    causality: u64,
}

/// Which events a query or subscription wants; empty fields match everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub categories: Vec<Category>,
    pub pid: Option<u32>,
    pub app: Option<String>,
    /// `CLOCK_MONOTONIC` nanoseconds, inclusive.
    pub since_ns: Option<u64>,
    pub until_ns: Option<u64>,
    pub min_severity: Option<Severity>,
    pub causality: Option<u64>,
}

impl Filter {
    fn matches(&self, r: &Record, app_pids: Option<&HashSet<u32>>) -> bool {
        (self.categories.is_empty() || self.categories.contains(&r.category))
            && self.pid.is_none_or(|p| p == r.pid)
            && app_pids.is_none_or(|s| s.contains(&r.pid))
            && self.since_ns.is_none_or(|t| r.ts_ns >= t)
            && self.until_ns.is_none_or(|t| r.ts_ns <= t)
            && self.min_severity.is_none_or(|s| r.severity >= s)
            && self.causality.is_none_or(|c| c == r.causality)
    }
}

/// One event as a query returns it: its position in the ring and its app.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub seq: u64,
    pub record: Record,
    pub app: Option<Arc<str>>,
}

/// A managed process's start or end, counted exactly (not sampled).
#[derive(Clone, Copy, Debug)]
pub enum Lifecycle {
    Spawned,
    Exited,
}

pub struct Collector {
    spawned: AtomicU64,
    exited: AtomicU64,
    ring: Ring,
    sampler: Sampler,
    target: f64,
    lost: AtomicU64,
    anomalies: AtomicU64,
    /// The last window's overhead, in parts per million.
    overhead_ppm: AtomicU64,
    known: Mutex<HashMap<u32, Known>>,
    /// Samples per metric, for the Prometheus view (name → count, sum, buckets).
    metrics: Mutex<super::metrics::Histograms>,
}

impl Collector {
    /// A collector with the default ring and `target` overhead, and its thread.
    pub fn start(target: f64) -> Arc<Self> {
        let c = Arc::new(Self::new(RING_SLOTS, target));
        let weak = Arc::downgrade(&c);
        std::thread::Builder::new()
            .name("agentos-collect".into())
            .spawn(move || follow(weak))
            .expect("starting the collector thread");
        c
    }

    /// A collector without its thread (tests drive [`Collector::process`]).
    pub fn new(slots: usize, target: f64) -> Self {
        Self {
            spawned: AtomicU64::new(0),
            exited: AtomicU64::new(0),
            ring: Ring::new(slots),
            sampler: Sampler::default(),
            target,
            lost: AtomicU64::new(0),
            anomalies: AtomicU64::new(0),
            overhead_ppm: AtomicU64::new(0),
            known: Mutex::default(),
            metrics: Mutex::default(),
        }
    }

    /// Records an event, unless sampling drops it (counted).
    #[inline]
    pub fn emit(&self, r: Record) {
        if r.severity >= Severity::Warn {
            self.sampler.count(r.category);
        } else if !self.sampler.keep(r.category) {
            return;
        }
        self.ring.push(&r);
    }

    /// The ingest point of the eBPF probes: attributes the event to its managed
    /// process (and so its app and causality id) and records it.
    ///
    /// The record's `pid` is the managed process the task belongs to (the pid the
    /// kernel gave out: the task itself, or the sandbox init that is its parent) and
    /// its `value` the task's own host pid.
    pub fn ingest(&self, ev: &ProcessEvent) {
        let (pid, causality) = {
            let known = self.lock_known();
            // The owner of the event's cgroup first: it names the managed process whatever
            // descendant acted.
            ev.owner
                .as_ref()
                .map(|o| o.pid)
                .into_iter()
                .chain([ev.pid, ev.ppid])
                .find_map(|p| known.get(&p).map(|k| (p, k.causality)))
                .unwrap_or((ev.pid, 0))
        };
        let (category, name, severity) = match (&ev.kind, &ev.detail) {
            (ProcessEventKind::Exec, _) => (Category::Ebpf, "exec", Severity::Info),
            (ProcessEventKind::Exit, _) => (Category::Ebpf, "exit", Severity::Info),
            (ProcessEventKind::Fork, _) => (Category::Ebpf, "fork", Severity::Info),
            (ProcessEventKind::Open, _) => (Category::Ebpf, "open", Severity::Debug),
            (ProcessEventKind::Connect, _) => (Category::Ebpf, "connect", Severity::Info),
            (ProcessEventKind::TcpState, _) => (Category::Ebpf, "tcp_state", Severity::Debug),
            // The kernel's own check is recorded where it refused (`Kernel::authorize`), not
            // twice; the host kernel's walls only reach the collector here.
            (ProcessEventKind::Denial, EventDetail::Denial(d)) if d.wall != WALL_CAPABILITY => {
                (Category::Sandbox, d.wall, Severity::Warn)
            }
            (ProcessEventKind::Denial, _) => return,
        };
        let mut r = Record::now(category, severity, name)
            .pid(pid)
            .causality(causality)
            .code(ev.exit_code)
            .value(u64::from(ev.pid));
        if ev.timestamp_ns != 0 {
            r.ts_ns = ev.timestamp_ns;
        }
        self.emit(r);
    }

    /// Counts events lost before they reached the collector.
    pub fn count_lost(&self, n: u64) {
        self.lost.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a process's start or end.
    pub fn lifecycle(&self, l: Lifecycle) {
        match l {
            Lifecycle::Spawned => &self.spawned,
            Lifecycle::Exited => &self.exited,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// (spawned, exited) so far.
    pub fn lifecycles(&self) -> (u64, u64) {
        (
            self.spawned.load(Ordering::Relaxed),
            self.exited.load(Ordering::Relaxed),
        )
    }

    /// Remembers a managed process's app and the causality id it was spawned under.
    pub fn register_process(&self, pid: u32, app: &str, causality: u64) {
        let mut known = self.lock_known();
        if known.len() >= PROCESS_MEMORY {
            // Forget an arbitrary half; queries by app then miss those old pids.
            let drop: Vec<u32> = known.keys().copied().step_by(2).collect();
            drop.iter().for_each(|p| {
                known.remove(p);
            });
        }
        known.insert(
            pid,
            Known {
                app: app.into(),
                causality,
            },
        );
    }

    /// The causality id a managed process was spawned under (0: none).
    pub fn causality_of(&self, pid: u32) -> u64 {
        self.lock_known().get(&pid).map_or(0, |k| k.causality)
    }

    fn lock_known(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Known>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn app_pids(&self, app: &str) -> HashSet<u32> {
        self.lock_known()
            .iter()
            .filter(|(_, k)| &*k.app == app)
            .map(|(p, _)| *p)
            .collect()
    }

    fn app_of(&self, pid: u32) -> Option<Arc<str>> {
        self.lock_known().get(&pid).map(|k| Arc::clone(&k.app))
    }

    /// Up to `limit` of the newest events that match, oldest first.
    pub fn query(&self, filter: &Filter, limit: usize) -> Vec<Found> {
        let app_pids = filter.app.as_deref().map(|a| self.app_pids(a));
        let head = self.ring.head();
        let mut out = Vec::new();
        for seq in (head.saturating_sub(self.ring.capacity())..head).rev() {
            if out.len() >= limit {
                break;
            }
            if let Read::Event(r) = self.ring.get(seq)
                && filter.matches(&r, app_pids.as_ref())
            {
                out.push(self.found(seq, r));
            }
        }
        out.reverse();
        out
    }

    fn found(&self, seq: u64, record: Record) -> Found {
        Found {
            seq,
            record,
            app: self.app_of(record.pid),
        }
    }

    /// A cursor at the ring's head: it will see what is emitted from now on.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            next: self.ring.head(),
        }
    }

    /// The events after the cursor that match (at most `limit`), and how many it
    /// missed because the ring overwrote them first.
    pub fn read(&self, cursor: &mut Cursor, filter: &Filter, limit: usize) -> (Vec<Found>, u64) {
        let app_pids = filter.app.as_deref().map(|a| self.app_pids(a));
        let head = self.ring.head();
        let mut lagged = 0;
        let oldest = head.saturating_sub(self.ring.capacity());
        if cursor.next < oldest {
            lagged = oldest - cursor.next;
            cursor.next = oldest;
        }
        let mut out = Vec::new();
        while cursor.next < head && out.len() < limit {
            match self.ring.get(cursor.next) {
                Read::Pending => break, // a writer is still on it
                Read::Lost => lagged += 1,
                Read::Event(r) => {
                    if filter.matches(&r, app_pids.as_ref()) {
                        out.push(self.found(cursor.next, r));
                    }
                }
            }
            cursor.next += 1;
        }
        (out, lagged)
    }

    /// Follows the ring from `cursor`: statistics and anomalies for every event
    /// read. Returns how far behind the head it was.
    pub fn process(
        &self,
        cursor: &mut Cursor,
        stats: &mut HashMap<(Category, &'static str), Welford>,
    ) -> u64 {
        let head = self.ring.head();
        let behind = head - cursor.next.min(head);
        let oldest = head.saturating_sub(self.ring.capacity());
        if cursor.next < oldest {
            self.lost.fetch_add(oldest - cursor.next, Ordering::Relaxed);
            cursor.next = oldest;
        }
        let mut metrics = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        while cursor.next < head {
            match self.ring.get(cursor.next) {
                Read::Pending => break,
                Read::Lost => {
                    self.lost.fetch_add(1, Ordering::Relaxed);
                }
                Read::Event(r) => {
                    if r.category == Category::Anomaly || r.value == 0 || !measured(r.category) {
                        cursor.next += 1;
                        continue;
                    }
                    metrics.observe(r.category, r.name, r.value);
                    let w = stats.entry((r.category, r.name)).or_default();
                    if let Some(z) = w.observe(r.value as f64) {
                        self.anomalies.fetch_add(1, Ordering::Relaxed);
                        self.emit(
                            Record::now(Category::Anomaly, Severity::Warn, r.name)
                                .pid(r.pid)
                                .causality(r.causality)
                                .value(r.value)
                                .code((z * 1000.0) as i32),
                        );
                    }
                }
            }
            cursor.next += 1;
        }
        behind
    }

    /// Feeds one window's measurement to the sampler: `busy` CPU time in `wall`
    /// time, `behind` events unread at the end.
    pub fn adjust(&self, busy: Duration, wall: Duration, behind: u64) {
        let mut overhead = busy.as_secs_f64() / wall.as_secs_f64().max(1e-9);
        self.overhead_ppm
            .store((overhead * 1e6) as u64, Ordering::Relaxed);
        if behind > self.ring.capacity() / 4 {
            overhead = overhead.max(self.target * 2.0); // backpressure
        }
        self.sampler.adjust(overhead, self.target);
    }

    pub fn stats(&self) -> Stats {
        let categories: Vec<_> = Category::ALL
            .into_iter()
            .map(|c| {
                (
                    c,
                    self.sampler.every(c),
                    self.sampler.seen(c),
                    self.sampler.sampled_out(c),
                )
            })
            .collect();
        Stats {
            emitted: categories.iter().map(|c| c.2).sum(),
            sampled_out: categories.iter().map(|c| c.3).sum(),
            lost: self.lost.load(Ordering::Relaxed),
            anomalies: self.anomalies.load(Ordering::Relaxed),
            overhead: self.overhead_ppm.load(Ordering::Relaxed) as f64 / 1e6,
            target: self.target,
            categories,
        }
    }

    pub fn sampler(&self) -> &Sampler {
        &self.sampler
    }

    /// The latency histograms, for `/metrics`.
    pub fn histograms(&self) -> super::metrics::Histograms {
        self.metrics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Categories whose `value` is a latency worth statistics.
fn measured(c: Category) -> bool {
    matches!(c, Category::Syscall | Category::Vfs)
}

/// A reader's position in the ring.
#[derive(Clone, Copy, Debug)]
pub struct Cursor {
    next: u64,
}

/// The collector thread: follows the ring and measures itself, until the
/// collector is dropped.
fn follow(collector: Weak<Collector>) {
    let mut stats = HashMap::new();
    let mut cursor = match collector.upgrade() {
        Some(c) => c.cursor(),
        None => return,
    };
    let (mut window_start, mut cpu_start) = (Instant::now(), thread_cpu_time());
    loop {
        let Some(c) = collector.upgrade() else { return };
        let behind = c.process(&mut cursor, &mut stats);
        let wall = window_start.elapsed();
        if wall >= WINDOW {
            let cpu = thread_cpu_time();
            c.adjust(cpu.saturating_sub(cpu_start), wall, behind);
            (window_start, cpu_start) = (Instant::now(), cpu);
        }
        drop(c);
        std::thread::sleep(TICK);
    }
}

#[cfg(test)]
mod tests;
