//! Merging many rollup cells quickly: per bucket and group, statistics are summed and
//! sketch bins are gathered flat and combined once, instead of merging sketch into
//! sketch cell by cell (which copies the growing sketch every time). Each (bucket, group)
//! then reaches the [`Aggregator`] as one cell.
//!
//! Sketch bins are read from [`Sketch::encode`]'s format (the on-disk format of every
//! store's rollup rows): a varint zero count, then for positive and negative bins a
//! varint length and (zigzag index delta, count) varint pairs.

use hashbrown::HashMap;

use monitor_core::query::{Aggregator, Dimension, Filter};
use monitor_core::rollup::{FieldStats, RollupKey};
use monitor_core::sketch::Sketch;
use monitor_core::time::Timestamp;

use crate::codec::{get_varint, put_varint, unzigzag, zigzag};

/// Which group each rollup key falls in for one query (`None`: filtered out).
pub(crate) struct Grouping {
    group_of: Vec<Option<u32>>,
    /// A key id of each group, handed to the aggregator (which reads the group values).
    representative: Vec<u32>,
}

impl Grouping {
    /// Groups `keys` (indexed by key id) by `group_by`, dropping keys that fail `filters`.
    pub(crate) fn new(keys: &[RollupKey], filters: &[Filter], group_by: &[Dimension]) -> Self {
        let mut ids: HashMap<Vec<Option<&str>>, u32> = HashMap::new();
        let mut representative = Vec::new();
        let group_of = keys
            .iter()
            .enumerate()
            .map(|(key_id, key)| {
                if !key.matches(filters) {
                    return None;
                }
                let values: Vec<Option<&str>> = group_by.iter().map(|d| d.value_of_key(key)).collect();
                let next = u32::try_from(representative.len()).ok()?;
                let id = *ids.entry(values).or_insert_with(|| {
                    representative.push(u32::try_from(key_id).unwrap_or(u32::MAX));
                    next
                });
                Some(id)
            })
            .collect();
        Grouping { group_of, representative }
    }

    /// The key ids that pass the filters, ascending.
    pub(crate) fn matching(&self) -> Vec<u32> {
        self.group_of
            .iter()
            .enumerate()
            .filter(|(_, g)| g.is_some())
            .filter_map(|(id, _)| u32::try_from(id).ok())
            .collect()
    }

    /// The group of a key id.
    pub(crate) fn group(&self, key_id: u32) -> Option<u32> {
        self.group_of.get(usize::try_from(key_id).ok()?).copied().flatten()
    }
}

/// Statistics of one field gathered from many cells.
#[derive(Default)]
struct StatsAcc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    zero: u64,
    positive: Vec<(i32, u64)>,
    negative: Vec<(i32, u64)>,
}

impl StatsAcc {
    fn new() -> Self {
        StatsAcc { min: f64::INFINITY, max: f64::NEG_INFINITY, ..StatsAcc::default() }
    }

    fn add(&mut self, count: u64, sum: f64, min: f64, max: f64, sketch: &[u8]) -> Option<()> {
        self.count += count;
        self.sum += sum;
        self.min = self.min.min(min);
        self.max = self.max.max(max);
        let mut bytes = sketch;
        self.zero += get_varint(&mut bytes)?;
        for side in [&mut self.positive, &mut self.negative] {
            let len = get_varint(&mut bytes)?;
            let mut index = 0i64;
            for _ in 0..len {
                index = index.checked_add(unzigzag(get_varint(&mut bytes)?))?;
                side.push((i32::try_from(index).ok()?, get_varint(&mut bytes)?));
            }
        }
        bytes.is_empty().then_some(())
    }

    fn finish(mut self) -> Option<FieldStats> {
        let mut out = Vec::with_capacity(8 + 4 * (self.positive.len() + self.negative.len()));
        put_varint(&mut out, self.zero);
        for side in [&mut self.positive, &mut self.negative] {
            side.sort_unstable_by_key(|b| b.0);
            side.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    kept.1 += later.1;
                }
                same
            });
            put_varint(&mut out, side.len() as u64);
            let mut previous = 0i64;
            for &(index, count) in side.iter() {
                put_varint(&mut out, zigzag(i64::from(index) - previous));
                previous = i64::from(index);
                put_varint(&mut out, count);
            }
        }
        Some(FieldStats {
            count: self.count,
            sum: self.sum,
            min: self.min,
            max: self.max,
            sketch: Sketch::decode(&out)?,
        })
    }
}

#[derive(Default)]
struct GroupAcc {
    count: u64,
    stats: Option<StatsAcc>,
}

/// Gathers the cells of one bucket at a time, per group, then hands each group to the
/// aggregator as a single cell. Feed buckets in any order; a change of bucket flushes.
pub(crate) struct CellMerger<'g> {
    grouping: &'g Grouping,
    with_field: bool,
    bucket: Option<Timestamp>,
    groups: HashMap<u32, GroupAcc>,
}

impl<'g> CellMerger<'g> {
    /// A merger for a query with (`with_field`) or without a statistics field.
    pub(crate) fn new(grouping: &'g Grouping, with_field: bool) -> Self {
        CellMerger { grouping, with_field, bucket: None, groups: HashMap::new() }
    }

    /// Adds a cell: `count` events and, when the query has a field, that field's count,
    /// sum, min, max and encoded sketch (`None` when the cell lacks the field). Returns
    /// `None` when the sketch bytes are malformed.
    pub(crate) fn add(
        &mut self,
        bucket: Timestamp,
        key_id: u32,
        count: u64,
        stats: Option<(u64, f64, f64, f64, &[u8])>,
        keys: &[RollupKey],
        aggregator: &mut Aggregator,
    ) -> Option<()> {
        let Some(group) = self.grouping.group(key_id) else { return Some(()) };
        if self.with_field && stats.is_none() {
            return Some(());
        }
        if self.bucket != Some(bucket) {
            self.flush(keys, aggregator);
            self.bucket = Some(bucket);
        }
        let acc = self.groups.entry(group).or_default();
        match stats {
            Some((n, sum, min, max, sketch)) => {
                acc.count += n;
                acc.stats.get_or_insert_with(StatsAcc::new).add(n, sum, min, max, sketch)?;
            }
            None => acc.count += count,
        }
        Some(())
    }

    /// Hands the current bucket's groups to the aggregator.
    pub(crate) fn flush(&mut self, keys: &[RollupKey], aggregator: &mut Aggregator) {
        let Some(bucket) = self.bucket.take() else { return };
        for (group, acc) in self.groups.drain() {
            let Some(key) = self
                .grouping
                .representative
                .get(usize::try_from(group).unwrap_or(usize::MAX))
                .and_then(|id| keys.get(usize::try_from(*id).ok()?))
            else {
                continue;
            };
            let stats = acc.stats.and_then(StatsAcc::finish);
            aggregator.add_cell(bucket, key, acc.count, stats.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathered_bins_equal_merged_sketches() {
        let mut merged = FieldStats::default();
        let mut acc = StatsAcc::new();
        for part in 0..50 {
            let mut stats = FieldStats::default();
            for i in 0..(part * 3 + 1) {
                stats.add(f64::from(i * 37 % 1000) - 200.0 + f64::from(part) * 0.5);
            }
            acc.add(stats.count, stats.sum, stats.min, stats.max, &stats.sketch.encode()).unwrap();
            merged.merge(&stats);
        }
        let gathered = acc.finish().unwrap();
        assert_eq!(gathered.sketch, merged.sketch);
        assert_eq!((gathered.count, gathered.min, gathered.max), (merged.count, merged.min, merged.max));
        assert!((gathered.sum - merged.sum).abs() < 1e-6);
        assert!(StatsAcc::new().add(1, 1.0, 1.0, 1.0, &[0x80]).is_none(), "truncated varint");
    }
}
