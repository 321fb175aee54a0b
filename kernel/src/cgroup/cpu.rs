//! The cpu controller, v2 and v1: weight, bandwidth cap, and usage.
//!
//! # Weight on v1
//!
//! v2's `cpu.weight` (1..=10000, default 100) becomes v1's `cpu.shares` (2..=262144,
//! default 1024) as `shares = weight * 1024 / 100`, clamped: systemd's mapping
//! (`CPUWeight=` → `CPUShares=`). It maps the default to the default and keeps ratios
//! exact (100:300 → 1024:3072), which is what the scheduler relies on. OCI's
//! `shares → weight` formula (`1 + (shares - 2) * 9999 / 262142`, used by runc and youki)
//! is meant for the other direction and would turn weight 100 into 2597 shares.
//!
//! # Usage
//!
//! CPU time comes from the v2 node's `cpu.stat` `usage_usec`, a core file every v2
//! directory has, controller or not; so a hybrid host needs no `cpuacct` hierarchy.

use std::path::Path;

use super::{CgroupError, CpuMax, Limits, Site, files};

// v2 files.
const CPU_WEIGHT: &str = "cpu.weight";
const CPU_MAX: &str = "cpu.max";
/// Core v2 file (rstat): present without the cpu controller.
const CPU_STAT: &str = "cpu.stat";
// v1 files.
const CPU_SHARES: &str = "cpu.shares";
const CPU_CFS_QUOTA_US: &str = "cpu.cfs_quota_us";
const CPU_CFS_PERIOD_US: &str = "cpu.cfs_period_us";

/// v1 `cpu.shares` bounds (kernel/sched: `MIN_SHARES`, `MAX_SHARES`).
const SHARES_MIN: u64 = 2;
const SHARES_MAX: u64 = 262_144;

/// `cpu.weight` → `cpu.shares` (see the module docs).
pub(crate) fn weight_to_shares(weight: u32) -> u64 {
    (u64::from(weight) * 1024 / 100).clamp(SHARES_MIN, SHARES_MAX)
}

pub(crate) fn apply_weight(site: &Site, weight: u32) -> Result<(), CgroupError> {
    match site {
        Site::V2(dir) => files::write(&dir.join(CPU_WEIGHT), &weight.to_string()),
        Site::V1(dir) => files::write(&dir.join(CPU_SHARES), &weight_to_shares(weight).to_string()),
    }
}

pub(crate) fn apply_max(site: &Site, max: CpuMax) -> Result<(), CgroupError> {
    match site {
        Site::V2(dir) => {
            let quota = match max.quota_us {
                Limits::UNLIMITED => "max".to_owned(),
                q => q.to_string(),
            };
            files::write(&dir.join(CPU_MAX), &format!("{quota} {}", max.period_us))
        }
        Site::V1(dir) => {
            // -1: no quota.
            let quota = match max.quota_us {
                Limits::UNLIMITED => "-1".to_owned(),
                q => q.to_string(),
            };
            files::write(&dir.join(CPU_CFS_PERIOD_US), &max.period_us.to_string())?;
            files::write(&dir.join(CPU_CFS_QUOTA_US), &quota)
        }
    }
}

/// CPU time used by the tasks of the v2 node `dir` and below, in µs.
pub(crate) fn usage_usec(dir: &Path) -> Result<u64, CgroupError> {
    files::read_keyed(&dir.join(CPU_STAT), "usage_usec")
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn weight_maps_to_shares_keeping_ratios() {
        assert_eq!(weight_to_shares(100), 1024, "default to default");
        assert_eq!(weight_to_shares(300), 3 * weight_to_shares(100));
        assert_eq!(weight_to_shares(1), 10);
        assert_eq!(weight_to_shares(10_000), 102_400);
        for w in [1, 50, 100, 1000, 10_000] {
            assert!((SHARES_MIN..=SHARES_MAX).contains(&weight_to_shares(w)));
        }
    }

    #[test]
    fn v2_and_v1_files() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            CPU_WEIGHT,
            CPU_MAX,
            CPU_SHARES,
            CPU_CFS_QUOTA_US,
            CPU_CFS_PERIOD_US,
        ] {
            fs::write(d.path().join(f), "").unwrap();
        }
        let read = |f: &str| fs::read_to_string(d.path().join(f)).unwrap();
        let v2 = Site::V2(d.path().to_owned());
        let v1 = Site::V1(d.path().to_owned());
        let half = CpuMax {
            quota_us: 50_000,
            period_us: 100_000,
        };

        apply_weight(&v2, 300).unwrap();
        assert_eq!(read(CPU_WEIGHT), "300");
        apply_max(&v2, half).unwrap();
        assert_eq!(read(CPU_MAX), "50000 100000");
        apply_max(&v2, CpuMax::UNLIMITED).unwrap();
        assert_eq!(read(CPU_MAX), "max 100000");

        apply_weight(&v1, 300).unwrap();
        assert_eq!(read(CPU_SHARES), "3072");
        apply_max(&v1, half).unwrap();
        assert_eq!(
            (read(CPU_CFS_QUOTA_US), read(CPU_CFS_PERIOD_US)),
            ("50000".into(), "100000".into())
        );
        apply_max(&v1, CpuMax::UNLIMITED).unwrap();
        assert_eq!(read(CPU_CFS_QUOTA_US), "-1");
    }

    #[test]
    fn usage_from_cpu_stat() {
        let d = tempfile::tempdir().unwrap();
        fs::write(
            d.path().join(CPU_STAT),
            "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 0\n",
        )
        .unwrap();
        assert_eq!(usage_usec(d.path()).unwrap(), 2_500_000);
    }
}
