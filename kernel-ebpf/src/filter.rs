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

use agentos_ebpf_common::{CostCounts, MAX_MANAGED};
use aya_ebpf::{
    helpers::generated::bpf_get_current_cgroup_id,
    macros::map,
    maps::{CgroupArray, PerCpuHashMap},
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

/// [`managed_in_subtree`] for `sys_enter`, counting a run of `sys_exit` with it: the exit
/// of a call whose entry was recorded takes the cgroup from the entry instead of asking
/// again (`syscalls.rs`).
#[inline(always)]
pub(crate) fn managed_in_subtree_both(entry: usize, exit: usize) -> Option<u64> {
    let id = current_cgroup_id();
    let counts = MANAGED.get_ptr_mut(id)?;
    // SAFETY: as in `charge_if_managed`.
    let runs = &mut unsafe { &mut *counts }.runs;
    for program in [entry, exit] {
        if let Some(runs) = runs.get_mut(program) {
            *runs += 1;
        }
    }
    Some(id)
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

/// The id of `cgroup` (a `struct cgroup *`): `cgroup->kn->id`.
#[inline(always)]
pub(crate) fn cgroup_id_of(cgroup: u64) -> Option<u64> {
    let offsets = offsets();
    let kn = read_field::<u64>(cgroup, offsets.cgroup_kn)?;
    read_kernel_at::<u64>(kn, offsets.kn_id)
}
