//! The ring buffer (`ring_buffer/open_events`): events per second delivered to user space
//! (decoded, on the hub's channel) before the first drop. The producer is `agentos-probe opens
//! N PATH` (an `openat` of a missing file N times: one open event each), in this order, all
//! in one run:
//!
//! * `crossbeam_array_queue`: a push and a pop of a record the size of an open event
//!   (`FileEvent`) through a `crossbeam` `ArrayQueue`, the raw in-process floor;
//! * `opens_unmanaged`: the producer outside the managed cgroup, no events: its own ceiling;
//! * `opens_delivered`: the producer inside it, timed from its start until the last of its N
//!   events arrived on the channel (so it includes the reader's up-to-25 ms poll);
//! * then, outside criterion, bursts of 2^k events from one and from two producers at once,
//!   up to the first burst that loses any (ring full: `reserve` failed), each printed with
//!   its delivered rate and losses (`first_drop` lines).
//!
//! Needs root, a cgroup v2 hierarchy and the eBPF object; see `support/probes.rs`.

mod support;

use std::time::Duration;

use agentos_kernel::observe::{EventDetail, ProcessEvent};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use support::probes::{BenchCgroup, LiveProbes, child_output, child_time, privileged};
use tokio::sync::broadcast;

/// The producer's path: never there, so each open fails fast (ENOENT) and leaves nothing
/// open; its events are told from others' by it.
const MISSING: &str = "/agentos-bench-ring-missing";
/// The largest burst the first-drop search tries.
const MAX_BURST: u64 = 1 << 21;

/// What one burst of the producer(s) delivered.
struct Burst {
    delivered: u64,
    /// Events the channel dropped because the bench read too slowly (not the ring's).
    lagged: u64,
    /// From the producers' start to the last event's arrival.
    elapsed: Duration,
    /// The slowest producer's own loop time.
    produced_in: Duration,
}

/// Runs `producers` children of `agentos-probe opens per_producer MISSING` in the managed
/// `cgroup` at once and counts their open events as the hub delivers them.
fn burst(
    runtime: &tokio::runtime::Runtime,
    rx: &mut broadcast::Receiver<ProcessEvent>,
    cgroup: &BenchCgroup,
    producers: u64,
    per_producer: u64,
) -> Burst {
    let (id, want) = (cgroup.id(), producers * per_producer);
    let count = per_producer.to_string();
    let start = std::time::Instant::now();
    let children: Vec<_> = (0..producers)
        .map(|_| child_output(Some(cgroup.path()), &["opens", &count, MISSING]))
        .collect();
    let (mut delivered, mut lagged, mut last) = (0, 0, start);
    runtime.block_on(async {
        // Nothing for a second after the producers ended: the rest was lost.
        while delivered + lagged < want {
            match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
                Ok(Ok(ev)) => {
                    if ev.cgroup_id == id
                        && matches!(&ev.detail, EventDetail::Open { path, .. } if path == MISSING)
                    {
                        delivered += 1;
                        last = std::time::Instant::now();
                    }
                }
                Ok(Err(broadcast::error::RecvError::Lagged(n))) => lagged += n,
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
            }
        }
    });
    let produced_in = children
        .into_iter()
        .map(|c| c.join().expect("the probe's thread"))
        .max()
        .unwrap_or_default();
    Burst {
        delivered,
        lagged,
        elapsed: last - start,
        produced_in,
    }
}

fn bench(c: &mut Criterion) {
    let Some(cgroup) = privileged("probes-ring") else {
        return;
    };
    let Some(mut probes) = LiveProbes::start(&cgroup) else {
        return;
    };
    let _watched = probes.managed.watch(cgroup.id());
    let mut group = c.benchmark_group("ring_buffer/open_events");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .throughput(Throughput::Elements(1));
    let queue = crossbeam_queue::ArrayQueue::new(4096);
    let record = [0u8; size_of::<agentos_ebpf_common::FileEvent>()];
    group.bench_function("crossbeam_array_queue", |b| {
        b.iter(|| {
            let _ = queue.push(std::hint::black_box(record));
            std::hint::black_box(queue.pop())
        })
    });
    group.bench_function("opens_unmanaged", |b| {
        b.iter_custom(|n| child_time(None, &["opens", &n.to_string(), MISSING]))
    });
    let mut lost = 0;
    group.bench_function("opens_delivered", |b| {
        b.iter_custom(|n| {
            let got = burst(&probes.runtime, &mut probes.rx, &cgroup, 1, n);
            lost += n.saturating_sub(got.delivered);
            got.elapsed
        })
    });
    group.finish();
    eprintln!("ring_buffer/open_events/opens_delivered: {lost} events lost over the samples");
    for producers in [1, 2] {
        let mut size = 1024;
        while size <= MAX_BURST {
            let got = burst(
                &probes.runtime,
                &mut probes.rx,
                &cgroup,
                producers,
                size / producers,
            );
            let sent = size / producers * producers;
            let lost = sent.saturating_sub(got.delivered + got.lagged);
            let rate = |d: Duration| got.delivered as f64 / d.as_secs_f64().max(1e-9);
            eprintln!(
                "ring_buffer/first_drop producers={producers} burst={sent}: delivered {} \
                 ({:.0} events/s; produced at {:.0}/s), lost in the ring {lost}, lagged {}",
                got.delivered,
                rate(got.elapsed),
                sent as f64 / got.produced_in.as_secs_f64().max(1e-9),
                got.lagged,
            );
            if lost > 0 {
                break;
            }
            size *= 4;
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
