//! [`KernelCgroup`]: the kernel's own directory in each cgroup hierarchy it uses.
//!
//! One v2 directory, `agentos-k-<hash of the data dir>`, directly below the v2 root and
//! tagged with the xattr `user.agentos.data_dir`. Managed processes live below it, and the
//! eBPF probes watch exactly that subtree. On a unified host the memory, cpu and pids
//! controllers are enabled in its `cgroup.subtree_control` (it holds no process itself,
//! so the "no internal processes" rule holds). On a hybrid host a directory of the same
//! name, tagged the same way, is made in each v1 hierarchy that carries one of those
//! controllers (`/sys/fs/cgroup/{memory,cpu,pids}`; co-mounted hierarchies get one).
//!
//! Every directory is killed and removed on drop. After a crash, [`super::sweep_orphans`]
//! of the next kernel removes them; one left by an earlier run on the same data
//! directory is removed by [`KernelCgroup::create_in`] itself.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use super::{
    CgroupError, CgroupLayout, Controller, Site, delegated,
    files::{self, xattr},
    layout::is_v1_mount,
};

/// Prefix of the kernels' cgroup directories.
pub const KERNEL_CGROUP_PREFIX: &str = "agentos-k-";
/// xattr naming the data directory a kernel cgroup belongs to.
pub(crate) const DATA_DIR_XATTR: &str = "user.agentos.data_dir";
/// The controllers a v2 directory's parent lets it enable.
const CGROUP_CONTROLLERS: &str = "cgroup.controllers";
/// Enables controllers for a v2 directory's children (`+memory`).
const CGROUP_SUBTREE_CONTROL: &str = "cgroup.subtree_control";

/// The kernel's own cgroup directories; killed and removed on drop.
pub struct KernelCgroup {
    /// The v2 directory.
    dir: PathBuf,
    v2_root: PathBuf,
    layout: CgroupLayout,
    /// The directories made in v1 hierarchies, one per distinct hierarchy.
    v1_dirs: Vec<PathBuf>,
    /// Where each usable controller lives (the kernel's directory in that hierarchy).
    sites: BTreeMap<Controller, Site>,
    /// Why each unusable controller is unusable.
    missing: BTreeMap<Controller, String>,
    /// Whether it lives in a subtree delegated to an ordinary user.
    delegated: bool,
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

    /// [`Self::create_in`] for a caller that only knows the v2 root; the v1 hierarchies
    /// are found by [`CgroupLayout::from_v2_root`].
    pub fn create(v2_root: &Path, data_dir: &Path) -> Result<Self, CgroupError> {
        Self::create_in(&CgroupLayout::from_v2_root(v2_root), data_dir)
    }

    /// Creates the kernel's directories for `data_dir` (whose `kernel.lock` the caller
    /// holds), first killing and removing ones a crash left behind, and sets up the
    /// controllers by trying them: enabling each in v2, else making a v1 directory.
    /// A controller that fails is recorded (see [`Self::missing`]), not fatal.
    pub fn create_in(layout: &CgroupLayout, data_dir: &Path) -> Result<Self, CgroupError> {
        let v2_root = Self::v2_root_of(layout)?;
        Self::create_under(layout, v2_root, data_dir)
    }

    /// For an ordinary user: the kernel's directory below its own cgroup, when
    /// that cgroup was delegated to it ([`super::delegated`]).
    pub fn create_delegated(layout: &CgroupLayout, data_dir: &Path) -> Result<Self, CgroupError> {
        let v2_root = Self::v2_root_of(layout)?;
        let unavailable = |reason: String| CgroupError::Unavailable { reason };
        let mut own = delegated::own_cgroup(v2_root)?;
        if let Err(not_delegated) = delegated::check_delegated(&own) {
            // Ask systemd for one; say both reasons if that fails too.
            delegated::request_scope(v2_root)
                .map_err(|e| unavailable(format!("{not_delegated}; {e}")))?;
            own = delegated::own_cgroup(v2_root)?;
            delegated::check_delegated(&own).map_err(unavailable)?;
        }
        delegated::enable_controllers(&own)?;
        let mut cg = Self::create_under(layout, &own, data_dir)?;
        cg.delegated = true;
        Ok(cg)
    }

    fn v2_root_of(layout: &CgroupLayout) -> Result<&Path, CgroupError> {
        layout.v2_root().ok_or_else(|| CgroupError::Unavailable {
            reason: format!("no cgroup v2 tree ({layout:?})"),
        })
    }

    /// Creates the kernel's directory below the v2 directory `parent`.
    fn create_under(
        layout: &CgroupLayout,
        parent: &Path,
        data_dir: &Path,
    ) -> Result<Self, CgroupError> {
        let v2_root = Self::v2_root_of(layout)?;
        let name = Self::name_for(data_dir);
        let dir = parent.join(&name);
        if dir.exists() {
            tracing::warn!(dir = %dir.display(), "removing the cgroup of a previous kernel run");
            files::remove_tree(&dir)?;
        }
        files::mkdir(&dir)?;
        let mut cg = Self {
            dir,
            v2_root: v2_root.to_owned(),
            layout: layout.clone(),
            v1_dirs: Vec::new(),
            sites: BTreeMap::new(),
            missing: BTreeMap::new(),
            delegated: false,
        };
        let tag = data_dir.as_os_str().as_encoded_bytes();
        xattr::set(&cg.dir, DATA_DIR_XATTR, tag).map_err(|source| CgroupError::Xattr {
            path: cg.dir.clone(),
            name: DATA_DIR_XATTR,
            source,
        })?;
        cg.set_up_controllers(&name, tag);
        Ok(cg)
    }

    fn set_up_controllers(&mut self, name: &str, tag: &[u8]) {
        let offered = files::read(&self.dir.join(CGROUP_CONTROLLERS)).unwrap_or_default();
        for c in Controller::ALL {
            let why_not_v2 = if offered.split_whitespace().any(|o| o == c.name()) {
                match files::write(
                    &self.dir.join(CGROUP_SUBTREE_CONTROL),
                    &format!("+{}", c.name()),
                ) {
                    Ok(()) => {
                        self.sites.insert(c, Site::V2(self.dir.clone()));
                        continue;
                    }
                    Err(e) => e.to_string(),
                }
            } else {
                format!("the v2 root does not delegate {c}")
            };
            let Some(v1_root) = self.layout.v1_root() else {
                self.missing.insert(c, why_not_v2);
                continue;
            };
            let mount = v1_root.join(c.name());
            if !is_v1_mount(&mount) {
                self.missing.insert(
                    c,
                    format!(
                        "{why_not_v2}, and {} is not a v1 hierarchy",
                        mount.display()
                    ),
                );
                continue;
            }
            // Co-mounted hierarchies (`cpu` -> `cpu,cpuacct`) share one directory.
            let dir = fs::canonicalize(&mount).unwrap_or(mount).join(name);
            if !self.v1_dirs.contains(&dir) {
                if let Err(e) = self.make_v1_dir(&dir, tag) {
                    self.missing.insert(c, format!("{why_not_v2}; v1: {e}"));
                    continue;
                }
                self.v1_dirs.push(dir.clone());
            }
            self.sites.insert(c, Site::V1(dir));
        }
    }

    fn make_v1_dir(&self, dir: &Path, tag: &[u8]) -> Result<(), CgroupError> {
        if dir.exists() {
            tracing::warn!(dir = %dir.display(), "removing the v1 cgroup of a previous kernel run");
            files::remove_tree(dir)?;
        }
        files::mkdir(dir)?;
        // The sweep also finds the owner through the v2 directory of the same name,
        // so a hierarchy without user xattrs still works.
        if let Err(e) = xattr::set(dir, DATA_DIR_XATTR, tag) {
            tracing::debug!(dir = %dir.display(), "v1 cgroup not tagged: {e}");
        }
        Ok(())
    }

    /// Whether it lives in a subtree delegated to an ordinary user.
    pub fn is_delegated(&self) -> bool {
        self.delegated
    }

    /// The kernel's v2 directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn v2_root(&self) -> &Path {
        &self.v2_root
    }

    pub fn layout(&self) -> &CgroupLayout {
        &self.layout
    }

    /// The kernel's directories in v1 hierarchies.
    pub fn v1_dirs(&self) -> &[PathBuf] {
        &self.v1_dirs
    }

    /// Where each usable controller lives.
    pub(crate) fn sites(&self) -> &BTreeMap<Controller, Site> {
        &self.sites
    }

    /// Why each unusable controller is unusable.
    pub fn missing(&self) -> &BTreeMap<Controller, String> {
        &self.missing
    }
}

impl Drop for KernelCgroup {
    fn drop(&mut self) {
        // v2 first: cgroup.kill reaches every process; the v1 directories then empty.
        for dir in std::iter::once(&self.dir).chain(self.v1_dirs.iter().rev()) {
            if let Err(e) = files::remove_tree(dir) {
                tracing::warn!(dir = %dir.display(), "removing the kernel cgroup: {e}");
            }
        }
    }
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
    fn a_unified_root_enables_the_offered_controllers() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let layout = CgroupLayout::Unified {
            root: root.path().to_owned(),
        };
        // mkdir in a tempdir makes no control files: nothing is offered.
        let mut cg = KernelCgroup::create_in(&layout, &data).unwrap();
        let dir = root.path().join(KernelCgroup::name_for(&data));
        assert_eq!(cg.path(), dir);
        assert_eq!(
            xattr::get(&dir, DATA_DIR_XATTR).unwrap(),
            data.as_os_str().as_encoded_bytes()
        );
        assert!(cg.sites().is_empty());
        assert!(cg.missing()[&Controller::Memory].contains("does not delegate memory"));

        // With the files a kernel would show, the offered controllers are enabled.
        fs::write(dir.join(CGROUP_CONTROLLERS), "memory pids io\n").unwrap();
        fs::write(dir.join(CGROUP_SUBTREE_CONTROL), "").unwrap();
        cg.missing.clear();
        cg.set_up_controllers("unused", b"");
        assert_eq!(cg.sites()[&Controller::Memory], Site::V2(dir.clone()));
        assert_eq!(cg.sites()[&Controller::Pids], Site::V2(dir.clone()));
        assert!(cg.missing().contains_key(&Controller::Cpu));
        // A plain file keeps the last write; the kernel accumulates them.
        assert_eq!(
            fs::read_to_string(dir.join(CGROUP_SUBTREE_CONTROL)).unwrap(),
            "+pids"
        );

        for f in [CGROUP_CONTROLLERS, CGROUP_SUBTREE_CONTROL] {
            fs::remove_file(dir.join(f)).unwrap();
        }
        drop(cg);
        assert!(!dir.exists(), "removed on drop");
    }
}
