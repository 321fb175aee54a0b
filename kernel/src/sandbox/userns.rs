//! The user namespace: who the sandbox is on the host.
//!
//! The sandbox runs as `host_uid`/`host_gid`, mapped to themselves (`uid_map` is
//! `"<uid> <uid> 1"`): the program sees its real ids, files it creates on a write
//! grant belong to that uid on the host, and every other id, root included, is
//! unmapped and shows up as the overflow id. Host root is never mapped, so nothing
//! in the sandbox can act as its owner.
//!
//! The parent writes both maps before it lets the child continue; the child then
//! switches to the mapped ids with `PR_SET_KEEPCAPS`, keeping its capabilities *in
//! the sandbox's namespace* for the mounts that follow ([`super::caps`] cuts them
//! down later). The switch uses raw syscalls: glibc's `setresuid` would try to
//! signal the daemon's other threads, which do not exist in the child. Maps vanish
//! with the namespace.
//!
//! # As root and rootless
//!
//! * **Root daemon**: the sandbox runs as an unprivileged uid of the daemon's
//!   choosing (not the daemon's own), and the child drops the supplementary groups
//!   it inherited from the daemon.
//! * **Rootless daemon** (an ordinary user, as bubblewrap runs): the kernel only
//!   lets a user map their *own* uid and gid into a namespace they create, and only
//!   after `setgroups` has been denied in it (`/proc/PID/setgroups` = `deny`, so a
//!   process cannot drop a group to escape a negative permission). So the sandbox
//!   runs as the user's own ids, mapped to themselves, and keeps the user's
//!   supplementary groups, which show up unmapped (as the overflow gid). Everything
//!   else, the walls included, is the same.

use std::path::PathBuf;

use super::{caps::CapsPlan, error::SpawnError, sys};

/// Whether the calling process is host root (the daemon's mode).
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Parent: writes the child's uid and gid maps. Rootless, `setgroups` is denied
/// first, as the kernel requires before an unprivileged `gid_map` write.
pub(crate) fn write_maps(pid: i32, uid: u32, gid: u32) -> Result<(), SpawnError> {
    let write = |file: &str, text: String| {
        let path = PathBuf::from(format!("/proc/{pid}/{file}"));
        std::fs::write(&path, text).map_err(|source| SpawnError::IdMap { path, source })
    };
    write("uid_map", format!("{uid} {uid} 1\n"))?;
    if !is_root() {
        write("setgroups", "deny".into())?;
    }
    write("gid_map", format!("{gid} {gid} 1\n"))
}

/// Child: drops supplementary groups (`drop_groups`: only a root daemon's child
/// may), switches to the mapped ids, keeps the namespace's capabilities effective.
/// On failure returns which call failed.
pub(crate) fn switch_ids(uid: u32, gid: u32, drop_groups: bool) -> Result<(), (u32, i32)> {
    // SAFETY: raw syscalls with integer arguments (setgroups with a NULL list of 0).
    unsafe {
        if drop_groups {
            sys::check(libc::syscall(
                libc::SYS_setgroups,
                0,
                std::ptr::null::<libc::gid_t>(),
            ))
            .map_err(|e| (0, e))?;
        }
        sys::check(libc::syscall(libc::SYS_setresgid, gid, gid, gid)).map_err(|e| (1, e))?;
        sys::check(libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0)).map_err(|e| (2, e))?;
        sys::check(libc::syscall(libc::SYS_setresuid, uid, uid, uid)).map_err(|e| (2, e))?;
    }
    CapsPlan::raise_effective().map_err(|e| (3, e))
}

/// Child at the walls-only level, as a root daemon's child: leaves root for the
/// unprivileged ids for good. Without `PR_SET_KEEPCAPS` the uid change clears every
/// capability. Same error indices as [`switch_ids`].
pub(crate) fn drop_to(uid: u32, gid: u32) -> Result<(), (u32, i32)> {
    // SAFETY: raw syscalls with integer arguments (setgroups with a NULL list of 0).
    unsafe {
        sys::check(libc::syscall(
            libc::SYS_setgroups,
            0,
            std::ptr::null::<libc::gid_t>(),
        ))
        .map_err(|e| (0, e))?;
        sys::check(libc::syscall(libc::SYS_setresgid, gid, gid, gid)).map_err(|e| (1, e))?;
        sys::check(libc::syscall(libc::SYS_setresuid, uid, uid, uid)).map_err(|e| (2, e))?;
    }
    Ok(())
}

/// Names the failed call `i` of [`switch_ids`].
pub(crate) fn describe(i: u32) -> &'static str {
    match i {
        0 => "setgroups",
        1 => "setresgid",
        2 => "setresuid",
        _ => "capset",
    }
}
