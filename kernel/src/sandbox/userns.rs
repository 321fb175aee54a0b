//! The user namespace: who the sandbox is on the host.
//!
//! The sandbox runs as `host_uid`/`host_gid`, mapped to themselves (`uid_map` is
//! `"<uid> <uid> 1"`): the program sees its real ids, files it creates on a write
//! grant belong to that uid on the host, and every other id, root included, is
//! unmapped and shows up as the overflow id. Host root is never mapped, so nothing
//! in the sandbox can act as its owner.
//!
//! The parent (host root) writes both maps before it lets the child continue; the
//! child then leaves host uid 0 at once: it drops the supplementary groups it
//! inherited from the daemon, and switches to the mapped ids with
//! `PR_SET_KEEPCAPS`, keeping its capabilities *in the sandbox's namespace* for the
//! mounts that follow ([`super::caps`] cuts them down later). The switch uses raw
//! syscalls: glibc's `setresuid` would try to signal the daemon's other threads,
//! which do not exist in the child. Maps vanish with the namespace.

use std::path::PathBuf;

use super::{caps::CapsPlan, error::SpawnError, sys};

/// Parent: writes the child's uid and gid maps.
pub(crate) fn write_maps(pid: i32, uid: u32, gid: u32) -> Result<(), SpawnError> {
    let write = |file: &str, id: u32| {
        let path = PathBuf::from(format!("/proc/{pid}/{file}"));
        std::fs::write(&path, format!("{id} {id} 1\n"))
            .map_err(|source| SpawnError::IdMap { path, source })
    };
    write("uid_map", uid)?;
    write("gid_map", gid)
}

/// Child: drops supplementary groups, switches to the mapped ids, keeps the
/// namespace's capabilities effective. On failure returns which call failed.
pub(crate) fn switch_ids(uid: u32, gid: u32) -> Result<(), (u32, i32)> {
    // SAFETY: raw syscalls with integer arguments (setgroups with a NULL list of 0).
    unsafe {
        sys::check(libc::syscall(
            libc::SYS_setgroups,
            0,
            std::ptr::null::<libc::gid_t>(),
        ))
        .map_err(|e| (0, e))?;
        sys::check(libc::syscall(libc::SYS_setresgid, gid, gid, gid)).map_err(|e| (1, e))?;
        sys::check(libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0)).map_err(|e| (2, e))?;
        sys::check(libc::syscall(libc::SYS_setresuid, uid, uid, uid)).map_err(|e| (2, e))?;
    }
    CapsPlan::raise_effective().map_err(|e| (3, e))
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
