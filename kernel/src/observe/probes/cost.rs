//! What watching costs, charged per app: the probes' own CPU time, split between the managed
//! cgroups whose events made them run.
//!
//! # How
//!
//! The host kernel counts each BPF program's run time and runs (`run_time_ns`, `run_cnt` in
//! its `bpf_prog_info`) only while run-time statistics are on (`BPF_ENABLE_STATS`, the
//! `kernel.bpf_stats_enabled` switch). The switch is the host's, not ours: while it is on,
//! every BPF program on the host pays two clock reads a run, and the probe-cost bench
//! (`kernel/benches/probes_syscall.rs`) measured that as the largest part of what the
//! probes cost a syscall of a process AgentOS does not manage (about 180 ns a hooked
//! syscall here). So the statistics are sampled, not kept on: [`StatsSampler`] turns them
//! on for [`STATS_SAMPLE`] when the high-frequency programs are attached (a first sample)
//! and when someone reads the cost (`agentos ps`, `ProbeStats`, `/metrics`), at most once
//! per [`STATS_REST`] after the last sample began, and off when the sample ends or nothing
//! is managed any more. A task manager polling every second thus keeps them on for 10 s in
//! every 5 min and 10 s, not all the time.
//!
//! Each program counts, per managed cgroup and per CPU, every run it made on that cgroup's
//! behalf (the value of the cgroup's key in the `AGENTOS_MANAGED` map, one slot per program
//! of [`cost`]), statistics on or off. A
//! cgroup's cost is, summed over the programs, the program's mean run time over the sampled
//! periods times the cgroup's runs of it: an estimate, as any sample is. The mean includes the
//! runs that the cgroup filter turned away (a task outside AgentOS), which are cheaper than a
//! run that records, so the figure leans low; what is not charged to any cgroup is the
//! filter's cost on the rest of the host.
//!
//! # What it leaves on the host
//!
//! Nothing: the statistics switch is an fd, closed when a sample ends, with the probes,
//! or with the daemon.

use std::{
    os::fd::OwnedFd,
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::{Duration, Instant},
};

use agentos_ebpf_common::{CostCounts, cost, names};
use aya::maps::{MapData, MapError, PerCpuHashMap, PerCpuValues};

use super::{ObserveCost, ProbeError, STATS_REST, STATS_SAMPLE};

/// The counted programs by their index in [`cost`].
pub(super) const COUNTED: [(usize, &str); cost::PROGRAMS] = [
    (cost::EXEC, names::EXEC_PROGRAM),
    (cost::FORK, names::FORK_PROGRAM),
    (cost::EXIT, names::EXIT_PROGRAM),
    (cost::SYS_IN, names::SYS_ENTER_PROGRAM),
    (cost::SYS_OUT, names::SYS_EXIT_PROGRAM),
    (cost::TCP, names::TCP_STATE_PROGRAM),
    (cost::SWITCH, names::SWITCH_PROGRAM),
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
pub struct RunTimeStats {
    _fd: OwnedFd,
}

impl RunTimeStats {
    /// Turns them on (the kernel counts the holders: they go off when the last fd closes).
    pub fn on() -> Result<Self, ProbeError> {
        aya::sys::enable_stats(aya::sys::Stats::RunTime)
            .map(|fd| Self { _fd: fd })
            .map_err(ProbeError::Stats)
    }
}

/// The run-time statistics, on for samples of a term, one per rest at most.
#[derive(Clone, Debug)]
pub(super) struct StatsSampler {
    lease: Arc<Mutex<Lease>>,
    /// How long a sample keeps them on ([`STATS_SAMPLE`] but in tests).
    term: Duration,
    /// How long after a sample began the next may begin ([`STATS_REST`] but in tests).
    rest: Duration,
}

impl Default for StatsSampler {
    fn default() -> Self {
        Self::new(STATS_SAMPLE, STATS_REST)
    }
}

#[derive(Debug, Default)]
struct Lease {
    /// On while this is held.
    on: Option<RunTimeStats>,
    /// When the last sample began (it ends a term later).
    began: Option<Instant>,
}

impl StatsSampler {
    /// Samples of `term`, each beginning at least `rest` after the one before.
    pub(super) fn new(term: Duration, rest: Duration) -> Self {
        Self {
            lease: Arc::default(),
            term,
            rest,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lease> {
        self.lease.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Begins a sample unless one is on or the last began less than the rest ago; a task
    /// on `runtime` turns the statistics off when it ends. A sample on is not lengthened.
    pub(super) fn sample(&self, runtime: &tokio::runtime::Handle) -> Result<(), ProbeError> {
        let mut lease = self.lock();
        let now = Instant::now();
        if lease.on.is_some() || lease.began.is_some_and(|began| now < began + self.rest) {
            return Ok(());
        }
        lease.on = Some(RunTimeStats::on()?);
        lease.began = Some(now);
        runtime.spawn(expire(Arc::downgrade(&self.lease), now, now + self.term));
        Ok(())
    }

    /// Turns the statistics off now.
    pub(super) fn end(&self) {
        self.lock().on = None;
    }

    /// Whether the statistics are on (held by this sampler).
    pub(super) fn is_on(&self) -> bool {
        self.lock().on.is_some()
    }
}

/// Waits until the sample that `began` is to end, then turns the statistics off, unless
/// the probes are gone or a later sample is on (it has a task of its own).
async fn expire(lease: Weak<Mutex<Lease>>, began: Instant, until: Instant) {
    tokio::time::sleep_until(until.into()).await;
    let Some(lease) = lease.upgrade() else {
        return;
    };
    let mut lease = lease.lock().unwrap_or_else(|p| p.into_inner());
    if lease.began == Some(began) {
        lease.on = None;
    }
}

/// A program's run time and runs, as the kernel counted them while statistics were on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ProgramRuns {
    pub(super) run_time_ns: u64,
    pub(super) runs: u64,
}

/// The `AGENTOS_MANAGED` map: its keys are the managed cgroups, its values their runs of
/// each program.
pub(super) struct CostMap(pub(super) PerCpuHashMap<MapData, u64, CostCounts>);

impl std::fmt::Debug for CostMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CostMap").finish_non_exhaustive()
    }
}

/// Zeroed counts for every CPU: the value a cgroup is managed with.
pub(super) fn zero_counts() -> Result<PerCpuValues<CostCounts>, MapError> {
    let cpus = aya::util::nr_cpus().map_err(|(_, error)| MapError::IoError(error))?;
    Ok(PerCpuValues::try_from(vec![CostCounts::default(); cpus])?)
}

impl CostMap {
    /// Manages `cgroup_id`: its key, with its counters at zero.
    pub(super) fn open(&mut self, cgroup_id: u64) -> Result<(), MapError> {
        self.0.insert(cgroup_id, zero_counts()?, 0)
    }

    /// Takes `cgroup_id` out; whether it was in.
    pub(super) fn close(&mut self, cgroup_id: u64) -> bool {
        self.0.remove(&cgroup_id).is_ok()
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

/// A cgroup's share of the programs' run time: per program, its mean run time over the
/// sampled periods times the cgroup's runs of it (all of them: the runs are counted whether
/// the statistics are on or not). `programs[i]` is program `i`'s sampled totals (zero when it
/// is not loaded or was never sampled: then nothing is charged for it).
pub(super) fn apportion(
    counts: &CostCounts,
    programs: &[ProgramRuns; cost::PROGRAMS],
) -> ObserveCost {
    let mut out = ObserveCost::default();
    for (&runs, p) in counts.runs.iter().zip(programs) {
        out.runs += runs;
        if p.runs > 0 {
            let share = u128::from(p.run_time_ns) * u128::from(runs) / u128::from(p.runs);
            out.cpu_ns = out
                .cpu_ns
                .saturating_add(u64::try_from(share).unwrap_or(u64::MAX));
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
    fn runs_outside_the_sampled_periods_are_charged_at_the_sampled_mean() {
        // Sampled: 5 runs in 50 ns. The cgroup ran it 9 times, most with statistics off.
        let mut programs = [ProgramRuns::default(); cost::PROGRAMS];
        programs[cost::SWITCH] = ProgramRuns {
            run_time_ns: 50,
            runs: 5,
        };
        let mut counts = CostCounts::default();
        counts.runs[cost::SWITCH] = 9;
        assert_eq!(apportion(&counts, &programs).cpu_ns, 90);
    }

    #[tokio::test]
    async fn a_sample_runs_its_term_however_often_asked_and_the_next_waits_out_the_rest() {
        if !nix::unistd::geteuid().is_root() {
            // BPF_ENABLE_STATS needs CAP_SYS_ADMIN.
            crate::testing::skip("cost::a_sample_runs_its_term…", "needs root");
            return;
        }
        const TERM: Duration = Duration::from_millis(300);
        const REST: Duration = Duration::from_millis(1200);
        let stats = StatsSampler::new(TERM, REST);
        let runtime = tokio::runtime::Handle::current();
        let began = Instant::now();
        stats.sample(&runtime).expect("BPF_ENABLE_STATS");
        assert!(stats.is_on());
        tokio::time::sleep(TERM / 2).await;
        stats.sample(&runtime).expect("asked again");
        tokio::time::sleep(TERM).await;
        assert!(!stats.is_on(), "a sample lengthened by asking again");
        stats.sample(&runtime).expect("asked during the rest");
        assert!(
            !stats.is_on() || began.elapsed() >= REST,
            "a sample began during the rest"
        );
        tokio::time::sleep_until((began + REST).into()).await;
        stats.sample(&runtime).expect("asked after the rest");
        assert!(stats.is_on(), "no sample after the rest");
        stats.end();
        assert!(!stats.is_on());
    }
}
