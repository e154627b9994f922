//! Rollup math shared by every store: keys, mergeable statistics, and an in-memory
//! rollup index (used by [`MemoryStore`](crate::store::MemoryStore)).
//!
//! A rollup cell holds, for one bucket and one [`RollupKey`] (source, type, project,
//! agent type, operation), the event count and per-field count, sum, min, max and a
//! quantile [`Sketch`] of each of [`ROLLUP_FIELDS`]. Sessions and tags are not rolled up
//! (unbounded cardinality); queries on them are answered from raw events.

use std::collections::{BTreeMap, BTreeSet};

use crate::event::{AgentType, Event, EventType, ROLLUP_FIELDS, Source};
use crate::query::{Aggregation, Dimension, Filter};
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

    /// Counts one event given its rolled-up values, by index of [`ROLLUP_FIELDS`] (what
    /// [`RollupCell::add`] reads from the payload; a store rebuilding cells from stored
    /// columns has them without the payload).
    pub fn add_values(&mut self, values: &[Option<f64>; ROLLUP_FIELDS.len()]) {
        self.count += 1;
        for (slot, value) in self.fields.iter_mut().zip(values) {
            if let Some(value) = value {
                slot.get_or_insert_with(Default::default).add(*value);
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

/// A [`RollupKey`] borrowed from an event: hashes and compares like the owned key, so
/// a cell is found without cloning the key's strings (they are cloned only for a new
/// cell).
#[derive(Hash)]
struct KeyRef<'a> {
    // Same fields, types and order as `RollupKey`: the derived hashes agree.
    source: Source,
    event_type: EventType,
    project_id: Option<&'a str>,
    agent_type: Option<AgentType>,
    operation: Option<&'a str>,
}

impl<'a> KeyRef<'a> {
    fn of(event: &'a Event) -> Self {
        KeyRef {
            source: event.source,
            event_type: event.event_type(),
            project_id: event.project_id.as_deref(),
            agent_type: event.agent_type,
            operation: event.operation(),
        }
    }
}

impl hashbrown::Equivalent<RollupKey> for KeyRef<'_> {
    fn equivalent(&self, key: &RollupKey) -> bool {
        self.source == key.source
            && self.event_type == key.event_type
            && self.project_id == key.project_id.as_deref()
            && self.agent_type == key.agent_type
            && self.operation == key.operation.as_deref()
    }
}

impl From<&KeyRef<'_>> for RollupKey {
    fn from(key: &KeyRef<'_>) -> Self {
        RollupKey {
            source: key.source,
            event_type: key.event_type,
            project_id: key.project_id.map(str::to_owned),
            agent_type: key.agent_type,
            operation: key.operation.map(str::to_owned),
        }
    }
}

/// The dimensions a set of rollup cells is keyed by.
///
/// Besides the full [`RollupKey`], each bucket can hold coarser projections of its
/// cells, built on demand; a query whose filters and group-by only use a grain's
/// dimensions reads that grain and so far fewer cells (one per event type and bucket
/// for an unfiltered, ungrouped query).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grain {
    /// Every rolled-up dimension.
    Full,
    /// `type` only.
    Type,
    /// `type`, `projectId` and `operation`.
    TypeProjectOperation,
}

impl Grain {
    /// The coarsest grain keeping every dimension the filters and `group_by` use.
    pub fn for_query(filters: &[Filter], group_by: &[Dimension]) -> Grain {
        let dimensions = || filters.iter().map(|f| &f.dimension).chain(group_by);
        if dimensions().all(|d| *d == Dimension::Type) {
            Grain::Type
        } else if dimensions()
            .all(|d| matches!(d, Dimension::Type | Dimension::ProjectId | Dimension::Operation))
        {
            Grain::TypeProjectOperation
        } else {
            Grain::Full
        }
    }

    /// `key` projected onto this grain. The dimensions the grain drops hold fixed
    /// placeholders (`source` system, no agent type, project or operation), which no
    /// query reading the grain looks at.
    fn project(self, key: &RollupKey) -> KeyRef<'_> {
        let full = self == Grain::Full;
        let strings = self != Grain::Type;
        KeyRef {
            source: if full { key.source } else { Source::System },
            event_type: key.event_type,
            project_id: key.project_id.as_deref().filter(|_| strings),
            agent_type: key.agent_type.filter(|_| full),
            operation: key.operation.as_deref().filter(|_| strings),
        }
    }

    fn slot(self) -> Option<usize> {
        match self {
            Grain::Full => None,
            Grain::Type => Some(0),
            Grain::TypeProjectOperation => Some(1),
        }
    }
}

type Cells = hashbrown::HashMap<RollupKey, RollupCell>;

/// The cells of one bucket, and its projections when they are up to date.
#[derive(Debug, Default)]
struct Bucket {
    cells: Cells,
    /// By [`Grain::slot`]; `None` when not built or out of date.
    projections: [Option<Cells>; 2],
}

impl Bucket {
    fn cell(&mut self, key: &KeyRef<'_>) -> &mut RollupCell {
        self.projections = [None, None];
        self.cells.entry_ref(key).or_default()
    }

    fn projection(&self, grain: Grain) -> Option<&Cells> {
        match grain.slot() {
            None => Some(&self.cells),
            Some(slot) => self.projections[slot].as_ref(),
        }
    }

    fn build_projection(&mut self, grain: Grain) {
        let Some(slot) = grain.slot() else { return };
        if self.projections[slot].is_none() {
            self.projections[slot] = Some(fold(grain, self.cells.iter()));
        }
    }
}

/// Folds cells into one map keyed by `grain`.
fn fold<'c>(grain: Grain, cells: impl Iterator<Item = (&'c RollupKey, &'c RollupCell)>) -> Cells {
    let mut out = Cells::default();
    for (key, cell) in cells {
        out.entry_ref(&grain.project(key)).or_default().merge(cell);
    }
    out
}

/// In-memory rollups at 5 min, 1 h and 1 d.
///
/// Only the 5-minute level is written per event. An hour is the fold of its twelve
/// 5-minute buckets and a day the fold of its 24 hours, so writes just mark the hour
/// and day dirty, and [`RollupIndex::refresh`] refolds dirty buckets before a query or
/// retention reads them (reads that find a bucket dirty fold it on the fly, so an
/// unrefreshed index still answers right). Once retention has dropped part of the
/// level below, a bucket can no longer be refolded: events for it are added to every
/// level directly instead.
#[derive(Debug)]
pub struct RollupIndex {
    /// Buckets by level (5 min, 1 h, 1 d) and start.
    levels: [BTreeMap<Timestamp, Bucket>; 3],
    /// Hour and day buckets (slots 1 and 2) whose cells are out of date.
    dirty: [BTreeSet<Timestamp>; 3],
    /// The most recently marked dirty hour and day, to skip the set for runs of events.
    last_dirty: [Option<Timestamp>; 3],
    /// Per level, the first bucket start retention kept: buckets of the next level up
    /// that start before it are missing parts and are never refolded.
    floors: [Timestamp; 3],
    /// Cells of the 5-minute bucket written last: the capacity new ones start with.
    width: usize,
}

impl Default for RollupIndex {
    fn default() -> Self {
        RollupIndex {
            levels: Default::default(),
            dirty: Default::default(),
            last_dirty: [None; 3],
            floors: [Timestamp(i64::MIN); 3],
            width: 0,
        }
    }
}

fn level_slot(level: Aggregation) -> Option<usize> {
    LEVELS.iter().position(|l| *l == level)
}

fn step_of(slot: usize) -> i64 {
    LEVELS[slot].step_micros().unwrap_or(1)
}

impl RollupIndex {
    /// An empty index.
    pub fn new() -> Self {
        RollupIndex::default()
    }

    /// Counts an event (see the type docs for how the hour and day levels follow).
    pub fn add(&mut self, event: &Event) {
        let key = KeyRef::of(event);
        let five = event.timestamp.floor_to(step_of(0));
        let width = self.width;
        let bucket = self.levels[0].entry(five).or_insert_with(|| Bucket {
            // Sized like the bucket written last: growing a table rehashes every cell.
            cells: Cells::with_capacity(width),
            projections: [None, None],
        });
        let cell = bucket.cell(&key);
        cell.add(event);
        self.width = bucket.cells.len();
        for slot in 1..LEVELS.len() {
            let bucket = event.timestamp.floor_to(step_of(slot));
            if bucket >= self.floors[slot - 1] {
                if self.last_dirty[slot] != Some(bucket) {
                    self.dirty[slot].insert(bucket);
                    self.last_dirty[slot] = Some(bucket);
                }
            } else {
                self.levels[slot].entry(bucket).or_default().cell(&key).add(event);
            }
        }
    }

    /// Refolds every dirty hour and day.
    pub fn refresh(&mut self) {
        for slot in 1..LEVELS.len() {
            let dirty = std::mem::take(&mut self.dirty[slot]);
            self.last_dirty[slot] = None;
            for bucket in dirty {
                let cells = self.fold_below(slot, bucket, Grain::Full);
                self.levels[slot].insert(bucket, Bucket { cells, projections: [None, None] });
            }
        }
    }

    /// Makes `[start, end)` of `level` ready to read at `grain`: refolds dirty buckets
    /// (and what they fold from) and builds missing projections.
    pub fn refresh_range(&mut self, level: Aggregation, start: Timestamp, end: Timestamp, grain: Grain) {
        let Some(slot) = level_slot(level) else { return };
        if start >= end {
            return;
        }
        if slot > 0 && self.dirty[1..=slot].iter().any(|d| !d.is_empty()) {
            self.refresh();
        }
        for bucket in self.levels[slot].range_mut(start..end).map(|(_, b)| b) {
            bucket.build_projection(grain);
        }
    }

    /// Whether [`RollupIndex::refresh_range`] has nothing to do for this range.
    pub fn is_fresh(&self, level: Aggregation, start: Timestamp, end: Timestamp, grain: Grain) -> bool {
        let Some(slot) = level_slot(level) else { return true };
        if start >= end {
            return true;
        }
        let folded = (1..=slot).all(|s| {
            // A dirty day is refolded from hours of the same day, so any dirty hour
            // inside the range's days counts too; checking every dirty hour is simpler.
            self.dirty[s].is_empty()
        });
        folded && self.levels[slot].range(start..end).all(|(_, b)| b.projection(grain).is_some())
    }

    /// The cells of `bucket` at level `slot` (1 or 2) folded from the level below.
    fn fold_below(&self, slot: usize, bucket: Timestamp, grain: Grain) -> Cells {
        let end = bucket.add_micros(step_of(slot));
        let below = slot - 1;
        if below > 0 && self.dirty[below].range(bucket..end).next().is_some() {
            // The level below is itself out of date here: fold it first.
            let mut out = Cells::default();
            for (start, cells) in self.levels[below].range(bucket..end) {
                if !self.dirty[below].contains(start) {
                    merge_into(&mut out, grain, &cells.cells);
                }
            }
            for start in self.dirty[below].range(bucket..end) {
                let cells = self.fold_below(below, *start, Grain::Full);
                merge_into(&mut out, grain, &cells);
            }
            return out;
        }
        fold(grain, self.levels[below].range(bucket..end).flat_map(|(_, b)| b.cells.iter()))
    }

    /// Visits the cells of `level` with buckets in `[start, end)` whose keys pass `filters`.
    pub fn scan(
        &self,
        level: Aggregation,
        start: Timestamp,
        end: Timestamp,
        filters: &[Filter],
        visit: impl FnMut(Timestamp, &RollupKey, &RollupCell),
    ) {
        self.scan_grain(level, start, end, filters, Grain::Full, visit);
    }

    /// Like [`RollupIndex::scan`] at a coarser `grain` (see [`Grain::for_query`]; the
    /// keys' dimensions outside the grain are placeholders). Fastest after
    /// [`RollupIndex::refresh_range`]; right either way.
    pub fn scan_grain(
        &self,
        level: Aggregation,
        start: Timestamp,
        end: Timestamp,
        filters: &[Filter],
        grain: Grain,
        mut visit: impl FnMut(Timestamp, &RollupKey, &RollupCell),
    ) {
        let Some(slot) = level_slot(level) else { return };
        if start >= end {
            return;
        }
        let mut emit = |bucket: Timestamp, cells: &Cells| {
            for (key, cell) in cells {
                if key.matches(filters) {
                    visit(bucket, key, cell);
                }
            }
        };
        let dirty = &self.dirty[slot];
        for (bucket, cells) in self.levels[slot].range(start..end) {
            if dirty.contains(bucket) {
                continue;
            }
            match cells.projection(grain) {
                Some(cells) => emit(*bucket, cells),
                None => emit(*bucket, &fold(grain, cells.cells.iter())),
            }
        }
        for bucket in dirty.range(start..end) {
            emit(*bucket, &self.fold_below(slot, *bucket, grain));
        }
    }

    /// Drops buckets of `level` that start before `cutoff`; returns how many cells went.
    pub fn drop_before(&mut self, level: Aggregation, cutoff: Timestamp) -> u64 {
        let Some(slot) = level_slot(level) else { return 0 };
        // Coarser levels fold from this one: bring them up to date before it loses data.
        self.refresh();
        let kept = self.levels[slot].split_off(&cutoff);
        let dropped = std::mem::replace(&mut self.levels[slot], kept);
        self.floors[slot] = self.floors[slot].max(cutoff);
        dropped.values().map(|b| b.cells.len() as u64).sum()
    }

    /// Number of cells held at `level`.
    pub fn cells(&self, level: Aggregation) -> usize {
        let Some(slot) = level_slot(level) else { return 0 };
        let dirty = &self.dirty[slot];
        let clean: usize =
            self.levels[slot].iter().filter(|(b, _)| !dirty.contains(b)).map(|(_, b)| b.cells.len()).sum();
        clean + dirty.iter().map(|b| self.fold_below(slot, *b, Grain::Full).len()).sum::<usize>()
    }
}

fn merge_into(out: &mut Cells, grain: Grain, cells: &Cells) {
    for (key, cell) in cells {
        out.entry_ref(&grain.project(key)).or_default().merge(cell);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::event::{ErrorPayload, Extra, Payload, PerformancePayload};
    use crate::time::{MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE};

    fn event(i: i64, at: i64) -> Event {
        let operation = ["tool:Bash", "tool:Edit", "llm:call"][usize::try_from(i % 3).unwrap()];
        let payload = if i % 5 == 4 {
            Payload::Error(ErrorPayload {
                operation: Some(operation.into()),
                message: "failed".into(),
                code: None,
                extra: Extra::new(),
            })
        } else {
            Payload::Performance(PerformancePayload {
                operation: operation.into(),
                duration: f64::from(u32::try_from(i % 97).unwrap()) + 0.5,
                memory_usage: None,
                cpu_usage: None,
                success: true,
                extra: Extra::new(),
            })
        };
        Event {
            id: format!("e{i}"),
            timestamp: Timestamp(at),
            ingested_at: Timestamp(at),
            source: if i % 2 == 0 { Source::ClaudeCli } else { Source::DualAgent },
            project_id: Some(format!("p{}", i % 4)),
            session_id: None,
            agent_type: (i % 3 == 0).then_some(AgentType::Manager),
            payload,
            tags: Default::default(),
        }
    }

    /// (bucket, group values) → (count, duration sum).
    type Totals = BTreeMap<(Timestamp, Vec<Option<String>>), (u64, f64)>;

    /// [`Totals`] read from `index` at `grain`.
    fn read(
        index: &RollupIndex,
        level: Aggregation,
        grain: Grain,
        filters: &[Filter],
        group_by: &[Dimension],
    ) -> Totals {
        let mut out = BTreeMap::new();
        index.scan_grain(
            level,
            Timestamp(i64::MIN / 2),
            Timestamp(i64::MAX / 2),
            filters,
            grain,
            |b, key, cell| {
                let group = group_by.iter().map(|d| d.value_of_key(key).map(str::to_owned)).collect();
                let slot: &mut (u64, f64) = out.entry((b, group)).or_default();
                slot.0 += cell.count;
                slot.1 += cell.field(0).map_or(0.0, |f| f.sum);
            },
        );
        out
    }

    /// The same from the events themselves.
    fn expected(events: &[Event], level: Aggregation, filters: &[Filter], group_by: &[Dimension]) -> Totals {
        let mut out = BTreeMap::new();
        for e in events.iter().filter(|e| crate::query::matches_all(filters, e)) {
            let bucket = e.timestamp.floor_to(level.step_micros().unwrap());
            let group = group_by.iter().map(|d| d.value_of(e).map(str::to_owned)).collect();
            let slot: &mut (u64, f64) = out.entry((bucket, group)).or_default();
            slot.0 += 1;
            slot.1 += e.payload.rollup_value(0).unwrap_or(0.0);
        }
        out
    }

    #[test]
    fn grain_is_the_coarsest_that_keeps_the_query_dimensions() {
        let eq = |d: Dimension| Filter::eq(d, "x");
        assert_eq!(Grain::for_query(&[], &[]), Grain::Type);
        assert_eq!(Grain::for_query(&[eq(Dimension::Type)], &[Dimension::Type]), Grain::Type);
        assert_eq!(
            Grain::for_query(&[eq(Dimension::ProjectId)], &[Dimension::Operation]),
            Grain::TypeProjectOperation
        );
        assert_eq!(
            Grain::for_query(&[], &[Dimension::Operation, Dimension::Type]),
            Grain::TypeProjectOperation
        );
        assert_eq!(Grain::for_query(&[eq(Dimension::Source)], &[]), Grain::Full);
        assert_eq!(Grain::for_query(&[], &[Dimension::ProjectId, Dimension::AgentType]), Grain::Full);
    }

    #[test]
    fn hours_and_days_fold_lazily_and_read_right_before_and_after_refresh() {
        let mut index = RollupIndex::new();
        let events: Vec<Event> = (0..3_000).map(|i| event(i, i * 97 * MICROS_PER_MINUTE / 3)).collect();
        for e in &events {
            index.add(e);
        }
        let filters = [Filter::eq(Dimension::ProjectId, "p1")];
        let group_by = [Dimension::Operation];
        for level in LEVELS {
            assert_eq!(
                read(&index, level, Grain::Full, &[], &[]),
                expected(&events, level, &[], &[]),
                "{level}"
            );
        }
        assert!(!index.is_fresh(Aggregation::Hour, Timestamp(0), Timestamp(MICROS_PER_DAY), Grain::Full));
        let cells_before = index.cells(Aggregation::Day);
        index.refresh_range(Aggregation::Day, Timestamp(0), Timestamp(300 * MICROS_PER_DAY), Grain::Type);
        assert!(index.is_fresh(Aggregation::Day, Timestamp(0), Timestamp(300 * MICROS_PER_DAY), Grain::Type));
        assert!(!index.is_fresh(
            Aggregation::Day,
            Timestamp(0),
            Timestamp(300 * MICROS_PER_DAY),
            Grain::TypeProjectOperation
        ));
        assert_eq!(index.cells(Aggregation::Day), cells_before);
        for level in LEVELS {
            for grain in [Grain::Full, Grain::Type, Grain::TypeProjectOperation] {
                let (filters, group_by): (&[Filter], &[Dimension]) = match grain {
                    Grain::Type => (&[], &[Dimension::Type]),
                    _ => (&filters, &group_by),
                };
                assert_eq!(
                    read(&index, level, grain, filters, group_by),
                    expected(&events, level, filters, group_by),
                    "{level} {grain:?}"
                );
            }
        }
        index.refresh_range(Aggregation::FiveMinutes, Timestamp(0), Timestamp(MICROS_PER_HOUR), Grain::Type);
        // A later write makes the projection and the hour out of date again.
        let late = event(3_000, 30 * MICROS_PER_MINUTE);
        index.add(&late);
        let events: Vec<Event> = events.into_iter().chain([late]).collect();
        for level in LEVELS {
            assert_eq!(
                read(&index, level, Grain::Type, &[], &[Dimension::Type]),
                expected(&events, level, &[], &[Dimension::Type]),
                "{level} after a late write"
            );
        }
    }

    #[test]
    fn retention_of_five_minute_cells_keeps_hours_and_days_whole() {
        let mut index = RollupIndex::new();
        let hour = |h: i64| h * MICROS_PER_HOUR;
        let mut events: Vec<Event> =
            (0..600).map(|i| event(i, hour(i % 10) + (i % 60) * MICROS_PER_MINUTE)).collect();
        for e in &events {
            index.add(e);
        }
        // Drops the 5-minute buckets before 05:30: hour 5 keeps only half its cells.
        let dropped =
            index.drop_before(Aggregation::FiveMinutes, Timestamp(hour(5) + 30 * MICROS_PER_MINUTE));
        assert!(dropped > 0);
        // Late events for a dropped hour, the half-dropped hour and a whole one.
        for (i, at) in
            [(600, hour(1) + 7), (601, hour(5) + 7), (602, hour(5) + 40 * MICROS_PER_MINUTE), (603, hour(8))]
        {
            let e = event(i, at);
            index.add(&e);
            events.push(e);
        }
        for level in [Aggregation::Hour, Aggregation::Day] {
            for grain in [Grain::Full, Grain::Type] {
                assert_eq!(
                    read(&index, level, grain, &[], &[Dimension::Type]),
                    expected(&events, level, &[], &[Dimension::Type]),
                    "{level} {grain:?} before refresh"
                );
            }
        }
        index.refresh();
        assert_eq!(
            read(&index, Aggregation::Hour, Grain::Full, &[], &[]),
            expected(&events, Aggregation::Hour, &[], &[])
        );
        // Dropping hours before 03:00 leaves days to fold from a partial set: day 0
        // takes events directly from then on, and keeps everything it had.
        index.drop_before(Aggregation::Hour, Timestamp(hour(3)));
        let e = event(604, hour(2));
        index.add(&e);
        events.push(e);
        let day = expected(&events, Aggregation::Day, &[], &[]);
        assert_eq!(read(&index, Aggregation::Day, Grain::Full, &[], &[]), day);
        index.refresh();
        assert_eq!(read(&index, Aggregation::Day, Grain::Full, &[], &[]), day);
    }
}
