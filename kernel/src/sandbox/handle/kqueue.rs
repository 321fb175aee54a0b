//! The exit watch of a plain child off Linux (macOS): a kqueue holding one
//! `EVFILT_PROC` / `NOTE_EXIT` event for the child's pid.
//!
//! The kqueue's own fd turns readable once the event fires, and stays so (nobody
//! collects the event), so the async reactor polls it as it would a pidfd and
//! `poll(2)` waits on it. A child that exited before the registration is already a
//! zombie, which `EVFILT_PROC` may not find (`ESRCH`; libuv met it too:
//! libuv/libuv#3451, "The kernel may return ESRCH if the child has already exited
//! here"): an `EVFILT_USER` event, triggered at once, makes the queue readable all
//! the same. The pid cannot have
//! been reused in between: an un-reaped child keeps it. Compiled for the darwin
//! targets only; never run on this project's Linux machines (Linux tests the plain
//! child with a pidfd in its place).

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use super::super::sys;

/// A kqueue that turns readable when `pid`, a child of this process, exits; or the
/// call that failed.
pub(super) fn watch_exit(pid: i32) -> Result<OwnedFd, (&'static str, io::Error)> {
    // SAFETY: kqueue takes no arguments and returns a new fd or -1.
    let kq = sys::cvt(unsafe { libc::kqueue() }).map_err(|e| ("kqueue", e))?;
    // SAFETY: a fresh fd we own.
    let kq = unsafe { OwnedFd::from_raw_fd(kq) };
    // A kqueue is not inherited across fork, but its descriptor number would be.
    // SAFETY: F_SETFD on an fd we own.
    sys::cvt(unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })
        .map_err(|e| ("fcntl", e))?;
    match register(&kq, pid, libc::EVFILT_PROC, libc::NOTE_EXIT) {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
            register(&kq, pid, libc::EVFILT_USER, libc::NOTE_TRIGGER)
        }
        other => other,
    }
    .map_err(|e| ("kevent", e))?;
    Ok(kq)
}

/// Adds one event (`EV_ADD`, level-triggered) to the queue.
fn register(kq: &OwnedFd, pid: i32, filter: i16, fflags: u32) -> io::Result<()> {
    // SAFETY: kevent is plain data; zero is a valid value of every field.
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = pid as libc::uintptr_t;
    ev.filter = filter;
    ev.flags = libc::EV_ADD;
    ev.fflags = fflags;
    // SAFETY: one change from a valid kevent, no event list, no timeout.
    let rc = unsafe {
        libc::kevent(
            kq.as_raw_fd(),
            &ev,
            1,
            std::ptr::null_mut(),
            0,
            std::ptr::null(),
        )
    };
    sys::cvt(rc).map(drop)
}
