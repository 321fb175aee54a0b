//! Scheduling of managed processes: on-CPU time, context switches and run-queue latency per
//! managed cgroup, in the per-CPU `SCHED` map.
//!
//! `sched_switch` runs on the CPU being switched, in the outgoing task (`current == prev`).
//! A managed `prev` is charged the run it is ending as the fair scheduler counted it:
//! `se.sum_exec_runtime - se.prev_sum_exec_runtime`, its run time now less what it was when
//! `set_next_entity` last put it on a CPU (which skips the reset when the same task is picked
//! again, as `sched_switch` does not fire then). No clock read and no per-CPU "switched in
//! at" slot, so a switch between host tasks pays neither. Managed tasks are in the fair
//! class: the kernel gives them no real-time policy and their capabilities do not allow one
//! (another class does not reset `prev_sum_exec_runtime`, so its runs would be overcounted).
//! `sched_wakeup`/`sched_wakeup_new` run in the waker, so the wakee's cgroup is read from the
//! task (`p->cgroups->dfl_cgrp`, its subtree ancestor, then `kn->id`:
//! [`crate::filter::managed_task_cgroup`]) and a managed wakee's wake-up time is kept until
//! `sched_switch` brings it on a CPU.
//!
//! # What an unmanaged switch pays
//!
//! Every context switch of the host runs `agentos_switch`, so its reject path is kept to
//! the subtree check on `prev` (the current task, one comparison, [`crate::filter`]) and one
//! load. `next` is looked up in `WAKEUPS` only while that map holds anything: `PENDING`
//! counts its entries (one atomic add per managed wake-up and per closed one), and while it
//! is zero no managed task waits for a CPU, so no `next` has a wake-up to close; the switch
//! then ends without reading the clock or `next`, or hashing. The count is exact: it moves
//! only when an entry was really created or removed, and the daemon zeroes it when it clears
//! the map with the programs detached. A wake-up is recorded under the wakee's run-queue
//! lock, which the CPU that switches the wakee in must take, so that CPU sees the count the
//! wake-up left. `probes_sched.rs` measures what each part costs.

use agentos_ebpf_common::{MAX_MANAGED, MAX_THREADS, SchedStats, Wakeup, cost};
use aya_ebpf::{
    bindings::{BPF_EXIST, BPF_NOEXIST},
    helpers::generated::bpf_ktime_get_ns,
    macros::{btf_tracepoint, map},
    maps::{Array, HashMap, PerCpuHashMap},
    programs::BtfTracePointContext,
};

use crate::{
    filter::{managed_cgroup, managed_task_cgroup},
    offsets, read_field,
};

#[map(name = "AGENTOS_SCHED")]
static SCHED: PerCpuHashMap<u64, SchedStats> = PerCpuHashMap::with_max_entries(MAX_MANAGED, 0);

#[map(name = "AGENTOS_WAKEUP")]
static WAKEUPS: HashMap<u32, Wakeup> = HashMap::with_max_entries(MAX_THREADS, 0);

/// Slot 0: how many entries `WAKEUPS` holds (see the module docs).
#[map(name = "AGENTOS_PENDING")]
static PENDING: Array<u64> = Array::with_max_entries(1, 0);

/// Adds `delta` (1, or `u64::MAX` for -1) to the count of `WAKEUPS` entries.
#[inline(always)]
fn count_pending(delta: u64) {
    let Some(slot) = PENDING.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: slot 0 of an array map lives as long as the program and is 8-byte aligned;
    // every CPU changes it with atomic adds only (the daemon writes it with the programs
    // detached).
    unsafe { atomic_add(slot, delta) };
}

/// `*slot += delta`, wrapping, as one atomic add. The BPF target has no compare-and-swap,
/// so `core`'s atomic types have no `fetch_add` there; the intrinsic compiles to BPF's
/// atomic add (`lock *(u64 *)(r + 0) += r`) all the same.
///
/// # Safety
///
/// `slot` is valid, aligned, and only ever changed atomically.
#[cfg(target_arch = "bpf")]
#[inline(always)]
unsafe fn atomic_add(slot: *mut u64, delta: u64) {
    use core::intrinsics::{AtomicOrdering, atomic_xadd};
    // SAFETY: the caller's.
    unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(slot, delta) };
}

/// `*slot += delta`, wrapping, as one atomic add (a host build: `core`'s atomics).
///
/// # Safety
///
/// `slot` is valid, aligned, and only ever changed atomically.
#[cfg(not(target_arch = "bpf"))]
#[inline(always)]
unsafe fn atomic_add(slot: *mut u64, delta: u64) {
    // SAFETY: the caller's.
    unsafe { core::sync::atomic::AtomicU64::from_ptr(slot) }
        .fetch_add(delta, core::sync::atomic::Ordering::Relaxed);
}

/// Whether `WAKEUPS` holds anything (see the module docs).
#[inline(always)]
fn wakeups_pending() -> bool {
    let Some(slot) = PENDING.get_ptr(0) else {
        return true;
    };
    // SAFETY: as in `count_pending`. A volatile load: LLVM cannot select an atomic one for
    // BPF's generic CPU, and an aligned 8-byte load is single-copy atomic all the same.
    unsafe { core::ptr::read_volatile(slot) != 0 }
}

/// Removes `tid`'s wake-up, and counts it out if there was one.
#[inline(always)]
fn remove_wakeup(tid: u32) {
    if WAKEUPS.remove(tid).is_ok() {
        count_pending(u64::MAX);
    }
}

/// Records `tid`'s wake-up (a later one replaces an earlier one the task has not run
/// since), counting the entry in if it is new.
#[inline(always)]
fn record_wakeup(tid: u32, wakeup: &Wakeup) {
    // Twice: an entry that was there for `BPF_EXIST` may be gone by the time it runs.
    for _ in 0..2 {
        if WAKEUPS.insert(tid, wakeup, BPF_NOEXIST.into()).is_ok() {
            count_pending(1);
            return;
        }
        if WAKEUPS.insert(tid, wakeup, BPF_EXIST.into()).is_ok() {
            return;
        }
    }
}

#[btf_tracepoint(function = "sched_switch")]
pub fn agentos_switch(ctx: BtfTracePointContext) -> u32 {
    try_switch(&ctx);
    0
}

/// `sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
/// unsigned int prev_state)`.
fn try_switch(ctx: &BtfTracePointContext) {
    if let Some(cgroup_id) = managed_cgroup(cost::SWITCH) {
        let ran = slice_ns(ctx.arg(1));
        with_stats(cgroup_id, |stats| {
            stats.on_cpu_ns += ran;
            stats.switches += 1;
        });
    }
    // No managed task waits for a CPU: `next` has no wake-up to close.
    if !wakeups_pending() {
        return;
    }
    let next: u64 = ctx.arg(2);
    let Some(tid) = read_field::<u32>(next, offsets().pid) else {
        return;
    };
    let Some(wakeup) = WAKEUPS.get_ptr(tid) else {
        return;
    };
    // SAFETY: a plain copy of the entry; a racing overwrite only changes which wake-up counts.
    let wakeup = unsafe { *wakeup };
    remove_wakeup(tid);
    // SAFETY: no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    with_stats(wakeup.cgroup_id, |stats| {
        stats.runq_ns += now.saturating_sub(wakeup.at_ns);
        stats.runq_count += 1;
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

#[btf_tracepoint(function = "sched_wakeup")]
pub fn agentos_wakeup(ctx: BtfTracePointContext) -> u32 {
    woken(&ctx, cost::WAKEUP);
    0
}

#[btf_tracepoint(function = "sched_wakeup_new")]
pub fn agentos_wakenew(ctx: BtfTracePointContext) -> u32 {
    woken(&ctx, cost::WAKEUP_NEW);
    0
}

/// `sched_wakeup[_new](struct task_struct *p)`: remembers when a managed `p` became runnable.
fn woken(ctx: &BtfTracePointContext, program: usize) {
    let task: u64 = ctx.arg(0);
    let Some(cgroup_id) = managed_task_cgroup(task, program) else {
        return;
    };
    let Some(tid) = read_field::<u32>(task, offsets().pid) else {
        return;
    };
    // SAFETY: no preconditions.
    let at_ns = unsafe { bpf_ktime_get_ns() };
    record_wakeup(tid, &Wakeup { at_ns, cgroup_id });
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

/// Forgets an exiting thread's pending wake-up.
#[inline(always)]
pub(crate) fn forget_thread(tid: u32) {
    remove_wakeup(tid);
}
