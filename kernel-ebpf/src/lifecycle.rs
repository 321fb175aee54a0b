//! Process lifecycle: one [`ProcEvent`] per successful `execve`, per new process forked, and
//! per process exit, for managed processes only.
//!
//! # Exit code and parent
//!
//! `sched_process_exit` carries no exit code, so the exit program reads `task->exit_code` (set
//! by `do_exit` before the tracepoint fires) and `task->real_parent->tgid`. The tracepoint
//! fires for every exiting thread; the program reports the process once, when its last thread
//! exits (`group_dead`, on kernels whose tracepoint passes it), or else when its thread-group
//! leader exits. Every exiting thread also clears its entries in the per-thread maps, since a
//! thread that dies inside `exit_group` never reaches `sys_exit`.
//!
//! # Forks
//!
//! `sched_process_fork(parent, child)` runs in the parent, after the child is set up and
//! before it runs; the child inherits the parent's cgroup. New threads (child `pid` ≠ child
//! `tgid`) are not processes and are skipped.

use agentos_ebpf_common::{EVENT_EXEC, EVENT_EXIT, EVENT_FORK, ProcEvent, TASK_COMM_LEN, cost};
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
        generated::{bpf_get_current_comm, bpf_get_current_task, bpf_ktime_get_ns},
    },
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};

use crate::{
    emit::{ERR_RING_FULL, EVENTS, submit_flags},
    filter::managed_cgroup,
    offsets, read_field, syscalls,
};

#[btf_tracepoint(function = "sched_process_exec")]
pub fn agentos_exec(ctx: BtfTracePointContext) -> u32 {
    match try_agentos_exec(&ctx) {
        Ok(ret) | Err(ret) => ret,
    }
}

/// `sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)`,
/// fired after a successful exec, so `comm` is already the new program's.
fn try_agentos_exec(_ctx: &BtfTracePointContext) -> Result<u32, u32> {
    let Some(cgroup_id) = managed_cgroup(cost::EXEC) else {
        return Ok(0);
    };
    let pid_tgid = bpf_get_current_pid_tgid();
    emit(
        EVENT_EXEC,
        cgroup_id,
        (pid_tgid >> 32) as u32,
        pid_tgid as u32,
        current_ppid(),
        0,
    )
}

#[btf_tracepoint(function = "sched_process_fork")]
pub fn agentos_fork(ctx: BtfTracePointContext) -> u32 {
    match try_agentos_fork(&ctx) {
        Ok(ret) | Err(ret) => ret,
    }
}

/// `sched_process_fork(struct task_struct *parent, struct task_struct *child)`.
fn try_agentos_fork(ctx: &BtfTracePointContext) -> Result<u32, u32> {
    let Some(cgroup_id) = managed_cgroup(cost::FORK) else {
        return Ok(0);
    };
    let offsets = offsets();
    // Argument 1 of this tracepoint is `struct task_struct *child`.
    let child: u64 = ctx.arg(1);
    let (Some(pid), Some(tgid)) = (
        read_field::<u32>(child, offsets.pid),
        read_field::<u32>(child, offsets.tgid),
    ) else {
        return Ok(0);
    };
    if pid != tgid {
        return Ok(0);
    }
    let parent = (bpf_get_current_pid_tgid() >> 32) as u32;
    emit(EVENT_FORK, cgroup_id, tgid, pid, parent, 0)
}

#[btf_tracepoint(function = "sched_process_exit")]
pub fn agentos_exit(ctx: BtfTracePointContext) -> u32 {
    match try_agentos_exit(&ctx) {
        Ok(ret) | Err(ret) => ret,
    }
}

/// `sched_process_exit(struct task_struct *p[, bool group_dead])`, fired from `do_exit` in
/// the exiting thread (`p == current`) after `p->exit_code` is set and before `cgroup_exit`,
/// so the filter still sees the task's cgroup.
fn try_agentos_exit(ctx: &BtfTracePointContext) -> Result<u32, u32> {
    let Some(cgroup_id) = managed_cgroup(cost::EXIT) else {
        return Ok(0);
    };
    let pid_tgid = bpf_get_current_pid_tgid();
    syscalls::forget_thread(pid_tgid as u32);
    let offsets = offsets();
    let last_of_process = if offsets.exit_has_group_dead != 0 {
        // Argument 1 is `bool group_dead` (the loader checked the tracepoint's prototype),
        // widened to a u64 slot by the tracepoint glue.
        let group_dead: u64 = ctx.arg(1);
        group_dead & 0xff != 0
    } else {
        pid_tgid >> 32 == pid_tgid & 0xffff_ffff
    };
    if !last_of_process {
        return Ok(0);
    }
    // SAFETY: `bpf_get_current_task` has no preconditions; it returns `current` as an integer.
    let task = unsafe { bpf_get_current_task() };
    let exit_code = read_field::<i32>(task, offsets.exit_code).unwrap_or(0);
    emit(
        EVENT_EXIT,
        cgroup_id,
        (pid_tgid >> 32) as u32,
        pid_tgid as u32,
        current_ppid(),
        exit_code,
    )
}

/// `current->real_parent->tgid`, or 0 if unreadable.
fn current_ppid() -> u32 {
    let offsets = offsets();
    // SAFETY: no preconditions; returns `current` as an integer.
    let task = unsafe { bpf_get_current_task() };
    read_field::<u64>(task, offsets.real_parent)
        .and_then(|parent| read_field::<u32>(parent, offsets.tgid))
        .unwrap_or(0)
}

/// Reserves a [`ProcEvent`] in `EVENTS`, fills it (uid and comm from the current task) and
/// submits it.
fn emit(
    kind: u32,
    cgroup_id: u64,
    pid: u32,
    tid: u32,
    ppid: u32,
    exit_code: i32,
) -> Result<u32, u32> {
    let mut entry = EVENTS.reserve::<ProcEvent>(0).ok_or(ERR_RING_FULL)?;
    let event = entry.write(ProcEvent {
        kind,
        pid,
        tid,
        ppid,
        exit_code,
        uid: bpf_get_current_uid_gid() as u32,
        cgroup_id,
        // SAFETY: no preconditions.
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        comm: [0; TASK_COMM_LEN],
    });
    // Straight into the record, sparing a 16-byte copy. On failure the helper zeroes the
    // buffer, which the loader decodes as an empty name.
    // SAFETY: `event.comm` is a writable buffer of exactly `TASK_COMM_LEN` bytes.
    unsafe { bpf_get_current_comm(event.comm.as_mut_ptr().cast(), TASK_COMM_LEN as u32) };
    entry.submit(submit_flags());
    Ok(0)
}
