//! stdin, stdout and stderr of the sandboxed program: three pipes, or a
//! pseudo-terminal.
//!
//! The parent creates both ends before the clone (all close-on-exec, numbered 3 or
//! higher) and keeps its own; the program `dup2`s its ends onto 0, 1 and 2 after
//! `setsid()` (it never shares the daemon's session or terminal). In PTY mode the
//! slave comes from the master by `TIOCGPTPEER` (no path lookup, no race on
//! `ptsname`) and becomes the program's controlling terminal (`TIOCSCTTY`); the
//! caller keeps the master and resizes it with [`resize_pty`], which makes the
//! kernel send `SIGWINCH` to the terminal's foreground process group.
//!
//! The slave lives on the host's devpts instance, so inside the sandbox (which has
//! its own devpts) `ttyname(0)` finds no `/dev/pts/N`; programs that open new
//! terminals get them from the sandbox's own `/dev/ptmx`.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
};

use super::{channel, spec::StdioMode, sys};

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
    /// The program's fds 0, 1, 2 (raw numbers of `child`'s fds).
    pub targets: [RawFd; 3],
    pub pty: bool,
}

fn winsize(rows: u16, cols: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
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
                })
            }
            StdioMode::Pty { rows, cols } => {
                let (master, slave) = open_pty(rows, cols)?;
                let s = slave.as_raw_fd();
                Ok(Self {
                    parent: ParentEnds {
                        pty: Some(master),
                        ..ParentEnds::default()
                    },
                    child: vec![slave],
                    targets: [s, s, s],
                    pty: true,
                })
            }
        }
    }
}

/// A new pty pair of the given size: (master, slave), both close-on-exec.
fn open_pty(rows: u16, cols: u16) -> io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: posix_openpt returns a new fd or -1.
    let m =
        sys::cvt(unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) })?;
    // SAFETY: `m` is a fresh fd we own.
    let master = channel::above_stdio(unsafe { OwnedFd::from_raw_fd(m) })?;
    // SAFETY: unlockpt on a pty master.
    sys::cvt(unsafe { libc::unlockpt(master.as_raw_fd()) })?;
    // SAFETY: TIOCGPTPEER takes open flags and returns a new fd for the slave.
    let s = sys::cvt(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `s` is a fresh fd we own.
    let slave = channel::above_stdio(unsafe { OwnedFd::from_raw_fd(s) })?;
    resize_pty(master.as_fd(), rows, cols)?;
    Ok((master, slave))
}

/// Sets the terminal size of a sandbox's PTY (the master from
/// [`super::Spawned::pty`]); the program's foreground process group gets `SIGWINCH`.
pub fn resize_pty(pty: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = winsize(rows, cols);
    // SAFETY: TIOCSWINSZ reads one winsize.
    sys::cvt(unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &ws) }).map(drop)
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
    fn pty_pair_has_the_size_and_resizes() {
        let s = Stdio::new(StdioMode::Pty { rows: 24, cols: 80 }).unwrap();
        let master = s.parent.pty.as_ref().unwrap();
        let get = |fd: RawFd| {
            let mut ws = winsize(0, 0);
            // SAFETY: TIOCGWINSZ writes one winsize.
            assert_eq!(unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) }, 0);
            (ws.ws_row, ws.ws_col)
        };
        assert_eq!(get(s.targets[0]), (24, 80));
        resize_pty(master.as_fd(), 50, 132).unwrap();
        assert_eq!(get(s.targets[0]), (50, 132));
        assert!(s.targets.iter().all(|fd| *fd > 2));
    }

    #[test]
    fn pipes_give_three_distinct_pairs() {
        let s = Stdio::new(StdioMode::Pipes).unwrap();
        assert!(s.parent.stdin.is_some() && s.parent.stdout.is_some() && s.parent.stderr.is_some());
        assert!(s.parent.pty.is_none());
        assert_eq!(s.child.len(), 3);
        assert!(!s.pty);
    }
}
