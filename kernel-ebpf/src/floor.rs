//! Programs the daemon never attaches: the floors and filter steps the probe-cost bench
//! (`kernel/benches/probes_syscall.rs`) sets the real per-syscall programs beside. Each is a
//! raw tracepoint program that attaches to `sys_enter`, `sys_exit` or both (one program can
//! hold a link on each), and does one step more than the one before it, so the bench can
//! say what each step of the real programs' reject path costs:
//!
//! | program | does |
//! |---|---|
//! | `agentos_floor` | nothing: the cost of a raw tracepoint program itself |
//! | `agentos_cgid` | reads the current task's v2 cgroup id |
//! | `agentos_lookup` | reads the cgroup id and looks it up in `MANAGED` (the old reject path) |
//! | `agentos_subtree` | asks whether the task is under the AgentOS subtree (the new reject path) |
//!
//! And for the scheduling probe's bench (`kernel/benches/probes_sched.rs`), the floor of the
//! per-switch program: `agentos_flsw`, an empty BTF tracepoint program on `sched_switch`,
//! the hook of `agentos_switch`.

use aya_ebpf::{
    helpers::generated::bpf_get_current_cgroup_id,
    macros::{btf_tracepoint, raw_tracepoint},
    programs::{BtfTracePointContext, RawTracePointContext},
};

use crate::filter::{is_managed, under_subtree};

/// An empty program: the floor any per-syscall probe pays.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn agentos_floor(_ctx: RawTracePointContext) -> i32 {
    0
}

/// Reads the current cgroup id only (returned, so it is not optimised away).
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn agentos_cgid(_ctx: RawTracePointContext) -> i32 {
    // SAFETY: the helper only reads the current task's cgroup.
    let id = unsafe { bpf_get_current_cgroup_id() };
    (id == 0).into()
}

/// The reject path before the subtree check: the cgroup id, then the `MANAGED` lookup.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn agentos_lookup(_ctx: RawTracePointContext) -> i32 {
    // SAFETY: the helper only reads the current task's cgroup.
    let id = unsafe { bpf_get_current_cgroup_id() };
    is_managed(id).into()
}

/// The reject path now: is the current task under the AgentOS subtree at all.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn agentos_subtree(_ctx: RawTracePointContext) -> i32 {
    under_subtree().into()
}

/// An empty program on `sched_switch`: the floor any per-switch probe pays.
#[btf_tracepoint(function = "sched_switch")]
pub fn agentos_flsw(_ctx: BtfTracePointContext) -> u32 {
    0
}
