//! [`CgroupLayout`]: how cgroups are mounted on this host, read from filesystem magics.
//!
//! Owns nothing on the host; only `statfs(2)`s the mounts.

use std::{
    io,
    path::{Path, PathBuf},
};

use crate::backend::Report;

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
/// A v1 hierarchy (`cgroup` filesystem).
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
const TMPFS_MAGIC: i64 = 0x0102_1994;
/// Where a hybrid host mounts its v2 tree, below the tmpfs root.
const HYBRID_UNIFIED_DIR: &str = "unified";

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

#[cfg(target_os = "linux")]
fn fs_magic(path: &Path) -> io::Result<i64> {
    let st = nix::sys::statfs::statfs(path)?;
    Ok(st.filesystem_type().0 as i64)
}

/// No cgroup filesystem on other hosts (macOS): every layout probe says so.
#[cfg(not(target_os = "linux"))]
fn fs_magic(_path: &Path) -> io::Result<i64> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "cgroups are Linux's; this host has none",
    ))
}

/// Whether `dir` is the root of a v1 hierarchy.
pub(crate) fn is_v1_mount(dir: &Path) -> bool {
    fs_magic(dir).ok() == Some(CGROUP_SUPER_MAGIC)
}

impl CgroupLayout {
    /// Probes the mount at `root` (normally `/sys/fs/cgroup`).
    pub fn detect(root: &Path) -> Self {
        match fs_magic(root) {
            Ok(CGROUP2_SUPER_MAGIC) => Self::Unified {
                root: root.to_owned(),
            },
            Ok(TMPFS_MAGIC) => {
                let unified = root.join(HYBRID_UNIFIED_DIR);
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

    /// The layout a v2 mount belongs to: hybrid if its parent is a hybrid root whose
    /// `unified` it is, else unified. For callers that only know the v2 root.
    pub fn from_v2_root(v2_root: &Path) -> Self {
        if let Some(parent) = v2_root.parent()
            && let hybrid @ Self::Hybrid { .. } = Self::detect(parent)
            && hybrid.v2_root() == Some(v2_root)
        {
            return hybrid;
        }
        Self::Unified {
            root: v2_root.to_owned(),
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

    /// The directory holding the v1 hierarchies (`<root>/memory`, `<root>/cpu`, …), if any.
    pub fn v1_root(&self) -> Option<&Path> {
        match self {
            Self::Hybrid { root, .. } | Self::Legacy { root } => Some(root),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_directory_is_not_a_cgroup_mount() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            CgroupLayout::detect(dir.path()),
            CgroupLayout::Unavailable { .. } | CgroupLayout::Legacy { .. }
        ));
        assert!(!is_v1_mount(dir.path()));
    }

    #[test]
    fn a_v2_root_outside_a_hybrid_mount_is_unified() {
        let dir = tempfile::tempdir().unwrap();
        let v2 = dir.path().join("unified");
        assert_eq!(
            CgroupLayout::from_v2_root(&v2),
            CgroupLayout::Unified { root: v2.clone() }
        );
    }
}
