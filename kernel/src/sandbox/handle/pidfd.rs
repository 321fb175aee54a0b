//! The Linux handle's calls: `pidfd_open` and `pidfd_send_signal` (the reap,
//! `waitid(P_PIDFD)`, is [`super::super::wait_pidfd`]).

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
};

use super::super::sys;

/// `pidfd_open(pid, 0)`: a pidfd for a process that already runs (a plain child;
/// the sandbox gets its own from `clone3`).
pub(super) fn open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = sys::cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) })?;
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `pidfd_send_signal(pidfd, signal, NULL, 0)`: the process the pidfd names, or
/// `ESRCH` once it has exited.
pub(super) fn send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: pidfd_send_signal with a live pidfd and no siginfo.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<u8>(),
            0,
        )
    };
    sys::cvt(rc).map(drop)
}
