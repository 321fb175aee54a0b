//! What the eBPF probes cost a syscall: `getppid` in a loop (in a child, `agentos-probe
//! getppid N`, which times itself), in this order, all in one run:
//!
//! * `no_bpf`: nothing attached, the raw baseline;
//! * `empty_raw_tp`: an empty raw tracepoint program on `sys_enter`, the floor any
//!   per-syscall probe pays (TOOLCHAIN.md measured ~+100 ns);
//! * `probes_idle`: the probes loaded with no managed cgroup, so the per-syscall programs are
//!   detached (target: no measurable cost);
//! * `probes_unmanaged`: one managed cgroup, the loop outside it: the cgroup filter only
//!   (target: ≤ 1.3× `empty_raw_tp`);
//! * `probes_managed`: the loop inside the managed cgroup: counted, timed and histogrammed.
//!
//! Needs root, a cgroup v2 hierarchy and the eBPF object; see `support/probes.rs`.

mod support;

use std::{path::Path, time::Duration};

use agentos_kernel::observe::EmptyProgram;
use criterion::{Criterion, criterion_group, criterion_main};
use support::probes::{LiveProbes, child_time, group, privileged};

/// Runs `getppid` `iters` times in a child (in `cgroup` if given); the child's own timing.
fn getppid_loop(iters: u64, cgroup: Option<&Path>) -> Duration {
    child_time(cgroup, &["getppid", &iters.to_string()])
}

fn bench(c: &mut Criterion) {
    let Some(cgroup) = privileged("probes-syscall") else {
        return;
    };
    let mut group = group(c, "probe_cost/getppid");
    group.bench_function("no_bpf", |b| b.iter_custom(|n| getppid_loop(n, None)));
    match EmptyProgram::attach() {
        Ok(empty) => {
            group.bench_function("empty_raw_tp", |b| b.iter_custom(|n| getppid_loop(n, None)));
            drop(empty);
        }
        Err(e) => eprintln!("empty_raw_tp skipped: {e}"),
    }
    let Some(probes) = LiveProbes::start(&cgroup) else {
        return;
    };
    group.bench_function("probes_idle", |b| b.iter_custom(|n| getppid_loop(n, None)));
    let _watched = probes.managed.watch(cgroup.id());
    assert!(probes.managed.hot_attached());
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
