//! Rollup cells as stored: grains (which key columns a row keeps), the encoding of
//! monitor-core's [`FieldStats`], and the merging of cells between levels.

use std::collections::HashMap;

use monitor_core::event::ROLLUP_FIELDS;
use monitor_core::query::{Dimension, Query};
use monitor_core::rollup::{FieldStats, RollupCell, RollupKey};
use monitor_core::sketch::Sketch;
use monitor_core::{AgentType, EventType, Source, Timestamp};

use crate::copy::CopyBuffer;
use crate::error::{Error, Result};

/// Which key columns a rollup row keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Grain {
    /// source, type, project, agent type, operation (every rolled-up dimension).
    Full = 0,
    /// type only: unfiltered dashboards (count, duration per bucket).
    Type = 1,
    /// type, project, operation: per-project breakdowns by operation.
    ProjectOperation = 2,
}

impl Grain {
    /// Every grain, as written by `maintain`.
    pub(crate) const ALL: [Grain; 3] = [Grain::Full, Grain::Type, Grain::ProjectOperation];

    /// The stored code.
    pub(crate) const fn code(self) -> i16 {
        self as i16
    }

    /// The coarsest grain that keeps every dimension the query filters or groups by.
    pub(crate) fn for_query(query: &Query) -> Grain {
        let dims = query.filters.iter().map(|f| &f.dimension).chain(&query.group_by);
        let mut grain = Grain::Type;
        for dim in dims {
            match dim {
                Dimension::Type => {}
                Dimension::ProjectId | Dimension::Operation => {
                    if grain == Grain::Type {
                        grain = Grain::ProjectOperation;
                    }
                }
                _ => return Grain::Full,
            }
        }
        grain
    }

    /// The key of a full-grain key at this grain.
    pub(crate) fn project(self, key: &StoredKey) -> StoredKey {
        match self {
            Grain::Full => key.clone(),
            Grain::Type => StoredKey { event_type: key.event_type, ..StoredKey::default() },
            Grain::ProjectOperation => StoredKey {
                event_type: key.event_type,
                project_id: key.project_id.clone(),
                operation: key.operation.clone(),
                ..StoredKey::default()
            },
        }
    }
}

/// A rollup row's key columns (`None` where the grain drops a column or the event had none).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StoredKey {
    pub(crate) source: Option<Source>,
    pub(crate) event_type: EventType,
    pub(crate) project_id: Option<String>,
    pub(crate) agent_type: Option<AgentType>,
    pub(crate) operation: Option<String>,
}

impl Default for StoredKey {
    fn default() -> Self {
        StoredKey {
            source: None,
            event_type: EventType::Performance,
            project_id: None,
            agent_type: None,
            operation: None,
        }
    }
}

impl StoredKey {
    /// From monitor-core's key (full grain).
    pub(crate) fn full(key: &RollupKey) -> Self {
        StoredKey {
            source: Some(key.source),
            event_type: key.event_type,
            project_id: key.project_id.clone(),
            agent_type: key.agent_type,
            operation: key.operation.clone(),
        }
    }

    /// As monitor-core's key, for the `Aggregator`. A grain without `source` never serves
    /// a query that filters or groups by it, so any placeholder does.
    pub(crate) fn to_rollup_key(&self) -> RollupKey {
        RollupKey {
            source: self.source.unwrap_or(Source::System),
            event_type: self.event_type,
            project_id: self.project_id.clone(),
            agent_type: self.agent_type,
            operation: self.operation.clone(),
        }
    }

    /// Parses the stored key columns.
    pub(crate) fn parse(
        source: Option<&str>,
        event_type: &str,
        project_id: Option<String>,
        agent_type: Option<&str>,
        operation: Option<String>,
    ) -> Result<Self> {
        let bad = |what: &str, v: &str| Error::Corrupt(format!("rollup row has {what} `{v}`"));
        Ok(StoredKey {
            source: source.map(|s| s.parse().map_err(|_| bad("source", s))).transpose()?,
            event_type: event_type.parse().map_err(|_| bad("type", event_type))?,
            project_id,
            agent_type: agent_type.map(|a| a.parse().map_err(|_| bad("agentType", a))).transpose()?,
            operation,
        })
    }
}

/// Cells keyed by bucket start and key.
pub(crate) type CellMap = HashMap<(Timestamp, StoredKey), RollupCell>;

/// Adds a cell into a map.
pub(crate) fn merge_into(map: &mut CellMap, bucket: Timestamp, key: StoredKey, cell: &RollupCell) {
    match map.get_mut(&(bucket, key.clone())) {
        Some(existing) => existing.merge(cell),
        None => {
            map.insert((bucket, key), cell.clone());
        }
    }
}

/// Encodes field statistics: count (u64 LE), sum, min, max (f64 LE), then the sketch.
pub(crate) fn encode_stats(stats: &FieldStats) -> Vec<u8> {
    let sketch = stats.sketch.encode();
    let mut out = Vec::with_capacity(32 + sketch.len());
    out.extend_from_slice(&stats.count.to_le_bytes());
    out.extend_from_slice(&stats.sum.to_le_bytes());
    out.extend_from_slice(&stats.min.to_le_bytes());
    out.extend_from_slice(&stats.max.to_le_bytes());
    out.extend_from_slice(&sketch);
    out
}

/// Decodes [`encode_stats`] output.
pub(crate) fn decode_stats(bytes: &[u8]) -> Result<FieldStats> {
    let corrupt = || Error::Corrupt("rollup field statistics do not decode".into());
    if bytes.len() < 32 {
        return Err(corrupt());
    }
    let word = |i: usize| -> [u8; 8] {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        w
    };
    Ok(FieldStats {
        count: u64::from_le_bytes(word(0)),
        sum: f64::from_le_bytes(word(1)),
        min: f64::from_le_bytes(word(2)),
        max: f64::from_le_bytes(word(3)),
        sketch: Sketch::decode(&bytes[32..]).ok_or_else(corrupt)?,
    })
}

/// Decodes the `events` and `f0..f6` columns of a rollup row into a cell.
pub(crate) fn decode_cell(events: i64, fields: [Option<Vec<u8>>; ROLLUP_FIELDS.len()]) -> Result<RollupCell> {
    let mut cell = RollupCell { count: u64::try_from(events).unwrap_or(0), ..RollupCell::default() };
    for (slot, bytes) in cell.fields.iter_mut().zip(fields) {
        if let Some(bytes) = bytes {
            *slot = Some(Box::new(decode_stats(&bytes)?));
        }
    }
    Ok(cell)
}

/// Appends a rollup row (`grain` is `None` for the pending table, which has no grain column).
pub(crate) fn copy_cell(
    copy: &mut CopyBuffer,
    bucket: Timestamp,
    grain: Option<Grain>,
    key: &StoredKey,
    cell: &RollupCell,
) {
    copy.start_row();
    copy.timestamp(bucket);
    if let Some(grain) = grain {
        copy.int2(grain.code());
    }
    copy.opt_text(key.source.map(Source::as_str));
    copy.text(key.event_type.as_str());
    copy.opt_text(key.project_id.as_deref());
    copy.opt_text(key.agent_type.map(AgentType::as_str));
    copy.opt_text(key.operation.as_deref());
    copy.int8(i64::try_from(cell.count).unwrap_or(i64::MAX));
    for index in 0..ROLLUP_FIELDS.len() {
        let encoded = cell.field(index).map(encode_stats);
        copy.opt_bytea(encoded.as_deref());
    }
}

/// The stored columns of a rollup row after the bucket (and grain), for `COPY`.
pub(crate) const CELL_COLUMNS: &str =
    "source, type, project_id, agent_type, operation, events, f0, f1, f2, f3, f4, f5, f6";

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_core::query::{Aggregation, Filter};

    #[test]
    fn stats_round_trip() {
        let mut stats = FieldStats::default();
        for v in [1.5, 2.0, 900.0, -3.0] {
            stats.add(v);
        }
        assert_eq!(decode_stats(&encode_stats(&stats)).unwrap(), stats);
        assert!(decode_stats(&[0; 10]).is_err());
    }

    #[test]
    fn grain_choice() {
        let q = Query::new(Timestamp(0), Timestamp(1), Aggregation::Hour);
        assert_eq!(Grain::for_query(&q), Grain::Type);
        assert_eq!(Grain::for_query(&q.clone().filter(Filter::eq(Dimension::Type, "error"))), Grain::Type);
        let per_project = q.clone().filter(Filter::eq(Dimension::ProjectId, "p")).group(Dimension::Operation);
        assert_eq!(Grain::for_query(&per_project), Grain::ProjectOperation);
        assert_eq!(Grain::for_query(&per_project.group(Dimension::AgentType)), Grain::Full);
    }
}
