//! Whether this host can run the namespace sandbox, found by trying (for
//! `agentos doctor` and `/health`).
//!
//! [`probe`] clones a child with the same namespace flags a spawn uses; the child
//! makes its mount tree private, clones `/` with `open_tree` and makes the clone
//! read-only with `mount_setattr` (the newest calls the view needs, Linux 5.12),
//! then exits with 0 or the failing errno. The parent reaps it through its pidfd.
//! It works the same for a root daemon and for an ordinary user (rootless: the
//! user namespace maps the user's own ids, see `userns.rs`); hosts that forbid
//! unprivileged user namespaces (a sysctl, or Ubuntu's AppArmor restriction)
//! answer EPERM or EACCES here, and the kernel moves down its ladder.
//! Nothing is left on the host. Landlock is reported beside it: without it the
//! sandbox still runs, with the mount walls only.

use std::os::fd::AsFd;

use super::{
    clone::{self, Forked},
    landlock,
    spawn::{NAMESPACE_FLAGS, wait_pidfd},
    sys,
};

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxProbe {
    /// Whether [`super::spawn`] can work here.
    pub available: bool,
    /// One line saying why, for `doctor`.
    pub reason: String,
    /// Whether `clone3` was available (false: the `clone` fallback is used).
    pub clone3: bool,
    /// The landlock ABI, when the host has landlock.
    pub landlock_abi: Option<u32>,
    /// Whether the daemon is an ordinary user (the sandbox maps its own ids).
    pub rootless: bool,
}

fn child_checks() -> i32 {
    let step = |r: Result<libc::c_long, i32>| r.err();
    // SAFETY: raw mount-API calls with valid constant arguments.
    unsafe {
        if let Some(e) = step(sys::check(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) as libc::c_long))
        {
            return e;
        }
        // Recursive: a non-recursive clone of a mount with locked children (all of
        // them, in a new user namespace) is refused with EINVAL.
        let flags = 1u32 | libc::O_CLOEXEC as u32 | libc::AT_RECURSIVE as u32;
        let tree = libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c"/".as_ptr(), flags);
        if let Some(e) = step(sys::check(tree)) {
            return e;
        }
        let attr = [1u64, 0, 0, 0];
        if let Some(e) = step(sys::check(libc::syscall(
            libc::SYS_mount_setattr,
            tree as libc::c_int,
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as u32,
            attr.as_ptr(),
            32usize,
        ))) {
            return e;
        }
    }
    0
}

/// Tries a sandbox-shaped clone and reports.
pub fn probe() -> SandboxProbe {
    let landlock_abi = landlock::abi().ok();
    let rootless = !super::userns::is_root();
    let forked = clone::with_signals_blocked(|| {
        // SAFETY: the child makes raw syscalls only, then _exits.
        match unsafe { clone::clone_pidfd(NAMESPACE_FLAGS, None) } {
            Ok(Forked::Child) => sys::exit(child_checks()),
            other => other,
        }
    });
    let no = |reason: String, clone3| SandboxProbe {
        available: false,
        reason,
        clone3,
        landlock_abi,
        rootless,
    };
    let (pidfd, clone3) = match forked {
        Ok(Forked::Parent { pidfd, clone3, .. }) => (pidfd, clone3),
        Ok(Forked::Child) => unreachable!("the child exits"),
        Err(e) => {
            return no(
                format!("clone with user, mount, pid, uts, ipc and net namespaces failed: {e}"),
                false,
            );
        }
    };
    let status = match wait_pidfd(pidfd.as_fd()) {
        Ok(s) => s,
        Err(e) => return no(format!("waiting for the probe child failed: {e}"), clone3),
    };
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let errno = libc::WEXITSTATUS(status);
        return no(
            format!(
                "a child in new namespaces could not build a mount view (mount_setattr/open_tree need Linux 5.12): {}",
                std::io::Error::from_raw_os_error(errno)
            ),
            clone3,
        );
    }
    let ll = match landlock_abi {
        Some(abi) => format!("landlock ABI {abi}"),
        None => "no landlock (mount walls only)".into(),
    };
    SandboxProbe {
        available: true,
        reason: format!(
            "{}user, mount, pid, uts, ipc, net and cgroup namespaces via {}; seccomp; {ll}",
            if rootless {
                "rootless (the user's own uid and gid mapped): "
            } else {
                ""
            },
            if clone3 { "clone3" } else { "clone" }
        ),
        clone3,
        landlock_abi,
        rootless,
    }
}

/// Whether the walls-only level can stand here: it needs landlock (seccomp and
/// `no_new_privs` are older than every kernel the sandbox runs on, and a spawn
/// that finds them missing fails with a typed error).
pub fn walls_probe() -> Result<(), String> {
    match landlock::abi() {
        Ok(_) => Ok(()),
        Err(errno) => Err(format!(
            "no landlock ({}), so nothing would keep a program to its grants",
            std::io::Error::from_raw_os_error(errno)
        )),
    }
}
