//! What the eBPF probes cost a syscall: `getppid` in a loop (in a child, `agentos-probe
//! getppid-cpu N`, which times itself by its thread's CPU time: on an idle machine the same
//! as its wall time, since the loop never blocks, and on a machine shared with other work
//! free of the time they ran while the loop waited for a CPU), in this order, all in one run:
//!
//! * `no_bpf`: nothing attached, the raw baseline;
//! * `empty_raw_tp`: an empty raw tracepoint program on `sys_enter`, the floor any
//!   per-syscall probe pays (TOOLCHAIN.md measured ~+100 ns);
//! * `empty_pair`: the empty program on `sys_enter` and `sys_exit`, the floor of a pair, as
//!   the real per-syscall programs are;
//! * `empty_pair_stats`: the same with the host's BPF run-time statistics on, which time every
//!   BPF program's every run;
//! * `cgroup_id_pair`, `lookup_pair`, `subtree_pair`: each step of a reject path on both
//!   tracepoints: reading the cgroup id; the cgroup id and the `MANAGED` lookup (the reject
//!   path before the subtree check); the subtree check (the reject path now);
//! * `probes_idle`: the probes loaded with no managed cgroup, so the per-syscall programs are
//!   detached (target: no measurable cost);
//! * `probes_unmanaged_stats`: one managed cgroup, the loop outside it, while someone reads
//!   what watching costs (the statistics on, for their sample);
//! * `probes_unmanaged`: the same once the sample ended: the cgroup filter only (target:
//!   ≤ 1.3× `empty_raw_tp`);
//! * `probes_managed`: the loop inside the managed cgroup: counted, timed and histogrammed.
//!
//! # Figures
//!
//! `cargo bench -p agentos-kernel --bench probes_syscall`, per `getppid` (load average 3.9-4.1,
//! other engineers compiling on the same 2 cores):
//!
//! | contender | before | after |
//! |---|---|---|
//! | `no_bpf` | 191 ns | 211 ns |
//! | `empty_pair` | 350 ns | 350 ns |
//! | `probes_unmanaged` | | 397 ns |
//! | `probes_managed` | 1.12 µs (≈ 930 ns added) | 765 ns (≈ 555 ns added) |
//!
//! What moved `probes_managed`, each step measured as alternating builds of the bench (the
//! same binary but for the embedded object, run in turns: orig, step, step, orig):
//!
//! 1. A thread's `AGENTOS_SYS_IN` entry rewritten in place rather than inserted on entry and
//!    deleted on exit (each took the hash's bucket lock and its free list): 1.15 / 1.05 µs →
//!    834 / 817 ns.
//! 2. One `MANAGED` lookup answering both "managed?" and "where is this run counted?" (the
//!    run counts are `MANAGED`'s value; the `COST` map is gone): 834 / 817 → 806 / 810 ns.
//! 3. The exit closing the entry with one store, not a `memset` subprogram: not measurable
//!    above the noise (793 / 821 ns against 802 ns).
//!
//! Needs root, a cgroup v2 hierarchy and the eBPF object; see `support/probes.rs`.

mod support;

use std::{path::Path, time::Duration};

use agentos_kernel::observe::{FloorPrograms, Hooks, RunTimeStats, Step};
use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use support::probes::{LiveProbes, child_time, group, privileged};

/// Runs `getppid` `iters` times in a child (in `cgroup` if given); the child's own CPU time.
fn getppid_loop(iters: u64, cgroup: Option<&Path>) -> Duration {
    child_time(cgroup, &["getppid-cpu", &iters.to_string()])
}

/// Benches the loop outside `cgroup` as `name` with `step` attached to `hooks`.
fn with_step(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    (step, hooks): (Step, Hooks),
    cgroup: &Path,
) {
    match FloorPrograms::attach(step, hooks, cgroup) {
        Ok(programs) => {
            group.bench_function(name, |b| b.iter_custom(|n| getppid_loop(n, None)));
            drop(programs);
        }
        Err(e) => eprintln!("{name} skipped: {e}"),
    }
}

fn bench(c: &mut Criterion) {
    let Some(cgroup) = privileged("probes-syscall") else {
        return;
    };
    let mut group = group(c, "probe_cost/getppid");
    group.bench_function("no_bpf", |b| b.iter_custom(|n| getppid_loop(n, None)));
    let path = cgroup.path();
    with_step(
        &mut group,
        "empty_raw_tp",
        (Step::Empty, Hooks::Enter),
        path,
    );
    with_step(
        &mut group,
        "empty_pair",
        (Step::Empty, Hooks::EnterExit),
        path,
    );
    match RunTimeStats::on() {
        Ok(stats) => {
            with_step(
                &mut group,
                "empty_pair_stats",
                (Step::Empty, Hooks::EnterExit),
                path,
            );
            drop(stats);
        }
        Err(e) => eprintln!("empty_pair_stats skipped: {e}"),
    }
    with_step(
        &mut group,
        "cgroup_id_pair",
        (Step::CgroupId, Hooks::EnterExit),
        path,
    );
    with_step(
        &mut group,
        "lookup_pair",
        (Step::Lookup, Hooks::EnterExit),
        path,
    );
    with_step(
        &mut group,
        "subtree_pair",
        (Step::Subtree, Hooks::EnterExit),
        path,
    );

    let Some(probes) = LiveProbes::start(&cgroup) else {
        return;
    };
    group.bench_function("probes_idle", |b| b.iter_custom(|n| getppid_loop(n, None)));
    let _watched = probes.managed.watch(cgroup.id());
    assert!(probes.managed.hot_attached());
    // Someone reads what watching costs: the statistics are on (the first sample, begun
    // when the cgroup became managed).
    drop(probes.managed.run_times());
    assert!(
        probes.managed.run_time_stats(),
        "no sample of the statistics"
    );
    group.bench_function("probes_unmanaged_stats", |b| {
        b.iter_custom(|n| getppid_loop(n, None))
    });
    // The sample ends and the statistics go off.
    probes.wait_stats_off();
    group.bench_function("probes_unmanaged", |b| {
        b.iter_custom(|n| getppid_loop(n, None))
    });
    group.bench_function("probes_managed", |b| {
        b.iter_custom(|n| getppid_loop(n, Some(cgroup.path())))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
