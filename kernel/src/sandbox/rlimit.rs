//! The limits fallback: resource limits (`setrlimit`) for a sandbox that has no
//! cgroup of its own, as when the daemon runs as an ordinary user on a host that
//! delegates no cgroup subtree to it.
//!
//! | limit | cgroup | rlimit here | the difference |
//! |---|---|---|---|
//! | memory | `memory.max` on the whole group, OOM kill | `RLIMIT_AS` on the program | per process, virtual address space: an allocation past it fails (`ENOMEM`, `MemoryError`) instead of an OOM kill; each child gets its own |
//! | processes | `pids.max` on the group | `RLIMIT_NPROC` set in init | counted per uid *in the sandbox's own user namespace* (the kernel's ucounts), so it covers exactly the sandbox's processes, init included |
//! | CPU time | — | `RLIMIT_CPU` on the program | seconds of CPU, then SIGXCPU/SIGKILL |
//!
//! CPU weight has no rlimit: it becomes a nice value (raised only: an ordinary user
//! cannot lower it). CPU max has none either. Nothing is
//! left on the host: rlimits live and die with the processes.

use super::sys;

/// Limits to apply by rlimit; `None` leaves the inherited (unlimited) value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rlimits {
    /// `RLIMIT_AS`, bytes, on the program.
    pub address_space: Option<u64>,
    /// `RLIMIT_NPROC`, processes of the sandbox's uid in its namespace, init included.
    pub processes: Option<u64>,
    /// `RLIMIT_CPU`, seconds of CPU time, on the program.
    pub cpu_seconds: Option<u64>,
    /// A nice value for init and so the program (CPU weight has no rlimit). An
    /// ordinary user can only raise it; a lower one is kept at 0.
    pub nice: Option<i32>,
}

impl Rlimits {
    /// Whether any limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `setrlimit`'s resource type: glibc has its own, other libcs an int.
#[cfg(target_os = "linux")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_os = "linux"))]
type Resource = libc::c_int;

fn set(resource: Resource, value: Option<u64>) -> Result<(), i32> {
    let Some(v) = value else {
        return Ok(());
    };
    let lim = libc::rlimit {
        rlim_cur: v,
        rlim_max: v,
    };
    // SAFETY: setrlimit reads one rlimit.
    sys::check(unsafe { libc::setrlimit(resource, &lim) } as libc::c_long).map(drop)
}

/// Child (init, before it forks the program): the process count (0), no real-time
/// priority (4: whatever the host allowed the kernel's user, so no sandboxed task leaves
/// the fair scheduler, whose accounts the scheduling probe reads), and the nice value
/// (3), all inherited by the program.
pub(crate) fn apply_to_init(l: &Rlimits) -> Result<(), (u32, i32)> {
    set(libc::RLIMIT_NPROC, l.processes).map_err(|e| (0, e))?;
    // macOS has no real-time rlimit (and no sandbox to hold one).
    #[cfg(target_os = "linux")]
    set(libc::RLIMIT_RTPRIO, Some(0)).map_err(|e| (4, e))?;
    if let Some(n) = l.nice {
        // SAFETY: getpriority/setpriority on the calling process.
        unsafe {
            let current = libc::getpriority(libc::PRIO_PROCESS, 0);
            let n = n.max(current);
            sys::check(libc::setpriority(libc::PRIO_PROCESS, 0, n) as libc::c_long)
                .map_err(|e| (3, e))?;
        }
    }
    Ok(())
}

/// Child (the program, before `execve`): address space (1) and CPU time (2).
pub(crate) fn apply_to_program(l: &Rlimits) -> Result<(), (u32, i32)> {
    set(libc::RLIMIT_AS, l.address_space).map_err(|e| (1, e))?;
    set(libc::RLIMIT_CPU, l.cpu_seconds).map_err(|e| (2, e))
}

/// Names the resource `i` of a failed step.
pub(crate) fn describe(i: u32) -> &'static str {
    match i {
        0 => "RLIMIT_NPROC",
        1 => "RLIMIT_AS",
        2 => "RLIMIT_CPU",
        4 => "RLIMIT_RTPRIO",
        _ => "setpriority",
    }
}
