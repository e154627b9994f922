//! Latency percentiles (nearest-rank) over repeated timings.

use std::time::Duration;

/// p50/p95/p99 and extremes of a set of timings, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Percentiles {
    /// Number of samples.
    pub(crate) n: usize,
    /// Median.
    pub(crate) p50: f64,
    /// 95th percentile.
    pub(crate) p95: f64,
    /// 99th percentile.
    pub(crate) p99: f64,
    /// Fastest.
    pub(crate) min: f64,
    /// Slowest.
    pub(crate) max: f64,
}

/// The nearest-rank percentile (`per_mille` of 1000) of ascending `sorted`: the smallest
/// sample with at least that share of samples at or below it. Needs a non-empty slice.
pub(crate) fn nearest_rank(sorted: &[f64], per_mille: usize) -> f64 {
    let rank = (per_mille * sorted.len()).div_ceil(1000).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

impl Percentiles {
    /// Summarises `samples`; `None` when there are none.
    pub(crate) fn of(samples: &[Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        Some(Percentiles {
            n: ms.len(),
            p50: nearest_rank(&ms, 500),
            p95: nearest_rank(&ms, 950),
            p99: nearest_rank(&ms, 990),
            min: ms[0],
            max: ms[ms.len() - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_the_textbook_examples() {
        // Wikipedia's "Percentile" nearest-rank example.
        let v = [15.0, 20.0, 35.0, 40.0, 50.0];
        assert_eq!(nearest_rank(&v, 50), 15.0);
        assert_eq!(nearest_rank(&v, 300), 20.0);
        assert_eq!(nearest_rank(&v, 400), 20.0);
        assert_eq!(nearest_rank(&v, 500), 35.0);
        assert_eq!(nearest_rank(&v, 1000), 50.0);
        assert_eq!(nearest_rank(&[7.0], 990), 7.0);
    }

    #[test]
    fn fifty_repetitions_of_one_to_fifty_ms() {
        let samples: Vec<Duration> = (1..=50).rev().map(Duration::from_millis).collect();
        let p = Percentiles::of(&samples).unwrap();
        assert_eq!(p.n, 50);
        assert!((p.p50 - 25.0).abs() < 1e-9);
        assert!((p.p95 - 48.0).abs() < 1e-9);
        assert!((p.p99 - 50.0).abs() < 1e-9);
        assert!((p.min - 1.0).abs() < 1e-9 && (p.max - 50.0).abs() < 1e-9);
    }

    #[test]
    fn no_samples_no_percentiles() {
        assert_eq!(Percentiles::of(&[]), None);
    }
}
