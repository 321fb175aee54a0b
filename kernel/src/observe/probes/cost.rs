//! What watching costs, charged per app: the probes' own CPU time, split between the managed
//! cgroups whose events made them run.
//!
//! # How
//!
//! The host kernel counts each BPF program's run time and runs (`run_time_ns`, `run_cnt` in
//! its `bpf_prog_info`) only while run-time statistics are on (`BPF_ENABLE_STATS`, the
//! `kernel.bpf_stats_enabled` switch): [`StatsSwitch`] holds them on while the high-frequency
//! programs are attached, that is while AgentOS has managed processes, and its drop turns them
//! off again. The switch is the host's, not ours: while it is on, every BPF program on the host
//! pays two clock reads a run, which is why it is on only while there is something to charge.
//!
//! Each program counts, per managed cgroup and per CPU, the runs it made on that cgroup's
//! behalf (the `AGENTOS_COST` map, one slot per program of [`cost`]). A cgroup's cost is,
//! summed over the programs, the program's mean run time times the cgroup's runs of it. The
//! mean includes the runs that the cgroup filter turned away (a task outside AgentOS), which
//! are cheaper than a run that records, so the figure is a slight under-estimate; what is not
//! charged to any cgroup is the filter's cost on the rest of the host.
//!
//! # What it leaves on the host
//!
//! Nothing: the statistics switch is an fd, closed with the probes or the daemon.

use std::os::fd::OwnedFd;

use agentos_ebpf_common::{CostCounts, cost, names};
use aya::maps::{MapData, MapError, PerCpuHashMap, PerCpuValues};

use super::ObserveCost;

/// The counted programs by their index in [`cost`].
pub(super) const COUNTED: [(usize, &str); cost::PROGRAMS] = [
    (cost::EXEC, names::EXEC_PROGRAM),
    (cost::FORK, names::FORK_PROGRAM),
    (cost::EXIT, names::EXIT_PROGRAM),
    (cost::SYS_IN, names::SYS_ENTER_PROGRAM),
    (cost::SYS_OUT, names::SYS_EXIT_PROGRAM),
    (cost::TCP, names::TCP_STATE_PROGRAM),
    (cost::SWITCH, names::SWITCH_PROGRAM),
    (cost::WAKEUP, names::WAKEUP_PROGRAM),
    (cost::WAKEUP_NEW, names::WAKEUP_NEW_PROGRAM),
    (cost::OPEN_WALL, names::OPEN_WALL_PROGRAM),
    (cost::CONNECT4_WALL, names::CONNECT4_WALL_PROGRAM),
    (cost::CONNECT6_WALL, names::CONNECT6_WALL_PROGRAM),
    (cost::SEND4_WALL, names::SEND4_WALL_PROGRAM),
    (cost::SEND6_WALL, names::SEND6_WALL_PROGRAM),
    (cost::BIND4_WALL, names::BIND4_WALL_PROGRAM),
    (cost::BIND6_WALL, names::BIND6_WALL_PROGRAM),
];

/// Keeps the host's BPF run-time statistics on while it lives.
#[derive(Debug)]
pub(super) struct StatsSwitch {
    _fd: OwnedFd,
}

impl StatsSwitch {
    pub(super) fn on() -> Result<Self, aya::sys::SyscallError> {
        aya::sys::enable_stats(aya::sys::Stats::RunTime).map(|fd| Self { _fd: fd })
    }
}

/// A program's run time and runs, as the kernel counted them while statistics were on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ProgramRuns {
    pub(super) run_time_ns: u64,
    pub(super) runs: u64,
}

/// The `AGENTOS_COST` map.
pub(super) struct CostMap(pub(super) PerCpuHashMap<MapData, u64, CostCounts>);

impl std::fmt::Debug for CostMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CostMap").finish_non_exhaustive()
    }
}

impl CostMap {
    /// Creates `cgroup_id`'s counters at zero, so the programs count its runs.
    pub(super) fn open(&mut self, cgroup_id: u64) -> Result<(), MapError> {
        let cpus = aya::util::nr_cpus().map_err(|(_, error)| MapError::IoError(error))?;
        let zeros = PerCpuValues::try_from(vec![CostCounts::default(); cpus])?;
        self.0.insert(cgroup_id, zeros, 0)
    }

    pub(super) fn close(&mut self, cgroup_id: u64) {
        let _ = self.0.remove(&cgroup_id);
    }

    /// `cgroup_id`'s runs of each program, summed over CPUs.
    pub(super) fn runs(&self, cgroup_id: u64) -> Result<CostCounts, MapError> {
        let mut sum = CostCounts::default();
        match self.0.get(&cgroup_id, 0) {
            Ok(per_cpu) => {
                for cpu in per_cpu.iter() {
                    for (total, n) in sum.runs.iter_mut().zip(cpu.runs) {
                        *total += n;
                    }
                }
                Ok(sum)
            }
            Err(MapError::KeyNotFound) => Ok(sum),
            Err(err) => Err(err),
        }
    }
}

/// A cgroup's share of the programs' run time: per program, its mean run time times the
/// cgroup's runs of it. `programs[i]` is program `i`'s totals (zero when it is not loaded).
pub(super) fn apportion(
    counts: &CostCounts,
    programs: &[ProgramRuns; cost::PROGRAMS],
) -> ObserveCost {
    let mut out = ObserveCost::default();
    for (&runs, p) in counts.runs.iter().zip(programs) {
        out.runs += runs;
        if p.runs > 0 {
            // The cgroup's runs can exceed the kernel's count only by runs made before the
            // statistics went on; never charge more than the program's whole time.
            let share =
                u128::from(p.run_time_ns) * u128::from(runs.min(p.runs)) / u128::from(p.runs);
            out.cpu_ns += share as u64;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_pays_the_mean_run_time_of_its_runs() {
        let mut programs = [ProgramRuns::default(); cost::PROGRAMS];
        programs[cost::SYS_IN] = ProgramRuns {
            run_time_ns: 1_000,
            runs: 10,
        };
        programs[cost::EXEC] = ProgramRuns {
            run_time_ns: 900,
            runs: 3,
        };
        let mut counts = CostCounts::default();
        counts.runs[cost::SYS_IN] = 4;
        counts.runs[cost::EXEC] = 1;
        // A program the kernel never timed (not loaded): runs counted, nothing charged.
        counts.runs[cost::OPEN_WALL] = 2;
        assert_eq!(
            apportion(&counts, &programs),
            ObserveCost {
                runs: 7,
                cpu_ns: 400 + 300,
            }
        );
    }

    #[test]
    fn never_more_than_the_programs_whole_time() {
        let mut programs = [ProgramRuns::default(); cost::PROGRAMS];
        programs[cost::SWITCH] = ProgramRuns {
            run_time_ns: 50,
            runs: 5,
        };
        let mut counts = CostCounts::default();
        counts.runs[cost::SWITCH] = 9;
        assert_eq!(apportion(&counts, &programs).cpu_ns, 50);
    }
}
