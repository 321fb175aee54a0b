//! [`Welford`]: online mean and variance in O(1) memory, and the z-score test that
//! flags a sample more than [`Z_THRESHOLD`] standard deviations from the mean.

/// A sample this many standard deviations from the mean is an anomaly.
pub const Z_THRESHOLD: f64 = 3.0;
/// Samples a metric needs before it can call anything an anomaly.
pub const WARM_UP: u64 = 30;

/// Running count, mean and sum of squared deviations (Welford, 1962).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Welford {
    count: u64,
    mean: f64,
    m2: f64,
}

impl Welford {
    /// Adds a sample.
    pub fn push(&mut self, x: f64) {
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The sample variance (0 with fewer than two samples).
    pub fn variance(&self) -> f64 {
        if self.count < 2 {
            0.0
        } else {
            self.m2 / (self.count - 1) as f64
        }
    }

    pub fn std_dev(&self) -> f64 {
        self.variance().sqrt()
    }

    /// How many standard deviations `x` lies from the mean so far; `None` until
    /// the metric is warmed up or while it has no spread.
    pub fn z_score(&self, x: f64) -> Option<f64> {
        let sd = self.std_dev();
        (self.count >= WARM_UP && sd > 0.0).then(|| (x - self.mean) / sd)
    }

    /// Tests `x` against the samples so far, then adds it; the z-score if `x` is an
    /// anomaly.
    pub fn observe(&mut self, x: f64) -> Option<f64> {
        let z = self.z_score(x).filter(|z| z.abs() > Z_THRESHOLD);
        self.push(x);
        z
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_variance_match_the_two_pass_figures() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let mut w = Welford::default();
        xs.iter().for_each(|x| w.push(*x));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
        assert!((w.mean() - mean).abs() < 1e-12);
        assert!((w.variance() - var).abs() < 1e-12);
    }
}
