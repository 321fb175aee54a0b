//! [`ProcessHandle`]: the one thing the process subsystem holds to wait for, signal
//! and reap a process it spawned, whichever host it runs on.
//!
//! The process subsystem needs four things of a running program: an fd that turns
//! readable when it exits (for the async reaper), a blocking reap that returns the
//! raw wait status, a signal that can never hit a reused pid, and — on Linux only —
//! the pidfd to enter its namespaces (`setns`) and narrow its view. Two
//! implementations give them:
//!
//! * **Linux: a pidfd** (from `clone3(CLONE_PIDFD)` or `pidfd_open`), exactly what the
//!   kernel used before this seam: readable on exit, reaped by
//!   `waitid(P_PIDFD, WEXITED)`, signalled by `pidfd_send_signal`. A pidfd names one
//!   process for good, so there is no pid race at all.
//! * **Elsewhere (macOS): a plain child** (`child.rs`) of this process, in its own
//!   session and process group, its exit watched by a kqueue with `EVFILT_PROC` /
//!   `NOTE_EXIT` (`kqueue.rs`), reaped by `waitpid`, signalled by `kill(2)`.
//!   Pid reuse is ruled out by the reap itself: the pid of an un-reaped child stays
//!   taken (a zombie holds it), and the signal and the reap exclude each other under
//!   one lock, so `kill` is only ever sent before `waitpid` has collected the child.
//!
//! On Linux the plain child is built too, watched through a pidfd instead of a
//! kqueue (the only part it swaps), for the tests: the library's own, and the
//! process suite's portable pass under `agentos-kernel --test-plain-children`
//! (hidden, tests only, said by `doctor`). So the supervision macOS runs — the exit
//! watch polled by the reaper, the reap guard, `waitpid`, the refused signal after
//! the reap — is exercised on Linux; only the kqueue file is compiled and never run
//! here.
//!
//! # What it leaves on the host
//!
//! Nothing: the pidfd or the kqueue is closed with the handle. A handle dropped
//! without [`ProcessHandle::wait`] leaves the child un-reaped until the daemon exits
//! (the process subsystem always reaps).

mod child;
#[cfg(not(target_os = "linux"))]
mod kqueue;
#[cfg(target_os = "linux")]
mod pidfd;

use std::{
    io,
    os::fd::{AsFd, BorrowedFd},
};

use super::error::SpawnError;

/// How this build supervises the processes it spawns, for `doctor`: with
/// `plain_for_tests` (`--test-plain-children`), how the portable ones are.
pub fn supervision(plain_for_tests: bool) -> &'static str {
    if cfg!(not(target_os = "linux")) {
        "a plain child: kqueue EVFILT_PROC/NOTE_EXIT for the exit, waitpid to reap, kill \
         only before the reap (an un-reaped pid is never reused)"
    } else if plain_for_tests {
        "pidfd; portable processes as on macOS (--test-plain-children, tests only): waitpid \
         to reap, kill only before the reap, a pidfd as the exit watch in kqueue's place"
    } else {
        "pidfd: poll for the exit, waitid(P_PIDFD) to reap, pidfd_send_signal"
    }
}

/// A process this daemon spawned: wait for it, signal it, reap it.
#[derive(Debug)]
pub struct ProcessHandle {
    pid: i32,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// Linux: the pidfd.
    #[cfg(target_os = "linux")]
    Pidfd(std::os::fd::OwnedFd),
    /// A plain child of this process (macOS; Linux's tests).
    Child(child::ChildHandle),
}

impl ProcessHandle {
    /// A handle on the process `pidfd` names (Linux).
    #[cfg(target_os = "linux")]
    pub(crate) fn from_pidfd(pid: i32, pidfd: std::os::fd::OwnedFd) -> Self {
        Self {
            pid,
            inner: Inner::Pidfd(pidfd),
        }
    }

    /// Takes over supervision of `child`, just spawned and not yet waited for: its
    /// pidfd on Linux (`pidfd_open`), a kqueue watching it elsewhere.
    pub(crate) fn adopt(child: std::process::Child) -> Result<Self, SpawnError> {
        #[cfg(target_os = "linux")]
        {
            let pid = child.id() as i32;
            let fd = pidfd::open(pid).map_err(SpawnError::sys("pidfd_open"))?;
            Ok(Self::from_pidfd(pid, fd))
        }
        #[cfg(not(target_os = "linux"))]
        Self::plain(child)
    }

    /// Supervises `child` as a plain child: watched (kqueue; a pidfd in Linux's
    /// tests), reaped by `waitpid`, signalled by `kill`.
    pub(crate) fn plain(child: std::process::Child) -> Result<Self, SpawnError> {
        let pid = child.id() as i32;
        // Dropping a `Child` neither kills nor reaps it: the handle does both.
        drop(child);
        let child = child::ChildHandle::new(pid).map_err(|(call, e)| SpawnError::sys(call)(e))?;
        Ok(Self {
            pid,
            inner: Inner::Child(child),
        })
    }

    /// The host pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Blocks until the process exits, reaps it and returns its raw wait status
    /// (`WIFEXITED` and friends apply). Reaping twice is an error (`ECHILD`).
    pub fn wait(&self) -> io::Result<i32> {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Pidfd(fd) => super::wait_pidfd(fd.as_fd()),
            Inner::Child(c) => c.wait(),
        }
    }

    /// Sends `signal` (0 probes), never to a process other than this one: `ESRCH`
    /// once it is reaped. The raw errno is the caller's to map.
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Pidfd(fd) => pidfd::send_signal(fd.as_fd(), signal),
            Inner::Child(c) => c.signal(signal),
        }
    }

    /// The call [`Self::signal`] makes, for its errors.
    pub fn signal_call(&self) -> &'static str {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Pidfd(_) => "pidfd_send_signal",
            Inner::Child(_) => "kill",
        }
    }

    /// The pidfd, to enter the process's namespaces (`setns`) or narrow its view;
    /// `None` where there is none (a plain child on macOS).
    pub fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Pidfd(fd) => Some(fd.as_fd()),
            Inner::Child(_) => None,
        }
    }
}

/// The fd that turns readable once the process has exited (the pidfd, or the
/// kqueue holding its `NOTE_EXIT`): register it with the async reactor, then
/// [`ProcessHandle::wait`], which no longer blocks.
impl AsFd for ProcessHandle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Pidfd(fd) => fd.as_fd(),
            Inner::Child(c) => c.as_fd(),
        }
    }
}
