//! The bench-only programs of the probes' object (`kernel-ebpf/src/floor.rs`), attached on
//! their own so the probe-cost bench (`kernel/benches/probes_syscall.rs`) can set each step
//! of the per-syscall programs' reject path beside the same run's baselines: an empty
//! program ([`Step::Empty`], the floor), then reading the cgroup id, the `MANAGED` lookup,
//! and the subtree check that replaced it, each on `sys_enter` alone or on `sys_enter` and
//! `sys_exit` ([`Hooks`]), as the real programs are. For the scheduling probe's bench
//! (`kernel/benches/probes_sched.rs`), [`Hooks::Sched`] attaches the floor of the
//! per-switch program instead: an empty program on `sched_switch` ([`Step::Empty`] only).
//!
//! The daemon never attaches these. [`FloorPrograms`] loads its own copy of the object, so its
//! maps are its own: `MANAGED` holds the one cgroup it is given and `SUBTREE` that cgroup too,
//! the state the real programs run in while one cgroup is managed. Everything is detached and
//! freed on drop; nothing is left on the host.

#[cfg(target_os = "linux")]
use std::{os::unix::fs::MetadataExt as _, path::Path};

#[cfg(target_os = "linux")]
use agentos_ebpf_common::CostCounts;
use agentos_ebpf_common::names;
#[cfg(target_os = "linux")]
use aya::{Btf, EbpfLoader, maps::PerCpuHashMap};

#[cfg(target_os = "linux")]
use super::{
    ProbeError, ProgramRunTime, btf_program, cost::zero_counts, object, open_cgroup, raw_program,
    run_time, set_subtree,
};

/// One step of the reject path, as a bench-only program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing: the cost of a raw tracepoint program itself.
    Empty,
    /// Reads the current task's v2 cgroup id.
    CgroupId,
    /// Reads the cgroup id and looks it up in `MANAGED`.
    Lookup,
    /// Asks whether the current task is under `SUBTREE`.
    Subtree,
}

impl Step {
    /// The program's name in the object.
    pub fn program(self) -> &'static str {
        match self {
            Self::Empty => names::FLOOR_PROGRAM,
            Self::CgroupId => names::CGROUP_ID_STEP,
            Self::Lookup => names::LOOKUP_STEP,
            Self::Subtree => names::SUBTREE_STEP,
        }
    }
}

/// The tracepoints a step is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hooks {
    /// `sys_enter` only.
    Enter,
    /// `sys_enter` and `sys_exit`, as the real per-syscall programs are.
    EnterExit,
    /// `sched_switch` (a BTF tracepoint), as the real scheduling program is.
    Sched,
}

impl Hooks {
    /// The raw tracepoints' names (none for [`Hooks::Sched`]).
    pub fn tracepoints(self) -> &'static [&'static str] {
        match self {
            Self::Enter => &[names::SYS_ENTER_TRACEPOINT],
            Self::EnterExit => &[names::SYS_ENTER_TRACEPOINT, names::SYS_EXIT_TRACEPOINT],
            Self::Sched => &[],
        }
    }
}

/// A bench-only program, attached; detached with its maps on drop.
#[cfg(target_os = "linux")]
pub struct FloorPrograms {
    ebpf: aya::Ebpf,
    /// The attached programs' names.
    programs: Vec<&'static str>,
}

#[cfg(target_os = "linux")]
impl FloorPrograms {
    /// Attaches `step` to `hooks`, with `cgroup` (a v2 cgroup directory) the one managed
    /// cgroup and the subtree.
    pub fn attach(step: Step, hooks: Hooks, cgroup: &Path) -> Result<Self, ProbeError> {
        let object = object().ok_or(ProbeError::NotBuiltIn)?;
        let btf = Btf::from_sys_fs().map_err(ProbeError::LoaderBtf)?;
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .load(object)
            .map_err(ProbeError::Load)?;
        let dir = open_cgroup(cgroup)?;
        let id = dir
            .metadata()
            .map_err(|source| ProbeError::OpenCgroup {
                path: cgroup.to_owned(),
                source,
            })?
            .ino();
        set_subtree(&mut ebpf, cgroup)?;
        let map = names::MANAGED;
        let managed = ebpf.map_mut(map).ok_or(ProbeError::MissingMap { map })?;
        PerCpuHashMap::<_, u64, CostCounts>::try_from(managed)
            .and_then(|mut managed| managed.insert(id, zero_counts()?, 0))
            .map_err(|source| ProbeError::Map { map, source })?;
        if hooks == Hooks::Sched {
            if step != Step::Empty {
                return Err(ProbeError::MissingProgram {
                    program: step.program(),
                });
            }
            for (program, tracepoint) in names::SWITCH_FLOOR {
                let prog = btf_program(&mut ebpf, program)?;
                prog.load(tracepoint, &btf)
                    .map_err(|source| ProbeError::LoadProgram { program, source })?;
                prog.attach().map_err(|source| ProbeError::Attach {
                    program,
                    tracepoint,
                    source,
                })?;
            }
            let programs = names::SWITCH_FLOOR.map(|(program, _)| program).to_vec();
            return Ok(Self { ebpf, programs });
        }
        let program = step.program();
        let prog = raw_program(&mut ebpf, program)?;
        prog.load()
            .map_err(|source| ProbeError::LoadProgram { program, source })?;
        for &tracepoint in hooks.tracepoints() {
            prog.attach(tracepoint)
                .map_err(|source| ProbeError::Attach {
                    program,
                    tracepoint,
                    source,
                })?;
        }
        Ok(Self {
            ebpf,
            programs: vec![program],
        })
    }

    /// Each attached program's run time and runs so far (counted while the host's BPF
    /// run-time statistics are on, [`super::RunTimeStats`]).
    pub fn run_times(&self) -> Vec<ProgramRunTime> {
        self.programs
            .iter()
            .filter_map(|&program| run_time(&self.ebpf, program))
            .collect()
    }
}
