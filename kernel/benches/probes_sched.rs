//! What the scheduling probes cost a context switch: two processes pinned to one CPU hand a
//! byte back and forth over a pipe pair (`agentos-probe pingpong-cpu N`, timed by the CPU
//! time both spent: free of what other work on a shared machine ran meanwhile, and, both
//! being on one CPU, including the `sched_switch` programs, which the kernel charges to the
//! incoming task). One iteration is one round trip: two context switches (`sched_switch`)
//! and one or two wake-ups (`sched_wakeup`), as the managed run's own figures count them
//! (it prints the switches and run-queue waits per round trip). In this order, in one run:
//!
//! * `no_bpf`: nothing attached, the raw baseline;
//! * `empty_sched`: empty BTF tracepoint programs on `sched_switch`, `sched_wakeup` and
//!   `sched_wakeup_new`, the floor any per-switch probe pays;
//! * `empty_hot`: the same and the empty raw tracepoint program on `sys_enter` and
//!   `sys_exit`: the floor of everything the probes attach while a cgroup is managed, which
//!   is what `probes_unmanaged` runs (each round trip makes four syscalls, a `write` and a
//!   `read` at each end);
//! * `probes_idle`: the probes loaded with no managed cgroup, so the per-switch programs
//!   are detached (target: no measurable cost);
//! * `probes_unmanaged`: one managed cgroup, the loop outside it (target: the filter only,
//!   ≤ 1.3× `empty_hot`'s added cost);
//! * `probes_managed`: the loop inside the managed cgroup: on-CPU time, switches and
//!   run-queue latency recorded.
//!
//! Per switch, the added cost is (round trip − `no_bpf`) / 2. Last, with the host's BPF
//! run-time statistics on, it prints each program's mean run time over 100,000 round trips
//! outside the managed cgroup and inside it, the floor's programs attached beside the
//! probes: the kernel's own count of what each program costs a run, which CPU time on a
//! shared machine is too noisy to split.
//!
//! Needs root, a cgroup v2 hierarchy and the eBPF object; see `support/probes.rs`.
//!
//! # Measured (2 vCPUs shared with three other builds)
//!
//! `cargo bench -p agentos-kernel --bench probes_sched`, five runs, 04:00–04:04 UTC on
//! 2026-12-05, load average 5.9–8.4, with 15–32 `agentos_*` programs of other sessions'
//! daemons attached host-wide all the while (on every switch, in every row; in the fifth
//! run twice as many during its first three rows). Each round trip was 2.00 switches and
//! 1.27 wake-ups (the managed run's own count: a woken end that preempts the sender
//! answers before the sender sleeps, so not every hand-over wakes).
//!
//! | row | round trip, median (range) of the runs' estimates | added |
//! |---|---|---|
//! | `no_bpf` | 8.70 µs (8.28–13.53) | — |
//! | `empty_sched` | 9.26 µs (8.65–13.37) | +0.56 µs |
//! | `empty_hot` | 9.44 µs (9.27–13.83) | +0.74 µs |
//! | `probes_idle` | 8.40 µs (8.25–8.93) | none (below `no_bpf`: see below) |
//! | `probes_unmanaged` | 10.23 µs (10.16–10.69) | +1.53 µs: 2.1× `empty_hot`'s, over the 1.3× target |
//! | `probes_managed` | 14.62 µs (14.31–15.48) | +5.92 µs, ~3 µs a switch |
//!
//! The first row ran slower than `probes_idle`, which attaches nothing per switch either,
//! in every run: the rows carry an order effect of a few hundred nanoseconds, the size of
//! the differences. Measured from `probes_idle` instead, `probes_unmanaged` adds 1.83 µs
//! against `empty_hot`'s 1.04 µs (1.8×). So the programs' own run times, counted by the
//! kernel (statistics on, which adds two clock reads to each run, floor included; medians
//! of the same five runs), are the figures to go by:
//!
//! | program, per run | floor | before (sampled by `bpftool`, 03:19) | now: loop outside | inside |
//! |---|---|---|---|---|
//! | `sched_switch` | 60 ns (58–68) | 250–260 ns | 130 ns (125–147) | 408 ns |
//! | `sched_wakeup` | 63 ns (62–84) | 260–270 ns | 179 ns (175–213) | 549 ns |
//! | `sys_enter`, `sys_exit` | — | — | 69, 70 ns | 430, 423 ns |
//!
//! Step by step, on the unmanaged path: the subtree check on the current task costs ~10 ns
//! (the per-syscall programs, which do only that, ran 69–70 ns beside the same floor);
//! `sched_switch`'s clock read, per-CPU slot and pending count ~60 ns more; the read of
//! `next` and its `WAKEUPS` lookup that the pending count now skips cost ~120 ns (250 →
//! 124 ns in the run that changed only that). `sched_wakeup` read `p`'s cgroup id (four
//! `bpf_probe_read_kernel` calls, ~30–35 ns each here) and hashed it into `MANAGED`; the
//! subtree check on `p` stops after three reads (224 → 179 ns). What is left over the
//! floor is the clock read, which the switch needs while it cannot tell whether `next` is
//! managed, and the wakee's three dependent reads: below that only CO-RE field access (which
//! Rust eBPF lacks) or a kfunc with a trusted cgroup pointer (`bpf_task_under_cgroup`)
//! would go.

mod support;

use std::{path::Path, time::Duration};

use agentos_kernel::observe::{FloorPrograms, Hooks, ProgramRunTime, RunTimeStats, Step};
use criterion::{Criterion, criterion_group, criterion_main};
use support::probes::{BenchCgroup, LiveProbes, child_time, group, load_average, privileged};

/// Runs `iters` round trips in a pair of children (in `cgroup` if given); their CPU time.
fn pingpong(iters: u64, cgroup: Option<&Path>) -> Duration {
    child_time(cgroup, &["pingpong-cpu", &iters.to_string()])
}

/// Round trips the managed run's own figures are taken over.
const COUNTED: u64 = 100_000;

fn bench(c: &mut Criterion) {
    let Some(cgroup) = privileged("probes-sched") else {
        return;
    };
    eprintln!("load average before: {}", load_average());
    let mut group = group(c, "probe_cost/switch");
    group.bench_function("no_bpf", |b| b.iter_custom(|n| pingpong(n, None)));
    // The floor of the scheduling programs, then of every program the probes attach while a
    // cgroup is managed: the loop's reads and writes run the per-syscall pair too.
    let floors = [
        (&[Hooks::Sched][..], "empty_sched"),
        (&[Hooks::Sched, Hooks::EnterExit][..], "empty_hot"),
    ];
    for (hooks, name) in floors {
        let attached: Result<Vec<_>, _> = hooks
            .iter()
            .map(|&hooks| FloorPrograms::attach(Step::Empty, hooks, cgroup.path()))
            .collect();
        match attached {
            Ok(programs) => {
                group.bench_function(name, |b| b.iter_custom(|n| pingpong(n, None)));
                drop(programs);
            }
            Err(e) => eprintln!("{name} skipped: {e}"),
        }
    }

    let Some(probes) = LiveProbes::start(&cgroup) else {
        return;
    };
    group.bench_function("probes_idle", |b| b.iter_custom(|n| pingpong(n, None)));
    let _watched = probes.managed.watch(cgroup.id());
    assert!(probes.managed.hot_attached());
    probes.wait_stats_off();
    group.bench_function("probes_unmanaged", |b| b.iter_custom(|n| pingpong(n, None)));
    group.bench_function("probes_managed", |b| {
        b.iter_custom(|n| pingpong(n, Some(cgroup.path())))
    });
    group.finish();

    // What the probes saw of a known number of round trips.
    let sched = || {
        probes
            .managed
            .figures(cgroup.id())
            .expect("probes live")
            .expect("figures")
            .sched
    };
    let before = sched();
    pingpong(COUNTED, Some(cgroup.path()));
    let after = sched();
    let per_trip = |n: u64| n as f64 / COUNTED as f64;
    eprintln!(
        "managed, per round trip: {:.3} switches, {:.3} run-queue waits of {:.0} ns on average",
        per_trip(after.switches - before.switches),
        per_trip(after.runq_count - before.runq_count),
        (after.runq_ns - before.runq_ns) as f64
            / (after.runq_count - before.runq_count).max(1) as f64,
    );
    per_run(&probes, &cgroup);
    eprintln!("load average after: {}", load_average());
}

/// Prints each program's mean run time over `COUNTED` round trips outside the managed
/// cgroup and inside it, with the floor's programs attached beside the probes, by the host's
/// own count: the BPF run-time statistics, on for this part only (they add two clock reads
/// to every run, the floor's as the probes'). The host's other switches run the programs
/// too, on their unmanaged path.
fn per_run(probes: &LiveProbes, cgroup: &BenchCgroup) {
    let (stats, floor) = match (
        RunTimeStats::on(),
        FloorPrograms::attach(Step::Empty, Hooks::Sched, cgroup.path()),
    ) {
        (Ok(stats), Ok(floor)) => (stats, floor),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("per-run figures skipped: {e}");
            return;
        }
    };
    let snapshot = || -> Vec<ProgramRunTime> {
        let mut all = floor.run_times();
        all.extend(probes.managed.run_times());
        all
    };
    for (name, place) in [("outside", None), ("inside", Some(cgroup.path()))] {
        let before = snapshot();
        pingpong(COUNTED, place);
        let means: Vec<String> = snapshot()
            .iter()
            .filter_map(|after| {
                let was = before.iter().find(|b| b.program == after.program)?;
                let runs = after.runs - was.runs;
                let ns = (after.run_time_ns - was.run_time_ns) as f64 / runs.max(1) as f64;
                (runs > 0).then(|| format!("{} {ns:.0} ns × {runs}", after.program))
            })
            .collect();
        eprintln!(
            "per run, loop {name} the managed cgroup: {}",
            means.join(", ")
        );
    }
    drop((floor, stats));
}

criterion_group!(benches, bench);
criterion_main!(benches);
