//! Refusals by seccomp and landlock, inferred at `sys_exit` from what a managed process's
//! syscall returned (called by [`crate::syscalls`]): neither wall raises anything itself here
//! (`SECCOMP_RET_ERRNO` makes no record; landlock's audit records need the host's audit
//! subsystem on). See `agentos_ebpf_common::refusal` for the maps the daemon fills.
//!
//! * **seccomp** — the number is in `SECCOMP` and the call returned that rule's errno. For a
//!   number the filter refuses whatever its arguments, this is certain: the filter runs
//!   before the syscall, so the call never got to fail by itself. For one it refuses for some
//!   arguments only, the same errno from the call itself would look the same: the event says
//!   so (`every_call` 0).
//! * **landlock** — a path or TCP call of a landlocked cgroup returned `EACCES`, the errno
//!   landlock refuses with. Inferred, not proven: file permission bits refuse with `EACCES`
//!   too.
//!
//! At most [`REFUSALS_PER_SECOND`] events a second per cgroup; the rest are counted in
//! `REFUSAL_RATE` and the next event sent carries the count (`held`). The count is updated
//! without atomics, so two CPUs refusing the same cgroup at once may miscount by one; it
//! bounds a flood, it is not a ledger.

use agentos_ebpf_common::{
    PATH_LEN,
    refusal::{
        FENCE_LANDLOCK, FENCE_SECCOMP, REFUSED_BY_LANDLOCK, REFUSED_BY_SECCOMP, RefusalEvent,
        RefusalRate, SeccompRule,
    },
};
use aya_ebpf::{
    bindings::BPF_NOEXIST, helpers::bpf_probe_read_user_str_bytes, macros::map, maps::HashMap,
};

use crate::{
    emit::{EVENTS, submit_flags},
    offsets, read_kernel_at,
};

const EACCES: u32 = 13;

#[map(name = "AGENTOS_FENCES")]
static FENCES: HashMap<u64, u32> = HashMap::with_max_entries(agentos_ebpf_common::MAX_MANAGED, 0);

#[map(name = "AGENTOS_SECCOMP")]
static SECCOMP: HashMap<u32, SeccompRule> = HashMap::with_max_entries(512, 0);

#[map(name = "AGENTOS_REFRATE")]
static REFUSAL_RATE: HashMap<u64, RefusalRate> =
    HashMap::with_max_entries(agentos_ebpf_common::MAX_MANAGED, 0);

/// Where a call landlock judges keeps its path: `Some(Some(offset))` of the `pt_regs` field
/// holding the path pointer, `Some(None)` for a call without one (TCP `connect`/`bind`), `None`
/// for calls landlock does not judge. x86_64 numbers.
#[inline(always)]
fn landlock_call(nr: u64) -> Option<Option<u32>> {
    let o = offsets();
    match nr {
        // open, truncate, rename, mkdir, rmdir, creat, link, unlink, symlink, mknod, execve:
        // the path is the first argument.
        2 | 76 | 82 | 83 | 84 | 85 | 86 | 87 | 88 | 133 | 59 => Some(Some(o.regs_di)),
        // openat, mkdirat, mknodat, unlinkat, renameat, linkat, renameat2, execveat, openat2:
        // the second.
        257 | 258 | 259 | 263 | 264 | 265 | 316 | 322 | 437 => Some(Some(o.regs_si)),
        // connect, bind (landlock's TCP rights, ABI 4).
        42 | 49 => Some(None),
        _ => None,
    }
}

/// Sends a [`RefusalEvent`] if the returned call `nr` (result `ret`) was refused by a wall of
/// `cgroup_id` that raises nothing itself.
#[inline(always)]
pub(crate) fn check(cgroup_id: u64, pid_tgid: u64, nr: u64, ret: i64, regs: u64, now: u64) {
    if !(-4095..0).contains(&ret) {
        return;
    }
    let errno = (-ret) as u32;
    // SAFETY: plain data, copied out at once.
    let Some(fences) = (unsafe { FENCES.get(cgroup_id) }).copied() else {
        return;
    };
    // SAFETY: as above.
    let seccomp = (unsafe { SECCOMP.get(nr as u32) }).copied();
    let (wall, every_call, path_reg) = match seccomp {
        Some(rule) if fences & FENCE_SECCOMP != 0 && rule.errno == errno => {
            (REFUSED_BY_SECCOMP, rule.every_call, None)
        }
        _ if fences & FENCE_LANDLOCK != 0 && errno == EACCES => match landlock_call(nr) {
            Some(reg) => (REFUSED_BY_LANDLOCK, 0, reg),
            None => return,
        },
        _ => return,
    };
    let Some(held) = admit(cgroup_id, now) else {
        return;
    };
    let Some(mut entry) = EVENTS.reserve::<RefusalEvent>(0) else {
        return;
    };
    let event = entry.write(RefusalEvent {
        kind: agentos_ebpf_common::refusal::EVENT_REFUSAL,
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        wall,
        cgroup_id,
        timestamp_ns: now,
        nr: nr as u32,
        errno,
        held,
        every_call,
        path: [0; PATH_LEN],
    });
    if let Some(reg) = path_reg
        && let Some(path) = read_kernel_at::<u64>(regs, reg)
        && path != 0
    {
        // SAFETY: copies a NUL-terminated string from user memory into the record's buffer,
        // through the fault-handling path; on failure the buffer stays zeroed (empty path).
        let _ = unsafe { bpf_probe_read_user_str_bytes(path as *const u8, &mut event.path) };
    }
    entry.submit(submit_flags());
}

/// Whether `cgroup_id` may send one more refusal now; if so, how many were held back since
/// its last one.
#[inline(always)]
fn admit(cgroup_id: u64, now: u64) -> Option<u32> {
    let rate = match REFUSAL_RATE.get_ptr_mut(cgroup_id) {
        Some(ptr) => ptr,
        None => {
            let _ = REFUSAL_RATE.insert(cgroup_id, RefusalRate::default(), BPF_NOEXIST.into());
            REFUSAL_RATE.get_ptr_mut(cgroup_id)?
        }
    };
    // SAFETY: a map value pointer is valid for this program run; see the module docs for
    // concurrent writers.
    unsafe { &mut *rate }.admit(now)
}
