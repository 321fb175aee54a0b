//! [`CgroupManager`]: the backend, chosen once from the layout and the kernel's
//! directories, that makes [`ProcessCgroup`]s.
//!
//! Owns nothing on the host itself: the groups it creates remove themselves, and the
//! [`KernelCgroup`] it was made from removes the rest.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use super::{CgroupError, CgroupLayout, Controller, KernelCgroup, Limits, ProcessCgroup, Site};
use crate::backend::Report;

/// Longest group name (a path component the kernel also shows in `/proc/<pid>/cgroup`).
const NAME_MAX: usize = 64;

/// The cgroup backend.
#[derive(Clone, Debug)]
pub enum CgroupManager {
    /// cgroup v2 only: every controller in the v2 node.
    Unified(KernelTree),
    /// v2 node for identity, freeze and kill; v1 nodes for the controllers.
    Hybrid(KernelTree),
    /// No v2 tree (legacy v1 host, no cgroupfs, or the kernel's directory could not be
    /// made): managed processes run without limits or accounting.
    Unavailable { reason: String },
}

/// The kernel's directories that groups are made below: a copy of what the
/// [`KernelCgroup`] set up.
#[derive(Clone, Debug)]
pub struct KernelTree {
    dir: PathBuf,
    sites: BTreeMap<Controller, Site>,
    missing: BTreeMap<Controller, String>,
}

impl KernelTree {
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn sites(&self) -> &BTreeMap<Controller, Site> {
        &self.sites
    }

    pub(crate) fn missing(&self) -> &BTreeMap<Controller, String> {
        &self.missing
    }
}

impl CgroupManager {
    /// The backend for `layout` (the host's, as detected) below `kernel` (the kernel's
    /// directories in it).
    pub fn new(layout: &CgroupLayout, kernel: &KernelCgroup) -> Self {
        let tree = KernelTree {
            dir: kernel.path().to_owned(),
            sites: kernel.sites().clone(),
            missing: kernel.missing().clone(),
        };
        match layout {
            CgroupLayout::Unified { .. } => Self::Unified(tree),
            CgroupLayout::Hybrid { .. } => Self::Hybrid(tree),
            CgroupLayout::Legacy { root } => Self::Unavailable {
                reason: format!(
                    "v1 only under {}: no v2 tree to identify, freeze and kill groups by",
                    root.display()
                ),
            },
            CgroupLayout::Unavailable { reason } => Self::Unavailable {
                reason: reason.clone(),
            },
        }
    }

    /// Creates the group `<kernel dir>/<name>` (and its v1 twins) with `limits`. `name`
    /// is 1 to 64 of `[a-z0-9-]`; an existing group of that name is
    /// [`CgroupError::Exists`].
    pub fn create(&self, name: &str, limits: &Limits) -> Result<ProcessCgroup, CgroupError> {
        let tree = match self {
            Self::Unified(t) | Self::Hybrid(t) => t,
            Self::Unavailable { reason } => {
                return Err(CgroupError::Unavailable {
                    reason: reason.clone(),
                });
            }
        };
        validate_name(name)?;
        limits.validate()?;
        ProcessCgroup::create(tree, name, limits)
    }

    /// Splits `limits` into what this manager's groups can hold and the rest (the
    /// controllers it lacks, as where a delegated v2 subtree carries none).
    pub fn split(&self, limits: &Limits) -> (Limits, Limits) {
        let holds = |c: Controller| match self {
            Self::Unified(t) | Self::Hybrid(t) => t.sites.contains_key(&c),
            Self::Unavailable { .. } => false,
        };
        let (mut held, mut rest) = (Limits::default(), Limits::default());
        let side = |c| if holds(c) { 0 } else { 1 };
        let both = [&mut held, &mut rest];
        both[side(Controller::Memory)].memory_max = limits.memory_max;
        both[side(Controller::Cpu)].cpu_weight = limits.cpu_weight;
        both[side(Controller::Cpu)].cpu_max = limits.cpu_max;
        both[side(Controller::Pids)].pids_max = limits.pids_max;
        (held, rest)
    }

    /// Whether [`Self::create`] can work.
    pub fn is_available(&self) -> bool {
        !self.is_unavailable()
    }

    /// Whether this is [`Self::Unavailable`] (groups cannot be made at all).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// What `doctor` says about cgroups: the backend, where each controller lives, and
    /// why one is missing.
    pub fn report(&self) -> Report {
        let (backend, tree) = match self {
            Self::Unified(t) => ("v2", t),
            Self::Hybrid(t) => ("hybrid", t),
            Self::Unavailable { reason } => {
                return Report {
                    backend: "none".into(),
                    available: false,
                    reason: format!("no limits or accounting: {reason}"),
                    details: BTreeMap::new(),
                };
            }
        };
        let mut details = BTreeMap::new();
        details.insert("kernel_cgroup".into(), tree.dir.display().to_string());
        let mut v1 = Vec::new();
        let mut v2 = Vec::new();
        for c in Controller::ALL {
            let value = match tree.sites.get(&c) {
                Some(Site::V2(d)) => {
                    v2.push(c.name());
                    format!("v2 {}", d.display())
                }
                Some(Site::V1(d)) => {
                    v1.push(c.name());
                    format!("v1 {}", d.display())
                }
                None => format!(
                    "unavailable: {}",
                    tree.missing.get(&c).map_or("not set up", String::as_str)
                ),
            };
            details.insert(c.name().into(), value);
        }
        match tree.sites.get(&Controller::Cpu) {
            Some(Site::V1(_)) => {
                details.insert(
                    "cpu_weight".into(),
                    "cpu.shares = cpu.weight * 1024 / 100 (systemd's mapping)".into(),
                );
            }
            Some(Site::V2(_)) => {
                details.insert("cpu_weight".into(), "cpu.weight".into());
            }
            None => {}
        }
        match tree.sites.get(&Controller::Memory) {
            Some(Site::V1(_)) => {
                details.insert(
                    "reclaim".into(),
                    "memory.force_empty (reclaims all it can; byte count ignored)".into(),
                );
            }
            Some(Site::V2(_)) => {
                details.insert("reclaim".into(), "memory.reclaim".into());
            }
            None => {}
        }
        let mut reason = match self {
            Self::Hybrid(_) => format!(
                "v2 node for identity, freeze and kill; {} from v1 hierarchies",
                list(&v1)
            ),
            _ => format!("{} enabled in {}", list(&v2), tree.dir.display()),
        };
        if self.is_hybrid() && !v2.is_empty() {
            reason.push_str(&format!("; {} from v2", list(&v2)));
        }
        if !tree.missing.is_empty() {
            let missing: Vec<_> = tree.missing.keys().map(|c| c.name()).collect();
            reason.push_str(&format!("; no {}", list(&missing)));
        }
        Report {
            backend: backend.into(),
            available: true,
            reason,
            details,
        }
    }

    fn is_hybrid(&self) -> bool {
        matches!(self, Self::Hybrid(_))
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "no controllers".into()
    } else {
        names.join(", ")
    }
}

/// A group name: 1 to 64 of `[a-z0-9-]`, so it is one path component, never a control
/// file (those contain a dot) and never `..`.
fn validate_name(name: &str) -> Result<(), CgroupError> {
    let why = if name.is_empty() {
        Some("empty")
    } else if name.len() > NAME_MAX {
        Some("longer than 64 bytes")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Some("only a-z, 0-9 and '-' are allowed")
    } else {
        None
    };
    match why {
        Some(why) => Err(CgroupError::InvalidName {
            name: name.to_owned(),
            why,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::cgroup::{CgroupStats, CpuMax};

    #[test]
    fn names() {
        for ok in ["a", "app-1", "0", &"x".repeat(64)] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "",
            "A",
            "a/b",
            "..",
            "a.b",
            "cgroup.procs",
            "a b",
            &"x".repeat(65),
        ] {
            assert!(
                validate_name(bad).unwrap_err().is_invalid_input(),
                "{bad:?}"
            );
        }
    }

    /// A hybrid tree in a tempdir: `v2/k` is the kernel's v2 dir, `memory/k`, `cpu/k`,
    /// `pids/k` its v1 dirs. Returns the manager and the tempdir.
    fn hybrid() -> (CgroupManager, tempfile::TempDir) {
        let root = tempfile::tempdir().unwrap();
        let mut sites = BTreeMap::new();
        for c in Controller::ALL {
            let d = root.path().join(c.name()).join("k");
            fs::create_dir_all(&d).unwrap();
            sites.insert(c, Site::V1(d));
        }
        let dir = root.path().join("v2").join("k");
        fs::create_dir_all(&dir).unwrap();
        let tree = KernelTree {
            dir,
            sites,
            missing: BTreeMap::new(),
        };
        (CgroupManager::Hybrid(tree), root)
    }

    /// Writes the files the kernel would show in a new group's nodes.
    fn populate(root: &Path, name: &str) {
        let v2 = root.join("v2/k").join(name);
        for (f, c) in [
            ("cgroup.procs", ""),
            ("cgroup.kill", ""),
            ("cgroup.freeze", "0"),
            ("cgroup.events", "populated 0\nfrozen 0\n"),
            (
                "cpu.stat",
                "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
            ),
        ] {
            fs::write(v2.join(f), c).unwrap();
        }
        let mem = root.join("memory/k").join(name);
        for (f, c) in [
            ("cgroup.procs", ""),
            ("memory.limit_in_bytes", "9223372036854771712"),
            ("memory.usage_in_bytes", "4096"),
            ("memory.max_usage_in_bytes", "8192"),
            ("memory.stat", "total_rss 4096\ntotal_cache 0\n"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
            ),
        ] {
            fs::write(mem.join(f), c).unwrap();
        }
        let cpu = root.join("cpu/k").join(name);
        for f in [
            "cgroup.procs",
            "cpu.shares",
            "cpu.cfs_quota_us",
            "cpu.cfs_period_us",
        ] {
            fs::write(cpu.join(f), "").unwrap();
        }
        let pids = root.join("pids/k").join(name);
        if !pids.exists() {
            return;
        }
        for (f, c) in [
            ("cgroup.procs", ""),
            ("pids.max", "max"),
            ("pids.current", "1"),
            ("pids.events", "max 3\n"),
        ] {
            fs::write(pids.join(f), c).unwrap();
        }
    }

    #[test]
    fn a_hybrid_group_writes_v1_limits_and_reads_both_trees() {
        let (m, root) = hybrid();
        let r = root.path();
        // A tempdir cannot make control files appear on mkdir: create the group without
        // limits, write the files, then apply.
        let g = m.create("app-1", &Limits::default()).unwrap();
        assert_eq!(g.path(), r.join("v2/k/app-1"));
        assert_eq!(g.v1_dirs().len(), 3);
        populate(r, "app-1");
        g.apply(&Limits {
            memory_max: Some(64 << 20),
            cpu_weight: Some(300),
            cpu_max: Some(CpuMax {
                quota_us: 50_000,
                period_us: 100_000,
            }),
            pids_max: Some(5),
        })
        .unwrap();
        let read = |p: &str| fs::read_to_string(r.join(p)).unwrap();
        assert_eq!(read("memory/k/app-1/memory.limit_in_bytes"), "67108864");
        assert_eq!(read("cpu/k/app-1/cpu.shares"), "3072");
        assert_eq!(read("cpu/k/app-1/cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpu/k/app-1/cpu.cfs_period_us"), "100000");
        assert_eq!(read("pids/k/app-1/pids.max"), "5");

        g.add_pid(4242).unwrap();
        for tree in ["v2", "memory", "cpu", "pids"] {
            assert_eq!(read(&format!("{tree}/k/app-1/cgroup.procs")), "4242");
        }
        let s = g.stats().unwrap();
        assert_eq!(
            s,
            CgroupStats {
                memory_current: 4096,
                memory_peak: 8192,
                memory_anon: 4096,
                memory_file: 0,
                cpu_usage_usec: 1500,
                pids_current: 1,
                oom_kills: 0,
                pids_max_events: 3,
                frozen: false,
            }
        );
        assert!(!g.oom_killed());
        assert!(g.pids_max_hit());
        assert!(matches!(
            m.create("app-1", &Limits::default()),
            Err(CgroupError::Exists { .. })
        ));
        assert!(m.report().reason.contains("memory, cpu, pids from v1"));
        // The tempdir's fixture files keep the directories from being removed here;
        // the real-host tests check removal.
        std::mem::forget(g);
    }

    #[test]
    fn a_missing_controller_refuses_its_limit_and_writes_nothing() {
        let (mut m, root) = hybrid();
        if let CgroupManager::Hybrid(t) = &mut m {
            t.sites.remove(&Controller::Pids);
            t.missing
                .insert(Controller::Pids, "no pids hierarchy".into());
        }
        let g = m.create("g", &Limits::default()).unwrap();
        populate(root.path(), "g");
        let e = g
            .apply(&Limits {
                memory_max: Some(1 << 20),
                pids_max: Some(5),
                ..Default::default()
            })
            .unwrap_err();
        assert!(
            e.is_unsupported() && e.to_string().contains("no pids hierarchy"),
            "{e}"
        );
        assert_eq!(
            fs::read_to_string(root.path().join("memory/k/g/memory.limit_in_bytes")).unwrap(),
            "9223372036854771712",
            "nothing written"
        );
        assert!(m.report().reason.contains("no pids"));
        std::mem::forget(g);
    }

    #[test]
    fn unavailable_says_why() {
        let m = CgroupManager::Unavailable {
            reason: "v1 only".into(),
        };
        let e = m.create("x", &Limits::default()).unwrap_err();
        assert!(e.is_unsupported() && e.to_string().contains("v1 only"));
        assert!(!m.report().available);
    }
}
