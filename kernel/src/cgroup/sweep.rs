//! Removing the cgroups of kernels that died: [`sweep_orphans`].
//!
//! A kernel directory (`agentos-k-*`, v2 or v1) belongs to the data directory named by
//! its xattr `user.agentos.data_dir`; a v1 directory without the tag belongs to the
//! owner of the v2 directory of the same name. The owner is alive while some process
//! holds the flock on `<data dir>/kernel.lock` (a running kernel does, from before it
//! creates its cgroups until after it removed them). Everything else with the prefix is
//! an orphan: its processes are killed and its directories removed. Nothing without the
//! prefix is touched.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use super::{
    CgroupLayout,
    files::{self, xattr},
    kernel_group::{DATA_DIR_XATTR, KERNEL_CGROUP_PREFIX},
    layout::is_v1_mount,
};

/// The data directory's lock file, held by its running kernel.
const LOCK_FILE: &str = "kernel.lock";
/// A kernel tags its directory right after `mkdir`; an untagged one is looked at again
/// after this long before it counts as an orphan, so a sweep never races a start-up.
const UNTAGGED_GRACE: Duration = Duration::from_millis(100);

/// [`sweep_orphans_in`] for a caller that only knows the v2 root.
pub fn sweep_orphans(v2_root: &Path) -> Vec<String> {
    sweep_orphans_in(&CgroupLayout::from_v2_root(v2_root))
}

/// Removes the cgroups of kernels that died without cleaning up: `agentos-k-*`
/// directories in the v2 tree and in every v1 hierarchy whose data directory's
/// `kernel.lock` is not held. Returns their paths.
pub fn sweep_orphans_in(layout: &CgroupLayout) -> Vec<String> {
    let v2_root = layout.v2_root();
    let mut hierarchies: Vec<PathBuf> = v2_root.into_iter().map(Path::to_owned).collect();
    if let Some(v1_root) = layout.v1_root() {
        for e in fs::read_dir(v1_root).into_iter().flatten().flatten() {
            let p = fs::canonicalize(e.path()).unwrap_or_else(|_| e.path());
            if Some(p.as_path()) != v2_root && is_v1_mount(&p) && !hierarchies.contains(&p) {
                hierarchies.push(p);
            }
        }
    }
    let mut removed = Vec::new();
    for h in &hierarchies {
        // Removing a directory takes write permission on its parent: a kernel run by an
        // ordinary user leaves root's hierarchies to root's kernels.
        if nix::unistd::access(h, nix::unistd::AccessFlags::W_OK).is_err() {
            tracing::debug!("not sweeping {}: not writable by this kernel", h.display());
            continue;
        }
        let Ok(entries) = fs::read_dir(h) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(KERNEL_CGROUP_PREFIX) || !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let dir = e.path();
            let v2_twin = v2_root.map(|r| r.join(&name));
            // Held while removing: a kernel starting on that data directory waits
            // for it, so it never makes its directory just before this removes it.
            let Some(_dead_owner) = dead_owner(&dir, v2_twin.as_deref()) else {
                continue;
            };
            match files::remove_tree(&dir) {
                Ok(()) => removed.push(dir.display().to_string()),
                Err(err) => tracing::warn!("removing orphan cgroup {}: {err}", dir.display()),
            }
        }
    }
    if !removed.is_empty() {
        tracing::info!(?removed, "removed cgroups of kernels that died");
    }
    removed
}

/// When the kernel owning `dir` (by its tag, else its v2 twin's) is not running, a
/// shared flock on its `kernel.lock` (or `Some(None)` when there is no lock file to
/// hold); `None` while it runs.
fn dead_owner(dir: &Path, v2_twin: Option<&Path>) -> Option<Option<nix::fcntl::Flock<fs::File>>> {
    if owner_alive(dir, v2_twin) {
        return None;
    }
    let tag = xattr::get(dir, DATA_DIR_XATTR)
        .or_else(|e| v2_twin.map_or(Err(e), |t| xattr::get(t, DATA_DIR_XATTR)))
        .ok();
    let Some(tag) = tag else {
        return Some(None);
    };
    let lock = Path::new(&String::from_utf8_lossy(&tag).into_owned()).join(LOCK_FILE);
    let Ok(file) = fs::File::open(&lock) else {
        return Some(None);
    };
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockSharedNonblock) {
        Ok(held) => Some(Some(held)),
        // Its kernel started in between.
        Err(_) => None,
    }
}

/// Whether the kernel owning `dir` (by its tag, else its v2 twin's) is running.
fn owner_alive(dir: &Path, v2_twin: Option<&Path>) -> bool {
    let owner = || {
        xattr::get(dir, DATA_DIR_XATTR)
            .or_else(|e| v2_twin.map_or(Err(e), |t| xattr::get(t, DATA_DIR_XATTR)))
            .ok()
    };
    let tag = owner().or_else(|| {
        std::thread::sleep(UNTAGGED_GRACE);
        owner()
    });
    tag.is_some_and(|d| {
        lock_is_held(&Path::new(&String::from_utf8_lossy(&d).into_owned()).join(LOCK_FILE))
    })
}

/// Whether a kernel runs on `data_dir` (holds its `kernel.lock`).
pub fn kernel_running(data_dir: &Path) -> bool {
    lock_is_held(&data_dir.join(LOCK_FILE))
}

/// Whether some process holds the flock on `lock` (a running kernel does).
fn lock_is_held(lock: &Path) -> bool {
    let Ok(file) = fs::File::open(lock) else {
        return false;
    };
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockSharedNonblock) {
        Ok(_released_on_drop) => false,
        Err((_, e)) => e == nix::errno::Errno::EWOULDBLOCK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prefixed_directories_of_dead_owners_go() {
        let root = tempfile::tempdir().unwrap();
        let v2 = root.path().join("unified");
        fs::create_dir(&v2).unwrap();
        let live_data = root.path().join("live");
        fs::create_dir(&live_data).unwrap();
        let lock = fs::File::create(live_data.join(LOCK_FILE)).unwrap();
        let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).unwrap();
        let dead_data = root.path().join("dead");
        fs::create_dir(&dead_data).unwrap();
        fs::File::create(dead_data.join(LOCK_FILE)).unwrap();

        let mk = |name: &str, owner: Option<&Path>| {
            let d = v2.join(name);
            fs::create_dir(&d).unwrap();
            if let Some(o) = owner {
                xattr::set(&d, DATA_DIR_XATTR, o.as_os_str().as_encoded_bytes()).unwrap();
            }
            d
        };
        let live = mk("agentos-k-live", Some(&live_data));
        let dead = mk("agentos-k-dead", Some(&dead_data));
        let untagged = mk("agentos-k-untagged", None);
        let foreign = mk("system.slice", Some(&dead_data));

        let removed = sweep_orphans_in(&CgroupLayout::Unified { root: v2.clone() });
        assert!(live.exists() && foreign.exists());
        assert!(!dead.exists() && !untagged.exists());
        assert_eq!(removed.len(), 2, "{removed:?}");
    }
}
