//! The pipes between the parent and the sandbox's processes.
//!
//! # Channel design
//!
//! Three pipes, all `O_CLOEXEC`, are created by the parent before the clone. Each
//! carries one fixed-size message at most, written with a single `write` (smaller
//! than `PIPE_BUF`, so never torn), so neither side ever parses a stream.
//!
//! | pipe | writer → reader | message | end of file means |
//! |---|---|---|---|
//! | sync | parent → init | one byte, "go": uid/gid maps written, `placed` ran | the parent gave up: init exits quietly |
//! | report | init or program → parent | a [`Report`]: step, index, errno | success: the program's `execve` closed the last write end |
//! | status | init → parent | the program's raw wait status (4 bytes) | init died before the program did (it was killed) |
//!
//! In PTY mode a fourth channel, the console, is a `SOCK_SEQPACKET` socket pair:
//! init opens the terminal inside the sandbox's own devpts and sends its master
//! over it (one message, the fd as `SCM_RIGHTS`), as runc's console socket does.
//! In rootless `private` mode a fifth, the net socket, is another such pair: init
//! sends the listener of the kernel's proxy over it (`net.rs`).
//!
//! The parent closes its copies of the child's ends right after the clone, so EOF on
//! the report pipe arrives exactly when init has forked the program (init closes its
//! copy then) and the program's `execve` succeeded (close-on-exec). The status pipe's
//! read end is handed to the caller in [`super::Spawned::status`]; see
//! [`relayed_status`].

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
    time::{Duration, Instant},
};

use super::{
    error::ChildStep,
    sys::{self, above_stdio},
};

/// A failure report from the child: which step, which item of it, which errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Report {
    pub step: u32,
    pub index: u32,
    pub errno: i32,
}

const REPORT_LEN: usize = 12;

impl Report {
    fn encode(&self) -> [u8; REPORT_LEN] {
        let mut b = [0; REPORT_LEN];
        b[0..4].copy_from_slice(&self.step.to_ne_bytes());
        b[4..8].copy_from_slice(&self.index.to_ne_bytes());
        b[8..12].copy_from_slice(&self.errno.to_ne_bytes());
        b
    }

    fn decode(b: &[u8; REPORT_LEN]) -> Self {
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        Self {
            step: u32::from_ne_bytes(word(0)),
            index: u32::from_ne_bytes(word(4)),
            errno: i32::from_ne_bytes(word(8)),
        }
    }
}

/// Child side: sends a failure report (async-signal-safe; errors are ignored, the
/// parent then sees EOF plus the child's exit).
pub(crate) fn send_report(fd: RawFd, step: ChildStep, index: u32, errno: i32) {
    let _ = sys::write_all(
        fd,
        &Report {
            step: step as u32,
            index,
            errno,
        }
        .encode(),
    );
}

/// The `step` of the one report that is no failure: init's "the view is built" (no
/// [`ChildStep`] is 0).
const VIEWED: u32 = 0;

/// Child side: says the view is built (asked for by [`super::spawn_viewed`]).
pub(crate) fn send_viewed(fd: RawFd) -> Result<(), i32> {
    sys::write_all(
        fd,
        &Report {
            step: VIEWED,
            index: 0,
            errno: 0,
        }
        .encode(),
    )
}

/// A pipe, both ends close-on-exec and numbered 3 or higher (so that `dup2` onto 0,
/// 1 and 2 in the child can never clobber one of them).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    sys::cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both are fresh descriptors we own.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((above_stdio(r)?, above_stdio(w)?))
}

/// A `SOCK_SEQPACKET` socket pair for the console (and the rootless network's
/// listener), both ends close-on-exec and ≥ 3.
pub(crate) fn console_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    sys::cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: socketpair succeeded, so both are fresh descriptors we own.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((above_stdio(a)?, above_stdio(b)?))
}

/// Room for one `SCM_RIGHTS` control message carrying one fd, suitably aligned.
#[repr(C, align(8))]
struct FdCmsg([u8; 32]);

/// A one-byte message with room for one fd, pointing into `iov` and `cbuf` (which
/// must outlive its use). `control` is how much of `cbuf` the message uses.
fn fd_msg(iov: &mut libc::iovec, cbuf: &mut FdCmsg, control: usize) -> libc::msghdr {
    // SAFETY: msghdr is plain data, valid when zeroed.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = control.min(cbuf.0.len());
    msg
}

/// Child side: sends `fd` over the console socket (async-signal-safe, no allocation).
pub(crate) fn send_fd(sock: RawFd, fd: RawFd) -> Result<(), i32> {
    let mut byte = [b'm'];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = FdCmsg([0; 32]);
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let msg = fd_msg(&mut iov, &mut cbuf, space);
    // SAFETY: the message points into `iov` and `cbuf`, alive until sendmsg returns;
    // the control buffer has room for one header and one int.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        sys::check(libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL)).map(drop)
    }
}

/// Parent side: takes the fd a child sent with [`send_fd`], without blocking
/// (the child sent it before its `execve`, which the parent has already seen).
pub(crate) fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<Option<OwnedFd>> {
    let mut byte = [0u8];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = FdCmsg([0; 32]);
    let mut msg = fd_msg(&mut iov, &mut cbuf, usize::MAX);
    // SAFETY: as in `send_fd`; the kernel writes at most msg_controllen bytes.
    unsafe {
        let n = libc::recvmsg(
            sock.as_raw_fd(),
            &mut msg,
            libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
        );
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                _ => Err(e),
            };
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if n == 0
            || cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return Ok(None);
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
        Ok(Some(above_stdio(OwnedFd::from_raw_fd(fd))?))
    }
}

/// What the parent learnt from the report pipe.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// EOF without a report: the program was exec'd.
    Ready,
    /// Init built the view and waits for a second byte on the sync pipe.
    Viewed,
    Failed(Report),
    Malformed,
    TimedOut,
}

/// Parent side: waits up to `timeout` for a report or EOF.
pub(crate) fn await_report(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<Outcome> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Outcome::TimedOut);
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            continue;
        }
        let mut buf = [0u8; REPORT_LEN];
        let got = sys::read_full(fd.as_raw_fd(), &mut buf).map_err(io::Error::from_raw_os_error)?;
        return Ok(match got {
            0 => Outcome::Ready,
            REPORT_LEN => match Report::decode(&buf) {
                Report { step: VIEWED, .. } => Outcome::Viewed,
                report => Outcome::Failed(report),
            },
            _ => Outcome::Malformed,
        });
    }
}

/// The program's own wait status, relayed by the sandbox's init (pid 1 of the
/// sandbox, whose pid and pidfd [`super::spawn`] returns).
///
/// Call it once the pidfd reported init's exit. `Ok(Some(status))` is a raw wait
/// status (`WIFEXITED`/`WEXITSTATUS`/`WTERMSIG` apply; see
/// `std::os::unix::process::ExitStatusExt::from_raw`); `Ok(None)` means init was
/// killed before the program ended (a SIGKILL of the sandbox), and init's own wait
/// status is the one to report. Init exits with the program's exit code, or 128+N
/// when the program was killed by signal N, so init's status alone is the shell's
/// view of the same thing.
pub fn relayed_status(status: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    let mut pfd = libc::pollfd {
        fd: status.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; zero timeout, so this never blocks.
    let n = sys::cvt(unsafe { libc::poll(&mut pfd, 1, 0) })?;
    if n == 0 {
        return Ok(None);
    }
    let mut buf = [0u8; 4];
    match sys::read_full(status.as_raw_fd(), &mut buf).map_err(io::Error::from_raw_os_error)? {
        4 => Ok(Some(i32::from_ne_bytes(buf))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn report_round_trips_over_a_pipe() {
        let (r, w) = pipe().unwrap();
        assert!(r.as_raw_fd() > 2 && w.as_raw_fd() > 2);
        send_report(w.as_raw_fd(), ChildStep::Mount, 7, libc::EPERM);
        drop(w);
        assert_eq!(
            await_report(r.as_fd(), Duration::from_secs(1)).unwrap(),
            Outcome::Failed(Report {
                step: ChildStep::Mount as u32,
                index: 7,
                errno: libc::EPERM
            })
        );
    }

    #[test]
    fn the_view_report_is_no_failure() {
        let (r, w) = pipe().unwrap();
        send_viewed(w.as_raw_fd()).unwrap();
        drop(w);
        assert_eq!(
            await_report(r.as_fd(), Duration::from_secs(1)).unwrap(),
            Outcome::Viewed
        );
        assert_eq!(
            await_report(r.as_fd(), Duration::from_secs(1)).unwrap(),
            Outcome::Ready
        );
    }

    #[test]
    fn eof_is_ready_and_silence_times_out() {
        let (r, w) = pipe().unwrap();
        drop(w);
        assert_eq!(
            await_report(r.as_fd(), Duration::from_secs(1)).unwrap(),
            Outcome::Ready
        );
        let (r, _w) = pipe().unwrap();
        assert_eq!(
            await_report(r.as_fd(), Duration::from_millis(20)).unwrap(),
            Outcome::TimedOut
        );
        let (r, w) = pipe().unwrap();
        sys::write_all(w.as_raw_fd(), b"xy").unwrap();
        drop(w);
        assert_eq!(
            await_report(r.as_fd(), Duration::from_secs(1)).unwrap(),
            Outcome::Malformed
        );
    }

    #[test]
    fn relayed_status_reads_the_word_or_none() {
        let (r, w) = pipe().unwrap();
        assert_eq!(relayed_status(r.as_fd()).unwrap(), None);
        sys::write_all(w.as_raw_fd(), &(7i32 << 8).to_ne_bytes()).unwrap();
        assert_eq!(relayed_status(r.as_fd()).unwrap(), Some(7 << 8));
        drop(w);
        assert_eq!(relayed_status(r.as_fd()).unwrap(), None);
    }
}
