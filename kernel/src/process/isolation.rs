//! What one process got of the isolation ladder ([`super::SandboxBackend`]) and
//! how its limits are enforced, in words for `agentos run`, `ps` and `/health`.
//!
//! Nothing here is bookkeeping that stands in for a wall: it only names what the
//! spawn really did, so that a weaker rung is never silent.

use agentos_proto::v1 as pb;

use super::SandboxBackend;
use crate::{cgroup::Limits, sandbox::Rlimits};

/// How a process's limits are enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitsBy {
    /// Its own cgroup: memory, pids, CPU weight, freeze and kill for the group.
    Cgroup,
    /// Its own cgroup (freeze, kill, accounting) in a subtree lacking some
    /// controllers; the limits those would hold are rlimits.
    CgroupAndRlimit,
    /// No cgroup could be made for it: rlimits on the program instead.
    Rlimit,
    /// Nothing (the portable backend without cgroups).
    Nothing,
}

impl LimitsBy {
    fn name(self) -> &'static str {
        match self {
            Self::Cgroup => "cgroup",
            Self::CgroupAndRlimit => "cgroup+rlimit",
            Self::Rlimit => "rlimit",
            Self::Nothing => "none",
        }
    }
}

/// A process's isolation, as reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Isolation {
    pub level: &'static str,
    pub limits: LimitsBy,
    pub summary: String,
}

impl Isolation {
    pub fn new(backend: &SandboxBackend, limits: LimitsBy) -> Self {
        let by = match limits {
            LimitsBy::Cgroup => "limits by cgroup",
            LimitsBy::CgroupAndRlimit => {
                "a cgroup for kill, freeze and accounting; limits it has no controller for by rlimit"
            }
            LimitsBy::Rlimit => "limits by rlimit (no delegated cgroup)",
            LimitsBy::Nothing => "no limits (no cgroup)",
        };
        let summary = match (backend, limits) {
            (SandboxBackend::Full, LimitsBy::Cgroup) => "full".to_owned(),
            (SandboxBackend::Full | SandboxBackend::Rootless, _) => {
                format!("{} — {by}", backend.name())
            }
            (SandboxBackend::Walls { reason }, _) => format!(
                "walls only — landlock, seccomp and no_new_privs, no namespaces ({reason}); {by}"
            ),
            (SandboxBackend::Portable { reason }, _) => {
                format!("unconfined — capability checks only ({reason}); {by}")
            }
        };
        Self {
            level: backend.name(),
            limits,
            summary,
        }
    }

    /// Whether this is the whole thing: every namespace and a cgroup.
    pub fn is_full(&self) -> bool {
        self.summary == "full"
    }

    pub fn to_proto(&self) -> pb::Isolation {
        pb::Isolation {
            level: self.level.to_owned(),
            limits: self.limits.name().to_owned(),
            summary: self.summary.clone(),
        }
    }
}

/// The rlimit fallback for `limits` (used when no cgroup holds them): memory as
/// address space, pids as the process count, CPU weight as a nice value (100 is
/// nice 0; each nice step is the scheduler's factor of 1.25). CPU max has no
/// rlimit; it is refused by the caller rather than dropped.
pub fn rlimits_for(limits: &Limits) -> Rlimits {
    Rlimits {
        address_space: limits.memory_max,
        processes: limits.pids_max,
        cpu_seconds: None,
        nice: limits.cpu_weight.map(nice_for_weight),
    }
}

/// The nice value whose scheduler weight is closest to the cgroup `weight`
/// (100 = nice 0), within -20..=19.
pub fn nice_for_weight(weight: u32) -> i32 {
    let steps = -(f64::from(weight.max(1)) / 100.0).ln() / 1.25f64.ln();
    (steps.round() as i32).clamp(-20, 19)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_name_what_is_missing() {
        let full = Isolation::new(&SandboxBackend::Full, LimitsBy::Cgroup);
        assert!(full.is_full());
        assert_eq!(full.summary, "full");
        let r = Isolation::new(&SandboxBackend::Rootless, LimitsBy::Rlimit);
        assert!(!r.is_full());
        assert_eq!(
            r.summary,
            "rootless — limits by rlimit (no delegated cgroup)"
        );
        assert_eq!(r.to_proto().limits, "rlimit");
        let w = Isolation::new(
            &SandboxBackend::Walls {
                reason: "forced".into(),
            },
            LimitsBy::Rlimit,
        );
        assert!(w.summary.starts_with("walls only"), "{}", w.summary);
        let p = Isolation::new(
            &SandboxBackend::Portable { reason: "x".into() },
            LimitsBy::Nothing,
        );
        assert!(p.summary.starts_with("unconfined"), "{}", p.summary);
        assert_eq!(p.level, "portable");
    }

    #[test]
    fn weights_become_nice_values() {
        assert_eq!(nice_for_weight(100), 0);
        assert_eq!(nice_for_weight(10), 10);
        assert_eq!(nice_for_weight(1), 19);
        assert_eq!(nice_for_weight(125), -1);
        assert_eq!(nice_for_weight(10_000), -20);
    }
}
