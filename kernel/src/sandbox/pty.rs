//! Pseudo-terminals from the host's devpts, for programs that run in no view of
//! their own (the walls-only rung and the portable backend), and resizing any PTY.
//!
//! On Linux the slave comes from the master by `TIOCGPTPEER` (no path lookup, no
//! race on `ptsname`). macOS has no such ioctl: the slave is opened by the name
//! `TIOCPTYGNAME` writes into a buffer of ours (the reentrant form of `ptsname`,
//! which returns a static buffer), after `grantpt` and `unlockpt`. Both ends are
//! close-on-exec and numbered 3 or higher.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
};

use super::sys;

pub(crate) fn winsize(rows: u16, cols: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// A new pty pair of the given size: (master, slave), both close-on-exec.
pub(crate) fn open_pair(rows: u16, cols: u16) -> io::Result<(OwnedFd, OwnedFd)> {
    let master = sys::above_stdio(open_master()?)?;
    // SAFETY: unlockpt on a pty master.
    sys::cvt(unsafe { libc::unlockpt(master.as_raw_fd()) })?;
    let slave = sys::above_stdio(open_slave(master.as_fd())?)?;
    resize_pty(master.as_fd(), rows, cols)?;
    Ok((master, slave))
}

/// A new master, close-on-exec from birth (the daemon forks on other threads).
#[cfg(target_os = "linux")]
fn open_master() -> io::Result<OwnedFd> {
    // SAFETY: posix_openpt returns a new fd or -1.
    let m =
        sys::cvt(unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) })?;
    // SAFETY: `m` is a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(m) })
}

/// A new master, close-on-exec from birth: macOS's `posix_openpt` takes no
/// `O_CLOEXEC`, so `/dev/ptmx` is opened as it would, then granted.
#[cfg(not(target_os = "linux"))]
fn open_master() -> io::Result<OwnedFd> {
    // SAFETY: a NUL-terminated path; open returns a new fd or -1.
    let m = sys::cvt(unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `m` is a fresh fd we own.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    // SAFETY: grantpt on a pty master.
    sys::cvt(unsafe { libc::grantpt(master.as_raw_fd()) })?;
    Ok(master)
}

/// The slave of `master`, by `TIOCGPTPEER`.
#[cfg(target_os = "linux")]
fn open_slave(master: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: TIOCGPTPEER takes open flags and returns a new fd for the slave.
    let s = sys::cvt(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `s` is a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(s) })
}

/// The slave of `master`, by the name `TIOCPTYGNAME` gives (macOS).
#[cfg(not(target_os = "linux"))]
fn open_slave(master: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // The ioctl writes a NUL-terminated path of at most 128 bytes.
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: TIOCPTYGNAME writes into a 128-byte buffer.
    sys::cvt(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCPTYGNAME as _,
            name.as_mut_ptr(),
        )
    })?;
    // SAFETY: `name` is NUL-terminated (the ioctl wrote a C string into a zeroed buffer).
    let s = sys::cvt(unsafe {
        libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `s` is a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(s) })
}

/// Sets the terminal size of a PTY (the master from [`super::Spawned::pty`]); the
/// program's foreground process group gets `SIGWINCH`.
pub fn resize_pty(pty: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = winsize(rows, cols);
    // SAFETY: TIOCSWINSZ reads one winsize.
    sys::cvt(unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &ws) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_has_the_size_and_resizes() {
        let (master, slave) = open_pair(24, 80).unwrap();
        let get = |fd: BorrowedFd<'_>| {
            let mut ws = winsize(0, 0);
            // SAFETY: TIOCGWINSZ writes one winsize.
            assert_eq!(
                unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) },
                0
            );
            (ws.ws_row, ws.ws_col)
        };
        assert_eq!(get(slave.as_fd()), (24, 80));
        resize_pty(master.as_fd(), 50, 132).unwrap();
        assert_eq!(get(slave.as_fd()), (50, 132));
        assert!(master.as_raw_fd() > 2 && slave.as_raw_fd() > 2);
        // Bytes written to the slave come out of the master: a real pair.
        sys::write_all(slave.as_raw_fd(), b"x").unwrap();
        let mut b = [0u8; 1];
        assert_eq!(sys::read_full(master.as_raw_fd(), &mut b), Ok(1));
        assert_eq!(&b, b"x");
    }
}
