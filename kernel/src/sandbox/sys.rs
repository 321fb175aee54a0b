//! The thin syscall seam the other files share: errno access, `cvt`, and raw fd
//! helpers that are safe to call in the child between `clone` and `execve`.
//!
//! Everything here is async-signal-safe: no allocation, no locks, no panics. The
//! child of a multi-threaded daemon may find any lock (malloc's included) held by a
//! thread that no longer exists in its copy of the address space, so the child side
//! of the sandbox calls only these and raw `libc` functions.

use std::{
    ffi::CStr,
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
};

/// The calling thread's `errno`.
pub(crate) fn errno() -> i32 {
    // SAFETY: `__errno_location` returns the calling thread's errno slot, always valid.
    #[cfg(target_os = "linux")]
    unsafe {
        *libc::__errno_location()
    }
    // SAFETY: `__error` is the same slot on macOS and the BSDs.
    #[cfg(not(target_os = "linux"))]
    unsafe {
        *libc::__error()
    }
}

/// `-1` → `Err(errno)`, anything else → `Ok(value)`; for the child, where
/// `io::Error` would be fine but a bare errno is what goes over the report pipe.
pub(crate) fn check<T: Copy + PartialEq + From<i8>>(ret: T) -> Result<T, i32> {
    if ret == T::from(-1) {
        Err(errno())
    } else {
        Ok(ret)
    }
}

/// As [`check`], for the parent side, as an `io::Error`.
pub(crate) fn cvt<T: Copy + PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    check(ret).map_err(io::Error::from_raw_os_error)
}

/// Writes all of `buf` to `fd`, retrying on EINTR; no allocation.
pub(crate) fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<(), i32> {
    while !buf.is_empty() {
        // SAFETY: `buf` is a valid readable slice for its length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Reads into `buf` until it is full or EOF; returns how many bytes were read.
pub(crate) fn read_full(fd: RawFd, buf: &mut [u8]) -> Result<usize, i32> {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the tail of `buf` is valid writable memory of the given length.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        got += n as usize;
    }
    Ok(got)
}

/// `close(fd)`, ignoring errors (the child uses it on fds it no longer needs).
pub(crate) fn close(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: closing an fd number we own in this process; errors are harmless here.
        unsafe { libc::close(fd) };
    }
}

/// `open(path, flags)` with O_CLOEXEC added.
#[cfg(target_os = "linux")]
pub(crate) fn open(path: &CStr, flags: i32, mode: libc::mode_t) -> Result<RawFd, i32> {
    // SAFETY: `path` is NUL-terminated.
    check(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode) })
}

/// Moves `fd` to a number ≥ 3 if it is one of 0, 1, 2 (when the daemon runs with
/// closed stdio).
pub(crate) fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new descriptor we own.
    let n = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: `n` is a fresh descriptor from fcntl.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// `_exit(code)`: leaves without running atexit handlers or destructors, which belong
/// to the parent's copy of the address space.
pub(crate) fn exit(code: i32) -> ! {
    // SAFETY: `_exit` is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// Calls `_exit(127)` when dropped during a panic's unwinding, so a bug in child code
/// can never unwind into the parent's frames (and run a second copy of the daemon).
pub(crate) struct ExitOnUnwind;

impl Drop for ExitOnUnwind {
    fn drop(&mut self) {
        exit(127);
    }
}
