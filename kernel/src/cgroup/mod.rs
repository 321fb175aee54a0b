//! cgroups: the kernel's own subtree, one group per managed process tree, limits,
//! accounting, freeze and kill.
//!
//! # Host facility
//!
//! Linux control groups, driven by plain reads and writes of their control files (as
//! youki's `libcgroups` does; no extra crate). Detection reads the filesystem magic of
//! the mount ([`CgroupLayout`]): cgroup2 at the root is a unified (v2) host; a tmpfs root
//! with cgroup2 at `unified/` is a hybrid host; a tmpfs root without it is legacy v1.
//!
//! * **Unified** (v2-only hosts): one v2 node per managed process tree; the memory, cpu
//!   and pids controllers are enabled in the kernel directory's `cgroup.subtree_control`.
//! * **Hybrid** (this project's machines): a v2 node in the `unified` tree for identity
//!   (the eBPF probes filter on its id), freeze and kill, plus a node in each v1
//!   controller hierarchy (`memory`, `cpu`, `pids`) for limits and accounting. Every
//!   process is in both. A controller a hybrid host has bound to v2 is used there.
//! * **Legacy** v1-only hosts and hosts without cgroups get [`CgroupManager::Unavailable`]:
//!   there is no v2 node to identify, freeze or kill a group by. There is no portable
//!   backend: limits are then simply not enforced, and `doctor` says so.
//!
//! # Organization
//!
//! * [`CgroupLayout`] detects the mounts.
//! * [`KernelCgroup`] is the kernel's own directory, `agentos-k-<hash of the data dir>`, in
//!   the v2 tree and in each v1 hierarchy it uses; [`sweep_orphans`] removes those of
//!   kernels that died.
//! * [`CgroupManager`] is chosen once from the layout and the kernel's directory and
//!   creates [`ProcessCgroup`]s below it.
//! * `memory`, `cpu` and `pids` hold each controller's files, v1 and v2 side by side
//!   (one `match` on where the controller lives, instead of a trait per version: the set
//!   is closed and most files differ only in name); `v2_core` holds the controller-less
//!   v2 files (`cgroup.freeze`, `cgroup.events`, `cgroup.kill`); `files` does every read
//!   and write, with errors that name the file, the value and the errno.
//!
//! # What stays on the host, and who removes it
//!
//! Directories only, all named `agentos-k-*` (the kernel's) or below one. A
//! [`ProcessCgroup`] kills its processes and removes its nodes on drop; a
//! [`KernelCgroup`] does the same for its whole subtree on drop. After a crash, the next
//! kernel's [`sweep_orphans`] removes every `agentos-k-*` directory whose data directory's
//! `kernel.lock` is no longer held. Nothing without the prefix is ever written, frozen or
//! killed.

mod cpu;
pub mod delegated;
mod error;
mod files;
mod kernel_group;
mod layout;
mod limits;
mod manager;
mod memory;
mod pids;
mod process_group;
mod stats;
mod sweep;
mod v2_core;

pub use error::CgroupError;
pub use files::remove_tree;
pub use kernel_group::{KERNEL_CGROUP_PREFIX, KernelCgroup};
pub use layout::CgroupLayout;
pub use limits::{CpuMax, Limits};
pub use manager::{CgroupManager, KernelTree};
pub use process_group::ProcessCgroup;
pub use stats::CgroupStats;
pub use sweep::{kernel_running, sweep_orphans, sweep_orphans_in};

/// The resource controllers the kernel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Controller {
    Memory,
    Cpu,
    Pids,
}

impl Controller {
    /// Every controller, in the order they are set up.
    pub const ALL: [Self; 3] = [Self::Memory, Self::Cpu, Self::Pids];

    /// The kernel's name for it (`cgroup.controllers`, the v1 mount directory).
    pub fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Cpu => "cpu",
            Self::Pids => "pids",
        }
    }
}

impl std::fmt::Display for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where one controller's files live for a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Site {
    /// In the v2 node (unified host, or a controller a hybrid host bound to v2).
    V2(std::path::PathBuf),
    /// In a v1 hierarchy's node.
    V1(std::path::PathBuf),
}

impl Site {
    pub(crate) fn dir(&self) -> &std::path::Path {
        match self {
            Self::V2(d) | Self::V1(d) => d,
        }
    }
}
