//! Narrowing a running sandbox's view when grants are revoked.
//!
//! The view is built from the grants at spawn ([`super::mounts`]); when a grant is
//! taken away, the walls must follow the checks. [`view_changes`] compares the
//! bind mounts the old and the new grants call for: a path no remaining grant needs
//! is unmounted, one that lost its write grant is made read-only. [`narrow_view`]
//! applies them inside the sandbox's own mount namespace, from a short-lived child
//! of the kernel that enters it with `setns(pidfd, CLONE_NEWUSER | CLONE_NEWNS)`
//! (a multithreaded process may not change its namespaces; joining the sandbox's
//! user namespace too works for a kernel that is not host root).
//!
//! What stays: files the program already has open, and its landlock rules (a ruleset
//! can only be narrowed by the process itself). With the mount gone, a path's
//! landlock rule lets nothing through; on a read-only mount, writes fail `EROFS`.
//!
//! Nothing is left on the host: the helper exits before [`narrow_view`] returns.

use std::path::PathBuf;
#[cfg(target_os = "linux")]
use std::{
    ffi::CString,
    io::Read as _,
    os::fd::{AsRawFd, BorrowedFd},
};

use super::spec::{SpecError, resolve_grants};
#[cfg(target_os = "linux")]
use super::{
    channel,
    mounts::{MOUNT_ATTR_RDONLY, mount_setattr},
    sys,
};

/// One change to a running sandbox's view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViewChange {
    /// Detach the bind mount at this path (its mount point stays, empty).
    Unmount(PathBuf),
    /// Make the bind mount at this path read-only.
    ReadOnly(PathBuf),
}

/// Why a view could not be narrowed.
#[derive(Debug, thiserror::Error)]
pub enum NarrowError {
    #[error(
        "revoking the grant of {} would unmount {}, which stays granted: revoke that too",
        path.display(),
        nested.display()
    )]
    Nested { path: PathBuf, nested: PathBuf },
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("starting the helper that enters the sandbox: {0}")]
    Helper(#[source] std::io::Error),
    #[error("{step} {} inside the sandbox failed: {}", path.display(), std::io::Error::from_raw_os_error(*errno))]
    Sys {
        step: &'static str,
        path: PathBuf,
        errno: i32,
    },
}

impl NarrowError {
    /// Whether the request, not the host, is at fault.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Self::Nested { .. } | Self::Spec(_))
    }
}

/// The changes that take the view from the `old` grants' mounts to the `new`
/// ones', deepest first. The new grants must be a narrowing of the old.
pub fn view_changes(
    (old_read, old_write): (&[PathBuf], &[PathBuf]),
    (new_read, new_write): (&[PathBuf], &[PathBuf]),
) -> Result<Vec<ViewChange>, NarrowError> {
    let old = resolve_grants(old_read, old_write)?;
    let new = resolve_grants(new_read, new_write)?;
    let mut changes = Vec::new();
    // resolve_grants sorts parents first: walk it backwards so children go first.
    for g in old.iter().rev() {
        match new.iter().find(|n| n.path == g.path) {
            Some(n) if g.write && !n.write => changes.push(ViewChange::ReadOnly(g.path.clone())),
            Some(_) => {}
            None => {
                if let Some(n) = new
                    .iter()
                    .find(|n| n.path != g.path && n.path.starts_with(&g.path))
                {
                    return Err(NarrowError::Nested {
                        path: g.path.clone(),
                        nested: n.path.clone(),
                    });
                }
                changes.push(ViewChange::Unmount(g.path.clone()));
            }
        }
    }
    Ok(changes)
}

/// Applies `changes` inside the mount namespace of the process behind `pidfd`.
#[cfg(target_os = "linux")]
pub fn narrow_view(pidfd: BorrowedFd<'_>, changes: &[ViewChange]) -> Result<(), NarrowError> {
    if changes.is_empty() {
        return Ok(());
    }
    // Everything the child touches is allocated before the fork.
    let paths: Vec<CString> = changes
        .iter()
        .map(|c| {
            let (ViewChange::Unmount(p) | ViewChange::ReadOnly(p)) = c;
            CString::new(p.as_os_str().as_encoded_bytes()).expect("resolved paths have no NUL")
        })
        .collect();
    let unmount: Vec<bool> = changes
        .iter()
        .map(|c| matches!(c, ViewChange::Unmount(_)))
        .collect();
    let (report_rd, report_wr) = channel::pipe().map_err(NarrowError::Helper)?;
    // SAFETY: the child runs only async-signal-safe syscalls on memory allocated
    // above, then `_exit`s; it never returns into Rust code that could take a lock.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(NarrowError::Helper(std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: see above; every pointer is to memory owned by this frame.
        unsafe { helper(pidfd.as_raw_fd(), &paths, &unmount, report_wr.as_raw_fd()) }
    }
    drop(report_wr);
    let mut status = 0;
    // SAFETY: waiting for the child forked above.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        if sys::errno() != libc::EINTR {
            return Err(NarrowError::Helper(std::io::Error::last_os_error()));
        }
    }
    let mut report = [0u8; 8];
    let mut file = std::fs::File::from(report_rd);
    match file.read_exact(&mut report) {
        // Nothing written: every change was applied.
        Err(_) if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 => Ok(()),
        Err(e) => Err(NarrowError::Helper(e)),
        Ok(()) => {
            let step = i32::from_ne_bytes(report[..4].try_into().expect("4 bytes"));
            let errno = i32::from_ne_bytes(report[4..].try_into().expect("4 bytes"));
            let i = usize::try_from(step).unwrap_or(0).min(changes.len() - 1);
            let (ViewChange::Unmount(p) | ViewChange::ReadOnly(p)) = &changes[i];
            Err(NarrowError::Sys {
                step: match step {
                    -1 => "entering the mount namespace of",
                    _ if unmount[i] => "unmounting",
                    _ => "making read-only",
                },
                path: p.clone(),
                errno,
            })
        }
    }
}

/// The forked helper: enter the namespace, apply each change, report the first
/// failure as (step, errno) on `report`, `_exit`.
///
/// # Safety
///
/// Only to be called in a freshly forked child of a multithreaded process.
#[cfg(target_os = "linux")]
unsafe fn helper(pidfd: i32, paths: &[CString], unmount: &[bool], report: i32) -> ! {
    let fail = |step: i32| -> ! {
        let mut msg = [0u8; 8];
        msg[..4].copy_from_slice(&step.to_ne_bytes());
        msg[4..].copy_from_slice(&sys::errno().to_ne_bytes());
        // SAFETY: writing 8 bytes from a stack buffer, then leaving the process.
        unsafe {
            libc::write(report, msg.as_ptr().cast(), msg.len());
            libc::_exit(1)
        }
    };
    // SAFETY: setns on a pidfd the caller keeps open.
    if unsafe { libc::setns(pidfd, libc::CLONE_NEWUSER | libc::CLONE_NEWNS) } != 0 {
        fail(-1);
    }
    for (i, (path, unmount)) in paths.iter().zip(unmount).enumerate() {
        let ok = if *unmount {
            // SAFETY: a NUL-terminated path.
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) == 0 }
        } else {
            mount_setattr(libc::AT_FDCWD, path, 0, MOUNT_ATTR_RDONLY).is_ok()
        };
        if !ok {
            fail(i as i32);
        }
    }
    // SAFETY: leaving the helper.
    unsafe { libc::_exit(0) }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn dirs(base: &Path, names: &[&str]) -> Vec<PathBuf> {
        names
            .iter()
            .map(|n| {
                let p = base.join(n);
                std::fs::create_dir_all(&p).unwrap();
                std::fs::canonicalize(p).unwrap()
            })
            .collect()
    }

    #[test]
    fn changes_follow_the_grants_deepest_first() {
        let t = tempfile::tempdir().unwrap();
        let [a, ab, w] = dirs(t.path(), &["a", "a/b", "w"]).try_into().unwrap();
        let read = vec![a.clone(), ab.clone()];
        let write = vec![w.clone(), ab.clone()];
        // a/b loses its write grant and w goes; a is untouched.
        let c = view_changes((&read, &write), (&read, &[])).unwrap();
        assert_eq!(
            c,
            [
                ViewChange::ReadOnly(ab.clone()),
                ViewChange::Unmount(w.clone())
            ]
        );
        // Nothing revoked, nothing changes.
        assert!(
            view_changes((&read, &write), (&read, &write))
                .unwrap()
                .is_empty()
        );
        // Unmounting a would detach a/b, which stays granted.
        let e = view_changes((&read, &[]), (std::slice::from_ref(&ab), &[])).unwrap_err();
        assert!(matches!(e, NarrowError::Nested { .. }), "{e}");
        assert!(e.is_invalid_input());
        // Both go: children first.
        assert_eq!(
            view_changes((&read, &[]), (&[], &[])).unwrap(),
            [ViewChange::Unmount(ab), ViewChange::Unmount(a)]
        );
    }
}
