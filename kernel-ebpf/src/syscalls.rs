//! Syscalls of managed processes, on the raw tracepoints `sys_enter` and `sys_exit`.
//!
//! Entry stores when and which syscall a managed thread entered (`SYSCALL_START`, keyed by
//! thread id); exit adds one call and its latency to that (cgroup, syscall number)'s per-CPU
//! [`SyscallStats`]: a count, a sum and a log2 histogram, aggregated here, never one event per
//! call.
//!
//! # One entry per thread, written in place
//!
//! A thread's `SYSCALL_START` entry is made at its first syscall and then rewritten in place:
//! entry looks it up and stores the start, exit looks it up, reads it and marks it closed
//! (`start_ns` 0). It is removed when the thread exits ([`forget_thread`], from
//! `agentos_exit`), and the daemon clears what is left when it detaches the programs. An
//! insert and a delete on every call took the map's bucket lock twice and its free list
//! twice, and were the largest part of what a managed syscall cost (`probes_unpack.rs`
//! gives the figures); a lookup takes neither. The entry also holds the thread's cgroup,
//! found (and the exit's run counted) at entry, so an exit with an open entry neither reads
//! the cgroup id nor looks it up in `MANAGED` again. A closed entry is what exit finds for a call
//! seccomp refused (`sys_enter` never fired), as a missing one was before. Two syscalls also become events, written at exit with their result: file opens
//! (`open`, `openat`, `openat2`: path, flags, fd or error) and `connect` to an IPv4/IPv6
//! address (family, address, port, result). Their arguments are read at exit from the
//! syscall's saved user registers (`pt_regs`, whose `di`/`si`/`dx` hold arguments 1-3 on
//! x86_64 and are not changed by the syscall), at offsets from the kernel's BTF. A failed call
//! is also checked for a refusal by seccomp or landlock ([`crate::refusals`]).

use agentos_ebpf_common::{
    ConnectEvent, EVENT_CONNECT, EVENT_OPEN, FileEvent, LATENCY_BUCKETS, MAX_SYSCALL_KEYS,
    MAX_THREADS, PATH_LEN, SyscallKey, SyscallStart, SyscallStats, cost,
};
use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_probe_read_user,
        bpf_probe_read_user_str_bytes, generated::bpf_ktime_get_ns,
    },
    macros::{map, raw_tracepoint},
    maps::{HashMap, PerCpuHashMap},
    programs::RawTracePointContext,
};

use crate::{
    emit::{ERR_RING_FULL, EVENTS, submit_flags},
    filter::{managed_in_subtree, managed_in_subtree_both, under_subtree},
    offsets, read_kernel_at, refusals,
};

/// x86_64 syscall numbers of the calls that become events.
const NR_OPEN: u64 = 2;
const NR_CONNECT: u64 = 42;
const NR_OPENAT: u64 = 257;
const NR_OPENAT2: u64 = 437;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

#[map(name = "AGENTOS_SYSCALL")]
static SYSCALLS: PerCpuHashMap<SyscallKey, SyscallStats> =
    PerCpuHashMap::with_max_entries(MAX_SYSCALL_KEYS, 0);

#[map(name = "AGENTOS_SYS_IN")]
static SYSCALL_START: HashMap<u32, SyscallStart> = HashMap::with_max_entries(MAX_THREADS, 0);

// Each program's entry is only the subtree check, which turns away every task of the host's;
// the rest is a subprogram (`inline(never)`, taking the context and returning its verdict in
// registers, so the entry needs no stack at all), so a run turned away does not pay for setting up the big frame the rest needs.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn agentos_sys_in(ctx: RawTracePointContext) -> i32 {
    if !under_subtree() {
        return 0;
    }
    sys_in_under_subtree(ctx)
}

#[inline(never)]
fn sys_in_under_subtree(ctx: RawTracePointContext) -> i32 {
    match try_sys_in(ctx) {
        Ok(ret) | Err(ret) => ret,
    }
}

/// `sys_enter(struct pt_regs *regs, long id)`, for a task under the subtree.
#[inline(always)]
fn try_sys_in(ctx: RawTracePointContext) -> Result<i32, i32> {
    let Some(cgroup_id) = managed_in_subtree_both(cost::SYS_IN, cost::SYS_OUT) else {
        return Ok(0);
    };
    let nr: u64 = ctx.arg(1);
    let tid = bpf_get_current_pid_tgid() as u32;
    // SAFETY: no preconditions.
    let start_ns = unsafe { bpf_ktime_get_ns() };
    let start = SyscallStart {
        start_ns,
        nr,
        cgroup_id,
    };
    match SYSCALL_START.get_ptr_mut(tid) {
        // SAFETY: this thread's own entry, which only programs running in this thread write
        // (and the daemon removes only with the programs detached).
        Some(entry) => unsafe { *entry = start },
        // The thread's first syscall since its cgroup became managed.
        None => SYSCALL_START.insert(tid, start, 0).map_err(|_| 1)?,
    }
    Ok(0)
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn agentos_sys_out(ctx: RawTracePointContext) -> i32 {
    if !under_subtree() {
        return 0;
    }
    sys_out_under_subtree(ctx)
}

#[inline(never)]
fn sys_out_under_subtree(ctx: RawTracePointContext) -> i32 {
    match try_sys_out(ctx) {
        Ok(ret) | Err(ret) => ret,
    }
}

/// `sys_exit(struct pt_regs *regs, long ret)`, for a task under the subtree.
#[inline(always)]
fn try_sys_out(ctx: RawTracePointContext) -> Result<i32, i32> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let regs: u64 = ctx.arg(0);
    let ret: i64 = ctx.arg(1);
    // A thread already in a syscall when its cgroup became managed has no start: skipped.
    // So has a call seccomp refused: the filter runs before `sys_enter` fires, and only
    // `sys_exit` sees it, with its number in `orig_ax`.
    // The call is closed (`start_ns` 0) as it is read: one store, where writing a whole
    // closed entry compiled to a call of a `memset` subprogram.
    // SAFETY: the pointer is to this thread's own entry, which only this thread writes.
    let open = SYSCALL_START.get_ptr_mut(tid).and_then(|entry| unsafe {
        let start = *entry;
        (*entry).start_ns = 0;
        (start.start_ns != 0).then_some(start)
    });
    let start = match open {
        Some(start) => start,
        None => {
            // No entry to take the cgroup from: the filter decides, and counts this run
            // (an entry counted its exit's run with its own).
            let Some(cgroup_id) = managed_in_subtree(cost::SYS_OUT) else {
                return Ok(0);
            };
            if let Some(nr) = read_kernel_at::<u64>(regs, offsets().regs_orig_ax) {
                // SAFETY: no preconditions.
                let now = unsafe { bpf_ktime_get_ns() };
                refusals::check(cgroup_id, pid_tgid, nr, ret, regs, now);
            }
            return Ok(0);
        }
    };
    let cgroup_id = start.cgroup_id;
    // SAFETY: no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    count(cgroup_id, start.nr, now.saturating_sub(start.start_ns));

    refusals::check(cgroup_id, pid_tgid, start.nr, ret, regs, now);
    match start.nr {
        NR_OPEN | NR_OPENAT | NR_OPENAT2 => opened(cgroup_id, pid_tgid, start.nr, regs, ret, now),
        NR_CONNECT => connected(cgroup_id, pid_tgid, regs, ret, now),
        _ => Ok(0),
    }
}

/// Adds one call of `nr` lasting `ns` to this CPU's figures for `cgroup_id`.
#[inline(always)]
fn count(cgroup_id: u64, nr: u64, ns: u64) {
    let key = SyscallKey {
        cgroup_id,
        nr: nr as u32,
        reserved: 0,
    };
    let stats = match SYSCALLS.get_ptr_mut(key) {
        Some(ptr) => ptr,
        None => {
            let zero = SyscallStats {
                count: 0,
                total_ns: 0,
                latency_log2: [0; LATENCY_BUCKETS],
            };
            // NOEXIST: if another CPU's program made the key meanwhile, keep its entry.
            let _ = SYSCALLS.insert(key, zero, BPF_NOEXIST.into());
            match SYSCALLS.get_ptr_mut(key) {
                Some(ptr) => ptr,
                None => return,
            }
        }
    };
    // SAFETY: a per-CPU value: only programs on this CPU write it, and a program runs to
    // completion on its CPU (migration is disabled), so there is no concurrent writer.
    let stats = unsafe { &mut *stats };
    stats.count += 1;
    stats.total_ns += ns;
    if let Some(bucket) = stats.latency_log2.get_mut(log2_bucket(ns)) {
        *bucket += 1;
    }
}

/// `floor(log2(ns))`, 0 for 0, capped at the last bucket; branch-only (no `ctlz`).
#[inline(always)]
fn log2_bucket(ns: u64) -> usize {
    let mut v = ns;
    let mut log = 0;
    for shift in [32u32, 16, 8, 4, 2, 1] {
        if v >> shift != 0 {
            v >>= shift;
            log += shift;
        }
    }
    (log as usize).min(LATENCY_BUCKETS - 1)
}

/// Writes the [`FileEvent`] of a returned open.
fn opened(
    cgroup_id: u64,
    pid_tgid: u64,
    nr: u64,
    regs: u64,
    ret: i64,
    now: u64,
) -> Result<i32, i32> {
    let offsets = offsets();
    // open(path, flags, mode); openat(dfd, path, flags, mode); openat2(dfd, path, how, size).
    let (path_reg, flags_reg) = if nr == NR_OPEN {
        (offsets.regs_di, offsets.regs_si)
    } else {
        (offsets.regs_si, offsets.regs_dx)
    };
    let path = read_kernel_at::<u64>(regs, path_reg).unwrap_or(0);
    let mut flags = read_kernel_at::<u64>(regs, flags_reg).unwrap_or(0);
    if nr == NR_OPENAT2 {
        // `struct open_how { u64 flags; u64 mode; u64 resolve; }`, in user memory.
        // SAFETY: a user-memory read through the kernel's fault-handling path.
        flags = unsafe { bpf_probe_read_user(flags as *const u64) }.unwrap_or(0);
    }
    let mut entry = EVENTS.reserve::<FileEvent>(0).ok_or(ERR_RING_FULL as i32)?;
    let event = entry.write(FileEvent {
        kind: EVENT_OPEN,
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        flags: flags as u32,
        ret,
        cgroup_id,
        timestamp_ns: now,
        path: [0; PATH_LEN],
    });
    if path != 0 {
        // SAFETY: copies a NUL-terminated string from user memory into the record's buffer,
        // through the fault-handling path; on failure the buffer is left zeroed (empty path).
        let _ = unsafe { bpf_probe_read_user_str_bytes(path as *const u8, &mut event.path) };
    }
    entry.submit(submit_flags());
    Ok(0)
}

/// Writes the [`ConnectEvent`] of a returned `connect(fd, addr, addrlen)` to an IP address.
fn connected(cgroup_id: u64, pid_tgid: u64, regs: u64, ret: i64, now: u64) -> Result<i32, i32> {
    let offsets = offsets();
    let addr = read_kernel_at::<u64>(regs, offsets.regs_si).unwrap_or(0);
    if addr == 0 {
        return Ok(0);
    }
    // `struct sockaddr_in { u16 family; be16 port; be32 addr; }`;
    // `struct sockaddr_in6 { u16 family; be16 port; u32 flowinfo; u8 addr[16]; }`.
    // SAFETY (all three reads): user-memory reads through the fault-handling path.
    let head = unsafe { bpf_probe_read_user(addr as *const [u8; 4]) }.map_err(|_| 1)?;
    let family = u16::from_ne_bytes([head[0], head[1]]);
    let port = u16::from_be_bytes([head[2], head[3]]);
    let mut ip = [0u8; 16];
    match family {
        AF_INET => {
            let v4 = unsafe { bpf_probe_read_user((addr + 4) as *const [u8; 4]) }.map_err(|_| 1)?;
            ip[..4].copy_from_slice(&v4);
        }
        AF_INET6 => {
            ip = unsafe { bpf_probe_read_user((addr + 8) as *const [u8; 16]) }.map_err(|_| 1)?;
        }
        _ => return Ok(0),
    }
    let mut entry = EVENTS
        .reserve::<ConnectEvent>(0)
        .ok_or(ERR_RING_FULL as i32)?;
    entry.write(ConnectEvent {
        kind: EVENT_CONNECT,
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        family,
        port,
        ret: ret as i32,
        uid: bpf_get_current_uid_gid() as u32,
        cgroup_id,
        timestamp_ns: now,
        addr: ip,
    });
    entry.submit(submit_flags());
    Ok(0)
}

/// Removes an exiting thread's entry (it dies in `exit`/`exit_group`, which never returns).
#[inline(always)]
pub(crate) fn forget_thread(tid: u32) {
    let _ = SYSCALL_START.remove(tid);
}
