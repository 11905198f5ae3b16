//! A log histogram of milliseconds (buckets 2 % wide): bounded memory for run-long percentiles.

/// Log histogram of milliseconds: buckets 2 % wide from 1 µs up to ~10 min.
#[derive(Clone, Debug, Default)]
pub struct Hist {
    counts: Vec<u64>,
    n: u64,
    pub max: f64,
}

const GROWTH: f64 = 1.02;
const BUCKETS: usize = 1100;

impl Hist {
    pub fn add(&mut self, ms: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        let us = (ms * 1000.0).max(1.0);
        let i = ((us.ln() / GROWTH.ln()) as usize).min(BUCKETS - 1);
        self.counts[i] += 1;
        self.n += 1;
        self.max = self.max.max(ms);
    }

    /// Nearest-rank quantile, as the upper edge of its bucket (never above the maximum).
    pub fn quantile(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return (GROWTH.powi(i as i32 + 1) / 1000.0).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quantiles within the 2 % bucket width; the maximum is exact.
    #[test]
    fn quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let mut h = Hist::default();
        for x in &v {
            h.add(*x);
        }
        assert!(
            (h.quantile(0.5) / 50.0 - 1.0).abs() <= 0.02,
            "{}",
            h.quantile(0.5)
        );
        assert!((h.quantile(0.99) / 99.0 - 1.0).abs() <= 0.02);
        assert_eq!(h.quantile(1.0), 100.0);
        assert_eq!(Hist::default().quantile(0.5), 0.0);
    }
}
