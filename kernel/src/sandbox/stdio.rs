//! stdin, stdout and stderr of the sandboxed program: three pipes, or a
//! pseudo-terminal.
//!
//! The parent creates both ends before the clone (all close-on-exec, numbered 3 or
//! higher) and keeps its own; the program `dup2`s its ends onto 0, 1 and 2 after
//! `setsid()` (it never shares the daemon's session or terminal). In PTY mode the
//! slave comes from the master by `TIOCGPTPEER` (no path lookup, no race on
//! `ptsname`) and becomes the program's controlling terminal (`TIOCSCTTY`); the
//! caller keeps the master and resizes it with [`resize_pty`](super::resize_pty), which makes the
//! kernel send `SIGWINCH` to the terminal's foreground process group.
//!
//! In a namespace sandbox the terminal is made inside it ([`Stdio::console`]): init
//! opens `/dev/ptmx` of the sandbox's own devpts once its view is built and sends
//! the master to the parent over the console socket ([`super::channel`]), so the
//! program's terminal is `/dev/pts/0` of its own view and `ttyname(0)` works. The
//! portable backend has no view of its own and uses a pair from the host's devpts
//! ([`Stdio::new`], by `pty.rs`, which macOS shares).

use std::{
    io,
    os::fd::{AsRawFd, OwnedFd, RawFd},
};

use super::{
    channel,
    pty::{self, winsize},
    spec::StdioMode,
    sys,
};

/// The caller's ends.
#[derive(Debug, Default)]
pub(crate) struct ParentEnds {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub pty: Option<OwnedFd>,
}

/// Both ends; `child` is closed in the parent right after the clone.
#[derive(Debug)]
pub(crate) struct Stdio {
    pub parent: ParentEnds,
    pub child: Vec<OwnedFd>,
    /// The program's fds 0, 1, 2 (raw numbers of `child`'s fds; -1 until the
    /// sandbox has made its terminal, in console mode).
    pub targets: [RawFd; 3],
    pub pty: bool,
    /// Console mode: the parent's end of the console socket and the child's.
    pub console: Option<(OwnedFd, RawFd)>,
    /// The terminal's first size, in console mode.
    pub size: (u16, u16),
}

impl Stdio {
    pub(crate) fn new(mode: StdioMode) -> io::Result<Self> {
        match mode {
            StdioMode::Pipes => {
                let (in_r, in_w) = channel::pipe()?;
                let (out_r, out_w) = channel::pipe()?;
                let (err_r, err_w) = channel::pipe()?;
                let targets = [in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()];
                Ok(Self {
                    parent: ParentEnds {
                        stdin: Some(in_w),
                        stdout: Some(out_r),
                        stderr: Some(err_r),
                        pty: None,
                    },
                    child: vec![in_r, out_w, err_w],
                    targets,
                    pty: false,
                    console: None,
                    size: (0, 0),
                })
            }
            StdioMode::Pty { rows, cols } => {
                let (master, slave) = pty::open_pair(rows, cols)?;
                let s = slave.as_raw_fd();
                Ok(Self {
                    parent: ParentEnds {
                        pty: Some(master),
                        ..ParentEnds::default()
                    },
                    child: vec![slave],
                    targets: [s, s, s],
                    pty: true,
                    console: None,
                    size: (rows, cols),
                })
            }
        }
    }

    /// As [`Stdio::new`], but a terminal is made inside the sandbox: the child gets
    /// the console socket instead of a slave.
    pub(crate) fn console(mode: StdioMode) -> io::Result<Self> {
        let StdioMode::Pty { rows, cols } = mode else {
            return Self::new(mode);
        };
        let (parent, child) = channel::console_pair()?;
        let raw = child.as_raw_fd();
        Ok(Self {
            parent: ParentEnds::default(),
            child: vec![child],
            targets: [-1; 3],
            pty: true,
            console: Some((parent, raw)),
            size: (rows, cols),
        })
    }
}

/// Child (init, inside its view): opens a terminal on `ptmx` of the sandbox's own
/// devpts, sized `rows` x `cols`, sends the master over `console` and returns the
/// slave. Async-signal-safe. On failure returns which call failed.
pub(crate) fn open_console(
    ptmx: &std::ffi::CStr,
    console: RawFd,
    (rows, cols): (u16, u16),
) -> Result<RawFd, (u32, i32)> {
    // init closed 0, 1 and 2: new fds must be moved above them, or the program's
    // dup2 onto its own number would be a no-op that keeps close-on-exec.
    let master = sys::open(ptmx, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC, 0)
        .and_then(above_stdio_raw)
        .map_err(|e| (0, e))?;
    let unlock: libc::c_int = 0;
    let ws = winsize(rows, cols);
    // SAFETY: ioctls on the master we just opened; TIOCSPTLCK reads an int,
    // TIOCSWINSZ a winsize, TIOCGPTPEER takes open flags.
    let slave = unsafe {
        sys::check(libc::ioctl(master, libc::TIOCSPTLCK, &unlock)).map_err(|e| (1, e))?;
        sys::check(libc::ioctl(master, libc::TIOCSWINSZ, &ws)).map_err(|e| (2, e))?;
        sys::check(libc::ioctl(
            master,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        ))
        .and_then(above_stdio_raw)
        .map_err(|e| (3, e))?
    };
    channel::send_fd(console, master).map_err(|e| (4, e))?;
    sys::close(master);
    sys::close(console);
    Ok(slave)
}

/// Moves a raw fd to a number ≥ 3 (close-on-exec), closing the original
/// (async-signal-safe).
fn above_stdio_raw(fd: RawFd) -> Result<RawFd, i32> {
    if fd > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on an fd we own.
    let moved = sys::check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) });
    sys::close(fd);
    moved
}

/// Names the failed call `i` of [`open_console`].
pub(crate) fn describe_console(i: u32) -> &'static str {
    match i {
        0 => "open /dev/ptmx",
        1 => "TIOCSPTLCK",
        2 => "TIOCSWINSZ",
        3 => "TIOCGPTPEER",
        _ => "sendmsg of the master",
    }
}

/// Child (the program): new session, controlling terminal in PTY mode, and the
/// three fds in place. On failure returns which call failed.
pub(crate) fn install(targets: [RawFd; 3], pty: bool) -> Result<(), (u32, i32)> {
    // SAFETY: setsid/ioctl/dup2 on fds the plan keeps open; no memory is passed.
    unsafe {
        sys::check(libc::setsid()).map_err(|e| (0, e))?;
        if pty {
            sys::check(libc::ioctl(targets[0], libc::TIOCSCTTY, 0)).map_err(|e| (1, e))?;
        }
        for (fd, src) in targets.iter().enumerate() {
            sys::check(libc::dup2(*src, fd as RawFd)).map_err(|e| (2, e))?;
        }
    }
    Ok(())
}

/// Names the failed call `i` of [`install`].
pub(crate) fn describe(i: u32) -> &'static str {
    match i {
        0 => "setsid",
        1 => "TIOCSCTTY",
        _ => "dup2",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_give_three_distinct_pairs() {
        let s = Stdio::new(StdioMode::Pipes).unwrap();
        assert!(s.parent.stdin.is_some() && s.parent.stdout.is_some() && s.parent.stderr.is_some());
        assert!(s.parent.pty.is_none());
        assert_eq!(s.child.len(), 3);
        assert!(!s.pty);
    }
}
