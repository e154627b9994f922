//! Answering queries: raw events newest first, aggregates from rollups (plus pending
//! cells) and raw edges, following monitor-core's `Query::plan` and `Aggregator`.

use std::time::Instant;

use monitor_core::event::{Event, rollup_field_index};
use monitor_core::query::{
    Aggregation, Aggregator, DataSource, Dimension, Filter, FilterOp, Query, QueryData, QueryMetadata,
    QueryResult,
};
use monitor_core::validate::event_from_value;
use monitor_core::{AgentType, Tags};
use serde_json::{Map, Value};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use crate::cells::Grain;
use crate::error::{Error, Result};
use crate::schema::{from_datetime, to_datetime};
use crate::store::{PgStore, rollup_table};

const EVENT_COLUMNS: &str =
    "metric_id, time, ingested_at, source, type, project_id, session_id, agent_type, value::text, tags::text";

/// The SQL expression of a dimension (tags need their key bound).
fn push_dimension(qb: &mut QueryBuilder<Postgres>, dimension: &Dimension) {
    match dimension {
        Dimension::Source => qb.push("source"),
        Dimension::Type => qb.push("type"),
        Dimension::ProjectId => qb.push("project_id"),
        Dimension::SessionId => qb.push("session_id"),
        Dimension::AgentType => qb.push("agent_type"),
        Dimension::Operation => qb.push("operation"),
        Dimension::Tag(key) => qb.push("(tags ->> ").push_bind(key.clone()).push(")"),
    };
}

/// Appends ` AND …` for each filter (`ne` matches rows without the dimension).
fn push_filters(qb: &mut QueryBuilder<Postgres>, filters: &[Filter]) {
    for filter in filters {
        qb.push(" AND ");
        push_dimension(qb, &filter.dimension);
        match (filter.op, filter.values.as_slice()) {
            (FilterOp::Eq, [value]) => qb.push(" = ").push_bind(value.clone()),
            (FilterOp::Ne, [value]) => qb.push(" IS DISTINCT FROM ").push_bind(value.clone()),
            (_, values) => qb.push(" = ANY(").push_bind(values.to_vec()).push(")"),
        };
    }
}

/// The event type that carries a rolled-up field, to skip the other tables early.
fn type_of_field(index: usize) -> &'static str {
    match index {
        0..=3 => "performance",
        4 | 5 => "coordination",
        _ => "quality",
    }
}

/// Decodes a row of [`EVENT_COLUMNS`].
fn decode_event(row: &PgRow) -> Result<Event> {
    let err = Error::db("reading events");
    let id: String = row.try_get(0).map_err(err)?;
    let event_type: String = row.try_get(4).map_err(err)?;
    let source: String = row.try_get(3).map_err(err)?;
    let payload_text: String = row.try_get(8).map_err(err)?;
    let tags_text: String = row.try_get(9).map_err(err)?;
    let corrupt = |what: &str, e: &dyn std::fmt::Display| Error::Corrupt(format!("event {id}: {what}: {e}"));
    let payload: Value = serde_json::from_str(&payload_text).map_err(|e| corrupt("payload", &e))?;
    let mut object = Map::new();
    object.insert("type".into(), Value::String(event_type));
    object.insert("source".into(), Value::String(source));
    object.insert("payload".into(), payload);
    let parsed = event_from_value(Value::Object(object)).map_err(|e| corrupt("payload", &e))?;
    let tags: Tags = serde_json::from_str(&tags_text).map_err(|e| corrupt("tags", &e))?;
    let agent: Option<String> = row.try_get(7).map_err(err)?;
    let agent_type =
        agent.map(|a| a.parse::<AgentType>().map_err(|_| corrupt("agentType", &a))).transpose()?;
    Ok(Event {
        id,
        timestamp: from_datetime(row.try_get(1).map_err(err)?),
        ingested_at: from_datetime(row.try_get(2).map_err(err)?),
        source: parsed.source,
        project_id: row.try_get(5).map_err(err)?,
        session_id: row.try_get(6).map_err(err)?,
        agent_type,
        payload: parsed.payload,
        tags,
    })
}

/// Raw events in `[start, end)` matching the query's filters (and of the type carrying
/// its field, when the field is rolled up), unordered.
async fn raw_events(
    conn: &mut PgConnection,
    query: &Query,
    start: monitor_core::Timestamp,
    end: monitor_core::Timestamp,
) -> Result<Vec<Event>> {
    let mut qb =
        QueryBuilder::<Postgres>::new(format!("SELECT {EVENT_COLUMNS} FROM metrics_all WHERE time >= "));
    qb.push_bind(to_datetime(start)).push(" AND time < ").push_bind(to_datetime(end));
    if let Some(index) = query.field.as_deref().and_then(rollup_field_index) {
        qb.push(" AND type = ").push_bind(type_of_field(index));
    }
    push_filters(&mut qb, &query.filters);
    let rows = qb.build().fetch_all(&mut *conn).await.map_err(Error::db("reading raw events"))?;
    rows.iter().map(decode_event).collect()
}

/// Adds the rollup cells of `level` in `[start, end)` (stored rows of the chosen grain
/// plus not-yet-folded pending rows) to the aggregator.
async fn add_rollup_cells(
    conn: &mut PgConnection,
    query: &Query,
    level: Aggregation,
    start: monitor_core::Timestamp,
    end: monitor_core::Timestamp,
    aggregator: &mut Aggregator,
) -> Result<()> {
    let field_index = query.field.as_deref().and_then(rollup_field_index);
    let field_column = field_index.map_or_else(|| "NULL::bytea".to_owned(), |i| format!("f{i}"));
    let grain = Grain::for_query(query);
    let columns = format!("source, type, project_id, agent_type, operation, events, {field_column}");
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "SELECT bucket, grain, {columns} FROM {} WHERE grain = ",
        rollup_table(level)
    ));
    qb.push_bind(grain.code());
    qb.push(" AND bucket >= ")
        .push_bind(to_datetime(start))
        .push(" AND bucket < ")
        .push_bind(to_datetime(end));
    push_filters(&mut qb, &query.filters);
    if field_index.is_some() {
        qb.push(format!(" AND {field_column} IS NOT NULL"));
    }
    qb.push(format!(
        " UNION ALL SELECT bucket, NULL::smallint, {columns} FROM rollup_pending WHERE bucket >= "
    ));
    qb.push_bind(to_datetime(start)).push(" AND bucket < ").push_bind(to_datetime(end));
    push_filters(&mut qb, &query.filters);
    if field_index.is_some() {
        qb.push(format!(" AND {field_column} IS NOT NULL"));
    }
    let rows = qb.build().fetch_all(&mut *conn).await.map_err(Error::db("reading rollups"))?;
    for row in &rows {
        let (bucket, key, events, stats) = decode_answer_row(row, field_index.is_some())?;
        aggregator.add_cell(bucket, &key.to_rollup_key(), events, stats.as_ref());
    }
    Ok(())
}

type AnswerRow =
    (monitor_core::Timestamp, crate::cells::StoredKey, u64, Option<monitor_core::rollup::FieldStats>);

/// Decodes `bucket, grain, source, type, project_id, agent_type, operation, events, fN`.
fn decode_answer_row(row: &PgRow, with_field: bool) -> Result<AnswerRow> {
    let err = Error::db("reading rollups");
    let bucket = from_datetime(row.try_get(0).map_err(err)?);
    let source: Option<String> = row.try_get(2).map_err(err)?;
    let event_type: String = row.try_get(3).map_err(err)?;
    let agent: Option<String> = row.try_get(5).map_err(err)?;
    let key = crate::cells::StoredKey::parse(
        source.as_deref(),
        &event_type,
        row.try_get(4).map_err(err)?,
        agent.as_deref(),
        row.try_get(6).map_err(err)?,
    )?;
    let events: i64 = row.try_get(7).map_err(err)?;
    let stats = if with_field {
        let bytes: Option<Vec<u8>> = row.try_get(8).map_err(err)?;
        bytes.map(|b| crate::cells::decode_stats(&b)).transpose()?
    } else {
        None
    };
    Ok((bucket, key, u64::try_from(events).unwrap_or(0), stats))
}

/// Answers a query.
pub(crate) async fn run(store: &PgStore, query: &Query) -> monitor_core::Result<QueryResult> {
    query.validate()?;
    let started = Instant::now();
    let mut conn = store.conn().await?;
    let (data, total, source, approximate) = match Aggregator::new(query) {
        None => {
            let (events, total) = raw_answer(&mut conn, query).await?;
            (QueryData::Raw(events), total, DataSource::Raw, false)
        }
        Some(mut aggregator) => {
            for segment in query.plan() {
                match segment.level {
                    None => {
                        for event in raw_events(&mut conn, query, segment.start, segment.end).await? {
                            aggregator.add_event(&event);
                        }
                    }
                    Some(level) => {
                        add_rollup_cells(
                            &mut conn,
                            query,
                            level,
                            segment.start,
                            segment.end,
                            &mut aggregator,
                        )
                        .await?;
                    }
                }
            }
            let used_rollups = aggregator.used_rollups();
            let mut points = aggregator.finish();
            let total = points.len();
            if let Some(limit) = query.limit {
                points.truncate(limit);
            }
            let source = if used_rollups { DataSource::Rollup } else { DataSource::Raw };
            (QueryData::Aggregated(points), total, source, used_rollups && query.field.is_some())
        }
    };
    Ok(QueryResult {
        data,
        metadata: QueryMetadata {
            total_points: total,
            aggregation: query.aggregation,
            cache_hit: false,
            query_time: started.elapsed().as_secs_f64() * 1000.0,
            source,
            approximate,
        },
    })
}

/// Raw events newest first (up to the limit) and how many match in all.
async fn raw_answer(conn: &mut PgConnection, query: &Query) -> Result<(Vec<Event>, usize)> {
    let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM metrics_all WHERE time >= ");
    count.push_bind(to_datetime(query.start)).push(" AND time < ").push_bind(to_datetime(query.end));
    push_filters(&mut count, &query.filters);
    let total: i64 =
        count.build_query_scalar().fetch_one(&mut *conn).await.map_err(Error::db("counting raw events"))?;
    let mut qb =
        QueryBuilder::<Postgres>::new(format!("SELECT {EVENT_COLUMNS} FROM metrics_all WHERE time >= "));
    qb.push_bind(to_datetime(query.start)).push(" AND time < ").push_bind(to_datetime(query.end));
    push_filters(&mut qb, &query.filters);
    qb.push(" ORDER BY time DESC, metric_id DESC LIMIT ")
        .push_bind(i64::try_from(query.raw_limit()).unwrap_or(i64::MAX));
    let rows = qb.build().fetch_all(&mut *conn).await.map_err(Error::db("reading raw events"))?;
    let events = rows.iter().map(decode_event).collect::<Result<Vec<_>>>()?;
    Ok((events, usize::try_from(total).unwrap_or(0)))
}

/// The latest events of a session, newest first, without counting them all.
pub(crate) async fn session_events(store: &PgStore, session_id: &str, limit: usize) -> Result<Vec<Event>> {
    let mut conn = store.conn().await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM metrics_all WHERE session_id = $1 ORDER BY time DESC, metric_id DESC LIMIT $2"
    )))
    .bind(session_id)
    .bind(i64::try_from(limit.max(1)).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await
    .map_err(Error::db("reading session events"))?;
    rows.iter().map(decode_event).collect()
}
