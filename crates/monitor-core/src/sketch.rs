//! A mergeable quantile sketch with 1 % relative error (the DDSketch idea).
//!
//! Values fall into logarithmic bins `γ^(i-1) < v ≤ γ^i` with `γ = (1+α)/(1-α)` and
//! `α = 0.01`, so any quantile read back is within 1 % of a value of the right rank.
//! Bins are kept sparse and sorted, merge by adding counts, and encode to a few bytes
//! per bin, which is what rollup rows in every store need. Written here rather than
//! taken from `sketches-ddsketch` because that crate's dense store and serde-only
//! encoding cost kilobytes per rollup row.

/// Relative accuracy of quantiles read from a sketch.
pub const RELATIVE_ACCURACY: f64 = 0.01;
const GAMMA: f64 = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);
/// Magnitudes below this count as zero.
const MIN_MAGNITUDE: f64 = 1e-9;

/// A sparse log-binned histogram; see the module docs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sketch {
    /// Bins for positive values: (index, count), sorted by index.
    positive: Bins,
    /// Bins for negative values by magnitude: (index, count), sorted by index.
    negative: Bins,
    /// Values whose magnitude is below [`MIN_MAGNITUDE`].
    zero: u64,
}

/// Sorted `(index, count)` bins; one bin is held inline. A rollup cell holds a sketch
/// per field and most cells of a fresh bucket have seen one value, so this saves an
/// allocation per field on the write path.
#[derive(Clone, Debug, Default)]
enum Bins {
    #[default]
    Empty,
    One((i32, u64)),
    Many(Vec<(i32, u64)>),
}

impl Bins {
    fn from_vec(bins: Vec<(i32, u64)>) -> Self {
        match bins.as_slice() {
            [] => Bins::Empty,
            [one] => Bins::One(*one),
            _ => Bins::Many(bins),
        }
    }

    fn add(&mut self, index: i32, count: u64) {
        match self {
            Bins::Empty => *self = Bins::One((index, count)),
            Bins::One(bin) if bin.0 == index => bin.1 += count,
            Bins::One(bin) => {
                let mut bins = Vec::with_capacity(4);
                bins.push(*bin);
                add_to(&mut bins, index, count);
                *self = Bins::Many(bins);
            }
            Bins::Many(bins) => add_to(bins, index, count),
        }
    }

    fn merge(&mut self, from: &[(i32, u64)]) {
        match (&mut *self, from) {
            (_, []) => {}
            (Bins::Many(bins), _) => merge_bins(bins, from),
            (Bins::Empty, _) => *self = Bins::from_vec(from.to_vec()),
            (Bins::One(bin), [other]) if bin.0 == other.0 => bin.1 += other.1,
            (Bins::One(bin), _) => {
                let mut bins = Vec::with_capacity(from.len() + 1);
                bins.push(*bin);
                merge_bins(&mut bins, from);
                *self = Bins::Many(bins);
            }
        }
    }
}

impl std::ops::Deref for Bins {
    type Target = [(i32, u64)];
    fn deref(&self) -> &Self::Target {
        match self {
            Bins::Empty => &[],
            Bins::One(bin) => std::slice::from_ref(bin),
            Bins::Many(bins) => bins,
        }
    }
}

impl PartialEq for Bins {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

fn bin_index(magnitude: f64) -> i32 {
    let index = (magnitude.ln() / GAMMA.ln()).ceil();
    // Magnitudes are finite and ≥ 1e-9, so the index is within ±2,000 or so.
    #[allow(clippy::cast_possible_truncation)]
    let index = index.clamp(-100_000.0, 100_000.0) as i32;
    index
}

fn bin_value(index: i32) -> f64 {
    2.0 * GAMMA.powi(index) / (GAMMA + 1.0)
}

fn add_to(bins: &mut Vec<(i32, u64)>, index: i32, count: u64) {
    match bins.binary_search_by_key(&index, |b| b.0) {
        Ok(pos) => bins[pos].1 += count,
        Err(pos) => bins.insert(pos, (index, count)),
    }
}

/// Merges sorted `from` into sorted `into`, in place: `into` grows at the end and is
/// filled back to front, so no second vector is allocated.
fn merge_bins(into: &mut Vec<(i32, u64)>, from: &[(i32, u64)]) {
    if from.is_empty() {
        return;
    }
    let (mut i, mut j) = (into.len(), from.len());
    into.extend_from_slice(from);
    let mut w = into.len();
    while j > 0 {
        let theirs = from[j - 1];
        w -= 1;
        if i > 0 && into[i - 1].0 > theirs.0 {
            into[w] = into[i - 1];
            i -= 1;
        } else if i > 0 && into[i - 1].0 == theirs.0 {
            into[w] = (theirs.0, into[i - 1].1 + theirs.1);
            i -= 1;
            j -= 1;
        } else {
            into[w] = theirs;
            j -= 1;
        }
    }
    // `into[..i]` is in place; shared indexes left a gap between it and `into[w..]`.
    if w > i {
        into.copy_within(w.., i);
        into.truncate(into.len() - (w - i));
    }
}

impl Sketch {
    /// An empty sketch.
    pub const fn new() -> Self {
        Sketch { positive: Bins::Empty, negative: Bins::Empty, zero: 0 }
    }

    /// Adds one value; non-finite values are ignored.
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        let magnitude = value.abs();
        if magnitude < MIN_MAGNITUDE {
            self.zero += 1;
        } else if value > 0.0 {
            self.positive.add(bin_index(magnitude), 1);
        } else {
            self.negative.add(bin_index(magnitude), 1);
        }
    }

    /// Adds every count of `other` into this sketch.
    pub fn merge(&mut self, other: &Sketch) {
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
        self.zero += other.zero;
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.zero
            + self.positive.iter().map(|b| b.1).sum::<u64>()
            + self.negative.iter().map(|b| b.1).sum::<u64>()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.zero == 0 && self.positive.is_empty() && self.negative.is_empty()
    }

    /// The value at quantile `q` (0..=1), interpolated linearly between the closest
    /// ranks like [`exact_quantile`], each rank read within 1 % relative error. `None`
    /// when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles([q])[0]
    }

    /// Several quantiles as [`Sketch::quantile`] reads them, in one pass over the bins.
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [Option<f64>; N] {
        let mut out = [None; N];
        let n = self.count();
        if n == 0 {
            return out;
        }
        // (rank, which quantile, upper rank?) for every rank to read, ascending.
        let mut wanted: Vec<(u64, usize, bool)> = Vec::with_capacity(2 * N);
        let mut fractions = [0.0; N];
        for (i, q) in qs.iter().enumerate() {
            if !q.is_finite() {
                continue;
            }
            #[allow(clippy::cast_precision_loss)]
            let position = q.clamp(0.0, 1.0) * (n - 1) as f64;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let lower = position.floor() as u64;
            #[allow(clippy::cast_precision_loss)]
            let fraction = position - lower as f64;
            fractions[i] = fraction;
            wanted.push((lower, i, false));
            if fraction > 0.0 {
                wanted.push(((lower + 1).min(n - 1), i, true));
            }
        }
        wanted.sort_unstable();
        // The bin each rank falls in, as (side, index); values are computed afterwards,
        // since LLVM hoists `powi` out of a branch and would compute it for every bin.
        let mut bins = [((0i8, 0i32), (0i8, 0i32)); N];
        let mut next = 0;
        let mut seen = 0u64;
        let mut visit = |count: u64, bin: (i8, i32)| {
            seen += count;
            while let Some(&(rank, i, upper)) = wanted.get(next)
                && rank < seen
            {
                if upper {
                    bins[i].1 = bin;
                } else {
                    bins[i].0 = bin;
                }
                next += 1;
            }
        };
        // Most negative values first: negative bins by descending magnitude.
        for &(index, count) in self.negative.iter().rev() {
            visit(count, (-1, index));
        }
        visit(self.zero, (0, 0));
        for &(index, count) in self.positive.iter() {
            visit(count, (1, index));
        }
        let value = |(side, index): (i8, i32)| f64::from(side) * bin_value(index);
        for ((slot, q), ((low, high), fraction)) in
            out.iter_mut().zip(qs).zip(bins.into_iter().zip(fractions))
        {
            if q.is_finite() {
                let low = value(low);
                let high = if fraction > 0.0 { value(high) } else { low };
                *slot = Some(low + (high - low) * fraction);
            }
        }
        out
    }

    /// Compact binary encoding (varints); see [`Sketch::decode`].
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 3 * (self.positive.len() + self.negative.len()));
        put_varint(&mut out, self.zero);
        for bins in [&*self.positive, &*self.negative] {
            put_varint(&mut out, bins.len() as u64);
            let mut previous = 0i64;
            for &(index, count) in bins.iter() {
                let delta = i64::from(index) - previous;
                previous = i64::from(index);
                put_varint(&mut out, zigzag(delta));
                put_varint(&mut out, count);
            }
        }
        out
    }

    /// Decodes [`Sketch::encode`] output; `None` when the bytes are not a sketch.
    pub fn decode(mut bytes: &[u8]) -> Option<Sketch> {
        let zero = get_varint(&mut bytes)?;
        let mut sides = [Vec::new(), Vec::new()];
        for bins in &mut sides {
            let len = usize::try_from(get_varint(&mut bytes)?).ok()?;
            if len > 1_000_000 {
                return None;
            }
            bins.reserve(len);
            let mut previous = 0i64;
            for _ in 0..len {
                let index = previous.checked_add(unzigzag(get_varint(&mut bytes)?))?;
                previous = index;
                bins.push((i32::try_from(index).ok()?, get_varint(&mut bytes)?));
            }
        }
        if !bytes.is_empty() {
            return None;
        }
        let [positive, negative] = sides.map(Bins::from_vec);
        Some(Sketch { positive, negative, zero })
    }
}

/// Most bins a [`DenseSketch`] side spans densely (32 KiB of counts); bins beyond it are
/// merged sparsely, so a query over wildly spread values cannot allocate without bound.
const MAX_DENSE_SPAN: usize = 4_096;

/// One side of a [`DenseSketch`]: a count per bin index from `offset`, plus sparse bins
/// that fell outside the dense window.
#[derive(Clone, Debug, Default)]
struct DenseBins {
    offset: i32,
    counts: Vec<u64>,
    outside: Vec<(i32, u64)>,
}

impl DenseBins {
    /// Widens the window to cover `lo..=hi` when the result stays within
    /// [`MAX_DENSE_SPAN`].
    fn cover(&mut self, lo: i32, hi: i32) {
        let (lo, hi) = if self.counts.is_empty() {
            (lo, hi)
        } else {
            let end = self.offset + i32::try_from(self.counts.len()).unwrap_or(i32::MAX) - 1;
            (lo.min(self.offset), hi.max(end))
        };
        let Ok(span) = usize::try_from(i64::from(hi) - i64::from(lo) + 1) else { return };
        if span > MAX_DENSE_SPAN || span <= self.counts.len() {
            return;
        }
        if self.counts.is_empty() {
            self.counts.resize(span, 0);
        } else {
            let front = usize::try_from(self.offset - lo).unwrap_or(0);
            self.counts.splice(0..0, std::iter::repeat_n(0, front));
            self.counts.resize(span, 0);
        }
        self.offset = lo;
    }

    fn slot(&mut self, index: i32) -> Option<&mut u64> {
        let at = usize::try_from(index.checked_sub(self.offset)?).ok()?;
        self.counts.get_mut(at)
    }

    fn add(&mut self, index: i32, count: u64) {
        self.cover(index, index);
        match self.slot(index) {
            Some(slot) => *slot += count,
            None => add_to(&mut self.outside, index, count),
        }
    }

    fn merge(&mut self, bins: &[(i32, u64)]) {
        let (Some(first), Some(last)) = (bins.first(), bins.last()) else { return };
        self.cover(first.0, last.0);
        let end = i64::from(self.offset) + i64::try_from(self.counts.len()).unwrap_or(i64::MAX);
        if first.0 >= self.offset && i64::from(last.0) < end {
            // The common case, every bin inside the window.
            let offset = self.offset;
            for &(index, count) in bins {
                self.counts[usize::try_from(index - offset).unwrap_or(0)] += count;
            }
            return;
        }
        let mut outside = Vec::new();
        for &(index, count) in bins {
            match self.slot(index) {
                Some(slot) => *slot += count,
                None => outside.push((index, count)),
            }
        }
        merge_bins(&mut self.outside, &outside);
    }

    fn into_sparse(self) -> Vec<(i32, u64)> {
        let mut dense = Vec::with_capacity(self.counts.len());
        for (index, count) in (self.offset..).zip(self.counts) {
            if count > 0 {
                dense.push((index, count));
            }
        }
        if self.outside.is_empty() {
            return dense;
        }
        let mut bins = self.outside;
        merge_bins(&mut bins, &dense);
        bins
    }
}

/// A sketch being built from many others: bins held densely, so merging a sketch costs
/// one addition per bin and, once the value range is covered, no allocation. Turns
/// into an ordinary [`Sketch`] with the same bins at the end.
#[derive(Clone, Debug, Default)]
pub(crate) struct DenseSketch {
    positive: DenseBins,
    negative: DenseBins,
    zero: u64,
}

impl DenseSketch {
    /// Adds one value, like [`Sketch::add`].
    pub(crate) fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        let magnitude = value.abs();
        if magnitude < MIN_MAGNITUDE {
            self.zero += 1;
        } else if value > 0.0 {
            self.positive.add(bin_index(magnitude), 1);
        } else {
            self.negative.add(bin_index(magnitude), 1);
        }
    }

    /// Adds every count of `sketch`.
    pub(crate) fn merge(&mut self, sketch: &Sketch) {
        self.positive.merge(&sketch.positive);
        self.negative.merge(&sketch.negative);
        self.zero += sketch.zero;
    }

    /// The sketch holding every count added.
    pub(crate) fn into_sketch(self) -> Sketch {
        Sketch {
            positive: Bins::from_vec(self.positive.into_sparse()),
            negative: Bins::from_vec(self.negative.into_sparse()),
            zero: self.zero,
        }
    }
}

fn zigzag(v: i64) -> u64 {
    #[allow(clippy::cast_sign_loss)]
    let encoded = ((v << 1) ^ (v >> 63)) as u64;
    encoded
}

fn unzigzag(v: u64) -> i64 {
    #[allow(clippy::cast_possible_wrap)]
    let decoded = ((v >> 1) as i64) ^ -((v & 1) as i64);
    decoded
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        #[allow(clippy::cast_possible_truncation)]
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(v as u8);
}

fn get_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Exact quantile of sorted values by linear interpolation between closest ranks
/// (PostgreSQL `percentile_cont`, NumPy's default). `None` when empty.
pub fn exact_quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    #[allow(clippy::cast_precision_loss)]
    let position = q.clamp(0.0, 1.0) * last as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let lower = position.floor() as usize;
    let upper = (lower + 1).min(last);
    #[allow(clippy::cast_precision_loss)]
    let fraction = position - lower as f64;
    Some(sorted[lower] + (sorted[upper] - sorted[lower]) * fraction)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn quantiles_within_one_percent_of_the_right_rank() {
        let mut sketch = Sketch::new();
        let values: Vec<f64> = (1..=10_000).map(|i| f64::from(i) * 0.37).collect();
        for v in &values {
            sketch.add(*v);
        }
        for q in [0.0, 0.5, 0.95, 0.99, 1.0] {
            let exact = exact_quantile(&values, q).unwrap();
            let approx = sketch.quantile(q).unwrap();
            assert!((approx - exact).abs() <= exact * 0.011, "q={q} exact={exact} approx={approx}");
        }
    }

    #[test]
    fn merge_equals_adding_everything_and_encoding_round_trips() {
        let (mut a, mut b, mut all) = (Sketch::new(), Sketch::new(), Sketch::new());
        for i in 0..500 {
            let v = f64::from(i) - 100.0;
            if i % 2 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            all.add(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(a.count(), 500);
        let bytes = a.encode();
        assert_eq!(Sketch::decode(&bytes), Some(a.clone()));
        assert!(Sketch::decode(&bytes[..bytes.len() - 1]).is_none());
        assert_eq!(a.quantile(0.0).map(f64::round), Some(-100.0));
        assert!(Sketch::new().quantile(0.5).is_none());
    }

    #[test]
    fn in_place_merge_matches_a_reference_merge() {
        let mut state = 0x9e37_79b9_u64;
        let mut next = move |n: u64| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            i32::try_from((state >> 33) % n).unwrap()
        };
        for _ in 0..500 {
            let mut make = |len: i32| {
                let mut bins: Vec<(i32, u64)> = Vec::new();
                for _ in 0..next(u64::try_from(len).unwrap() + 1) {
                    add_to(&mut bins, next(40) - 20, u64::try_from(next(5) + 1).unwrap());
                }
                bins
            };
            let (mut into, from) = (make(12), make(12));
            let mut expected: BTreeMap<i32, u64> = into.iter().copied().collect();
            for &(index, count) in &from {
                *expected.entry(index).or_default() += count;
            }
            merge_bins(&mut into, &from);
            assert_eq!(into, expected.into_iter().collect::<Vec<_>>());
            let mut bins = Bins::from_vec(make(2));
            let other = make(3);
            let mut reference = bins.to_vec();
            merge_bins(&mut reference, &other);
            bins.merge(&other);
            assert_eq!(*bins, *reference);
        }
    }

    #[test]
    fn dense_merging_equals_sparse_merging() {
        let mut sparse = Sketch::new();
        let mut dense = DenseSketch::default();
        // Spread wide enough that some bins fall outside the dense window.
        for part in 0..40 {
            let mut piece = Sketch::new();
            for i in 0..50 {
                let v = f64::from(part * 50 + i) * 0.731 - 200.0;
                piece.add(v);
                piece.add(v * 1e120);
                if i % 7 == 0 {
                    dense.add(v * 1e-3);
                    sparse.add(v * 1e-3);
                }
            }
            piece.add(0.0);
            dense.merge(&piece);
            sparse.merge(&piece);
        }
        let merged = dense.into_sketch();
        assert_eq!(merged, sparse);
        assert_eq!(merged.count(), 40 * 101 + 40 * 8);
        assert_eq!(DenseSketch::default().into_sketch(), Sketch::new());
    }

    #[test]
    fn quantiles_in_one_pass_equal_one_at_a_time() {
        let mut sketch = Sketch::new();
        for i in -300..700 {
            sketch.add(f64::from(i) * 1.37);
        }
        let qs = [0.99, 0.0, 0.5, 0.95, 1.0, 0.25, f64::NAN, 0.5];
        let together = sketch.quantiles(qs);
        for (q, got) in qs.iter().zip(together) {
            assert_eq!(got, reference_quantile(&sketch, *q), "q={q}");
            assert_eq!(got, sketch.quantile(*q), "q={q}");
        }
        assert_eq!(Sketch::new().quantiles([0.5]), [None]);
    }

    /// The one-rank-at-a-time reading `Sketch::quantile` did before `quantiles`.
    fn reference_quantile(sketch: &Sketch, q: f64) -> Option<f64> {
        let n = sketch.count();
        if n == 0 || !q.is_finite() {
            return None;
        }
        let at = |rank: u64| {
            let mut seen = 0;
            for &(index, count) in sketch.negative.iter().rev() {
                seen += count;
                if seen > rank {
                    return -bin_value(index);
                }
            }
            seen += sketch.zero;
            if seen > rank {
                return 0.0;
            }
            for &(index, count) in sketch.positive.iter() {
                seen += count;
                if seen > rank {
                    return bin_value(index);
                }
            }
            panic!("rank {rank} beyond {n}")
        };
        #[allow(clippy::cast_precision_loss)]
        let position = q.clamp(0.0, 1.0) * (n - 1) as f64;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let lower = position.floor() as u64;
        #[allow(clippy::cast_precision_loss)]
        let fraction = position - lower as f64;
        let low = at(lower);
        let high = if fraction > 0.0 { at((lower + 1).min(n - 1)) } else { low };
        Some(low + (high - low) * fraction)
    }

    #[test]
    fn exact_quantile_interpolates() {
        assert_eq!(exact_quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(exact_quantile(&[7.0], 0.99), Some(7.0));
        assert_eq!(exact_quantile(&[], 0.5), None);
    }
}
