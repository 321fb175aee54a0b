//! Priorities: nice levels (-20 ..= 19) and the cgroup CPU weights they map to.
//!
//! The weight follows the Linux scheduler's own table (`sched_prio_to_weight`: each
//! nice step is ×1.25), scaled so nice 0 is the cgroup default weight 100:
//! weight = 100 × 1.25^(−nice), clamped to 1 ..= 10000.

/// Lowest (most favoured) nice value.
pub const NICE_MIN: i32 = -20;
/// Highest (least favoured) nice value.
pub const NICE_MAX: i32 = 19;

/// The cgroup v2 `cpu.weight` for a nice level.
pub fn weight_for_nice(nice: i32) -> u32 {
    let nice = nice.clamp(NICE_MIN, NICE_MAX);
    (100.0 * 1.25f64.powi(-nice)).round().clamp(1.0, 10_000.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_kernels_ten_percent_rule() {
        assert_eq!(weight_for_nice(0), 100);
        assert_eq!(weight_for_nice(-5), 305);
        assert_eq!(weight_for_nice(5), 33);
        assert_eq!(weight_for_nice(-20), 8674);
        assert_eq!(weight_for_nice(19), 1);
        assert_eq!(weight_for_nice(-100), weight_for_nice(-20));
        assert!(weight_for_nice(-1) > weight_for_nice(0));
    }
}
