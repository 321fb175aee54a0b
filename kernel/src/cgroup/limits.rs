//! [`Limits`]: what a group may use, checked before anything is written.

use super::CgroupError;

/// Resource limits for one group. `None` leaves a limit as it is (on a new group: the
/// kernel's default, unlimited); [`Limits::UNLIMITED`] lifts one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of RAM plus swap (`memory.max` + `memory.swap.max = 0` on v2;
    /// `memory.limit_in_bytes` = `memory.memsw.limit_in_bytes` on v1). Past it the
    /// kernel reclaims, then OOM-kills inside the group.
    pub memory_max: Option<u64>,
    /// Relative CPU share among sibling groups, 1..=10000 (100 is the default).
    pub cpu_weight: Option<u32>,
    /// A hard CPU bandwidth cap.
    pub cpu_max: Option<CpuMax>,
    /// Maximum number of tasks (processes and threads) in the group.
    pub pids_max: Option<u64>,
}

/// CPU bandwidth: at most `quota_us` of CPU time per `period_us` (across all CPUs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuMax {
    /// [`Limits::UNLIMITED`] (`u64::MAX`): no cap (`max`).
    pub quota_us: u64,
    pub period_us: u64,
}

impl CpuMax {
    /// The kernel's default period.
    pub const DEFAULT_PERIOD_US: u64 = 100_000;

    /// No cap, with the default period.
    pub const UNLIMITED: Self = Self {
        quota_us: Limits::UNLIMITED,
        period_us: Self::DEFAULT_PERIOD_US,
    };
}

/// The kernel's bounds (kernel/sched/core.c: `min_cfs_quota_period` 1 ms,
/// `max_cfs_quota_period` 1 s; a quota below 1 ms is refused).
const CPU_PERIOD_US: std::ops::RangeInclusive<u64> = 1_000..=1_000_000;
const CPU_QUOTA_MIN_US: u64 = 1_000;
/// cgroup v2's `cpu.weight` range.
pub(crate) const CPU_WEIGHT: std::ops::RangeInclusive<u32> = 1..=10_000;

impl Limits {
    /// Lifts a memory or pids limit.
    pub const UNLIMITED: u64 = u64::MAX;

    /// Refuses values the kernel would refuse, before anything is written.
    pub fn validate(&self) -> Result<(), CgroupError> {
        if let Some(w) = self.cpu_weight
            && !CPU_WEIGHT.contains(&w)
        {
            return Err(CgroupError::InvalidLimit {
                what: "cpu_weight",
                value: w.to_string(),
                why: "must be 1..=10000",
            });
        }
        if let Some(m) = self.cpu_max {
            if !CPU_PERIOD_US.contains(&m.period_us) {
                return Err(CgroupError::InvalidLimit {
                    what: "cpu_max.period_us",
                    value: m.period_us.to_string(),
                    why: "must be 1000..=1000000 (1 ms to 1 s)",
                });
            }
            if m.quota_us < CPU_QUOTA_MIN_US {
                return Err(CgroupError::InvalidLimit {
                    what: "cpu_max.quota_us",
                    value: m.quota_us.to_string(),
                    why: "must be at least 1000 (1 ms)",
                });
            }
        }
        if self.memory_max == Some(0) {
            return Err(CgroupError::InvalidLimit {
                what: "memory_max",
                value: "0".into(),
                why: "a group with no memory cannot run anything",
            });
        }
        Ok(())
    }

    /// Whether any limit is set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(Limits::default().validate().is_ok());
        let ok = Limits {
            memory_max: Some(64 << 20),
            cpu_weight: Some(10_000),
            cpu_max: Some(CpuMax {
                quota_us: 50_000,
                period_us: 100_000,
            }),
            pids_max: Some(0),
        };
        assert!(ok.validate().is_ok());
        for bad in [
            Limits {
                cpu_weight: Some(0),
                ..Default::default()
            },
            Limits {
                cpu_weight: Some(10_001),
                ..Default::default()
            },
            Limits {
                cpu_max: Some(CpuMax {
                    quota_us: 999,
                    period_us: 100_000,
                }),
                ..Default::default()
            },
            Limits {
                cpu_max: Some(CpuMax {
                    quota_us: Limits::UNLIMITED,
                    period_us: 2_000_000,
                }),
                ..Default::default()
            },
            Limits {
                memory_max: Some(0),
                ..Default::default()
            },
        ] {
            let e = bad.validate().unwrap_err();
            assert!(e.is_invalid_input(), "{e}");
        }
    }
}
