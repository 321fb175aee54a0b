//! The daemon's half of the refusal evidence for walls that raise nothing themselves
//! (`kernel-ebpf/src/refusals.rs`): fills `AGENTOS_SECCOMP` once, at load, from the seccomp
//! filter the sandbox installs (`sandbox::seccomp_refusals`), and keeps `AGENTOS_FENCES` (which
//! walls each managed cgroup runs behind) and `AGENTOS_REFRATE` (its rate-limit state) in step
//! with the managed cgroups.
//!
//! Why inferred: seccomp's `SECCOMP_RET_ERRNO` writes no record, and landlock's audit records
//! (Linux 6.15+, `LANDLOCK_RESTRICT_SELF_LOG_*`) go through the audit subsystem, which is off
//! on hosts like this one (`AUDIT_GET` says `enabled 0`) and is the whole host's to switch on,
//! not AgentOS's. So the `sys_exit` probe reads the refusal from the call's result.
//!
//! Leaves nothing on the host: the maps live with the probes' object.

use agentos_ebpf_common::refusal::{RefusalRate, SeccompRule, names};
use aya::maps::{HashMap, MapData, MapError};

use super::{ProbeError, take};

#[derive(Debug)]
pub(super) struct Refusals {
    fences: HashMap<MapData, u64, u32>,
    rate: HashMap<MapData, u64, RefusalRate>,
}

impl Refusals {
    /// Takes the maps out of `ebpf` and writes the seccomp filter's refusals.
    pub(super) fn start(ebpf: &mut aya::Ebpf) -> Result<Self, ProbeError> {
        let map = names::SECCOMP;
        let mut seccomp: HashMap<MapData, u32, SeccompRule> = take(ebpf, map)?;
        for (_, nr, errno, every_call) in crate::sandbox::seccomp_refusals() {
            let (Ok(nr), Ok(errno)) = (u32::try_from(nr), u32::try_from(errno)) else {
                continue;
            };
            let rule = SeccompRule {
                errno,
                every_call: u32::from(every_call),
            };
            seccomp
                .insert(nr, rule, 0)
                .map_err(|source| ProbeError::Map { map, source })?;
        }
        // The map stays filled after its handle is dropped: the programs hold it.
        Ok(Self {
            fences: take(ebpf, names::FENCES)?,
            rate: take(ebpf, names::REFUSAL_RATE)?,
        })
    }

    /// Cgroup `id`'s processes run behind `walls` (`FENCE_*` bits).
    pub(super) fn fence(&mut self, id: u64, walls: u32) -> Result<(), MapError> {
        self.fences.insert(id, walls, 0)
    }

    /// Forgets cgroup `id` (it left the filter).
    pub(super) fn forget(&mut self, id: u64) {
        let _ = self.fences.remove(&id);
        let _ = self.rate.remove(&id);
    }
}
