//! A plain child of this process, supervised without a pidfd: the macOS handle.
//!
//! * **Exit**: a watch fd that turns readable when the child exits — a kqueue with
//!   `EVFILT_PROC`/`NOTE_EXIT` on macOS (`kqueue.rs`); on Linux, where only tests
//!   run this file, a pidfd stands in for it.
//! * **Reap**: [`ChildHandle::wait`] polls the watch (so it holds no lock while it
//!   blocks), then takes the lock and `waitpid`s the child, which is a zombie by
//!   then and returns at once.
//! * **Signal**: [`ChildHandle::signal`] takes the same lock and `kill`s the pid only
//!   if it has not been reaped. Until `waitpid` collects it, a child's pid — even a
//!   zombie's — cannot be given to another process, and the lock keeps the reap
//!   from slipping in between the check and the `kill`: the signal never reaches a
//!   stranger. After the reap it fails with `ESRCH`, as a pidfd's would.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
    sync::Mutex,
};

use super::super::sys;

/// A child of this process, its exit watch, and whether it has been reaped.
#[derive(Debug)]
pub(super) struct ChildHandle {
    pid: i32,
    /// The raw wait status once reaped. Held across `kill` and `waitpid`, which
    /// therefore never overlap.
    reaped: Mutex<Option<i32>>,
    /// Readable once the child has exited.
    watch: OwnedFd,
}

impl ChildHandle {
    /// Watches `pid`, a child of this process not yet waited for; or the call
    /// that failed.
    pub(super) fn new(pid: i32) -> Result<Self, (&'static str, io::Error)> {
        #[cfg(not(target_os = "linux"))]
        let watch = super::kqueue::watch_exit(pid)?;
        #[cfg(target_os = "linux")]
        let watch = super::pidfd::open(pid).map_err(|e| ("pidfd_open", e))?;
        Ok(Self {
            pid,
            reaped: Mutex::new(None),
            watch,
        })
    }

    /// Blocks until the child exits, reaps it, and returns its raw wait status;
    /// `ECHILD` if it was reaped already.
    pub(super) fn wait(&self) -> io::Result<i32> {
        self.exited()?;
        let mut reaped = self.reaped.lock().unwrap_or_else(|p| p.into_inner());
        if reaped.is_some() {
            return Err(io::Error::from_raw_os_error(libc::ECHILD));
        }
        let mut status = 0;
        loop {
            // SAFETY: waitpid writes one int to a valid pointer.
            match sys::cvt(unsafe { libc::waitpid(self.pid, &mut status, 0) }) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(_) => break,
            }
        }
        *reaped = Some(status);
        Ok(status)
    }

    /// `kill(pid, signal)` while the child is not reaped; `ESRCH` after.
    pub(super) fn signal(&self, signal: i32) -> io::Result<()> {
        let reaped = self.reaped.lock().unwrap_or_else(|p| p.into_inner());
        if reaped.is_some() {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        // SAFETY: kill takes plain integers; the pid is our un-reaped child (above).
        sys::cvt(unsafe { libc::kill(self.pid, signal) }).map(drop)
    }

    /// Waits until the watch is readable: the child has exited.
    fn exited(&self) -> io::Result<()> {
        let mut fds = [libc::pollfd {
            fd: self.watch.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        loop {
            // SAFETY: one valid pollfd, no timeout.
            match sys::cvt(unsafe { libc::poll(fds.as_mut_ptr(), 1, -1) }) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(_) => return Ok(()),
            }
        }
    }
}

impl AsFd for ChildHandle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.watch.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::super::ProcessHandle;

    fn plain(cmd: &mut Command) -> ProcessHandle {
        ProcessHandle::plain(cmd.spawn().expect("spawn")).expect("watch")
    }

    #[test]
    fn reaps_the_exit_code_once() {
        let h = plain(Command::new("/bin/sh").args(["-c", "exit 3"]));
        let status = h.wait().unwrap();
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 3,
            "{status:#x}"
        );
        // Gone from the process table: the reap was real, and is not repeated.
        assert_eq!(h.wait().unwrap_err().raw_os_error(), Some(libc::ECHILD));
        // SAFETY: kill with signal 0 only probes.
        assert_eq!(unsafe { libc::kill(h.pid(), 0) }, -1);
    }

    #[test]
    fn signals_until_reaped_and_never_after() {
        let h = plain(Command::new("/bin/sleep").arg("30"));
        assert_eq!(h.signal_call(), "kill");
        assert!(h.pidfd().is_none());
        h.signal(libc::SIGTERM).unwrap();
        let status = h.wait().unwrap();
        assert!(
            libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGTERM,
            "{status:#x}"
        );
        assert_eq!(
            h.signal(libc::SIGKILL).unwrap_err().raw_os_error(),
            Some(libc::ESRCH)
        );
    }

    #[test]
    fn the_watch_turns_readable_only_at_exit() {
        use std::os::fd::{AsFd, AsRawFd};
        let h = plain(Command::new("/bin/sleep").arg("30"));
        let ready = |timeout| {
            let mut fds = [libc::pollfd {
                fd: h.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(fds.as_mut_ptr(), 1, timeout) }
        };
        assert_eq!(ready(50), 0, "readable while the child runs");
        h.signal(libc::SIGKILL).unwrap();
        assert_eq!(ready(5_000), 1, "not readable after the child died");
        h.wait().unwrap();
    }
}
