//! Collector benchmarks, beside a raw baseline in the same run:
//!
//! * `emit`: one event into the collector with its timestamp (`CLOCK_MONOTONIC`),
//!   from one producer and from two at once (target: p50 ≤ 50 ns), vs a push and a
//!   pop of the same record on a raw `crossbeam` `ArrayQueue`.
//!
//! The targets are stated on medians; before the criterion groups, `p50` times
//! batches of 1,000 operations and prints each contender's median per operation.
//! The collector is built without its thread, so what is measured is what a
//! producer pays.

use std::{
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use agentos_kernel::observe::collector::{
    Category, Collector, DEFAULT_TARGET, RING_SLOTS, Record, Severity,
};
use criterion::{Criterion, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;

const BATCH: u32 = 1_000;

fn record() -> Record {
    Record::now(Category::Syscall, Severity::Info, "read")
        .pid(7)
        .value(1_234)
}

/// Runs `f` on a second thread, flat out, while `body` runs.
fn with_second_producer<T>(c: &Arc<Collector>, body: impl FnOnce() -> T) -> T {
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let (c, stop) = (Arc::clone(c), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                c.emit(record());
            }
        })
    };
    let out = body();
    stop.store(true, Ordering::Relaxed);
    other.join().unwrap();
    out
}

/// The median time per operation over `batches` batches of [`BATCH`].
fn median_per_op(batches: usize, mut op: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..BATCH {
                op();
            }
            start.elapsed() / BATCH
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

fn p50() {
    let c = Arc::new(Collector::new(RING_SLOTS, DEFAULT_TARGET));
    let q = ArrayQueue::new(RING_SLOTS);
    let one = median_per_op(2_000, || c.emit(black_box(record())));
    let two = with_second_producer(&c, || median_per_op(2_000, || c.emit(black_box(record()))));
    let raw = median_per_op(2_000, || {
        let _ = q.push(black_box(record()));
        black_box(q.pop());
    });
    eprintln!(
        "p50 per event: collector emit, one producer {one:?}, two producers {two:?}; \
         ArrayQueue push+pop (with the same timestamped record) {raw:?} \
         (target: emit ≤ 50 ns)"
    );
}

fn emit(cr: &mut Criterion) {
    p50();
    let mut g = cr.benchmark_group("emit");
    let c = Arc::new(Collector::new(RING_SLOTS, DEFAULT_TARGET));
    g.bench_function("collector_one_producer", |b| {
        b.iter(|| c.emit(black_box(record())))
    });
    g.bench_function("collector_two_producers", |b| {
        b.iter_custom(|iters| {
            with_second_producer(&c, || {
                let start = Instant::now();
                for _ in 0..iters {
                    c.emit(black_box(record()));
                }
                start.elapsed()
            })
        })
    });
    let q = ArrayQueue::new(RING_SLOTS);
    g.bench_function("arrayqueue_push_pop", |b| {
        b.iter(|| {
            let _ = q.push(black_box(record()));
            black_box(q.pop())
        })
    });
    g.finish();
}

criterion_group!(benches, emit);
criterion_main!(benches);
