//! The cgroup layout of the host, and the kernel's own cgroup subtree.
//!
//! Detection reads the filesystem magic of the cgroup mount (as youki's
//! `libcgroups` does): cgroup2 at the root is a unified (v2) host; a tmpfs root with
//! cgroup2 at `unified/` is a hybrid host (v2 for identity, freeze and kill; v1
//! controllers for limits); a tmpfs root without it is legacy v1.
//!
//! The kernel owns one v2 directory, `agentos-k-<hash of the data dir>`, directly
//! below the v2 root, tagged with the xattr `user.agentos.data_dir`. Managed processes
//! live below it, and the eBPF probes watch exactly that subtree. It is removed on
//! shutdown (its processes killed first). At start, every `agentos-k-*` directory
//! whose data directory's lock is no longer held (its kernel died) is killed and
//! removed too ([`sweep_orphans`]). Nothing without the prefix is ever touched.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

use crate::backend::Report;

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const TMPFS_MAGIC: i64 = 0x0102_1994;
const CGROUP_KILL: &str = "cgroup.kill";
const CGROUP_PROCS: &str = "cgroup.procs";
/// Prefix of the kernels' cgroup directories.
pub const KERNEL_CGROUP_PREFIX: &str = "agentos-k-";
/// xattr naming the data directory a kernel cgroup belongs to.
const DATA_DIR_XATTR: &str = "user.agentos.data_dir";

/// How cgroups are mounted on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupLayout {
    /// cgroup v2 only, at `root`.
    Unified { root: PathBuf },
    /// v1 controllers under `root`, a v2 tree at `unified`.
    Hybrid { root: PathBuf, unified: PathBuf },
    /// v1 only: no v2 tree for identity (eBPF cgroup ids are then unusable).
    Legacy { root: PathBuf },
    /// No cgroup filesystem.
    Unavailable { reason: String },
}

fn fs_magic(path: &Path) -> io::Result<i64> {
    let st = nix::sys::statfs::statfs(path)?;
    Ok(st.filesystem_type().0 as i64)
}

impl CgroupLayout {
    /// Probes the mount at `root` (normally `/sys/fs/cgroup`).
    pub fn detect(root: &Path) -> Self {
        match fs_magic(root) {
            Ok(CGROUP2_SUPER_MAGIC) => Self::Unified {
                root: root.to_owned(),
            },
            Ok(TMPFS_MAGIC) => {
                let unified = root.join("unified");
                if fs_magic(&unified).ok() == Some(CGROUP2_SUPER_MAGIC) {
                    Self::Hybrid {
                        root: root.to_owned(),
                        unified,
                    }
                } else {
                    Self::Legacy {
                        root: root.to_owned(),
                    }
                }
            }
            Ok(other) => Self::Unavailable {
                reason: format!("{} has filesystem magic {other:#x}", root.display()),
            },
            Err(e) => Self::Unavailable {
                reason: format!("statfs {}: {e}", root.display()),
            },
        }
    }

    /// The v2 tree, if any.
    pub fn v2_root(&self) -> Option<&Path> {
        match self {
            Self::Unified { root } => Some(root),
            Self::Hybrid { unified, .. } => Some(unified),
            _ => None,
        }
    }

    pub fn report(&self) -> Report {
        let mut r = match self {
            Self::Unified { root } => Report {
                backend: "v2".into(),
                available: true,
                reason: format!("cgroup2 mounted at {}", root.display()),
                details: Default::default(),
            },
            Self::Hybrid { root, unified } => Report {
                backend: "hybrid".into(),
                available: true,
                reason: format!(
                    "v1 controllers under {} for limits, cgroup2 at {} for identity, freeze and kill",
                    root.display(),
                    unified.display()
                ),
                details: Default::default(),
            },
            Self::Legacy { root } => Report {
                backend: "v1".into(),
                available: true,
                reason: format!(
                    "v1 only under {}: no v2 tree, so no eBPF cgroup filter",
                    root.display()
                ),
                details: Default::default(),
            },
            Self::Unavailable { reason } => Report {
                backend: "none".into(),
                available: false,
                reason: reason.clone(),
                details: Default::default(),
            },
        };
        if let Some(v2) = self.v2_root() {
            r.details.insert("v2_root".into(), v2.display().to_string());
        }
        r
    }
}

/// The kernel's own v2 cgroup directory; removed on drop.
pub struct KernelCgroup {
    dir: PathBuf,
    v2_root: PathBuf,
}

impl KernelCgroup {
    /// The directory name for a data directory: `agentos-k-<16 hex digits>`.
    pub fn name_for(data_dir: &Path) -> String {
        // FNV-1a: stable across runs and builds, unlike std's hasher.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in data_dir.as_os_str().as_encoded_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{KERNEL_CGROUP_PREFIX}{h:016x}")
    }

    /// Creates the directory, first killing and removing one a crash left behind.
    pub fn create(v2_root: &Path, data_dir: &Path) -> io::Result<Self> {
        let dir = v2_root.join(Self::name_for(data_dir));
        if dir.exists() {
            tracing::warn!(dir = %dir.display(), "removing the cgroup of a previous kernel run");
            remove_tree(&dir)?;
        }
        fs::create_dir(&dir)?;
        let cg = Self {
            dir,
            v2_root: v2_root.to_owned(),
        };
        xattr::set(
            &cg.dir,
            DATA_DIR_XATTR,
            data_dir.as_os_str().as_encoded_bytes(),
        )?;
        Ok(cg)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn v2_root(&self) -> &Path {
        &self.v2_root
    }
}

impl Drop for KernelCgroup {
    fn drop(&mut self) {
        if let Err(e) = remove_tree(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), "removing the kernel cgroup: {e}");
        }
    }
}

/// Removes the cgroups of kernels that died without cleaning up: `agentos-k-*`
/// directories whose data directory's `kernel.lock` is not held. Returns their names.
pub fn sweep_orphans(v2_root: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(v2_root) else {
        return removed;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(KERNEL_CGROUP_PREFIX) || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let owner_alive = xattr::get(&e.path(), DATA_DIR_XATTR)
            .map(|d| {
                lock_is_held(
                    &Path::new(&String::from_utf8_lossy(&d).into_owned()).join("kernel.lock"),
                )
            })
            .unwrap_or(false);
        if owner_alive {
            continue;
        }
        match remove_tree(&e.path()) {
            Ok(()) => removed.push(name),
            Err(err) => tracing::warn!("removing orphan cgroup {name}: {err}"),
        }
    }
    if !removed.is_empty() {
        tracing::info!(?removed, "removed cgroups of kernels that died");
    }
    removed
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

/// Extended attributes on cgroupfs directories (kernfs supports `user.*`).
mod xattr {
    use std::{ffi::CString, io, os::unix::ffi::OsStrExt, path::Path};

    fn c(p: &Path) -> io::Result<CString> {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
    }

    pub fn set(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
        let (p, n) = (c(path)?, CString::new(name).expect("constant name"));
        // SAFETY: valid C strings and a live slice.
        let rc = unsafe {
            libc::setxattr(
                p.as_ptr(),
                n.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub fn get(path: &Path, name: &str) -> io::Result<Vec<u8>> {
        let (p, n) = (c(path)?, CString::new(name).expect("constant name"));
        let mut buf = vec![0u8; 4096];
        // SAFETY: valid C strings and a live, writable buffer of the given length.
        let rc =
            unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(rc as usize);
        Ok(buf)
    }
}

/// Kills every process below `dir` (cgroup.kill, else SIGKILL per pid) and removes
/// the directories, deepest first.
pub fn remove_tree(dir: &Path) -> io::Result<()> {
    let mut dirs = vec![dir.to_owned()];
    let mut i = 0;
    while i < dirs.len() {
        if let Ok(rd) = fs::read_dir(&dirs[i]) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(e.path());
                }
            }
        }
        i += 1;
    }
    for d in dirs.iter().rev() {
        // cgroup.kill is v2 on 5.14+; otherwise signal each process.
        if fs::write(d.join(CGROUP_KILL), "1").is_err()
            && let Ok(procs) = fs::read_to_string(d.join(CGROUP_PROCS))
        {
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let mut last = Ok(());
        for _ in 0..50 {
            last = fs::remove_dir(d);
            match &last {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => break,
            }
        }
        match last {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_prefixed() {
        let a = KernelCgroup::name_for(Path::new("/tmp/a"));
        assert_eq!(a, KernelCgroup::name_for(Path::new("/tmp/a")));
        assert_ne!(a, KernelCgroup::name_for(Path::new("/tmp/b")));
        assert!(a.starts_with("agentos-k-") && a.len() == "agentos-k-".len() + 16);
    }

    #[test]
    fn a_plain_directory_is_not_a_cgroup_mount() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            CgroupLayout::detect(dir.path()),
            CgroupLayout::Unavailable { .. } | CgroupLayout::Legacy { .. }
        ));
    }
}
