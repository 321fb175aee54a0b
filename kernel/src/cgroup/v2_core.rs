//! The controller-less cgroup v2 files every v2 node has, on unified and hybrid hosts
//! alike: `cgroup.freeze`, `cgroup.events`, `cgroup.kill` (and `cgroup.procs`, in
//! `files`). Freeze and kill wait for `cgroup.events` to confirm, bounded.

use std::{
    fs::{File, OpenOptions},
    os::{
        fd::{AsRawFd, OwnedFd},
        unix::fs::{FileExt, MetadataExt, OpenOptionsExt},
    },
    path::Path,
    time::{Duration, Instant},
};

use super::{
    CgroupError,
    files::{self, CGROUP_KILL, is_missing},
};

/// `1` freezes every task below the node (Linux 5.2+).
const CGROUP_FREEZE: &str = "cgroup.freeze";
/// `populated 0|1` (any task below the node) and `frozen 0|1` (all of them frozen).
/// The kernel notifies changes to pollers with POLLPRI.
const CGROUP_EVENTS: &str = "cgroup.events";
/// The longest single poll between two reads of `cgroup.events`, should a
/// notification be missed.
const EVENTS_POLL_SLICE: Duration = Duration::from_millis(20);

/// Opens the node's directory (`O_RDONLY | O_DIRECTORY | O_CLOEXEC`) for
/// `clone3(CLONE_INTO_CGROUP)`; also returns its cgroup id (the directory's inode
/// number, what `bpf_get_current_cgroup_id()` reports).
pub(crate) fn open_dir(dir: &Path) -> Result<(OwnedFd, u64), CgroupError> {
    let err = |source| CgroupError::Open {
        path: dir.to_owned(),
        source,
    };
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map_err(err)?;
    let id = f.metadata().map_err(err)?.ino();
    Ok((f.into(), id))
}

/// Freezes or thaws every task below `dir` and waits up to `limit` for
/// `cgroup.events` to say so.
pub(crate) fn freeze(dir: &Path, frozen: bool, limit: Duration) -> Result<(), CgroupError> {
    let file = dir.join(CGROUP_FREEZE);
    files::write(&file, if frozen { "1" } else { "0" }).map_err(|e| {
        if is_missing(&e) {
            CgroupError::Unsupported {
                what: "the cgroup v2 freezer (Linux 5.2+)",
                path: file.clone(),
            }
        } else {
            e
        }
    })?;
    if wait_event(dir, "frozen", u64::from(frozen), limit)? {
        Ok(())
    } else {
        Err(CgroupError::FreezeTimeout {
            path: dir.to_owned(),
            frozen,
            waited: limit,
        })
    }
}

/// Kills every task below `dir` and waits up to `limit` until none is left.
///
/// `cgroup.kill` (Linux 5.14+) kills atomically, forks in flight included. Without it:
/// freeze the tree so nothing forks, SIGKILL every pid (frozen tasks still die of
/// SIGKILL), thaw.
pub(crate) fn kill(dir: &Path, limit: Duration) -> Result<(), CgroupError> {
    match files::write(&dir.join(CGROUP_KILL), "1") {
        Ok(()) => {}
        Err(e) if is_missing(&e) => {
            let frozen = files::write(&dir.join(CGROUP_FREEZE), "1").is_ok();
            let killed = files::dirs_below(dir)
                .iter()
                .try_for_each(|d| files::sigkill_procs(d));
            if frozen {
                files::write(&dir.join(CGROUP_FREEZE), "0")?;
            }
            killed?;
        }
        Err(e) => return Err(e),
    }
    if wait_event(dir, "populated", 0, limit)? {
        Ok(())
    } else {
        Err(CgroupError::KillTimeout {
            path: dir.to_owned(),
            pids: files::procs_below(dir).unwrap_or_default(),
            waited: limit,
        })
    }
}

/// Whether every task below `dir` is frozen.
pub(crate) fn is_frozen(dir: &Path) -> Result<bool, CgroupError> {
    Ok(files::read_keyed(&dir.join(CGROUP_EVENTS), "frozen")? == 1)
}

/// Waits up to `limit` for `key` in `cgroup.events` to read `want`; whether it did.
fn wait_event(dir: &Path, key: &str, want: u64, limit: Duration) -> Result<bool, CgroupError> {
    let path = dir.join(CGROUP_EVENTS);
    let file = File::open(&path).map_err(|source| CgroupError::Open {
        path: path.clone(),
        source,
    })?;
    let start = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        // kernfs regenerates the file on every read at offset 0.
        let n = file
            .read_at(&mut buf, 0)
            .map_err(|source| CgroupError::Read {
                path: path.clone(),
                source,
            })?;
        let content = String::from_utf8_lossy(&buf[..n]);
        match files::parse_keyed(&path, &content, key)? {
            Some(v) if v == want => return Ok(true),
            Some(_) => {}
            None => {
                return Err(CgroupError::Parse {
                    path,
                    content: content.into_owned(),
                    why: "no such key in cgroup.events",
                });
            }
        }
        let elapsed = start.elapsed();
        if elapsed >= limit {
            return Ok(false);
        }
        poll_pri(&file, (limit - elapsed).min(EVENTS_POLL_SLICE));
    }
}

/// Sleeps until kernfs signals a change of `file` (POLLPRI) or `timeout` passes.
fn poll_pri(file: &File, timeout: Duration) {
    let mut pfd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLPRI,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis())
        .unwrap_or(i32::MAX)
        .max(1);
    // SAFETY: one valid pollfd for an fd `file` keeps open. The result does not matter:
    // the caller re-reads the file either way (EINTR, timeout or a change).
    unsafe {
        libc::poll(&mut pfd, 1, ms);
    }
}

#[cfg(test)]
mod tests {
    use std::{fs, sync::Arc, thread};

    use super::*;

    fn node() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(CGROUP_FREEZE), "0\n").unwrap();
        fs::write(d.path().join(CGROUP_EVENTS), "populated 1\nfrozen 0\n").unwrap();
        d
    }

    #[test]
    fn freeze_waits_for_the_events_file() {
        let d = Arc::new(node());
        let d2 = Arc::clone(&d);
        let flip = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            fs::write(d2.path().join(CGROUP_EVENTS), "populated 1\nfrozen 1\n").unwrap();
        });
        freeze(d.path(), true, Duration::from_secs(5)).unwrap();
        flip.join().unwrap();
        assert_eq!(
            fs::read_to_string(d.path().join(CGROUP_FREEZE)).unwrap(),
            "1"
        );
        assert!(is_frozen(d.path()).unwrap());
    }

    #[test]
    fn freeze_gives_up_at_the_bound() {
        let d = node();
        let start = Instant::now();
        let e = freeze(d.path(), true, Duration::from_millis(100)).unwrap_err();
        assert!(
            matches!(e, CgroupError::FreezeTimeout { frozen: true, .. }),
            "{e}"
        );
        assert!(start.elapsed() < Duration::from_secs(2));
        // Thawing an already thawed node returns at once.
        fs::write(d.path().join(CGROUP_EVENTS), "populated 1\nfrozen 0\n").unwrap();
        freeze(d.path(), false, Duration::from_millis(100)).unwrap();
    }

    #[test]
    fn no_freezer_is_unsupported() {
        let d = tempfile::tempdir().unwrap();
        assert!(
            freeze(d.path(), true, Duration::ZERO)
                .unwrap_err()
                .is_unsupported()
        );
    }

    #[test]
    fn kill_writes_cgroup_kill_and_waits_for_empty() {
        let d = node();
        fs::write(d.path().join(CGROUP_KILL), "").unwrap();
        fs::write(d.path().join("cgroup.procs"), "").unwrap();
        let e = kill(d.path(), Duration::from_millis(50)).unwrap_err();
        assert!(matches!(e, CgroupError::KillTimeout { .. }), "{e}");
        assert_eq!(fs::read_to_string(d.path().join(CGROUP_KILL)).unwrap(), "1");
        fs::write(d.path().join(CGROUP_EVENTS), "populated 0\nfrozen 0\n").unwrap();
        kill(d.path(), Duration::from_millis(50)).unwrap();
    }
}
