//! What the scheduling probe costs a context switch: two processes pinned to one CPU hand a
//! byte back and forth over a pipe pair (`agentos-probe pingpong-cpu N`, timed by the CPU
//! time both spent: free of what other work on a shared machine ran meanwhile, and, both
//! being on one CPU, including the `sched_switch` programs, which the kernel charges to the
//! incoming task). One iteration is one round trip: two context switches (`sched_switch`),
//! each after a wait on the run queue, as the managed run's own figures count them (it
//! prints the switches and run-queue waits per round trip). In this order, in one run:
//!
//! * `no_bpf`: nothing attached, the raw baseline;
//! * `empty_sched`: an empty BTF tracepoint program on `sched_switch`, the floor any
//!   per-switch probe pays;
//! * `empty_hot`: the same and the empty raw tracepoint program on `sys_enter` and
//!   `sys_exit`: the floor of everything the probes attach while a cgroup is managed, which
//!   is what `probes_unmanaged` runs (each round trip makes four syscalls, a `write` and a
//!   `read` at each end);
//! * `probes_idle`: the probes loaded with no managed cgroup, so the per-switch program is
//!   detached (target: no measurable cost);
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
//! # Measured
//!
//! `cargo bench -p agentos-kernel --bench probes_sched`, 2 vCPUs, 2026-12-05.
//!
//! | row | 04:00, three programs (5 runs, load 5.9–8.4) | 08:36, `sched_switch` alone (2 runs, load 1.5–1.6) | added, now |
//! |---|---|---|---|
//! | `no_bpf` | 8.70 µs | 5.13 / 5.07 µs | — |
//! | `empty_sched` | 9.26 µs | 5.33 / 5.27 µs | +0.20 / +0.20 µs |
//! | `empty_hot` | 9.44 µs | 5.84 / 5.93 µs | +0.71 / +0.86 µs |
//! | `probes_idle` | 8.40 µs | 5.12 / 5.07 µs | none |
//! | `probes_unmanaged` | 10.23 µs (+1.53 µs: 2.1× `empty_hot`'s) | 6.00 / 6.03 µs | +0.87 / +0.96 µs: 1.24× / 1.12× `empty_hot`'s, within the 1.3× target |
//! | `probes_managed` | 14.62 µs (~3 µs a switch) | 8.12 / 8.14 µs | +2.99 / +3.07 µs, ~1.5 µs a switch |
//!
//! The programs' own run times, counted by the kernel (statistics on, which adds two clock
//! reads to each run, floor included):
//!
//! | program, per run | floor | 04:00: loop outside, inside | 08:36: loop outside, inside |
//! |---|---|---|---|
//! | `sched_switch` | 49 ns (60 at 04:00) | 130 ns, 408 ns | 62 ns, 307–308 ns |
//! | `sched_wakeup` | 63 ns | 179 ns, 549 ns | not attached |
//! | `sys_enter`, `sys_exit` | — | 69, 70 ns; 430, 423 ns | 67–68, 54 ns; 234, 210–211 ns |
//!
//! What changed: the 04:00 programs timed each run themselves (a clock read and a per-CPU
//! "switched in at" slot on every switch of the host) and each wait from `sched_wakeup`,
//! whose check of the wakee's cgroup cost every wake-up on the host three dependent
//! `bpf_probe_read_kernel` calls (~30–35 ns each here). `sched_switch` now reads the
//! scheduler's own accounts of a managed outgoing task (`se.sum_exec_runtime -
//! se.prev_sum_exec_runtime` for the run, `sched_info.run_delay` and `pcount` for the
//! waits: `kernel-ebpf/src/sched.rs`), so a host task's switch pays the subtree check
//! alone, 13 ns over the empty program, and nothing runs on a wake-up. The waits are now
//! every wait on the run queue, after a preemption too, as `/proc/PID/schedstat` counts
//! them: 2.00 a round trip, where the wake-ups counted 1.25 (a woken end that preempts the
//! sender answers before the sender sleeps, so not every hand-over woke one).

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
