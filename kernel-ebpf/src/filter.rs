//! The managed-cgroup filter: the `MANAGED` hash map of v2 cgroup ids, written by the daemon
//! (one key per managed process's cgroup, added before the process enters it and removed
//! after the cgroup is gone), read by every program before it records anything.
//!
//! For the current task, a cheaper question comes first: is it under the AgentOS subtree (the
//! daemon's v2 cgroup, in slot 0 of `SUBTREE`), which holds every managed cgroup and no
//! process of the host's? `bpf_current_task_under_cgroup` answers with one comparison
//! (`cgroup->ancestors[level]`), with no hashing, so a host task, the common case on every
//! syscall and switch, is turned away by it alone; the `MANAGED` lookup runs only for tasks
//! under the subtree. The probe-cost bench measured the difference (`probes_syscall.rs`).

use agentos_ebpf_common::{CostCounts, MAX_MANAGED};
use aya_ebpf::{
    helpers::generated::bpf_get_current_cgroup_id,
    macros::map,
    maps::{CgroupArray, HashMap, PerCpuHashMap},
};

use crate::{offsets, read_field, read_kernel_at};

/// Managed v2 cgroup id → 1. An empty map (the state at load) observes nothing.
#[map(name = "AGENTOS_MANAGED")]
static MANAGED: HashMap<u64, u32> = HashMap::with_max_entries(MAX_MANAGED, 0);

/// Slot 0: the AgentOS subtree, the v2 cgroup every managed cgroup is under, set by the
/// loader before any program is attached.
#[map(name = "AGENTOS_SUBTREE")]
static SUBTREE: CgroupArray = CgroupArray::with_max_entries(1, 0);

/// Per managed cgroup, this CPU's runs of each program on its behalf (see
/// `agentos_ebpf_common::cost`). The daemon creates the entry; a missing one counts nothing.
#[map(name = "AGENTOS_COST")]
static COST: PerCpuHashMap<u64, CostCounts> = PerCpuHashMap::with_max_entries(MAX_MANAGED, 0);

/// Counts one run of `program` (an index of `agentos_ebpf_common::cost`) for `cgroup_id`.
#[inline(always)]
pub(crate) fn charge(cgroup_id: u64, program: usize) {
    let Some(counts) = COST.get_ptr_mut(cgroup_id) else {
        return;
    };
    // SAFETY: a per-CPU value, written only by programs on this CPU, which do not run
    // concurrently with each other.
    if let Some(runs) = unsafe { &mut *counts }.runs.get_mut(program) {
        *runs += 1;
    }
}

/// The current task's v2 cgroup id if that cgroup is managed.
#[inline(always)]
pub(crate) fn managed_cgroup() -> Option<u64> {
    if !under_subtree() {
        return None;
    }
    managed_in_subtree()
}

/// The current task's v2 cgroup id if that cgroup is managed, for a task [`under_subtree`]
/// already said may be.
#[inline(always)]
pub(crate) fn managed_in_subtree() -> Option<u64> {
    // SAFETY: the helper only reads the current task's cgroup.
    let id = unsafe { bpf_get_current_cgroup_id() };
    is_managed(id).then_some(id)
}

/// Whether the current task may be managed: it is under the AgentOS subtree, or the subtree
/// is not set (then only the `MANAGED` lookup decides).
#[inline(always)]
pub(crate) fn under_subtree() -> bool {
    SUBTREE.current_task_under_cgroup(0).unwrap_or(true)
}

/// Whether `id` is a managed cgroup.
#[inline(always)]
pub(crate) fn is_managed(id: u64) -> bool {
    MANAGED.get_ptr(id).is_some()
}

/// The v2 cgroup id of `task` (a `struct task_struct *`), for a task other than the current
/// one: `task->cgroups->dfl_cgrp->kn->id`.
#[inline(always)]
pub(crate) fn task_cgroup(task: u64) -> Option<u64> {
    let offsets = offsets();
    let css_set = read_field::<u64>(task, offsets.cgroups)?;
    cgroup_id_of(read_field::<u64>(css_set, offsets.dfl_cgrp)?)
}

/// The id of `cgroup` (a `struct cgroup *`): `cgroup->kn->id`.
#[inline(always)]
pub(crate) fn cgroup_id_of(cgroup: u64) -> Option<u64> {
    let offsets = offsets();
    let kn = read_field::<u64>(cgroup, offsets.cgroup_kn)?;
    read_kernel_at::<u64>(kn, offsets.kn_id)
}
