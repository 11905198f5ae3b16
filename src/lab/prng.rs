//! A small, fast pseudo-random generator for fault injection: SplitMix64 over one shared
//! atomic counter. Each draw is one `fetch_add` plus a few multiplies, lock-free from any
//! number of threads, and no two draws return the same state (the counter only moves on).
//!
//! Not for anything secret: the seed is the start time and PID, so runs differ, and the
//! sequence is predictable to anyone who knows them — fine for "fail 10% of requests".

use std::sync::atomic::{AtomicU64, Ordering};

/// The golden-ratio increment of SplitMix64 (an odd constant: the counter visits every value).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

pub struct Prng(AtomicU64);

/// SplitMix64's output function: a bijective mix of the counter.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng(AtomicU64::new(seed))
    }

    /// Seeded from the clock's nanoseconds and the PID, so two replicas (both PID 1 in their
    /// containers) started in the same second still draw differently.
    pub fn from_entropy() -> Prng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Prng::new(mix(nanos ^ u64::from(std::process::id()).rotate_left(32)))
    }

    pub fn next_u64(&self) -> u64 {
        // Relaxed: the counter publishes no other memory; only its uniqueness matters.
        mix(self
            .0
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA))
    }

    /// Uniform in `[0, 1)`: the top 53 bits as a double's mantissa.
    pub fn unit(&self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (`p <= 0` never, `p >= 1` always).
    pub fn chance(&self, p: f64) -> bool {
        self.unit() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published first output of SplitMix64 seeded with 0 (the reference implementation
    /// increments first, then mixes).
    #[test]
    fn matches_the_reference_sequence() {
        let r = Prng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn unit_is_in_range_and_roughly_uniform() {
        let r = Prng::new(42);
        let mut buckets = [0u32; 10];
        for _ in 0..100_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            buckets[(u * 10.0) as usize] += 1;
        }
        // Seeded, so deterministic; each tenth gets 10_000 ± 3%.
        for b in buckets {
            assert!((9_700..=10_300).contains(&b), "{buckets:?}");
        }
    }

    #[test]
    fn chance_edges_and_rate() {
        let r = Prng::new(7);
        assert!((0..1000).all(|_| !r.chance(0.0)));
        assert!((0..1000).all(|_| r.chance(1.0)));
        let hits = (0..100_000).filter(|_| r.chance(0.1)).count();
        assert!((9_500..=10_500).contains(&hits), "{hits}");
    }
}
