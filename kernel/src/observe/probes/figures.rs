//! The per-process figures the probes aggregate in the kernel, summed over CPUs: syscall
//! counts and log2 latency histograms per syscall number, and scheduling figures, for one
//! managed cgroup.

use std::collections::BTreeMap;

use agentos_ebpf_common::LATENCY_BUCKETS;
#[cfg(target_os = "linux")]
use agentos_ebpf_common::{SchedStats, SyscallKey, SyscallStats};
#[cfg(target_os = "linux")]
use aya::maps::{MapData, MapError, PerCpuHashMap};

/// One syscall number's figures for one cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyscallFigures {
    pub count: u64,
    pub total_ns: u64,
    /// Bucket `i` counts calls that took `[2^i, 2^(i+1))` ns; the last one everything longer.
    pub latency_log2: [u64; LATENCY_BUCKETS],
}

/// Scheduling figures for one cgroup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedFigures {
    pub on_cpu_ns: u64,
    pub switches: u64,
    pub runq_ns: u64,
    pub runq_count: u64,
}

/// Everything the probes know about one managed cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeFigures {
    pub cgroup_id: u64,
    /// By syscall number.
    pub syscalls: BTreeMap<u32, SyscallFigures>,
    pub sched: SchedFigures,
    /// What observing it cost (the probes' own run time, charged to it).
    pub observe: ObserveCost,
}

/// The per-CPU maps figures are read from.
#[cfg(target_os = "linux")]
pub(super) struct FigureMaps {
    pub(super) syscalls: PerCpuHashMap<MapData, SyscallKey, SyscallStats>,
    pub(super) sched: PerCpuHashMap<MapData, u64, SchedStats>,
}

#[cfg(target_os = "linux")]
impl std::fmt::Debug for FigureMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FigureMaps").finish_non_exhaustive()
    }
}

#[cfg(target_os = "linux")]
impl FigureMaps {
    /// Sums every CPU's figures for `cgroup_id`.
    pub(super) fn read(&self, cgroup_id: u64) -> Result<ProbeFigures, MapError> {
        let mut figures = ProbeFigures {
            cgroup_id,
            ..ProbeFigures::default()
        };
        for entry in self.syscalls.iter() {
            let (key, per_cpu) = entry?;
            if key.cgroup_id != cgroup_id {
                continue;
            }
            let sum = figures.syscalls.entry(key.nr).or_default();
            for cpu in per_cpu.iter() {
                sum.count += cpu.count;
                sum.total_ns += cpu.total_ns;
                for (total, n) in sum.latency_log2.iter_mut().zip(cpu.latency_log2) {
                    *total += n;
                }
            }
        }
        match self.sched.get(&cgroup_id, 0) {
            Ok(per_cpu) => {
                for cpu in per_cpu.iter() {
                    let s = &mut figures.sched;
                    s.on_cpu_ns += cpu.on_cpu_ns;
                    s.switches += cpu.switches;
                    s.runq_ns += cpu.runq_ns;
                    s.runq_count += cpu.runq_count;
                }
            }
            Err(MapError::KeyNotFound) => {}
            Err(err) => return Err(err),
        }
        Ok(figures)
    }

    /// Deletes every figure of `cgroup_id` (its cgroup is gone), so the maps do not fill up.
    pub(super) fn forget(&mut self, cgroup_id: u64) {
        let keys: Vec<SyscallKey> = self
            .syscalls
            .keys()
            .filter_map(Result::ok)
            .filter(|key| key.cgroup_id == cgroup_id)
            .collect();
        for key in keys {
            let _ = self.syscalls.remove(&key);
        }
        let _ = self.sched.remove(&cgroup_id);
    }
}

/// What observing one cgroup has cost so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObserveCost {
    /// Runs of AgentOS's programs on its behalf.
    pub runs: u64,
    /// Their CPU time, estimated from each program's mean run time, in nanoseconds.
    pub cpu_ns: u64,
}

/// One program's run time and runs as the host kernel counted them (`bpf_prog_info`'s
/// `run_time_ns`, `run_cnt`): cumulative over the program's life, counted only while
/// run-time statistics were on (while AgentOS has managed processes; see `cost`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgramRunTime {
    pub program: &'static str,
    pub run_time_ns: u64,
    pub runs: u64,
}
