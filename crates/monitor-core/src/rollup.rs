//! Rollup math shared by every store: keys, mergeable statistics, and an in-memory
//! rollup index (used by [`MemoryStore`](crate::store::MemoryStore)).
//!
//! A rollup cell holds, for one bucket and one [`RollupKey`] (source, type, project,
//! agent type, operation), the event count and per-field count, sum, min, max and a
//! quantile [`Sketch`] of each of [`ROLLUP_FIELDS`]. Sessions and tags are not rolled up
//! (unbounded cardinality); queries on them are answered from raw events.

use std::collections::{BTreeMap, HashMap};

use crate::event::{AgentType, Event, EventType, ROLLUP_FIELDS, Source};
use crate::query::{Aggregation, Filter};
use crate::sketch::Sketch;
use crate::time::Timestamp;

/// The rolled-up dimensions of an event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    /// `source`
    pub source: Source,
    /// `type`
    pub event_type: EventType,
    /// `projectId`
    pub project_id: Option<String>,
    /// `agentType`
    pub agent_type: Option<AgentType>,
    /// `operation`
    pub operation: Option<String>,
}

impl RollupKey {
    /// The key of an event.
    pub fn of(event: &Event) -> Self {
        RollupKey {
            source: event.source,
            event_type: event.event_type(),
            project_id: event.project_id.clone(),
            agent_type: event.agent_type,
            operation: event.operation().map(str::to_owned),
        }
    }

    /// Whether the key passes every filter (filters must be on rolled-up dimensions).
    pub fn matches(&self, filters: &[Filter]) -> bool {
        filters.iter().all(|f| f.matches_value(f.dimension.value_of_key(self)))
    }
}

/// Mergeable statistics of one numeric field.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldStats {
    /// How many values.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// Their distribution.
    pub sketch: Sketch,
}

impl Default for FieldStats {
    fn default() -> Self {
        FieldStats { count: 0, sum: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY, sketch: Sketch::new() }
    }
}

impl FieldStats {
    /// Adds one value.
    pub fn add(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sketch.add(value);
    }

    /// Adds another set of statistics.
    pub fn merge(&mut self, other: &FieldStats) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sketch.merge(&other.sketch);
    }

    /// The mean, `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// A quantile estimate clamped to the exact min and max.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.sketch.quantile(q).map(|v| v.clamp(self.min, self.max))
    }

    /// Several quantiles as [`FieldStats::quantile`] reads them, in one pass.
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [Option<f64>; N] {
        self.sketch.quantiles(qs).map(|q| q.map(|v| v.clamp(self.min, self.max)))
    }
}

/// One rollup cell: the events of one key in one bucket.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RollupCell {
    /// Events counted.
    pub count: u64,
    /// Statistics per field of [`ROLLUP_FIELDS`] (by index), where any event had it.
    pub fields: [Option<Box<FieldStats>>; ROLLUP_FIELDS.len()],
}

impl RollupCell {
    /// Counts one event.
    pub fn add(&mut self, event: &Event) {
        self.count += 1;
        for (index, slot) in self.fields.iter_mut().enumerate() {
            if let Some(value) = event.payload.rollup_value(index) {
                slot.get_or_insert_with(Default::default).add(value);
            }
        }
    }

    /// Adds another cell.
    pub fn merge(&mut self, other: &RollupCell) {
        self.count += other.count;
        for (slot, theirs) in self.fields.iter_mut().zip(&other.fields) {
            if let Some(theirs) = theirs {
                match slot {
                    Some(mine) => mine.merge(theirs),
                    None => *slot = Some(theirs.clone()),
                }
            }
        }
    }

    /// The statistics of field `index`.
    pub fn field(&self, index: usize) -> Option<&FieldStats> {
        self.fields.get(index).and_then(|f| f.as_deref())
    }
}

/// The three rollup levels and their bucket widths.
pub const LEVELS: [Aggregation; 3] = [Aggregation::FiveMinutes, Aggregation::Hour, Aggregation::Day];

/// In-memory rollups at 5 min, 1 h and 1 d, maintained on write.
#[derive(Debug, Default)]
pub struct RollupIndex {
    levels: [BTreeMap<Timestamp, HashMap<RollupKey, RollupCell>>; 3],
}

fn level_slot(level: Aggregation) -> Option<usize> {
    LEVELS.iter().position(|l| *l == level)
}

impl RollupIndex {
    /// An empty index.
    pub fn new() -> Self {
        RollupIndex::default()
    }

    /// Counts an event at every level.
    pub fn add(&mut self, event: &Event) {
        let key = RollupKey::of(event);
        for (slot, level) in LEVELS.iter().enumerate() {
            let step = level.step_micros().unwrap_or(1);
            let bucket = event.timestamp.floor_to(step);
            self.levels[slot].entry(bucket).or_default().entry(key.clone()).or_default().add(event);
        }
    }

    /// Visits the cells of `level` with buckets in `[start, end)` whose keys pass `filters`.
    pub fn scan(
        &self,
        level: Aggregation,
        start: Timestamp,
        end: Timestamp,
        filters: &[Filter],
        mut visit: impl FnMut(Timestamp, &RollupKey, &RollupCell),
    ) {
        let Some(slot) = level_slot(level) else { return };
        if start >= end {
            return;
        }
        for (bucket, cells) in self.levels[slot].range(start..end) {
            for (key, cell) in cells {
                if key.matches(filters) {
                    visit(*bucket, key, cell);
                }
            }
        }
    }

    /// Drops buckets of `level` that start before `cutoff`; returns how many cells went.
    pub fn drop_before(&mut self, level: Aggregation, cutoff: Timestamp) -> u64 {
        let Some(slot) = level_slot(level) else { return 0 };
        let kept = self.levels[slot].split_off(&cutoff);
        let dropped = std::mem::replace(&mut self.levels[slot], kept);
        dropped.values().map(|cells| cells.len() as u64).sum()
    }

    /// Number of cells held at `level`.
    pub fn cells(&self, level: Aggregation) -> usize {
        level_slot(level).map_or(0, |slot| self.levels[slot].values().map(HashMap::len).sum())
    }
}
