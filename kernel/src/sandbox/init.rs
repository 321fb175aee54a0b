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
//! available from [`super::relayed_status`]. Init runs under the same landlock
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

/// Runs init for the program `pid` until it exits. The signal mask inherited from
/// the parent blocks everything, which this loop relies on.
pub(crate) fn run(pid: i32, status_fd: RawFd) -> ! {
    let _guard = sys::ExitOnUnwind;
    // SAFETY: sigset_t is plain data, initialised by sigfillset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigset pointer.
    unsafe { libc::sigfillset(&mut set) };
    for s in NOT_FORWARDED.iter().skip(1) {
        // SAFETY: valid sigset pointer.
        unsafe { libc::sigdelset(&mut set, *s) };
    }
    loop {
        // SAFETY: sigwaitinfo with a valid set and no info buffer.
        let sig = unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) };
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
