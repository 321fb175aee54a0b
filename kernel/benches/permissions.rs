//! Permission checks, each beside its raw baseline in the same run:
//!
//! * `policy_check`: the raw baseline, [`Policy::check`] of a read on a policy of
//!   50 grants where only the last read grant covers the path (a full scan);
//! * `cache_hit` / `cache_hit_deny`: the same access answered by the
//!   [`PermissionCache`] (target: ≤ 100 ns); a cached denial clones its reason;
//! * `cache_hit_instant_clock` / `cache_hit_manual_clock`: a hit on a cache
//!   reading `Instant::now` instead of the default coarse clock, and on one whose
//!   clock is an atomic load: what the clock read costs of a hit;
//! * `cache_miss`: the process is invalidated first, so every lookup misses and
//!   pays the lookup, `Policy::check` and the store;
//! * `cache_hit_contended_N_threads`: the time of one hit while every core hits the
//!   same cache at once, each thread with its own pid and path.
//!
//! Run: `cargo bench -p agentos-kernel --bench permissions`.

use std::{
    hint::black_box,
    path::PathBuf,
    sync::Barrier,
    thread,
    time::{Duration, Instant},
};

use agentos_kernel::capability::{
    Access, CacheConfig, ManualClock, MonotonicClock, PermissionCache, Policy,
};
use criterion::{Criterion, criterion_group, criterion_main};

/// 50 grants of every kind; the read grant that covers the benchmarked path is the
/// last of 20.
fn policy() -> Policy {
    let mut forms = Vec::new();
    for i in 0..19 {
        forms.push(format!("read:/srv/data{i}/share"));
    }
    forms.push("read:/home/app".to_owned());
    for i in 0..10 {
        forms.push(format!("write:/home/app/out{i}"));
    }
    for i in 0..5 {
        forms.push(format!("create:/tmp/app{i}/*"));
    }
    for i in 0..5 {
        forms.push(format!("list:/opt/pkg{i}"));
    }
    forms.extend(
        [
            "net:deny:10.0.0.0/8",
            "net:allow:127.0.0.1:8000-8100/tcp",
            "net:allow:*.example.com:443/tcp",
            "bind:8080",
            "bind:9000-9010",
            "spawn",
            "time",
            "sysinfo",
            "send:app.events.*",
            "recv:app.commands",
        ]
        .map(str::to_owned),
    );
    let p = Policy::parse_cli(&forms).expect("bench policy parses");
    assert_eq!(p.len(), 50);
    p
}

fn permissions(c: &mut Criterion) {
    let policy = policy();
    let allowed = Access::Read(PathBuf::from("/home/app/documents/notes.txt"));
    let denied = Access::Read(PathBuf::from("/home/other/documents/notes.txt"));
    assert!(policy.check(&allowed).is_allowed());
    assert!(!policy.check(&denied).is_allowed());
    let config = CacheConfig {
        capacity: 4096,
        ttl: Duration::from_secs(3600),
        shards: 16,
    };
    let pid = 4242;

    let mut g = c.benchmark_group("permissions");
    g.bench_function("policy_check", |b| {
        b.iter(|| black_box(&policy).check(black_box(&allowed)));
    });

    let cache = PermissionCache::new(config);
    assert!(cache.check(pid, &policy, &allowed).is_allowed());
    assert!(!cache.check(pid, &policy, &denied).is_allowed());
    g.bench_function("cache_hit", |b| {
        b.iter(|| black_box(&cache).check(black_box(pid), &policy, black_box(&allowed)));
    });
    // The same hit with the exact clock, and with no clock read at all.
    let instant = PermissionCache::with_clock(config, MonotonicClock);
    assert!(instant.check(pid, &policy, &allowed).is_allowed());
    g.bench_function("cache_hit_instant_clock", |b| {
        b.iter(|| black_box(&instant).check(black_box(pid), &policy, black_box(&allowed)));
    });
    let manual = PermissionCache::with_clock(config, ManualClock::new());
    assert!(manual.check(pid, &policy, &allowed).is_allowed());
    g.bench_function("cache_hit_manual_clock", |b| {
        b.iter(|| black_box(&manual).check(black_box(pid), &policy, black_box(&allowed)));
    });
    g.bench_function("cache_hit_deny", |b| {
        b.iter(|| black_box(&cache).check(black_box(pid), &policy, black_box(&denied)));
    });
    g.bench_function("cache_miss", |b| {
        b.iter(|| {
            cache.invalidate_process(pid);
            black_box(&cache).check(black_box(pid), &policy, black_box(&allowed))
        });
    });

    let threads = thread::available_parallelism().map_or(2, usize::from);
    g.bench_function(format!("cache_hit_contended_{threads}_threads"), |b| {
        b.iter_custom(|iters| {
            let cache = PermissionCache::new(config);
            let barrier = Barrier::new(threads);
            let total: Duration = thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let (cache, policy, barrier) = (&cache, &policy, &barrier);
                        s.spawn(move || {
                            let access = Access::Read(PathBuf::from(format!("/home/app/t{t}")));
                            let pid = 1000 + t as u32;
                            assert!(cache.check(pid, policy, &access).is_allowed());
                            barrier.wait();
                            let start = Instant::now();
                            for _ in 0..iters {
                                let _ = black_box(cache.check(
                                    black_box(pid),
                                    policy,
                                    black_box(&access),
                                ));
                            }
                            start.elapsed()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("bench thread"))
                    .sum()
            });
            // Mean wall time per call of one thread.
            total / threads as u32
        });
    });
    g.finish();

    let s = cache.stats();
    eprintln!(
        "cache stats: {} hits, {} misses, {} evictions, {} entries",
        s.hits, s.misses, s.evictions, s.entries
    );
}

criterion_group!(benches, permissions);
criterion_main!(benches);
