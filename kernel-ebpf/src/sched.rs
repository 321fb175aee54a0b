//! Scheduling of managed processes: on-CPU time, context switches and run-queue latency per
//! managed cgroup, in the per-CPU `SCHED` map, from one program on `sched_switch`.
//!
//! `sched_switch` runs on the CPU being switched, in the outgoing task (`current == prev`).
//! A managed `prev` is charged from the scheduler's own accounts of it, read from the task:
//!
//! * the run it is ending, as the fair scheduler counted it: `se.sum_exec_runtime -
//!   se.prev_sum_exec_runtime`, its run time now less what it was when `set_next_entity`
//!   last put it on a CPU (which skips the reset when the same task is picked again, as
//!   `sched_switch` does not fire then). Managed tasks are in the fair class: the kernel
//!   gives them no real-time policy, and neither their capabilities (no `CAP_SYS_NICE`)
//!   nor their `RLIMIT_RTPRIO` (0, set by the sandbox's init) let them take one (another
//!   class does not reset `prev_sum_exec_runtime`, so its runs would be overcounted);
//! * the time it waited on a run queue, and how many times it waited, since the last switch
//!   charged it: `sched_info.run_delay` and `pcount`, which the scheduler adds to each time
//!   the task arrives on a CPU (`sched_info_arrive`, the figures of `/proc/PID/schedstat`),
//!   less what `RUNQ` remembers was charged. A wait after a wake-up and one after a
//!   preemption both count. An exiting thread's last switch (`prev_state` is `TASK_DEAD`)
//!   charges the rest and forgets it; `RUNQ` is an LRU map besides, so a thread that left
//!   its cgroup alive cannot fill it.
//!
//! # What an unmanaged switch pays
//!
//! Every context switch of the host runs `agentos_switch`, and for a host task it is the
//! subtree check on `prev` (the current task, one comparison, [`crate::filter`]) and
//! nothing more: no clock read, no per-CPU slot, no look at `next`. Nothing runs on the
//! host's wake-ups at all (an earlier version timed wake-ups itself, from `sched_wakeup`,
//! whose check of the wakee's cgroup cost every wake-up on the host three dependent reads).
//! `probes_sched.rs` measures what it costs.

use agentos_ebpf_common::{MAX_MANAGED, MAX_THREADS, RunqSeen, SchedStats, cost};
use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::generated::bpf_get_current_pid_tgid,
    macros::{btf_tracepoint, map},
    maps::{LruHashMap, PerCpuHashMap},
    programs::BtfTracePointContext,
};

use crate::{filter::managed_cgroup, offsets, read_field};

#[map(name = "AGENTOS_SCHED")]
static SCHED: PerCpuHashMap<u64, SchedStats> = PerCpuHashMap::with_max_entries(MAX_MANAGED, 0);

/// Thread id → its run-queue figures already charged.
#[map(name = "AGENTOS_RUNQ")]
static RUNQ: LruHashMap<u32, RunqSeen> = LruHashMap::with_max_entries(MAX_THREADS, 0);

/// `TASK_DEAD` of `include/linux/sched.h`: a task state, which BTF does not carry.
const TASK_DEAD: u64 = 0x80;

#[btf_tracepoint(function = "sched_switch")]
pub fn agentos_switch(ctx: BtfTracePointContext) -> u32 {
    try_switch(&ctx);
    0
}

/// `sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
/// unsigned int prev_state)`.
fn try_switch(ctx: &BtfTracePointContext) {
    let Some(cgroup_id) = managed_cgroup(cost::SWITCH) else {
        return;
    };
    let prev: u64 = ctx.arg(1);
    let offsets = offsets();
    let dead = offsets.switch_has_prev_state != 0 && ctx.arg::<u64>(3) & TASK_DEAD != 0;
    let ran = slice_ns(prev);
    let waited = waited_since_charged(prev, dead);
    with_stats(cgroup_id, |stats| {
        stats.on_cpu_ns += ran;
        stats.switches += 1;
        stats.runq_ns += waited.ns;
        stats.runq_count += waited.count;
    });
}

/// How long `task` (a `struct task_struct *` the fair scheduler is switching out) ran since
/// it was put on the CPU: `se.sum_exec_runtime - se.prev_sum_exec_runtime`; 0 if unreadable.
#[inline(always)]
fn slice_ns(task: u64) -> u64 {
    let offsets = offsets();
    let total = read_field::<u64>(task, offsets.se_sum_exec_runtime);
    let start = read_field::<u64>(task, offsets.se_prev_sum_exec_runtime);
    match (total, start) {
        (Some(total), Some(start)) => total.saturating_sub(start),
        _ => 0,
    }
}

/// The run-queue waits of the current thread (`task`) not yet charged: its `sched_info`
/// totals less those `RUNQ` holds, which become its totals (or, for a `dead` thread, are
/// forgotten). A thread seen for the first time is charged its totals: it was born in its
/// managed cgroup (the sandbox's init is cloned into it).
#[inline(always)]
fn waited_since_charged(task: u64, dead: bool) -> RunqSeen {
    let offsets = offsets();
    let (Some(count), Some(ns)) = (
        read_field::<u64>(task, offsets.sched_info_pcount),
        read_field::<u64>(task, offsets.sched_info_run_delay),
    ) else {
        return RunqSeen::default();
    };
    let now = RunqSeen { count, ns };
    // SAFETY: no preconditions.
    let tid = unsafe { bpf_get_current_pid_tgid() } as u32;
    let charged = match RUNQ.get_ptr_mut(tid) {
        // SAFETY: the entry of the current thread, which only its own switches change.
        Some(seen) => unsafe { core::mem::replace(&mut *seen, now) },
        None => {
            if !dead {
                let _ = RUNQ.insert(tid, now, BPF_NOEXIST.into());
            }
            RunqSeen::default()
        }
    };
    if dead {
        let _ = RUNQ.remove(tid);
    }
    RunqSeen {
        count: now.count.saturating_sub(charged.count),
        ns: now.ns.saturating_sub(charged.ns),
    }
}

/// Runs `update` on this CPU's figures for `cgroup_id`, creating them at zero.
#[inline(always)]
fn with_stats(cgroup_id: u64, update: impl FnOnce(&mut SchedStats)) {
    let ptr = match SCHED.get_ptr_mut(cgroup_id) {
        Some(ptr) => ptr,
        None => {
            let _ = SCHED.insert(cgroup_id, SchedStats::default(), BPF_NOEXIST.into());
            match SCHED.get_ptr_mut(cgroup_id) {
                Some(ptr) => ptr,
                None => return,
            }
        }
    };
    // SAFETY: a per-CPU value, written only by programs on this CPU, which do not run
    // concurrently with each other.
    update(unsafe { &mut *ptr });
}
