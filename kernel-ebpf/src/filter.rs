//! The managed-cgroup filter: the `MANAGED` per-CPU hash map keyed by v2 cgroup id, written
//! by the daemon (one key per managed process's cgroup, added before the process enters it
//! and removed after the cgroup is gone), read by every program before it records anything.
//!
//! Its value is what watching that cgroup costs: this CPU's runs of each program on its
//! behalf ([`CostCounts`], `agentos_ebpf_common::cost`). So one lookup answers both "is this
//! task managed?" and "where do I count this run?" ([`charge_if_managed`]); a separate
//! `COST` map cost every run a second lookup (`probes_unpack.rs` gives the figures).
//!
//! For the current task, a cheaper question comes first: is it under the AgentOS subtree (the
//! daemon's v2 cgroup, in slot 0 of `SUBTREE`), which holds every managed cgroup and no
//! process of the host's? `bpf_current_task_under_cgroup` answers with one comparison
//! (`cgroup->ancestors[level]`), with no hashing, so a host task, the common case on every
//! syscall and switch, is turned away by it alone; the `MANAGED` lookup runs only for tasks
//! under the subtree. The probe-cost bench measured the difference (`probes_syscall.rs`).
//!
//! A task other than the current one (the wakee of `sched_wakeup`) has no helper to ask.
//! [`managed_task_cgroup`] reads its v2 cgroup's `ancestors[level]`, at the subtree's level,
//! and compares it with the subtree's `struct cgroup` address, which it learns (and checks
//! against the subtree's id) from the first managed task it meets: a task outside the
//! subtree is turned away with three reads and no hashing, where the id and the `MANAGED`
//! lookup take two reads and a hash more (`probes_sched.rs`).

use agentos_ebpf_common::{CostCounts, MAX_MANAGED, subtree_cgroup};
use aya_ebpf::{
    helpers::generated::bpf_get_current_cgroup_id,
    macros::map,
    maps::{Array, CgroupArray, PerCpuHashMap},
};

use crate::{offsets, read_field, read_kernel_at};

/// Managed v2 cgroup id → this CPU's runs of each program on its behalf. An empty map (the
/// state at load) observes nothing. The daemon creates each key with zeroed counts.
#[map(name = "AGENTOS_MANAGED")]
static MANAGED: PerCpuHashMap<u64, CostCounts> = PerCpuHashMap::with_max_entries(MAX_MANAGED, 0);

/// Slot 0: the AgentOS subtree, the v2 cgroup every managed cgroup is under, set by the
/// loader before any program is attached.
#[map(name = "AGENTOS_SUBTREE")]
static SUBTREE: CgroupArray = CgroupArray::with_max_entries(1, 0);

/// The subtree's id, level and `struct cgroup` address (`agentos_ebpf_common::subtree_cgroup`).
#[map(name = "AGENTOS_SUBCG")]
static SUBTREE_CGROUP: Array<u64> = Array::with_max_entries(subtree_cgroup::SLOTS, 0);

/// Slot `slot` of `SUBTREE_CGROUP` (0 if unset).
#[inline(always)]
fn subtree_slot(slot: u32) -> u64 {
    SUBTREE_CGROUP.get(slot).copied().unwrap_or(0)
}

/// Whether `cgroup_id` is managed; if so, counts one run of `program` (an index of
/// `agentos_ebpf_common::cost`) for it. One lookup for both.
#[inline(always)]
pub(crate) fn charge_if_managed(cgroup_id: u64, program: usize) -> bool {
    let Some(counts) = MANAGED.get_ptr_mut(cgroup_id) else {
        return false;
    };
    // SAFETY: a per-CPU value, written only by programs on this CPU, which do not run
    // concurrently with each other.
    if let Some(runs) = unsafe { &mut *counts }.runs.get_mut(program) {
        *runs += 1;
    }
    true
}

/// Counts one run of `program` for `cgroup_id`, for a program that asked whether it is
/// managed elsewhere (the wall's, by `WALLED`); nothing if it is not managed.
#[inline(always)]
pub(crate) fn charge(cgroup_id: u64, program: usize) {
    charge_if_managed(cgroup_id, program);
}

/// The current task's v2 cgroup id if that cgroup is managed, counting one run of `program`
/// for it.
#[inline(always)]
pub(crate) fn managed_cgroup(program: usize) -> Option<u64> {
    if !under_subtree() {
        return None;
    }
    managed_in_subtree(program)
}

/// [`managed_cgroup`], for a task [`under_subtree`] already said may be managed.
#[inline(always)]
pub(crate) fn managed_in_subtree(program: usize) -> Option<u64> {
    let id = current_cgroup_id();
    charge_if_managed(id, program).then_some(id)
}

/// The current task's v2 cgroup id.
#[inline(always)]
pub(crate) fn current_cgroup_id() -> u64 {
    // SAFETY: the helper only reads the current task's cgroup.
    unsafe { bpf_get_current_cgroup_id() }
}

/// Whether the current task may be managed: it is under the AgentOS subtree, or the subtree
/// is not set (then only the `MANAGED` lookup decides).
#[inline(always)]
pub(crate) fn under_subtree() -> bool {
    SUBTREE.current_task_under_cgroup(0).unwrap_or(true)
}

/// Whether `id` is a managed cgroup (no run counted).
#[inline(always)]
pub(crate) fn is_managed(id: u64) -> bool {
    MANAGED.get_ptr(id).is_some()
}

/// The v2 cgroup id of `task` (a `struct task_struct *`, not the current task) if that
/// cgroup is managed, counting one run of `program` for it: `task->cgroups->dfl_cgrp`, then (once the subtree's address is known)
/// whether that cgroup's `ancestors[subtree level]` is the subtree, then its id
/// (`kn->id`) in `MANAGED`.
///
/// A cgroup above the subtree's level has a shorter `ancestors` array, so the read lands
/// past it: whatever it finds is not the subtree's address but by chance, and then the
/// `MANAGED` lookup still decides, as it does for every task until the address is learnt.
#[inline(always)]
pub(crate) fn managed_task_cgroup(task: u64, program: usize) -> Option<u64> {
    let offsets = offsets();
    let css_set = read_field::<u64>(task, offsets.cgroups)?;
    let cgroup = read_field::<u64>(css_set, offsets.dfl_cgrp)?;
    let level = u32::try_from(subtree_slot(subtree_cgroup::LEVEL)).ok()?;
    let ancestor_at = offsets
        .cgroup_ancestors
        .checked_add(level.checked_mul(8)?)?;
    let subtree = subtree_slot(subtree_cgroup::ADDRESS);
    if subtree != 0 && read_field::<u64>(cgroup, ancestor_at) != Some(subtree) {
        return None;
    }
    let id = cgroup_id_of(cgroup)?;
    if !charge_if_managed(id, program) {
        return None;
    }
    if subtree == 0 {
        learn_subtree(cgroup, ancestor_at);
    }
    Some(id)
}

/// Keeps the address of managed `cgroup`'s ancestor at the subtree's level if it is the
/// subtree (by id: a managed cgroup outside the subtree, which no daemon makes, must not
/// teach a wrong one).
#[inline(always)]
fn learn_subtree(cgroup: u64, ancestor_at: u32) {
    let Some(ancestor) = read_field::<u64>(cgroup, ancestor_at) else {
        return;
    };
    let id = subtree_slot(subtree_cgroup::ID);
    if id == 0 || cgroup_id_of(ancestor) != Some(id) {
        return;
    }
    if let Some(slot) = SUBTREE_CGROUP.get_ptr_mut(subtree_cgroup::ADDRESS) {
        // SAFETY: a slot of an array map; CPUs that race here write the same address.
        unsafe { *slot = ancestor };
    }
}

/// The id of `cgroup` (a `struct cgroup *`): `cgroup->kn->id`.
#[inline(always)]
pub(crate) fn cgroup_id_of(cgroup: u64) -> Option<u64> {
    let offsets = offsets();
    let kn = read_field::<u64>(cgroup, offsets.cgroup_kn)?;
    read_kernel_at::<u64>(kn, offsets.kn_id)
}
