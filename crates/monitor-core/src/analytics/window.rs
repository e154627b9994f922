//! Sliding windows over the previous W values of a series.
//!
//! [`RollingMoments`] gives the mean and sample deviation in O(1) per point from running
//! sums; [`RollingOrder`] keeps a sorted copy for the median and MAD in O(W) memmove and
//! O(W/2) comparisons. Both stay finite on any finite input: sums that overflow or lose
//! precision fall back to an exact, rescaled two-pass computation.

use std::collections::VecDeque;

/// Windows larger than this grow on demand instead of being allocated up front.
const PREALLOCATE_MAX: usize = 4_096;

/// Largest `off² / var` for which the running sums are trusted: beyond it the
/// cancellation in `Σd² − (Σd)²/n` could cost more than ~1e-12 of relative precision.
const MAX_OFFSET_RATIO: f64 = 1e4;

/// The largest power of two not above `max_abs`, or 1 when `max_abs` is zero, subnormal
/// or not finite. Dividing by it is exact and brings every value of the set into
/// `[-2, 2]`, so sums and squares of those values cannot overflow.
pub(super) fn pow2_scale(max_abs: f64) -> f64 {
    if max_abs.is_finite() && max_abs >= f64::MIN_POSITIVE {
        f64::from_bits(max_abs.to_bits() & 0x7ff0_0000_0000_0000)
    } else {
        1.0
    }
}

/// Mean and sample standard deviation (n − 1) by two passes over values rescaled by a
/// power of two: exact up to ordinary rounding, never overflowing on finite input
/// unless the deviation itself exceeds `f64::MAX`.
pub(super) fn exact_mean_sd<'a>(values: impl Iterator<Item = &'a f64> + Clone) -> Option<(f64, f64)> {
    let (count, max_abs) = values.clone().fold((0usize, 0.0f64), |(c, m), v| (c + 1, m.max(v.abs())));
    if count < 2 {
        return None;
    }
    let n = count as f64;
    let scale = pow2_scale(max_abs);
    let mean = values.clone().map(|v| v / scale).sum::<f64>() / n;
    let squares = values
        .map(|v| {
            let d = v / scale - mean;
            d * d
        })
        .sum::<f64>();
    Some((mean * scale, (squares / (n - 1.0)).sqrt() * scale))
}

/// The previous W values with running sums of `d = y − anchor` and `d²`.
///
/// The anchor is re-set to the exact mean every W points and whenever the sums stop
/// being trustworthy, which keeps `Σd` near zero and the variance free of cancellation.
#[derive(Clone, Debug)]
pub(super) struct RollingMoments {
    ring: VecDeque<f64>,
    capacity: usize,
    anchor: f64,
    sum: f64,
    sum_sq: f64,
    since_rebase: usize,
}

impl RollingMoments {
    pub(super) fn new(capacity: usize) -> Self {
        RollingMoments {
            ring: VecDeque::with_capacity(capacity.min(PREALLOCATE_MAX)),
            capacity,
            anchor: 0.0,
            sum: 0.0,
            sum_sq: 0.0,
            since_rebase: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ring.len()
    }

    pub(super) fn clear(&mut self) {
        *self = RollingMoments::new(self.capacity);
    }

    /// Adds a finite value, evicting the oldest when the window is full.
    pub(super) fn push(&mut self, y: f64) {
        if self.ring.is_empty() {
            self.anchor = y;
        }
        if self.ring.len() == self.capacity
            && let Some(old) = self.ring.pop_front()
        {
            let e = old - self.anchor;
            self.sum -= e;
            self.sum_sq -= e * e;
            // Removing a value far out leaves rounding residue of order ε·e² in Σd²;
            // rebuild when that could exceed ~1e-12 of the window's mean square.
            let mean_square = self.sum_sq.max(0.0) / self.ring.len().max(1) as f64;
            if e * e > MAX_OFFSET_RATIO * mean_square {
                self.since_rebase = self.capacity;
            }
        }
        self.ring.push_back(y);
        let d = y - self.anchor;
        self.sum += d;
        self.sum_sq += d * d;
        self.since_rebase += 1;
        if self.since_rebase >= self.capacity {
            self.rebase();
        }
    }

    /// Re-anchors at the exact mean and rebuilds the sums from the values.
    fn rebase(&mut self) {
        self.since_rebase = 0;
        let count = self.ring.len() as f64;
        if count == 0.0 {
            return;
        }
        let max_abs = self.ring.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let scale = pow2_scale(max_abs);
        self.anchor = self.ring.iter().map(|v| v / scale).sum::<f64>() / count * scale;
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for v in &self.ring {
            let d = v - self.anchor;
            sum += d;
            sum_sq += d * d;
        }
        self.sum = sum;
        self.sum_sq = sum_sq;
    }

    /// Mean and sample standard deviation of the window; `None` below two values.
    pub(super) fn mean_sd(&mut self) -> Option<(f64, f64)> {
        let count = self.ring.len();
        if count < 2 {
            return None;
        }
        let n = count as f64;
        let offset = self.sum / n;
        let var = (self.sum_sq - self.sum * offset) / (n - 1.0);
        if var.is_finite() && var > 0.0 && offset * offset <= MAX_OFFSET_RATIO * var {
            return Some((self.anchor + offset, var.sqrt()));
        }
        // Constant windows, drifted anchors and overflowing sums land here: rebuild the
        // sums around the exact mean for the points to come and answer exactly.
        self.rebase();
        exact_mean_sd(self.ring.iter())
    }
}

/// The previous W values in arrival order and in sorted order.
#[derive(Clone, Debug)]
pub(super) struct RollingOrder {
    ring: VecDeque<f64>,
    sorted: Vec<f64>,
    capacity: usize,
}

impl RollingOrder {
    pub(super) fn new(capacity: usize) -> Self {
        let prealloc = capacity.min(PREALLOCATE_MAX);
        RollingOrder {
            ring: VecDeque::with_capacity(prealloc),
            sorted: Vec::with_capacity(prealloc),
            capacity,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ring.len()
    }

    pub(super) fn clear(&mut self) {
        self.ring.clear();
        self.sorted.clear();
    }

    /// Adds a finite value, evicting the oldest when the window is full.
    pub(super) fn push(&mut self, y: f64) {
        // −0 becomes +0, so `<` is a total order on the window and `==` finds a value.
        let y = y + 0.0;
        let evicted = if self.ring.len() == self.capacity { self.ring.pop_front() } else { None };
        self.ring.push_back(y);
        if let Some(old) = evicted {
            let from = self.sorted.partition_point(|v| *v < old);
            if self.sorted.get(from) != Some(&old) {
                // Cannot happen while ring and sorted hold the same values; recover anyway.
                return self.resort();
            }
            // Replace `old` by `y` with one slide of the values between their places.
            let to = self.sorted.partition_point(|v| *v < y);
            if to <= from {
                self.sorted.copy_within(to..from, to + 1);
                self.sorted[to] = y;
            } else {
                self.sorted.copy_within(from + 1..to, from);
                self.sorted[to - 1] = y;
            }
            return;
        }
        let at = self.sorted.partition_point(|v| *v < y);
        self.sorted.insert(at, y);
    }

    fn resort(&mut self) {
        self.sorted.clear();
        self.sorted.extend(self.ring.iter().copied());
        self.sorted.sort_by(f64::total_cmp);
    }

    /// Median and median absolute deviation (unscaled) of the window; `None` when empty.
    pub(super) fn median_mad(&self) -> Option<(f64, f64)> {
        let median = median_sorted(&self.sorted)?;
        Some((median, mad_sorted(&self.sorted, median)))
    }
}

/// The median of sorted values: the middle one, or the mean of the two middle ones.
pub(super) fn median_sorted(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    let upper = *sorted.get(n / 2)?;
    if n % 2 == 1 {
        return Some(upper);
    }
    // Halving first cannot overflow and is exact for normal numbers.
    Some(sorted[n / 2 - 1] / 2.0 + upper / 2.0)
}

/// The median of `|x − median|` over sorted values, without sorting the deviations:
/// they form two ascending runs outward from the median, and the middle rank of their
/// union is found by binary search in O(log n).
pub(super) fn mad_sorted(sorted: &[f64], median: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let split = sorted.partition_point(|v| *v < median);
    let upper = deviation_at_rank(sorted, split, median, n / 2);
    if n % 2 == 1 { upper } else { deviation_at_rank(sorted, split, median, n / 2 - 1) / 2.0 + upper / 2.0 }
}

/// The deviation of 0-based `rank` in the union of the runs `below[j] = median −
/// sorted[split − 1 − j]` and `above[j] = sorted[split + j] − median`, both ascending:
/// the classic k-th of two sorted arrays, searching how many come from `below`.
fn deviation_at_rank(sorted: &[f64], split: usize, median: f64, rank: usize) -> f64 {
    let below = |j: usize| median - sorted[split - 1 - j];
    let above = |j: usize| sorted[split + j] - median;
    let (below_len, above_len) = (split, sorted.len() - split);
    let take = rank + 1;
    // The fewest taken from `below` such that its next one is not smaller than the last
    // taken from `above`: then the `take` smallest are exactly those.
    let (mut lo, mut hi) = (take.saturating_sub(above_len), take.min(below_len));
    while lo < hi {
        let i = lo + (hi - lo) / 2;
        if below(i) < above(take - i - 1) {
            lo = i + 1;
        } else {
            hi = i;
        }
    }
    let from_below = lo.checked_sub(1).map_or(f64::NEG_INFINITY, below);
    let from_above = (take - lo).checked_sub(1).map_or(f64::NEG_INFINITY, above);
    from_below.max(from_above)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive references: sort, take the middle; deviations sorted likewise.
    fn naive_median(values: &[f64]) -> f64 {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
    }

    #[test]
    fn mad_walk_matches_sorting_the_deviations() {
        // Integer-valued data from a small LCG, so sorting is the independent reference.
        let mut state: u64 = 7;
        for n in 1..120usize {
            let values: Vec<f64> = (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    f64::from(u32::try_from(state >> 59).unwrap_or(0))
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let median = median_sorted(&sorted).unwrap();
            assert_eq!(median, naive_median(&values));
            let deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
            assert_eq!(mad_sorted(&sorted, median), naive_median(&deviations), "n = {n}");
        }
    }

    #[test]
    fn rolling_order_keeps_the_last_values_sorted() {
        // Reference: sort the last W values from scratch after every push.
        let mut state: u64 = 11;
        for capacity in [1, 2, 3, 8, 25] {
            let mut window = RollingOrder::new(capacity);
            let mut all = Vec::new();
            for _ in 0..400 {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let v = f64::from(u32::try_from(state >> 60).unwrap_or(0)) - 7.0;
                let v = if v == 0.0 && state % 2 == 0 { -0.0 } else { v };
                window.push(v);
                all.push(v);
                let mut expected: Vec<f64> = all[all.len().saturating_sub(capacity)..].to_vec();
                expected.sort_by(f64::total_cmp);
                assert_eq!(window.sorted, expected, "capacity {capacity}");
            }
        }
    }

    #[test]
    fn rolling_order_evicts_exactly_the_oldest() {
        let mut window = RollingOrder::new(3);
        for v in [5.0, 1.0, 3.0, -0.0, 0.0, 9.0] {
            window.push(v);
        }
        // The window holds -0.0, 0.0, 9.0: median 0, deviations {0, 0, 9}.
        assert_eq!(window.len(), 3);
        assert_eq!(window.median_mad(), Some((0.0, 0.0)));
    }

    #[test]
    fn moments_survive_huge_values_and_stay_exact_after_a_spike_leaves() {
        let mut window = RollingMoments::new(4);
        for v in [1e308, -1e308, 1e308, -1e308] {
            window.push(v);
        }
        let (mean, sd) = window.mean_sd().unwrap();
        assert!(mean.is_finite() && sd.is_finite(), "{mean} {sd}");
        // After the huge values leave, the window holds 1, 2, 3, 4: mean 2.5,
        // sd = sqrt(((1.5² + 0.5²)·2)/3) = sqrt(5/3) by hand.
        for v in [1.0, 2.0, 3.0, 4.0] {
            window.push(v);
        }
        let (mean, sd) = window.mean_sd().unwrap();
        assert_eq!(mean, 2.5);
        assert!((sd - (5.0f64 / 3.0).sqrt()).abs() < 1e-15, "{sd}");
    }
}
