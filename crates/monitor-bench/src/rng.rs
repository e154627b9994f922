//! A tiny seeded random number generator and the distributions the workload needs.
//!
//! Hand-written rather than taken from `rand` on purpose: the workload must be the same
//! bytes for a given seed forever (docs and peers compare against it), and `rand`'s
//! `StdRng` makes no such promise across versions. SplitMix64 is ten lines, passes
//! BigCrush, and is fully specified.

/// SplitMix64 (Steele, Lea, Flood 2014).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator whose stream depends only on `seed`.
    pub(crate) const fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub(crate) fn unit(&mut self) -> f64 {
        // 2^53 values fit an f64 exactly; the shift leaves 53 bits.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`); Lemire's multiply-shift, bias below 2^-32 for our n.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n64 = u64::try_from(n).unwrap_or(u64::MAX);
        let wide = u128::from(self.next_u64()) * u128::from(n64);
        usize::try_from(wide >> 64).unwrap_or(0)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A standard normal deviate (Box–Muller; one of the pair is discarded for simplicity).
    pub(crate) fn normal(&mut self) -> f64 {
        // 1 - unit() is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal with the given median and shape `sigma`.
    pub(crate) fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// An index drawn with probability proportional to `weights[i]`.
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut pick = u32::try_from(self.below(usize::try_from(total).unwrap_or(1))).unwrap_or(0);
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                return i;
            }
            pick -= w;
        }
        weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut c = Rng::new(8);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..100).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn splitmix_reference_values() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation by Vigna).
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn distributions_have_the_expected_shape() {
        let mut r = Rng::new(1);
        let n = 100_000;
        let mut below = [0usize; 4];
        let mut normal_sum = 0.0;
        let mut under_median = 0;
        let mut weighted = [0usize; 3];
        for _ in 0..n {
            below[r.below(4)] += 1;
            normal_sum += r.normal();
            if r.log_normal(100.0, 1.0) < 100.0 {
                under_median += 1;
            }
            weighted[r.weighted(&[1, 2, 7])] += 1;
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
        for count in below {
            assert!((24_000..26_000).contains(&count), "{below:?}");
        }
        assert!((normal_sum / f64::from(n)).abs() < 0.02);
        assert!((49_000..51_000).contains(&under_median), "{under_median}");
        assert!((9_500..10_500).contains(&weighted[0]), "{weighted:?}");
        assert!((69_000..71_000).contains(&weighted[2]), "{weighted:?}");
    }
}
