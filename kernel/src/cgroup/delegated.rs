//! A cgroup subtree delegated to an ordinary user: where a rootless kernel puts its
//! own directory when it may not write at the v2 root.
//!
//! systemd delegates a subtree to a unit started with `Delegate=yes` (a transient
//! scope: `systemd-run --user --scope -p Delegate=yes agentos up`; the user's
//! `user@.service` is delegated too): the unit's cgroup and its control files
//! belong to the user. A kernel started there finds its own cgroup in
//! `/proc/self/cgroup` (`0::/path`), checks it may write `cgroup.procs` and
//! `cgroup.subtree_control` there, and makes `agentos-k-*` below it. Controllers the
//! parent offers are enabled after the daemon moved itself into a leaf of its own
//! (`agentos-daemon`), as the "no internal processes" rule requires; on a hybrid
//! host the v2 tree carries no controller, so the delegated directory gives
//! identity, freeze, kill and `cpu.stat` only, and the limits fall back to rlimits.
//!
//! A kernel that finds none asks for one ([`request_scope`]): a transient scope
//! `agentos-kernel-<pid>.scope` with `Delegate=yes` holding its own pid, from the
//! user's systemd manager over D-Bus (`StartTransientUnit`, sent with systemd's own
//! `busctl`), then looks again. Hosts without a systemd user manager (as these
//! hybrid machines) answer no, and the reason reaches the doctor.
//!
//! What it leaves: the `agentos-daemon` leaf, which holds the daemon until it
//! exits (the delegating unit removes its subtree when it stops; the transient
//! scope itself ends when its last process does).

use std::{
    ffi::CString,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
};

use super::{CgroupError, files};

const CGROUP_PROCS: &str = "cgroup.procs";
const CGROUP_SUBTREE_CONTROL: &str = "cgroup.subtree_control";
const CGROUP_CONTROLLERS: &str = "cgroup.controllers";
/// The leaf the daemon moves into before enabling controllers for its siblings.
pub const DAEMON_LEAF: &str = "agentos-daemon";

/// The calling process's v2 cgroup below `v2_root`, from `/proc/self/cgroup`.
pub fn own_cgroup(v2_root: &Path) -> Result<PathBuf, CgroupError> {
    let text = files::read(Path::new("/proc/self/cgroup"))?;
    own_cgroup_in(&text, v2_root).ok_or_else(|| CgroupError::Unavailable {
        reason: "/proc/self/cgroup names no cgroup v2 path".into(),
    })
}

fn own_cgroup_in(proc_self_cgroup: &str, v2_root: &Path) -> Option<PathBuf> {
    let rel = proc_self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))?
        .trim_start_matches('/');
    if rel.split('/').any(|c| c == "..") {
        return None;
    }
    Some(if rel.is_empty() {
        v2_root.to_owned()
    } else {
        v2_root.join(rel)
    })
}

/// Whether `path` may be written by this process (`faccessat(AT_EACCESS)`).
fn writable(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}

/// Checks that `own` was delegated to this process's user: the directory, its
/// `cgroup.procs` and `cgroup.subtree_control` are writable.
pub fn check_delegated(own: &Path) -> Result<(), String> {
    let denied: Vec<String> = [
        own.to_owned(),
        own.join(CGROUP_PROCS),
        own.join(CGROUP_SUBTREE_CONTROL),
    ]
    .iter()
    .filter(|p| !writable(p))
    .map(|p| p.display().to_string())
    .collect();
    if denied.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "its own cgroup {} is not delegated to it (not writable: {})",
            own.display(),
            denied.join(", ")
        ))
    }
}

/// When `own` offers controllers, moves the daemon into [`DAEMON_LEAF`] and
/// enables each offered controller for the children, best effort (the
/// kernel's directory then records which ones it got).
pub fn enable_controllers(own: &Path) -> Result<(), CgroupError> {
    let offered = files::read(&own.join(CGROUP_CONTROLLERS)).unwrap_or_default();
    if offered.split_whitespace().next().is_none() {
        return Ok(());
    }
    let leaf = own.join(DAEMON_LEAF);
    if !leaf.exists() {
        files::mkdir(&leaf)?;
    }
    files::write(&leaf.join(CGROUP_PROCS), &std::process::id().to_string())?;
    for c in offered.split_whitespace() {
        if let Err(e) = files::write(&own.join(CGROUP_SUBTREE_CONTROL), &format!("+{c}")) {
            tracing::debug!("delegated cgroup: +{c} not enabled: {e}");
        }
    }
    Ok(())
}

/// Asks the user's systemd manager for a transient scope with `Delegate=yes`
/// holding this process, and waits (2 s at most) until the process is in it.
pub fn request_scope(v2_root: &Path) -> Result<(), String> {
    let unavailable = |reason: String| reason;
    let before = own_cgroup(v2_root).map_err(|e| e.to_string())?;
    let pid = std::process::id().to_string();
    let unit = format!("agentos-kernel-{pid}.scope");
    let out = std::process::Command::new("busctl")
        .args([
            "--user",
            "call",
            "org.freedesktop.systemd1",
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "StartTransientUnit",
            "ssa(sv)a(sa(sv))",
            &unit,
            "fail",
            "2",
            "PIDs",
            "au",
            "1",
            &pid,
            "Delegate",
            "b",
            "true",
            "0",
        ])
        .output()
        .map_err(|e| unavailable(format!("asking systemd for a delegated scope: busctl: {e}")))?;
    if !out.status.success() {
        return Err(unavailable(format!(
            "systemd gave no delegated scope: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while own_cgroup(v2_root).map_err(|e| e.to_string())? == before {
        if std::time::Instant::now() > deadline {
            return Err(unavailable(format!(
                "systemd started {unit} but did not move the kernel into it"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_v2_line() {
        let root = Path::new("/sys/fs/cgroup/unified");
        let text = "12:pids:/x\n1:name=systemd:/y\n0::/user.slice/app.scope\n";
        assert_eq!(
            own_cgroup_in(text, root),
            Some(root.join("user.slice/app.scope"))
        );
        assert_eq!(own_cgroup_in("0::/\n", root), Some(root.to_owned()));
        assert_eq!(own_cgroup_in("3:memory:/a\n", root), None);
        assert_eq!(own_cgroup_in("0::/a/../../etc\n", root), None);
    }

    #[test]
    fn an_unwritable_cgroup_is_not_delegated() {
        let d = tempfile::tempdir().unwrap();
        // A directory without the control files: not delegated.
        assert!(check_delegated(d.path()).is_err());
        std::fs::write(d.path().join(CGROUP_PROCS), "").unwrap();
        std::fs::write(d.path().join(CGROUP_SUBTREE_CONTROL), "").unwrap();
        assert!(check_delegated(d.path()).is_ok());
    }
}
