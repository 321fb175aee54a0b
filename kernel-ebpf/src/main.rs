//! AgentOS's eBPF programs: one [`ProcEvent`] per `execve` and per process exit, for the
//! processes in the kernel's managed cgroup subtree only, written to the `EVENTS` ring buffer
//! that `kernel/src/observe/ebpf.rs` reads.
//!
//! # Hooks
//!
//! Both programs are BTF-enabled tracepoints (`tp_btf/sched_process_exec`,
//! `tp_btf/sched_process_exit`) rather than classic tracepoints: they attach through
//! `BPF_RAW_TRACEPOINT_OPEN`, so they need no tracefs (which this host does not mount), they
//! skip building the ftrace event record (TOOLCHAIN.md measured the classic path at +600 ns a
//! hit against +100 ns for a raw one), and their arguments are the kernel's typed pointers, so
//! the exit program reads the exiting `task_struct` itself. The host has no kprobes, and none
//! are needed.
//!
//! # Filter
//!
//! A program emits only if `bpf_get_current_ancestor_cgroup_id(TARGET_CGROUP_LEVEL)` equals
//! `TARGET_CGROUP_ID`, i.e. the current task is in that v2 cgroup or below it. A target of 0
//! (the default in the object) emits nothing, so a loader that forgets to set it observes
//! nothing rather than the whole host.
//!
//! # Exit code and parent
//!
//! `sched_process_exit` carries no exit code, so the program reads `task->exit_code` (set by
//! `do_exit` before the tracepoint fires) and `task->real_parent->tgid` with
//! `bpf_probe_read_kernel` at offsets the loader took from the kernel's BTF ([`TaskOffsets`]):
//! Rust eBPF has no CO-RE relocations. The tracepoint fires for every exiting thread; the
//! program reports the process once, when its last thread exits (`group_dead`, on kernels whose
//! tracepoint passes it), or else when its thread-group leader exits.
//!
//! The globals live in `.rodata`, which aya freezes after setting them, so the verifier sees
//! them as constants and prunes the branch a kernel cannot take.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

use agentos_ebpf_common::{
    EVENT_EXEC, EVENT_EXIT, EVENTS_BYTE_SIZE, ProcEvent, TASK_COMM_LEN, TaskOffsets,
};
use aya_ebpf::{
    Global,
    cty::c_int,
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_probe_read_kernel,
        generated::{
            bpf_get_current_ancestor_cgroup_id, bpf_get_current_cgroup_id, bpf_get_current_comm,
            bpf_get_current_task, bpf_ktime_get_ns,
        },
    },
    macros::{btf_tracepoint, map},
    maps::RingBuf,
    programs::BtfTracePointContext,
};

/// Id of the v2 cgroup whose subtree is observed (its directory's inode number); 0 = none.
#[unsafe(no_mangle)]
static TARGET_CGROUP_ID: Global<u64> = Global::new(0);

/// Depth of the target cgroup below the v2 root (the root is level 0).
#[unsafe(no_mangle)]
static TARGET_CGROUP_LEVEL: Global<u32> = Global::new(0);

/// Layout of `task_struct` on the running kernel, from its BTF.
#[unsafe(no_mangle)]
static TASK_OFFSETS: Global<TaskOffsets> = Global::new(TaskOffsets {
    exit_code: 0,
    tgid: 0,
    real_parent: 0,
    exit_has_group_dead: 0,
});

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTE_SIZE, 0);

/// Returned when the ring buffer is full; tracepoint return values are ignored by the kernel.
const ERR_RING_FULL: u32 = 1;

#[btf_tracepoint(function = "sched_process_exec")]
pub fn agentos_exec(ctx: BtfTracePointContext) -> u32 {
    match try_agentos_exec(&ctx) {
        Ok(ret) | Err(ret) => ret,
    }
}

/// `sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)`,
/// fired after a successful exec, so `comm` is already the new program's.
fn try_agentos_exec(_ctx: &BtfTracePointContext) -> Result<u32, u32> {
    let Some(cgroup_id) = observed_cgroup() else {
        return Ok(0);
    };
    emit(EVENT_EXEC, cgroup_id, 0)
}

#[btf_tracepoint(function = "sched_process_exit")]
pub fn agentos_exit(ctx: BtfTracePointContext) -> u32 {
    match try_agentos_exit(&ctx) {
        Ok(ret) | Err(ret) => ret,
    }
}

/// `sched_process_exit(struct task_struct *p[, bool group_dead])`, fired from `do_exit` in
/// the exiting thread (`p == current`) after `p->exit_code` is set and before `cgroup_exit`,
/// so the cgroup filter still sees the task's cgroup.
fn try_agentos_exit(ctx: &BtfTracePointContext) -> Result<u32, u32> {
    let Some(cgroup_id) = observed_cgroup() else {
        return Ok(0);
    };
    let offsets = TASK_OFFSETS.load();
    let last_of_process = if offsets.exit_has_group_dead != 0 {
        // A `bool` argument, widened to a u64 slot by the tracepoint glue.
        ctx.arg::<u64>(1) & 0xff != 0
    } else {
        let pid_tgid = bpf_get_current_pid_tgid();
        pid_tgid >> 32 == pid_tgid & 0xffff_ffff
    };
    if !last_of_process {
        return Ok(0);
    }
    // SAFETY: `bpf_get_current_task` has no preconditions; it returns `current` as an integer.
    let task = unsafe { bpf_get_current_task() };
    let exit_code = read_task_field::<i32>(task, offsets.exit_code).unwrap_or(0);
    emit(EVENT_EXIT, cgroup_id, exit_code)
}

/// The current task's v2 cgroup id if the task is in the target subtree.
fn observed_cgroup() -> Option<u64> {
    let target = TARGET_CGROUP_ID.load();
    if target == 0 {
        return None;
    }
    let level = TARGET_CGROUP_LEVEL.load();
    // SAFETY: the helper only reads the current task's cgroup; a level deeper than the
    // task's cgroup yields 0, which never equals a non-zero target.
    if unsafe { bpf_get_current_ancestor_cgroup_id(level as c_int) } != target {
        return None;
    }
    // SAFETY: as above, a read of the current task's cgroup.
    Some(unsafe { bpf_get_current_cgroup_id() })
}

/// Reserves a record in `EVENTS`, fills it from the current task and submits it.
fn emit(kind: u32, cgroup_id: u64, exit_code: i32) -> Result<u32, u32> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let offsets = TASK_OFFSETS.load();
    // SAFETY: no preconditions; returns `current` as an integer.
    let task = unsafe { bpf_get_current_task() };
    let ppid = read_task_field::<u64>(task, offsets.real_parent)
        .and_then(|parent| read_task_field::<u32>(parent, offsets.tgid))
        .unwrap_or(0);
    let mut entry = EVENTS.reserve::<ProcEvent>(0).ok_or(ERR_RING_FULL)?;
    let event = entry.write(ProcEvent {
        kind,
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
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
    entry.submit(0);
    Ok(0)
}

/// Reads a `T` at `base + offset` in kernel memory; `None` for a null base, an offset the
/// loader did not set (0 is never the offset of the fields read here), or a failed read.
fn read_task_field<T>(base: u64, offset: u32) -> Option<T> {
    if base == 0 || offset == 0 {
        return None;
    }
    let src = (base + u64::from(offset)) as *const T;
    // SAFETY: `bpf_probe_read_kernel` copies through the kernel's fault-handling path: a bad
    // address makes it return an error, never fault.
    unsafe { bpf_probe_read_kernel(src) }.ok()
}

/// The object's license. Tracing programs and `bpf_probe_read_kernel` are GPL-only, and
/// "Dual MIT/GPL" is a string the kernel accepts as GPL-compatible; the workspace's
/// "MIT OR Apache-2.0" lets us distribute this object under MIT.
#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // A path to here would be an unbounded loop, which the verifier rejects at load time, so
    // a loaded program never panics.
    loop {}
}

/// Built for the host (e.g. by `cargo clippy --workspace`), this is an empty binary; the
/// real object is built for `bpfel-unknown-none` by `cargo xtask build-ebpf`.
#[cfg(not(target_arch = "bpf"))]
fn main() {}
