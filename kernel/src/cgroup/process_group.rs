//! [`ProcessCgroup`]: the cgroup of one managed process tree.
//!
//! A v2 node `<kernel dir>/<name>` (identity, freeze, kill, CPU usage; on a unified host
//! also every controller), plus on a hybrid host a node `<kernel's v1 dir>/<name>` in each
//! v1 hierarchy the kernel uses. Dropping it kills every process in it and removes every
//! node it made; the kernel's own directory removes whatever a failed drop left.

use std::{
    collections::BTreeMap,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::{Path, PathBuf},
    time::Duration,
};

use super::{
    CgroupError, CgroupStats, Controller, Limits, Site, cpu,
    files::{self, CGROUP_PROCS},
    manager::KernelTree,
    memory, pids, v2_core,
};

/// How long [`ProcessCgroup::freeze`] waits for `cgroup.events` to confirm.
const FREEZE_WAIT: Duration = Duration::from_secs(2);
/// How long [`ProcessCgroup::kill`] waits for the group to empty.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// The cgroup of one managed process tree; killed and removed on drop.
#[derive(Debug)]
pub struct ProcessCgroup {
    name: String,
    /// The v2 node.
    v2: PathBuf,
    v2_fd: OwnedFd,
    id: u64,
    /// The nodes in v1 hierarchies, one per distinct hierarchy.
    v1_dirs: Vec<PathBuf>,
    /// Where each controller's files are.
    sites: BTreeMap<Controller, Site>,
    /// Why the other controllers are unavailable.
    missing: BTreeMap<Controller, String>,
}

impl ProcessCgroup {
    /// Makes the nodes below `tree` and applies `limits`; on failure removes what it made.
    /// `name` and `limits` are validated by the caller.
    pub(crate) fn create(
        tree: &KernelTree,
        name: &str,
        limits: &Limits,
    ) -> Result<Self, CgroupError> {
        let v2 = tree.dir().join(name);
        files::mkdir(&v2)?;
        let (v2_fd, id) = match v2_core::open_dir(&v2) {
            Ok(x) => x,
            Err(e) => {
                let _ = files::rmdir(&v2);
                return Err(e);
            }
        };
        // From here on, drop undoes everything made so far.
        let mut group = Self {
            name: name.to_owned(),
            v2,
            v2_fd,
            id,
            v1_dirs: Vec::new(),
            sites: BTreeMap::new(),
            missing: tree.missing().clone(),
        };
        for (c, site) in tree.sites() {
            let site = match site {
                Site::V2(_) => Site::V2(group.v2.clone()),
                Site::V1(parent) => {
                    let dir = parent.join(name);
                    if !group.v1_dirs.contains(&dir) {
                        if dir.exists() {
                            // Below the kernel's own directory: left by a failed removal.
                            files::remove_tree(&dir)?;
                        }
                        files::mkdir(&dir)?;
                        group.v1_dirs.push(dir.clone());
                    }
                    Site::V1(dir)
                }
            };
            group.sites.insert(*c, site);
        }
        group.apply(limits)?;
        Ok(group)
    }

    /// The group's name (the last component of its paths).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The v2 node.
    pub fn path(&self) -> &Path {
        &self.v2
    }

    /// The nodes in v1 hierarchies (empty on a unified host).
    pub fn v1_dirs(&self) -> &[PathBuf] {
        &self.v1_dirs
    }

    /// The v2 cgroup id (the node's inode number), as `bpf_get_current_cgroup_id()`
    /// reports it for the group's tasks.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// An `O_DIRECTORY` fd of the v2 node, for `clone3(CLONE_INTO_CGROUP)`: the child
    /// starts in the group, so nothing it does escapes the accounting. On a hybrid host
    /// [`Self::add_pid`] must still put it in the v1 nodes before it runs the workload.
    /// Always `Some` today (every backend has a v2 node); an `Option` so a v1-only
    /// backend can be added without changing callers.
    pub fn v2_dir(&self) -> Option<BorrowedFd<'_>> {
        Some(self.v2_fd.as_fd())
    }

    /// Moves process `pid` (all its threads) into the group: the v2 node (a no-op if
    /// `clone3` placed it there) and every v1 node.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        for dir in std::iter::once(&self.v2).chain(&self.v1_dirs) {
            files::write(&dir.join(CGROUP_PROCS), &pid)?;
        }
        Ok(())
    }

    /// Sets the limits that are `Some`; nothing is written unless every one of them
    /// is valid and has its controller.
    pub fn apply(&self, limits: &Limits) -> Result<(), CgroupError> {
        limits.validate()?;
        let wanted = [
            (
                Controller::Memory,
                "memory_max",
                limits.memory_max.is_some(),
            ),
            (Controller::Cpu, "cpu_weight", limits.cpu_weight.is_some()),
            (Controller::Cpu, "cpu_max", limits.cpu_max.is_some()),
            (Controller::Pids, "pids_max", limits.pids_max.is_some()),
        ];
        for (c, what, set) in wanted {
            if set {
                self.site(c, what)?;
            }
        }
        if let Some(max) = limits.memory_max {
            memory::apply(self.site(Controller::Memory, "memory_max")?, max)?;
        }
        if let Some(w) = limits.cpu_weight {
            cpu::apply_weight(self.site(Controller::Cpu, "cpu_weight")?, w)?;
        }
        if let Some(max) = limits.cpu_max {
            cpu::apply_max(self.site(Controller::Cpu, "cpu_max")?, max)?;
        }
        if let Some(max) = limits.pids_max {
            pids::apply(self.site(Controller::Pids, "pids_max")?, max)?;
        }
        Ok(())
    }

    /// Reads the group's accounting. A controller the host lacks reads as 0.
    pub fn stats(&self) -> Result<CgroupStats, CgroupError> {
        let mem = match self.sites.get(&Controller::Memory) {
            Some(s) => memory::stats(s)?,
            None => Default::default(),
        };
        let (pids_current, pids_max_events) = match self.sites.get(&Controller::Pids) {
            Some(s) => (pids::current(s)?, pids::max_events(s)?),
            None => (0, 0),
        };
        Ok(CgroupStats {
            memory_current: mem.current,
            memory_peak: mem.peak,
            memory_anon: mem.anon,
            memory_file: mem.file,
            cpu_usage_usec: cpu::usage_usec(&self.v2)?,
            pids_current,
            oom_kills: mem.oom_kills,
            pids_max_events,
            frozen: v2_core::is_frozen(&self.v2)?,
        })
    }

    /// Freezes (or thaws) every task in the group, through the v2 node's
    /// `cgroup.freeze`; returns once `cgroup.events` confirms, or fails after 2 s
    /// (a task stuck in the kernel can delay a freeze; the freeze stays requested).
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        v2_core::freeze(&self.v2, frozen, FREEZE_WAIT)
    }

    /// SIGKILLs every process in the group and below it (`cgroup.kill`, else one by one
    /// with the group frozen); returns once the group is empty, or fails after 2 s.
    /// Killed children of the caller stay zombies until it reaps them, outside the group.
    pub fn kill(&self) -> Result<(), CgroupError> {
        v2_core::kill(&self.v2, KILL_WAIT)
    }

    /// `trigger_gc`: reclaims memory from the group and returns the bytes freed. v2:
    /// `memory.reclaim` of `bytes` (all of the charge if `None`). v1: `memory.force_empty`,
    /// which reclaims everything it can and ignores `bytes`. See the `memory` module.
    pub fn reclaim(&self, bytes: Option<u64>) -> Result<u64, CgroupError> {
        memory::reclaim(self.site(Controller::Memory, "reclaim")?, bytes)
    }

    /// The processes in the group and below it, sorted.
    pub fn procs(&self) -> Result<Vec<i32>, CgroupError> {
        files::procs_below(&self.v2)
    }

    /// Whether the OOM killer has killed a process of the group.
    pub fn oom_killed(&self) -> bool {
        self.counter(Controller::Memory, memory::oom_kills) > 0
    }

    /// Whether a fork in the group was refused because of `pids.max`.
    pub fn pids_max_hit(&self) -> bool {
        self.counter(Controller::Pids, pids::max_events) > 0
    }

    fn counter(&self, c: Controller, read: fn(&Site) -> Result<u64, CgroupError>) -> u64 {
        let Some(site) = self.sites.get(&c) else {
            return 0;
        };
        read(site).unwrap_or_else(|e| {
            tracing::warn!(group = %self.name, "{e}");
            0
        })
    }

    fn site(&self, c: Controller, what: &'static str) -> Result<&Site, CgroupError> {
        self.sites
            .get(&c)
            .ok_or_else(|| CgroupError::ControllerUnavailable {
                controller: c,
                limit: what,
                why: self
                    .missing
                    .get(&c)
                    .cloned()
                    .unwrap_or_else(|| "not set up".into()),
            })
    }
}

impl Drop for ProcessCgroup {
    fn drop(&mut self) {
        if self.v2.exists()
            && let Err(e) = self.kill()
        {
            tracing::warn!(group = %self.name, "killing the group: {e}");
        }
        for dir in std::iter::once(&self.v2).chain(&self.v1_dirs) {
            if let Err(e) = files::remove_tree(dir) {
                tracing::warn!(group = %self.name, "removing {}: {e}", dir.display());
            }
        }
    }
}
