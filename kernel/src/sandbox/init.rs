//! The sandbox's pid 1: a tiny reaper and signal forwarder, like bubblewrap's.
//!
//! The first process of a pid namespace is special: the kernel drops every signal
//! it has no handler for (so a program as pid 1 would ignore SIGTERM and Ctrl+C),
//! and every orphan in the namespace is reparented to it (so a program that does
//! not reap would collect zombies). So the program runs as pid 2, under this loop:
//!
//! * every catchable signal except SIGCHLD and the synchronous fault signals is
//!   kept blocked and taken with `sigwaitinfo` (blocked signals reach pid 1 even
//!   without a handler), then forwarded to the program with `kill`;
//! * on SIGCHLD every exited child is reaped; when it is the program, init writes
//!   the program's raw wait status to the status pipe and exits with the program's
//!   exit code, or 128+N if it was killed by signal N. Its exit tears the pid
//!   namespace down: the kernel kills and reaps whatever else still runs there.
//!
//! So the pid and pidfd the caller holds are init's: signals sent there reach the
//! program, SIGKILL ends the whole sandbox, and the program's exact status is
//! available from [`super::relayed_status`].
//!
//! At the walls-only level there is no pid namespace to tear down, so init watches
//! the kernel instead ([`Watch`]): the kernel holds the only read end of the status
//! pipe, so its write end reports `POLLERR` the moment the kernel is gone, however
//! it died. Init then kills the program's process group and, when its landlock
//! domain scopes signals (so `kill(-1)` reaches only this sandbox's processes),
//! everything the program left, which was reparented to init (a subreaper), and
//! reaps it all before it exits.
//!
//! Init runs under the same landlock
//! domain, capability set and seccomp filter as the program, is not dumpable (the
//! program cannot read its memory or follow its `/proc/1/root`), holds no fds but
//! the status pipe, and allocates nothing.

use std::os::fd::RawFd;

use super::sys;

/// Signals init does not take: fault signals must keep killing it if it faults.
const NOT_FORWARDED: &[i32] = &[
    libc::SIGCHLD,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGTRAP,
    libc::SIGSYS,
];

/// Init's exit code for the program's wait status: its code, or 128+signal.
pub(crate) fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// How init follows the kernel when no pid namespace dies with it (walls only).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Watch {
    /// The landlock domain scopes signals: `kill(-1)` reaches this sandbox alone.
    pub kill_all: bool,
}

/// Init's exit code when the kernel went away (128 + SIGKILL, as if killed).
const KERNEL_GONE: i32 = 128 + libc::SIGKILL;

/// Runs init for the program `pid` until it exits (or, with `watch`, until the
/// kernel is gone). The signal mask inherited from the parent blocks everything,
/// which this loop relies on.
pub(crate) fn run(pid: i32, status_fd: RawFd, watch: Option<Watch>) -> ! {
    let _guard = sys::ExitOnUnwind;
    // SAFETY: sigset_t is plain data, initialised by sigfillset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigset pointer.
    unsafe { libc::sigfillset(&mut set) };
    for s in NOT_FORWARDED.iter().skip(1) {
        // SAFETY: valid sigset pointer.
        unsafe { libc::sigdelset(&mut set, *s) };
    }
    // SAFETY: signalfd with a valid set; it takes the same (blocked) signals.
    let sfd = match watch {
        Some(_) => unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) },
        None => -1,
    };
    loop {
        let sig = match (watch, sfd >= 0) {
            (Some(w), true) => match next_signal_or_kernel_gone(sfd, status_fd) {
                Some(sig) => sig,
                None => kernel_gone(pid, w),
            },
            // SAFETY: sigwaitinfo with a valid set and no info buffer.
            _ => unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) },
        };
        if sig < 0 {
            continue;
        }
        if sig != libc::SIGCHLD {
            // SAFETY: kill with integer arguments.
            unsafe { libc::kill(pid, sig) };
            continue;
        }
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if r <= 0 {
                break;
            }
            if r == pid {
                let _ = sys::write_all(status_fd, &status.to_ne_bytes());
                sys::exit(exit_code(status));
            }
        }
    }
}

/// Waits for a signal (its number; -1 to try again) or for the kernel to go away
/// (`None`: the status pipe has no reader left).
fn next_signal_or_kernel_gone(sfd: RawFd, status_fd: RawFd) -> Option<i32> {
    let mut fds = [
        libc::pollfd {
            fd: sfd,
            events: libc::POLLIN,
            revents: 0,
        },
        // No events asked: POLLERR (no reader) is always reported.
        libc::pollfd {
            fd: status_fd,
            events: 0,
            revents: 0,
        },
    ];
    // SAFETY: two valid pollfd entries.
    if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
        return Some(-1);
    }
    if fds[0].revents & libc::POLLIN != 0 {
        // SAFETY: signalfd_siginfo is plain data.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: `info` is writable for `size` bytes.
        let n = unsafe { libc::read(sfd, std::ptr::from_mut(&mut info).cast(), size) };
        return Some(if n == size as isize {
            info.ssi_signo as i32
        } else {
            -1
        });
    }
    if fds[1].revents & (libc::POLLERR | libc::POLLHUP) != 0 {
        return None;
    }
    Some(-1)
}

/// The kernel is gone: nothing of this sandbox may outlive it.
fn kernel_gone(pid: i32, watch: Watch) -> ! {
    // SAFETY: kill with integer arguments. The program leads its own session and
    // process group (it called setsid).
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
    if watch.kill_all {
        // Everything the domain holds but init, until nothing is left to reap
        // (what forks meanwhile is killed on the next round).
        loop {
            // SAFETY: as above; the landlock scope limits -1 to this sandbox.
            unsafe { libc::kill(-1, libc::SIGKILL) };
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            if unsafe { libc::waitpid(-1, &mut status, 0) } < 0 && sys::errno() == libc::ECHILD {
                break;
            }
        }
    }
    sys::exit(KERNEL_GONE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_follows_the_shell_convention() {
        assert_eq!(exit_code(7 << 8), 7);
        assert_eq!(exit_code(libc::SIGTERM), 128 + 15);
        assert_eq!(exit_code(libc::SIGKILL | 0x80), 128 + 9);
    }
}
