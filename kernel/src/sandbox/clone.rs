//! `clone3` with a pidfd, falling back to `clone` only on ENOSYS.
//!
//! The sandbox's init is created in one call, already inside its new user, mount,
//! pid, UTS, IPC and network namespaces (the cgroup namespace is entered later, once
//! the process sits in its final cgroup, so that cgroup becomes the namespace's
//! root). `CLONE_PIDFD` gives the parent a pidfd that cannot be confused with a
//! recycled pid; `CLONE_INTO_CGROUP` (when the caller gives a cgroup v2 directory)
//! starts the child in its cgroup, so it never runs a cycle anywhere else.
//!
//! `clone3` returns ENOSYS on kernels before 5.3 or under a seccomp policy that
//! hides it (container runtimes often do, so that glibc falls back). Then plain
//! `clone` is used, with `CLONE_PIDFD` (5.2) and without `CLONE_INTO_CGROUP`: the
//! caller must place the pid itself, which [`Forked::Parent::into_cgroup`] tells it.
//! No stack is passed: like `fork`, the child continues on a copy of the caller's.

use std::{
    io,
    os::fd::{FromRawFd, OwnedFd, RawFd},
};

use super::sys;

// From <linux/sched.h>.
const CLONE_PIDFD: u64 = 0x1000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args`, `CLONE_ARGS_SIZE_VER2` (88 bytes, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Which side of the clone this is.
#[derive(Debug)]
pub(crate) enum Forked {
    Child,
    Parent {
        pid: i32,
        pidfd: OwnedFd,
        /// Whether the kernel already put the child into the requested cgroup.
        into_cgroup: bool,
        /// Whether `clone3` was used (`false`: the `clone` fallback).
        clone3: bool,
    },
}

/// Clones the calling thread into a new process with `flags` (namespace flags) and
/// a pidfd; the child's exit signal is SIGCHLD.
///
/// # Safety
///
/// In the child (`Forked::Child`), only async-signal-safe code may run until it
/// calls `execve` or `_exit`: other threads of the caller do not exist there, and
/// any lock one of them held stays held forever.
pub(crate) unsafe fn clone_pidfd(flags: u64, cgroup: Option<RawFd>) -> io::Result<Forked> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: flags | CLONE_PIDFD,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: `args` is a valid clone_args of the size passed; with no stack the
    // child resumes here on a copy of this stack, like fork.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    let (r, into_cgroup, clone3) = if r == -1 && sys::errno() == libc::ENOSYS {
        // clone(flags, stack, parent_tid, ...): with CLONE_PIDFD the pidfd is stored
        // through parent_tid, the third argument on every architecture.
        // SAFETY: as above; `pidfd` is a valid int to store into.
        let r = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags | CLONE_PIDFD) as libc::c_ulong | libc::SIGCHLD as libc::c_ulong,
                0usize,
                &mut pidfd as *mut libc::c_int,
                0usize,
                0usize,
            )
        };
        (r, false, false)
    } else {
        (r, cgroup.is_some(), true)
    };
    match r {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: pid as i32,
            // SAFETY: the kernel stored a new pidfd (O_CLOEXEC) that we now own.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
            into_cgroup,
            clone3,
        }),
    }
}

/// A plain fork by raw `clone(SIGCHLD)`, for the child side: glibc's `fork` would
/// run atfork handlers and take locks that may be held by threads that do not
/// exist in the child. Returns 0 in the new process, its pid in the caller.
pub(crate) fn raw_fork() -> Result<i32, i32> {
    // SAFETY: no stack, no shared memory: fork semantics.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    sys::check(r).map(|p| p as i32)
}

/// Runs `f` with every signal blocked in the calling thread, restoring the mask
/// after. A child cloned inside `f` starts with all signals blocked, so none of the
/// daemon's handlers (which it inherits) can run in it before it resets them.
pub(crate) fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigset_t is plain data; sigfillset initialises it.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigset pointers.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    let r = f();
    // SAFETY: restores the mask saved above (only the parent gets here; the child
    // never returns from `f`).
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    r
}
