//! [`CgroupStats`]: one reading of a group's accounting.

/// A group's accounting, read from the controller files (each field says which). A
/// controller the host does not give the kernel reads as 0; `doctor` lists them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CgroupStats {
    /// Bytes charged now (`memory.current`; v1 `memory.usage_in_bytes`).
    pub memory_current: u64,
    /// Highest charge seen (`memory.peak`, Linux 5.19+, else the current charge; v1
    /// `memory.max_usage_in_bytes`).
    pub memory_peak: u64,
    /// Anonymous memory (`memory.stat` `anon`; v1 `total_rss`).
    pub memory_anon: u64,
    /// Page cache (`memory.stat` `file`; v1 `total_cache`).
    pub memory_file: u64,
    /// CPU time used by the group's tasks, µs (`cpu.stat` `usage_usec` of the v2 node,
    /// a core file on every v2 tree, hybrid included).
    pub cpu_usage_usec: u64,
    /// Tasks in the group (`pids.current`).
    pub pids_current: u64,
    /// Processes the OOM killer killed in the group (`memory.events` `oom_kill`; v1
    /// `memory.oom_control` `oom_kill`).
    pub oom_kills: u64,
    /// Forks refused because of `pids.max` (`pids.events` `max`).
    pub pids_max_events: u64,
    /// Whether every task is frozen (`cgroup.events` `frozen`).
    pub frozen: bool,
}
