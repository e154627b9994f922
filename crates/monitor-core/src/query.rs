//! The query model shared by every store and the HTTP API, and the aggregation engine
//! that turns raw events or rollup cells into answer points.

use std::collections::BTreeMap;

use hashbrown::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

use crate::event::{Event, rollup_field_index};
use crate::rollup::{FieldStats, RollupKey};
use crate::sketch::{DenseSketch, exact_quantile};
use crate::time::{MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE, Timestamp};

/// Raw answers return at most this many events unless the query says otherwise.
pub const DEFAULT_RAW_LIMIT: usize = 1_000;

/// The time resolution of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Aggregation {
    /// The stored events themselves, newest first.
    Raw,
    /// One-minute buckets, computed from raw events.
    Minute,
    /// Five-minute buckets, served from the 5-minute rollup.
    FiveMinutes,
    /// One-hour buckets, served from the hourly rollup.
    Hour,
    /// One-day buckets, served from the daily rollup.
    Day,
}

impl Aggregation {
    /// Every level, finest first.
    pub const ALL: [Aggregation; 5] = [
        Aggregation::Raw,
        Aggregation::Minute,
        Aggregation::FiveMinutes,
        Aggregation::Hour,
        Aggregation::Day,
    ];

    /// The wire spelling: `raw`, `1m`, `5m`, `1h`, `1d`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Aggregation::Raw => "raw",
            Aggregation::Minute => "1m",
            Aggregation::FiveMinutes => "5m",
            Aggregation::Hour => "1h",
            Aggregation::Day => "1d",
        }
    }

    /// Bucket width in microseconds; `None` for raw.
    pub const fn step_micros(self) -> Option<i64> {
        match self {
            Aggregation::Raw => None,
            Aggregation::Minute => Some(MICROS_PER_MINUTE),
            Aggregation::FiveMinutes => Some(5 * MICROS_PER_MINUTE),
            Aggregation::Hour => Some(MICROS_PER_HOUR),
            Aggregation::Day => Some(MICROS_PER_DAY),
        }
    }

    /// Whether stores keep a rollup at this level (5m, 1h, 1d).
    pub const fn is_rollup(self) -> bool {
        matches!(self, Aggregation::FiveMinutes | Aggregation::Hour | Aggregation::Day)
    }
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Aggregation {
    type Err = QueryError;
    fn from_str(text: &str) -> Result<Self, QueryError> {
        Aggregation::ALL.into_iter().find(|a| a.as_str() == text).ok_or_else(|| {
            QueryError::new(
                "aggregation",
                format!("unknown value `{text}` (expected raw | 1m | 5m | 1h | 1d)"),
            )
        })
    }
}

impl Serialize for Aggregation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Aggregation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Something events can be filtered and grouped by.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    /// `source`
    Source,
    /// `type`
    Type,
    /// `projectId`
    ProjectId,
    /// `sessionId`
    SessionId,
    /// `agentType`
    AgentType,
    /// `operation` (performance and error payloads)
    Operation,
    /// `tag.KEY`
    Tag(String),
}

impl Dimension {
    /// The wire name (`projectId`, `tag.host`, …).
    pub fn name(&self) -> String {
        match self {
            Dimension::Tag(key) => format!("tag.{key}"),
            other => other.static_name().unwrap_or_default().to_owned(),
        }
    }

    fn static_name(&self) -> Option<&'static str> {
        Some(match self {
            Dimension::Source => "source",
            Dimension::Type => "type",
            Dimension::ProjectId => "projectId",
            Dimension::SessionId => "sessionId",
            Dimension::AgentType => "agentType",
            Dimension::Operation => "operation",
            Dimension::Tag(_) => return None,
        })
    }

    /// Whether rollups keep this dimension (all but `sessionId` and tags).
    pub const fn in_rollups(&self) -> bool {
        !matches!(self, Dimension::SessionId | Dimension::Tag(_))
    }

    /// This dimension's value on an event.
    pub fn value_of<'e>(&self, event: &'e Event) -> Option<&'e str> {
        match self {
            Dimension::Source => Some(event.source.as_str()),
            Dimension::Type => Some(event.event_type().as_str()),
            Dimension::ProjectId => event.project_id.as_deref(),
            Dimension::SessionId => event.session_id.as_deref(),
            Dimension::AgentType => event.agent_type.map(|a| a.as_str()),
            Dimension::Operation => event.operation(),
            Dimension::Tag(key) => event.tags.get(key).map(String::as_str),
        }
    }

    /// This dimension's value on a rollup key (`None` for dimensions not rolled up).
    pub fn value_of_key<'k>(&self, key: &'k RollupKey) -> Option<&'k str> {
        match self {
            Dimension::Source => Some(key.source.as_str()),
            Dimension::Type => Some(key.event_type.as_str()),
            Dimension::ProjectId => key.project_id.as_deref(),
            Dimension::AgentType => key.agent_type.map(|a| a.as_str()),
            Dimension::Operation => key.operation.as_deref(),
            Dimension::SessionId | Dimension::Tag(_) => None,
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Dimension {
    type Err = QueryError;
    fn from_str(text: &str) -> Result<Self, QueryError> {
        Ok(match text {
            "source" => Dimension::Source,
            "type" => Dimension::Type,
            "projectId" => Dimension::ProjectId,
            "sessionId" => Dimension::SessionId,
            "agentType" => Dimension::AgentType,
            "operation" => Dimension::Operation,
            _ => match text.strip_prefix("tag.") {
                Some(key) if !key.is_empty() => Dimension::Tag(key.to_owned()),
                _ => {
                    return Err(QueryError::new(
                        "groupBy",
                        format!(
                            "unknown dimension `{text}` (expected source, type, projectId, sessionId, agentType, operation or tag.KEY)"
                        ),
                    ));
                }
            },
        })
    }
}

impl Serialize for Dimension {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Dimension {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// How a filter compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterOp {
    /// Equal to the one value.
    Eq,
    /// Not equal to the one value (events without the dimension match).
    Ne,
    /// Equal to any of the values.
    In,
}

/// One condition on a dimension; a query's filters all have to hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Filter {
    /// What is compared.
    pub dimension: Dimension,
    /// How.
    pub op: FilterOp,
    /// With what (one value for `eq`/`ne`).
    pub values: Vec<String>,
}

impl Filter {
    /// `dimension = value`.
    pub fn eq(dimension: Dimension, value: impl Into<String>) -> Self {
        Filter { dimension, op: FilterOp::Eq, values: vec![value.into()] }
    }

    /// Whether a dimension value passes.
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let hit = value.is_some_and(|v| self.values.iter().any(|x| x == v));
        match self.op {
            FilterOp::Eq | FilterOp::In => hit,
            FilterOp::Ne => !hit,
        }
    }

    /// Whether an event passes.
    pub fn matches(&self, event: &Event) -> bool {
        self.matches_value(self.dimension.value_of(event))
    }
}

/// Whether an event passes every filter.
pub fn matches_all(filters: &[Filter], event: &Event) -> bool {
    filters.iter().all(|f| f.matches(event))
}

/// A bad query: which parameter, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct QueryError {
    /// The offending parameter.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl QueryError {
    /// An error for `field` with `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        QueryError { field: field.into(), reason: reason.into() }
    }
}

/// A metrics query (DESIGN.md "HTTP contract": range `[start, end)`).
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
    /// Raw events or bucket width.
    pub aggregation: Aggregation,
    /// Payload field the statistics are of (`duration`, `score`, …).
    pub field: Option<String>,
    /// Group points by these dimensions.
    pub group_by: Vec<Dimension>,
    /// Conditions every counted event meets.
    pub filters: Vec<Filter>,
    /// Most points returned (raw default [`DEFAULT_RAW_LIMIT`]).
    pub limit: Option<usize>,
}

impl Query {
    /// A query over `[start, end)` at `aggregation` with nothing else set.
    pub fn new(start: Timestamp, end: Timestamp, aggregation: Aggregation) -> Self {
        Query { start, end, aggregation, field: None, group_by: Vec::new(), filters: Vec::new(), limit: None }
    }

    /// Sets the statistics field (builder style).
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds a filter (builder style).
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Adds a group-by dimension (builder style).
    pub fn group(mut self, dimension: Dimension) -> Self {
        self.group_by.push(dimension);
        self
    }

    /// Sets the limit (builder style).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Checks the query is answerable.
    pub fn validate(&self) -> Result<(), QueryError> {
        if self.end <= self.start {
            return Err(QueryError::new("end", "must be after start"));
        }
        if self.aggregation == Aggregation::Raw && !self.group_by.is_empty() {
            return Err(QueryError::new("groupBy", "needs an aggregation (1m, 5m, 1h or 1d)"));
        }
        if self.limit == Some(0) {
            return Err(QueryError::new("limit", "must be at least 1"));
        }
        if self.field.as_deref() == Some("") {
            return Err(QueryError::new("field", "empty"));
        }
        for filter in &self.filters {
            if filter.values.is_empty() || (filter.op != FilterOp::In && filter.values.len() != 1) {
                return Err(QueryError::new(
                    filter.dimension.name(),
                    "eq and ne take one value, in takes one or more",
                ));
            }
        }
        Ok(())
    }

    /// Whether rollups can answer this query: a rollup level, a rolled-up field and only
    /// rolled-up dimensions.
    pub fn rollup_answerable(&self) -> bool {
        self.aggregation.is_rollup()
            && self.field.as_deref().is_none_or(|f| rollup_field_index(f).is_some())
            && self.group_by.iter().all(Dimension::in_rollups)
            && self.filters.iter().all(|f| f.dimension.in_rollups())
    }

    /// The effective raw limit.
    pub fn raw_limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_RAW_LIMIT)
    }

    /// Splits the range into pieces each answered from the coarsest rollup whose buckets
    /// fit inside it, finer rollups at the edges, and raw events for what is left: no
    /// rollup bucket ever counts events outside `[start, end)`.
    pub fn plan(&self) -> Vec<Segment> {
        let mut out = Vec::new();
        if !self.rollup_answerable() {
            out.push(Segment { level: None, start: self.start, end: self.end });
            return out;
        }
        let levels: Vec<Aggregation> = [Aggregation::Day, Aggregation::Hour, Aggregation::FiveMinutes]
            .into_iter()
            .filter(|l| *l <= self.aggregation)
            .collect();
        cover(self.start, self.end, &levels, &mut out);
        out
    }
}

/// A piece of a query's range and where to read it from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The rollup level to read, or `None` for raw events.
    pub level: Option<Aggregation>,
    /// Inclusive start (bucket-aligned for rollup segments).
    pub start: Timestamp,
    /// Exclusive end (bucket-aligned for rollup segments).
    pub end: Timestamp,
}

fn cover(start: Timestamp, end: Timestamp, levels: &[Aggregation], out: &mut Vec<Segment>) {
    if start >= end {
        return;
    }
    let Some((level, finer)) = levels.split_first() else {
        out.push(Segment { level: None, start, end });
        return;
    };
    let step = level.step_micros().unwrap_or(1);
    let floor = start.floor_to(step);
    let first = if floor < start { floor.add_micros(step) } else { floor };
    let last = end.floor_to(step);
    if first >= last {
        cover(start, end, finer, out);
        return;
    }
    cover(start, first, finer, out);
    out.push(Segment { level: Some(*level), start: first, end: last });
    cover(last, end, finer, out);
}

/// One aggregated point: a bucket (and group) with statistics of the query's field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggPoint {
    /// Bucket start.
    pub timestamp: Timestamp,
    /// Matching events (with a field: those carrying it).
    pub count: u64,
    /// Sum of the field.
    pub sum: Option<f64>,
    /// Mean of the field.
    pub avg: Option<f64>,
    /// Minimum of the field.
    pub min: Option<f64>,
    /// Maximum of the field.
    pub max: Option<f64>,
    /// Median of the field.
    pub p50: Option<f64>,
    /// 95th percentile of the field.
    pub p95: Option<f64>,
    /// 99th percentile of the field.
    pub p99: Option<f64>,
    /// The group's dimension values, keyed by dimension name.
    pub group: BTreeMap<String, Option<String>>,
}

/// The points of an answer: events for raw queries, buckets otherwise.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryData {
    /// Stored events, newest first.
    Raw(Vec<Event>),
    /// Buckets in ascending time, then group, order.
    Aggregated(Vec<AggPoint>),
}

impl QueryData {
    /// How many points.
    pub fn len(&self) -> usize {
        match self {
            QueryData::Raw(v) => v.len(),
            QueryData::Aggregated(v) => v.len(),
        }
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Serialize for QueryData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            QueryData::Raw(v) => v.serialize(serializer),
            QueryData::Aggregated(v) => v.serialize(serializer),
        }
    }
}

/// Where an answer's numbers came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// Computed from raw events.
    Raw,
    /// Read from rollups (plus raw edges or a not-yet-rolled-up tail).
    Rollup,
}

/// Facts about an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryMetadata {
    /// Points before `limit` was applied.
    pub total_points: usize,
    /// The resolution answered.
    pub aggregation: Aggregation,
    /// Whether the result cache answered.
    pub cache_hit: bool,
    /// Time spent answering, in milliseconds.
    pub query_time: f64,
    /// Raw events or rollups.
    pub source: DataSource,
    /// Whether percentiles are sketch estimates (1 % relative error) rather than exact.
    pub approximate: bool,
}

/// A query's answer: `{data, metadata}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueryResult {
    /// The points.
    pub data: QueryData,
    /// Facts about them.
    pub metadata: QueryMetadata,
}

impl QueryResult {
    /// The aggregated points, if this is an aggregated answer.
    pub fn points(&self) -> &[AggPoint] {
        match &self.data {
            QueryData::Aggregated(points) => points,
            QueryData::Raw(_) => &[],
        }
    }

    /// The events, if this is a raw answer.
    pub fn events(&self) -> &[Event] {
        match &self.data {
            QueryData::Raw(events) => events,
            QueryData::Aggregated(_) => &[],
        }
    }
}

type GroupValues = Vec<Option<String>>;

#[derive(Default)]
struct ExactAcc {
    count: u64,
    values: Vec<f64>,
}

/// A group's values looked up by reference: hashes and compares like the owned
/// `(Timestamp, GroupValues)` key (a slice hashes like a `Vec` of the same elements,
/// `&str` like `String`), so a cell's group is cloned only when it is new.
#[derive(Hash)]
struct GroupRef<'a>(Timestamp, &'a [Option<&'a str>]);

impl hashbrown::Equivalent<(Timestamp, GroupValues)> for GroupRef<'_> {
    fn equivalent(&self, key: &(Timestamp, GroupValues)) -> bool {
        self.0 == key.0
            && self.1.len() == key.1.len()
            && self.1.iter().zip(&key.1).all(|(a, b)| *a == b.as_deref())
    }
}

impl From<&GroupRef<'_>> for (Timestamp, GroupValues) {
    fn from(group: &GroupRef<'_>) -> Self {
        (group.0, group.1.iter().map(|v| v.map(str::to_owned)).collect())
    }
}

/// Finds or inserts the accumulator of a bucket and group without cloning the group
/// unless it is new.
fn acc_for<'m, 'v, V: Default>(
    map: &'m mut HashMap<(Timestamp, GroupValues), V>,
    bucket: Timestamp,
    group_by: &[Dimension],
    value_of: impl Fn(&Dimension) -> Option<&'v str>,
) -> &'m mut V {
    const INLINE: usize = 8;
    let mut inline = [None; INLINE];
    let spilled: Vec<Option<&str>>;
    let values: &[Option<&str>] = if group_by.len() <= INLINE {
        for (slot, dimension) in inline.iter_mut().zip(group_by) {
            *slot = value_of(dimension);
        }
        &inline[..group_by.len()]
    } else {
        spilled = group_by.iter().map(&value_of).collect();
        &spilled
    };
    map.entry_ref(&GroupRef(bucket, values)).or_default()
}

/// Field statistics being merged from many cells: like [`FieldStats`] with a dense
/// sketch, so each merge is one addition per bin and no allocation.
struct StatsAcc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    sketch: DenseSketch,
}

impl Default for StatsAcc {
    fn default() -> Self {
        StatsAcc {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sketch: DenseSketch::default(),
        }
    }
}

impl StatsAcc {
    fn add(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sketch.add(value);
    }

    fn merge(&mut self, other: &FieldStats) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sketch.merge(&other.sketch);
    }

    fn into_stats(self) -> FieldStats {
        FieldStats {
            count: self.count,
            sum: self.sum,
            min: self.min,
            max: self.max,
            sketch: self.sketch.into_sketch(),
        }
    }
}

#[derive(Default)]
struct MergedAcc {
    count: u64,
    stats: Option<StatsAcc>,
}

/// Builds aggregated points from raw events and/or rollup cells.
///
/// Raw events give exact percentiles; rollup cells give sketch estimates. A bucket fed
/// from both (a rollup bucket with a raw tail) converts its raw values into the sketch.
pub struct Aggregator {
    step: i64,
    group_by: Vec<Dimension>,
    field: Option<String>,
    field_index: Option<usize>,
    exact: HashMap<(Timestamp, GroupValues), ExactAcc>,
    merged: HashMap<(Timestamp, GroupValues), MergedAcc>,
}

impl Aggregator {
    /// An aggregator for `query`; `None` for raw queries.
    pub fn new(query: &Query) -> Option<Self> {
        let step = query.aggregation.step_micros()?;
        Some(Aggregator {
            step,
            group_by: query.group_by.clone(),
            field: query.field.clone(),
            field_index: query.field.as_deref().and_then(rollup_field_index),
            exact: HashMap::new(),
            merged: HashMap::new(),
        })
    }

    /// The bucket width in microseconds.
    pub const fn step(&self) -> i64 {
        self.step
    }

    /// Counts one raw event (the caller has applied the filters and the time range).
    pub fn add_event(&mut self, event: &Event) {
        let value = match &self.field {
            Some(name) => match event.payload.numeric_field(name) {
                Some(v) => Some(v),
                None => return,
            },
            None => None,
        };
        let bucket = event.timestamp.floor_to(self.step);
        let acc = acc_for(&mut self.exact, bucket, &self.group_by, |d| d.value_of(event));
        acc.count += 1;
        if let Some(v) = value {
            acc.values.push(v);
        }
    }

    /// Adds a rollup cell: `count` events in `bucket` under `key`, with `stats` of the
    /// query's field when the cell has it. The caller has applied the filters; `bucket`
    /// may be finer than the query step (it is floored).
    pub fn add_cell(&mut self, bucket: Timestamp, key: &RollupKey, count: u64, stats: Option<&FieldStats>) {
        if self.field_index.is_some() && stats.is_none() {
            return;
        }
        let bucket = bucket.floor_to(self.step);
        let acc: &mut MergedAcc = acc_for(&mut self.merged, bucket, &self.group_by, |d| d.value_of_key(key));
        match stats {
            Some(stats) => {
                acc.count += stats.count;
                acc.stats.get_or_insert_with(StatsAcc::default).merge(stats);
            }
            None => acc.count += count,
        }
    }

    /// Whether any rollup cell contributed (percentiles are then approximate).
    pub fn used_rollups(&self) -> bool {
        !self.merged.is_empty()
    }

    /// The points, ascending by time then group.
    pub fn finish(self) -> Vec<AggPoint> {
        let Aggregator { group_by, field, mut exact, merged, .. } = self;
        let has_field = field.is_some();
        let names: Vec<String> = group_by.iter().map(Dimension::name).collect();
        let mut rows: Vec<((Timestamp, GroupValues), AggPoint)> =
            Vec::with_capacity(exact.len() + merged.len());
        let make_group = |values: &GroupValues| -> BTreeMap<String, Option<String>> {
            names.iter().cloned().zip(values.iter().cloned()).collect()
        };
        for (key, mut acc) in merged {
            // Raw tail in the same bucket: fold its values into the sketch.
            if let Some(raw) = exact.remove(&key) {
                acc.count += raw.count;
                if has_field {
                    let stats = acc.stats.get_or_insert_with(StatsAcc::default);
                    for v in raw.values {
                        stats.add(v);
                    }
                }
            }
            let point = match (acc.stats, has_field) {
                (Some(stats), true) => stats_point(key.0, acc.count, &stats.into_stats(), make_group(&key.1)),
                _ => count_point(key.0, acc.count, make_group(&key.1)),
            };
            rows.push((key, point));
        }
        for (key, mut acc) in exact {
            let point = if has_field && !acc.values.is_empty() {
                acc.values.sort_by(f64::total_cmp);
                exact_point(key.0, acc.count, &acc.values, make_group(&key.1))
            } else {
                count_point(key.0, acc.count, make_group(&key.1))
            };
            rows.push((key, point));
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows.into_iter().map(|(_, p)| p).collect()
    }
}

fn count_point(timestamp: Timestamp, count: u64, group: BTreeMap<String, Option<String>>) -> AggPoint {
    AggPoint {
        timestamp,
        count,
        sum: None,
        avg: None,
        min: None,
        max: None,
        p50: None,
        p95: None,
        p99: None,
        group,
    }
}

fn exact_point(
    timestamp: Timestamp,
    count: u64,
    sorted: &[f64],
    group: BTreeMap<String, Option<String>>,
) -> AggPoint {
    let sum: f64 = sorted.iter().sum();
    #[allow(clippy::cast_precision_loss)]
    let avg = sum / sorted.len() as f64;
    AggPoint {
        timestamp,
        count,
        sum: Some(sum),
        avg: Some(avg),
        min: sorted.first().copied(),
        max: sorted.last().copied(),
        p50: exact_quantile(sorted, 0.50),
        p95: exact_quantile(sorted, 0.95),
        p99: exact_quantile(sorted, 0.99),
        group,
    }
}

fn stats_point(
    timestamp: Timestamp,
    count: u64,
    stats: &FieldStats,
    group: BTreeMap<String, Option<String>>,
) -> AggPoint {
    let [p50, p95, p99] = stats.quantiles([0.50, 0.95, 0.99]);
    AggPoint {
        timestamp,
        count,
        sum: Some(stats.sum),
        avg: stats.mean(),
        min: Some(stats.min),
        max: Some(stats.max),
        p50,
        p95,
        p99,
        group,
    }
}
