//! The in-memory copy of recent rollup cells and the rollup key dictionary.
//!
//! The rollup tables are the durable copy. Cells whose bucket starts at or after the
//! level's `floor` are also held here, all of them: for those buckets this index is
//! complete, so queries read it without SQL and writes merge into it without reading
//! the tables back. The floor only moves forward (`rollup_memory` behind the wall
//! clock), dropping older cells from memory; they stay in the tables.

use std::collections::BTreeMap;

use hashbrown::{HashMap, HashSet};

use monitor_core::event::{Event, EventType, Source};
use monitor_core::query::{Aggregation, Aggregator, Dimension, Query};
use monitor_core::rollup::{LEVELS, RollupCell, RollupKey};
use monitor_core::time::Timestamp;

use crate::accumulate::Grouping;

/// How many event types there are: the per-type totals hold one cell per type, at the
/// type's [`EventType::index`].
const TYPE_COUNT: usize = EventType::ALL.len();

/// The slot of an event type in the per-type totals.
fn type_slot(event_type: EventType) -> usize {
    usize::from(event_type.index())
}

/// A key standing for every cell of one event type (only its type is ever read).
fn type_key(event_type: EventType) -> RollupKey {
    RollupKey { source: Source::System, event_type, project_id: None, agent_type: None, operation: None }
}

/// Index of a rollup level in [`LEVELS`] (5m, 1h, 1d).
pub(crate) fn level_slot(level: Aggregation) -> Option<usize> {
    LEVELS.iter().position(|l| *l == level)
}

/// The bucket width of a level slot.
pub(crate) fn slot_step(slot: usize) -> i64 {
    LEVELS.get(slot).and_then(|l| l.step_micros()).unwrap_or(1)
}

/// Rollup table of a level slot.
pub(crate) const TABLES: [&str; 3] = ["rollup_5m", "rollup_1h", "rollup_1d"];

/// Held cells of one level: per bucket start, the cell of each key id.
type LevelCells = BTreeMap<Timestamp, HashMap<u32, RollupCell>>;

/// Per-type totals of one level: per bucket start, one cell per event type.
type LevelTotals = BTreeMap<Timestamp, [RollupCell; TYPE_COUNT]>;

/// Events in a batch from which [`CellIndex::add_events`] spreads the levels over two
/// threads (below it, a thread costs more than it saves).
pub(crate) const PARALLEL_EVENTS: usize = 512;

/// Held cells of one level changed since the last fold: (bucket, key id).
type LevelDirty = HashSet<(Timestamp, u32)>;

/// Counts `events` (with their key ids) into one level's held cells and totals, for
/// the buckets at or after `floor`, noting each changed cell in `dirty`.
fn add_to_level(
    slot: usize,
    floor: Timestamp,
    (cells, totals, dirty): (&mut LevelCells, &mut LevelTotals, &mut LevelDirty),
    events: &[&Event],
    keys: &[u32],
) {
    let step = slot_step(slot);
    for (event, key) in events.iter().zip(keys) {
        let bucket = event.timestamp.floor_to(step);
        if bucket >= floor {
            totals.entry(bucket).or_default()[type_slot(event.event_type())].add(event);
            cells.entry(bucket).or_default().entry(*key).or_default().add(event);
            dirty.insert((bucket, *key));
        }
    }
}

/// Recent rollup cells by level, bucket and key id, plus the key dictionary.
#[derive(Debug)]
pub(crate) struct CellIndex {
    /// Key id → key (ids are dense, from 0).
    keys: Vec<RollupKey>,
    /// Key → key id.
    ids: HashMap<RollupKey, u32>,
    levels: [LevelCells; 3],
    /// Per level and bucket, the held cells of each event type merged: answers queries
    /// that filter and group by nothing but `type` (a dashboard's headline charts, error
    /// counts) with one cell per type and bucket.
    totals: [LevelTotals; 3],
    /// Per level, the held cells changed since the last fold.
    dirty: [LevelDirty; 3],
    /// Per level: every cell with a bucket at or after this is held.
    floor: [Timestamp; 3],
}

impl CellIndex {
    /// An index holding the given keys and nothing at or after `floor`.
    pub(crate) fn new(keys: Vec<RollupKey>, floor: [Timestamp; 3]) -> Self {
        let ids =
            keys.iter().enumerate().filter_map(|(i, k)| Some((k.clone(), u32::try_from(i).ok()?))).collect();
        CellIndex {
            keys,
            ids,
            levels: Default::default(),
            totals: Default::default(),
            dirty: Default::default(),
            floor,
        }
    }

    /// The id of a key, if it has one.
    pub(crate) fn key_id(&self, key: &RollupKey) -> Option<u32> {
        self.ids.get(key).copied()
    }

    /// The key of an id.
    pub(crate) fn key(&self, id: u32) -> Option<&RollupKey> {
        self.keys.get(usize::try_from(id).ok()?)
    }

    /// How many keys are known (the next id).
    pub(crate) fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Registers a key under the next id (committed keys only).
    pub(crate) fn push_key(&mut self, key: RollupKey) {
        if let Ok(id) = u32::try_from(self.keys.len()) {
            self.ids.insert(key.clone(), id);
            self.keys.push(key);
        }
    }

    /// The floor of a level slot.
    pub(crate) fn floor(&self, slot: usize) -> Timestamp {
        self.floor[slot]
    }

    /// A held cell.
    pub(crate) fn cell(&self, slot: usize, bucket: Timestamp, key: u32) -> Option<&RollupCell> {
        self.levels[slot].get(&bucket)?.get(&key)
    }

    /// The event type of a key id (a key the index does not know counts as performance;
    /// every id it is given comes from its own dictionary).
    fn type_of(&self, id: u32) -> EventType {
        self.key(id).map_or(EventType::Performance, |k| k.event_type)
    }

    /// The keys, by id.
    pub(crate) fn keys(&self) -> &[RollupKey] {
        &self.keys
    }

    /// Stores a cell loaded from the tables; ignored below the floor.
    pub(crate) fn load(&mut self, slot: usize, bucket: Timestamp, key: u32, cell: RollupCell) {
        if bucket >= self.floor[slot] {
            let of_type = type_slot(self.type_of(key));
            self.totals[slot].entry(bucket).or_default()[of_type].merge(&cell);
            self.levels[slot].entry(bucket).or_default().insert(key, cell);
        }
    }

    /// Registers keys under the next ids (committed keys only).
    pub(crate) fn push_keys(&mut self, keys: Vec<RollupKey>) {
        for key in keys {
            self.push_key(key);
        }
    }

    /// Counts committed events (with their key ids) in the held cells and totals of
    /// every level whose floor their bucket reaches. A batch of at least
    /// [`PARALLEL_EVENTS`] updates the 5-minute level on a second thread while this one
    /// updates the hour and day levels (the levels share nothing).
    pub(crate) fn add_events(&mut self, events: &[&Event], keys: &[u32]) {
        let floor = self.floor;
        let [five, hour, day] = &mut self.levels;
        let [five_totals, hour_totals, day_totals] = &mut self.totals;
        let [five_dirty, hour_dirty, day_dirty] = &mut self.dirty;
        let mut fine = move || add_to_level(0, floor[0], (five, five_totals, five_dirty), events, keys);
        let mut coarse = move || {
            add_to_level(1, floor[1], (hour, hour_totals, hour_dirty), events, keys);
            add_to_level(2, floor[2], (day, day_totals, day_dirty), events, keys);
        };
        if events.len() < PARALLEL_EVENTS {
            fine();
            coarse();
        } else {
            std::thread::scope(|scope| {
                scope.spawn(fine);
                coarse();
            });
        }
    }

    /// Copies of the held cells changed since the last fold, per level slot.
    pub(crate) fn dirty_cells(&self) -> [Vec<(Timestamp, u32, RollupCell)>; 3] {
        std::array::from_fn(|slot| {
            self.dirty[slot]
                .iter()
                .filter_map(|&(bucket, key)| Some((bucket, key, self.cell(slot, bucket, key)?.clone())))
                .collect()
        })
    }

    /// Forgets which cells changed (a fold wrote them).
    pub(crate) fn clear_dirty(&mut self) {
        for dirty in &mut self.dirty {
            dirty.clear();
        }
    }

    /// Feeds the held cells of a slot with buckets in `[start, end)` to `aggregator` for
    /// `query` (whose statistics field, if any, is rollup field `field`).
    pub(crate) fn aggregate(
        &self,
        slot: usize,
        start: Timestamp,
        end: Timestamp,
        query: &Query,
        field: Option<usize>,
        aggregator: &mut Aggregator,
    ) {
        if start >= end {
            return;
        }
        let type_only = query.filters.iter().all(|f| f.dimension == Dimension::Type)
            && query.group_by.iter().all(|d| *d == Dimension::Type);
        if type_only {
            let types: Vec<(usize, RollupKey)> = EventType::ALL
                .iter()
                .map(|t| (type_slot(*t), type_key(*t)))
                .filter(|(_, key)| key.matches(&query.filters))
                .collect();
            for (bucket, totals) in self.totals[slot].range(start..end) {
                for (i, key) in &types {
                    let total = &totals[*i];
                    if total.count > 0 {
                        aggregator.add_cell(*bucket, key, total.count, field.and_then(|f| total.field(f)));
                    }
                }
            }
            return;
        }
        // Held cells go to the aggregator as they are (it merges their sketches densely).
        let grouping = Grouping::new(&self.keys, &query.filters, &query.group_by);
        let mut visit = |bucket: Timestamp, id: u32, cell: &RollupCell| {
            if let Some(key) = self.key(id) {
                aggregator.add_cell(bucket, key, cell.count, field.and_then(|i| cell.field(i)));
            }
        };
        // A selective filter (one project of ten) looks its few keys up in each bucket
        // instead of walking every cell of the bucket.
        let matching = grouping.matching();
        let selective = matching.len() * 4 < self.keys.len();
        for (bucket, cells) in self.levels[slot].range(start..end) {
            if selective {
                for id in &matching {
                    if let Some(cell) = cells.get(id) {
                        visit(*bucket, *id, cell);
                    }
                }
            } else {
                for (id, cell) in cells {
                    if grouping.group(*id).is_some() {
                        visit(*bucket, *id, cell);
                    }
                }
            }
        }
    }

    /// Raises the floor of a slot to `floor` (never lowers it), dropping cells below.
    /// The caller folds first: cells below the floor are read from
    /// the tables only.
    pub(crate) fn raise_floor(&mut self, slot: usize, floor: Timestamp) {
        if floor > self.floor[slot] {
            self.floor[slot] = floor;
            self.drop_before(slot, floor);
        }
    }

    /// Whether raising the floors to `target` would move any.
    pub(crate) fn floors_below(&self, target: &[Timestamp; 3]) -> bool {
        target.iter().zip(&self.floor).any(|(t, f)| t > f)
    }

    /// Drops held cells of a slot with buckets before `cutoff`; returns how many.
    pub(crate) fn drop_before(&mut self, slot: usize, cutoff: Timestamp) -> u64 {
        let starts_before = self.levels[slot].keys().next().is_some_and(|first| *first < cutoff)
            || self.totals[slot].keys().next().is_some_and(|first| *first < cutoff);
        if !starts_before {
            return 0;
        }
        let kept_totals = self.totals[slot].split_off(&cutoff);
        self.totals[slot] = kept_totals;
        self.dirty[slot].retain(|(bucket, _)| *bucket >= cutoff);
        let kept = self.levels[slot].split_off(&cutoff);
        let dropped = std::mem::replace(&mut self.levels[slot], kept);
        dropped.values().map(|cells| cells.len() as u64).sum()
    }

    /// Cells held per level slot.
    pub(crate) fn cells(&self) -> [usize; 3] {
        let count = |slot: usize| self.levels[slot].values().map(HashMap::len).sum();
        [count(0), count(1), count(2)]
    }
}
