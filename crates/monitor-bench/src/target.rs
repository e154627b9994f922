//! The systems under test behind one interface: ours (HTTP API of `monitor-server`),
//! InfluxDB 1.x (line protocol + InfluxQL) and VictoriaMetrics (line protocol +
//! MetricsQL). Each knows how to post a batch, count what it stored per event type,
//! build the four benchmark queries, and turn an answer into a comparable [`Answer`].

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use serde_json::Value;

use crate::workload::{DAY_US, Format, HOUR_US, Q2_PROJECT, Q4_SESSION, SESSIONS, Spec, TYPES};

/// Which kind of system a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `monitor-server`.
    Ours,
    /// InfluxDB 1.x.
    InfluxDb,
    /// VictoriaMetrics single-node.
    VictoriaMetrics,
}

impl Kind {
    /// Parses a peer name as given on the command line.
    pub(crate) fn parse_peer(name: &str) -> Result<Self> {
        match name {
            "influxdb" | "influx" => Ok(Kind::InfluxDb),
            "victoriametrics" | "victoria-metrics" | "vm" => Ok(Kind::VictoriaMetrics),
            other => bail!("unknown peer `{other}`: expected influxdb or victoriametrics"),
        }
    }

    /// The path that answers 2xx once the system is ready.
    pub(crate) const fn health_path(self) -> &'static str {
        match self {
            Kind::Ours => "/readyz",
            Kind::InfluxDb => "/ping",
            Kind::VictoriaMetrics => "/health",
        }
    }

    /// The rendering this system ingests.
    pub(crate) const fn format(self) -> Format {
        match self {
            Kind::Ours => Format::Ndjson,
            Kind::InfluxDb | Kind::VictoriaMetrics => Format::LineProtocol,
        }
    }

    /// Whether the system has a result cache that `cache=false` / `nocache=1` bypasses.
    pub(crate) const fn has_result_cache(self) -> bool {
        !matches!(self, Kind::InfluxDb)
    }
}

/// The four timed queries of issue 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum QueryId {
    /// Avg and max duration per 5-minute bucket over the 24 h.
    Q1,
    /// Q1 for one project, grouped by operation.
    Q2,
    /// Error count per hour.
    Q3,
    /// The latest 100 events of one session.
    Q4,
}

impl QueryId {
    /// All four, in order.
    pub(crate) const ALL: [QueryId; 4] = [QueryId::Q1, QueryId::Q2, QueryId::Q3, QueryId::Q4];

    /// Short label.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            QueryId::Q1 => "Q1",
            QueryId::Q2 => "Q2",
            QueryId::Q3 => "Q3",
            QueryId::Q4 => "Q4",
        }
    }

    /// What the query asks.
    pub(crate) const fn description(self) -> &'static str {
        match self {
            QueryId::Q1 => "avg+max duration per 5 min, 24 h",
            QueryId::Q2 => "Q1 for one project by operation",
            QueryId::Q3 => "error count per hour",
            QueryId::Q4 => "latest 100 events of a session",
        }
    }
}

/// One aggregated cell of an answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    /// Events (or samples of the field) in the bucket.
    pub(crate) count: u64,
    /// Mean of the field, when asked.
    pub(crate) avg: Option<f64>,
    /// Maximum of the field, when asked.
    pub(crate) max: Option<f64>,
}

/// An answer in a shape every system can be compared in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// Bucket start (ms since the epoch) and group value (`""` when ungrouped) → cell.
    Buckets(BTreeMap<(i64, String), Bucket>),
    /// Event timestamps in ms, newest first.
    Latest(Vec<i64>),
}

impl Answer {
    /// Number of points.
    pub(crate) fn len(&self) -> usize {
        match self {
            Answer::Buckets(b) => b.len(),
            Answer::Latest(v) => v.len(),
        }
    }
}

/// The outcome of posting one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Posted {
    /// Every event acknowledged.
    Accepted,
    /// Overload (429/503): try again after this long; nothing was stored.
    RetryAfter(Duration),
}

/// A running system under test.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Its kind.
    pub(crate) kind: Kind,
    /// Base URL, e.g. `http://127.0.0.1:7070`.
    pub(crate) base: String,
    /// The workload it holds (window and filter values of the queries).
    pub(crate) spec: Spec,
    client: reqwest::Client,
}

/// Name of the InfluxDB database the benchmark writes.
const INFLUX_DB: &str = "bench";

fn ms(us: i64) -> i64 {
    us.div_euclid(1000)
}

fn secs(us: i64) -> i64 {
    us.div_euclid(1_000_000)
}

/// Seconds (possibly fractional, as VictoriaMetrics writes them) to whole milliseconds.
#[expect(clippy::cast_possible_truncation, reason = "epoch seconds × 1000 fit an i64 by far")]
fn secs_f64_to_ms(secs: f64) -> i64 {
    (secs * 1000.0).round() as i64
}

impl Target {
    /// A target at `base` holding the workload `spec`.
    pub(crate) fn new(kind: Kind, base: &str, spec: Spec) -> Result<Self> {
        let client = crate::http_client()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300))
            .pool_max_idle_per_host(16)
            .build()
            .context("building the HTTP client")?;
        Ok(Target { kind, base: base.trim_end_matches('/').to_owned(), spec, client })
    }

    /// Makes the system ready to receive the workload (InfluxDB: create the database).
    pub(crate) async fn prepare(&self) -> Result<()> {
        if self.kind == Kind::InfluxDb {
            let resp = self
                .client
                .post(format!("{}/query", self.base))
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(format!("q={}", urlencode(&format!("CREATE DATABASE {INFLUX_DB}"))))
                .send()
                .await
                .context("creating the InfluxDB database")?;
            if !resp.status().is_success() {
                bail!("CREATE DATABASE answered {}", resp.status());
            }
        }
        Ok(())
    }

    /// Posts one batch of `n` events and checks that every one was acknowledged.
    pub(crate) async fn post_batch(&self, body: Bytes, n: usize) -> Result<Posted> {
        let (url, content_type) = match self.kind {
            Kind::Ours => (format!("{}/api/events/batch", self.base), "application/x-ndjson"),
            Kind::InfluxDb => (format!("{}/write?db={INFLUX_DB}&precision=ns", self.base), "text/plain"),
            Kind::VictoriaMetrics => (format!("{}/write?precision=ns", self.base), "text/plain"),
        };
        let resp = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .context("posting a batch")?;
        let status = resp.status().as_u16();
        if status == 429 || status == 503 {
            let after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1);
            return Ok(Posted::RetryAfter(Duration::from_secs(after)));
        }
        let text = resp.text().await.context("reading the ingest answer")?;
        match (self.kind, status) {
            (Kind::Ours, 202) => {
                let answer: Value = serde_json::from_str(&text).context("ingest answer is not JSON")?;
                let accepted = answer["accepted"].as_u64().unwrap_or(0);
                let rejected = answer["rejected"].as_array().map_or(0, Vec::len);
                if usize::try_from(accepted).ok() != Some(n) || rejected != 0 {
                    bail!("batch of {n}: accepted {accepted}, rejected {rejected}: {}", truncate(&text));
                }
                Ok(Posted::Accepted)
            }
            (Kind::InfluxDb | Kind::VictoriaMetrics, 204) => Ok(Posted::Accepted),
            _ => bail!("batch of {n} answered {status}: {}", truncate(&text)),
        }
    }

    async fn get_json(&self, url: &str) -> Result<Value> {
        let resp = self.client.get(url).send().await.with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let text = resp.text().await.context("reading the answer")?;
        if !status.is_success() {
            bail!("GET {url} answered {status}: {}", truncate(&text));
        }
        serde_json::from_str(&text).with_context(|| format!("answer of {url} is not JSON"))
    }

    /// Events stored per type (indexed like [`TYPES`]) within the workload's window,
    /// bypassing any cache. Ours also checks the raw count against the rollups' total.
    pub(crate) async fn type_counts(&self) -> Result<[u64; 4]> {
        let (start, end) = (self.spec.start_us(), self.spec.end_us);
        let mut counts = [0u64; 4];
        match self.kind {
            Kind::Ours => {
                // Day buckets covering the window; every event lies inside it.
                let (day_start, day_end) =
                    (start.div_euclid(DAY_US) * DAY_US, (end + DAY_US - 1).div_euclid(DAY_US) * DAY_US);
                let url = format!(
                    "{}/api/metrics/query?start={}&end={}&aggregation=1d&groupBy=type&cache=false",
                    self.base,
                    ms(day_start),
                    ms(day_end)
                );
                let answer = self.get_json(&url).await?;
                for point in answer["data"].as_array().context("no data array")? {
                    let t = point["group"]["type"].as_str().unwrap_or("");
                    if let Some(i) = TYPES.iter().position(|x| *x == t) {
                        counts[i] += point["count"].as_u64().unwrap_or(0);
                    }
                }
                let raw = format!(
                    "{}/api/metrics/query?start={}&end={}&aggregation=raw&limit=1&cache=false",
                    self.base,
                    ms(start),
                    ms(end)
                );
                let raw = self.get_json(&raw).await?;
                let total = raw["metadata"]["totalPoints"].as_u64().context("no totalPoints")?;
                if total != counts.iter().sum::<u64>() {
                    // Not yet consistent: report the raw view as unknown types.
                    return Ok([0; 4]);
                }
            }
            Kind::InfluxDb => {
                let q = format!(
                    r#"SELECT count("duration"),count("errors"),count("latency_ms"),count("score") FROM "agent" WHERE time >= {}ms AND time < {}ms"#,
                    ms(start),
                    ms(end)
                );
                let answer = self.get_json(&self.influx_url(&q)).await?;
                if let Some(row) = answer["results"][0]["series"][0]["values"][0].as_array() {
                    for (i, c) in counts.iter_mut().enumerate() {
                        *c = row.get(i + 1).and_then(Value::as_u64).unwrap_or(0);
                    }
                }
            }
            Kind::VictoriaMetrics => {
                let fields = ["duration", "errors", "latency_ms", "score"];
                let parts: Vec<String> = fields
                    .iter()
                    .zip(TYPES)
                    .map(|(f, t)| format!(r#"label_set(sum(count_over_time(agent_{f}[1d])), "t", "{t}")"#))
                    .collect();
                let q = format!("union({})", parts.join(","));
                let url = format!(
                    "{}/api/v1/query?nocache=1&time={}&query={}",
                    self.base,
                    secs(end),
                    urlencode(&q)
                );
                let answer = self.get_json(&url).await?;
                for series in answer["data"]["result"].as_array().context("no result array")? {
                    let t = series["metric"]["t"].as_str().unwrap_or("");
                    if let Some(i) = TYPES.iter().position(|x| *x == t) {
                        counts[i] = vm_number(&series["value"][1]).map_or(0, count_of);
                    }
                }
            }
        }
        Ok(counts)
    }

    fn influx_url(&self, q: &str) -> String {
        format!("{}/query?db={INFLUX_DB}&epoch=ms&q={}", self.base, urlencode(q))
    }

    /// The request of query `q`; `cache` false bypasses result caches.
    pub(crate) fn query_request(&self, q: QueryId, cache: bool) -> reqwest::RequestBuilder {
        let url = self.query_url(q, cache);
        self.client.get(url)
    }

    /// The URL of query `q`.
    pub(crate) fn query_url(&self, q: QueryId, cache: bool) -> String {
        let (start, end) = (self.spec.start_us(), self.spec.end_us);
        match self.kind {
            Kind::Ours => {
                let filter = match q {
                    QueryId::Q1 => "aggregation=5m&field=duration&type=performance".to_owned(),
                    QueryId::Q2 => format!(
                        "aggregation=5m&field=duration&type=performance&projectId={Q2_PROJECT}&groupBy=operation"
                    ),
                    QueryId::Q3 => "aggregation=1h&type=error".to_owned(),
                    QueryId::Q4 => format!("aggregation=raw&sessionId={Q4_SESSION}&limit=100"),
                };
                let cache = if cache { "" } else { "&cache=false" };
                format!("{}/api/metrics/query?start={}&end={}&{filter}{cache}", self.base, ms(start), ms(end))
            }
            Kind::InfluxDb => {
                let window = format!("time >= {}ms AND time < {}ms", ms(start), ms(end));
                let q = match q {
                    QueryId::Q1 => format!(
                        r#"SELECT mean("duration"),max("duration"),count("duration") FROM "agent" WHERE "type"='performance' AND {window} GROUP BY time(5m) fill(none)"#
                    ),
                    QueryId::Q2 => format!(
                        r#"SELECT mean("duration"),max("duration"),count("duration") FROM "agent" WHERE "type"='performance' AND "project"='{Q2_PROJECT}' AND {window} GROUP BY time(5m),"operation" fill(none)"#
                    ),
                    QueryId::Q3 => format!(
                        r#"SELECT count("errors") FROM "agent" WHERE "type"='error' AND {window} GROUP BY time(1h) fill(none)"#
                    ),
                    QueryId::Q4 => format!(
                        r#"SELECT * FROM "agent" WHERE "session"='{Q4_SESSION}' AND {window} ORDER BY time DESC LIMIT 100"#
                    ),
                };
                self.influx_url(&q)
            }
            Kind::VictoriaMetrics => {
                let nocache = if cache { "" } else { "&nocache=1" };
                if q == QueryId::Q4 {
                    // No "event" in VictoriaMetrics: read the session's raw samples (every
                    // field) of a window expected to hold ~300 of its events and keep the
                    // newest 100 timestamps. 1M events: 1.44 h.
                    let events = u64::try_from(self.spec.events.max(1)).unwrap_or(u64::MAX);
                    let sessions = u64::try_from(SESSIONS).unwrap_or(1);
                    let window = (86_400 * 300 * sessions / events).clamp(600, 86_400);
                    let query = format!(r#"{{session="{Q4_SESSION}"}}[{window}s]"#);
                    return format!(
                        "{}/api/v1/query?time={}&query={}{nocache}",
                        self.base,
                        secs(end),
                        urlencode(&query)
                    );
                }
                let step_us = if q == QueryId::Q3 { HOUR_US } else { 300_000_000 };
                // A point at t covers (t - step, t]: our bucket [t - step, t).
                format!(
                    "{}/api/v1/query_range?start={}&end={}&step={}&query={}{nocache}",
                    self.base,
                    secs(start + step_us),
                    secs(end),
                    secs(step_us),
                    urlencode(&vm_query(q))
                )
            }
        }
    }

    /// Decodes the answer to `q` into an [`Answer`].
    pub(crate) fn parse_answer(&self, q: QueryId, body: &[u8]) -> Result<Answer> {
        let value: Value = serde_json::from_slice(body).context("answer is not JSON")?;
        match self.kind {
            Kind::Ours => parse_ours(q, &value),
            Kind::InfluxDb => parse_influx(q, &value),
            Kind::VictoriaMetrics => parse_vm(q, &value),
        }
    }
}

/// The MetricsQL of an aggregated query: avg as Σsum/Σcount over every series (a mean
/// of per-series means would weight series, not events), max, and the count.
fn vm_query(q: QueryId) -> String {
    let (selector, by, window) = match q {
        QueryId::Q1 => (r#"agent_duration{type="performance"}"#.to_owned(), String::new(), "5m"),
        QueryId::Q2 => (
            format!(r#"agent_duration{{type="performance",project="{Q2_PROJECT}"}}"#),
            " by (operation)".to_owned(),
            "5m",
        ),
        QueryId::Q3 => {
            return r#"label_set(sum(count_over_time(agent_errors{type="error"}[1h])), "stat", "count")"#
                .to_owned();
        }
        // Q4 is an instant query of raw samples, built in `query_url`.
        QueryId::Q4 => return String::new(),
    };
    format!(
        r#"union(label_set(sum{by}(sum_over_time({selector}[{window}])) / sum{by}(count_over_time({selector}[{window}])), "stat", "avg"), label_set(max{by}(max_over_time({selector}[{window}])), "stat", "max"), label_set(sum{by}(count_over_time({selector}[{window}])), "stat", "count"))"#
    )
}

fn truncate(text: &str) -> String {
    text.chars().take(300).collect()
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters kept).
pub(crate) fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn rfc3339_to_ms(text: &str) -> Result<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(text).with_context(|| format!("bad timestamp `{text}`"))?;
    Ok(t.timestamp_micros().div_euclid(1000))
}

fn parse_ours(q: QueryId, value: &Value) -> Result<Answer> {
    let data = value["data"].as_array().context("no data array")?;
    if q == QueryId::Q4 {
        let ts = data
            .iter()
            .map(|e| rfc3339_to_ms(e["timestamp"].as_str().unwrap_or("")))
            .collect::<Result<Vec<_>>>()?;
        return Ok(Answer::Latest(ts));
    }
    let mut buckets = BTreeMap::new();
    for p in data {
        let t = rfc3339_to_ms(p["timestamp"].as_str().unwrap_or(""))?;
        let group = p["group"]["operation"].as_str().unwrap_or("").to_owned();
        let bucket = Bucket {
            count: p["count"].as_u64().context("point without count")?,
            avg: if q == QueryId::Q3 { None } else { p["avg"].as_f64() },
            max: if q == QueryId::Q3 { None } else { p["max"].as_f64() },
        };
        buckets.insert((t, group), bucket);
    }
    Ok(Answer::Buckets(buckets))
}

fn parse_influx(q: QueryId, value: &Value) -> Result<Answer> {
    let result = &value["results"][0];
    if let Some(error) = result["error"].as_str() {
        bail!("InfluxDB: {error}");
    }
    let empty = Vec::new();
    let series = result["series"].as_array().unwrap_or(&empty);
    if q == QueryId::Q4 {
        let mut ts = Vec::new();
        for s in series {
            for row in s["values"].as_array().unwrap_or(&empty) {
                ts.push(row[0].as_i64().context("row without time")?);
            }
        }
        return Ok(Answer::Latest(ts));
    }
    let mut buckets = BTreeMap::new();
    for s in series {
        let group = s["tags"]["operation"].as_str().unwrap_or("").to_owned();
        for row in s["values"].as_array().unwrap_or(&empty) {
            let t = row[0].as_i64().context("row without time")?;
            let bucket = if q == QueryId::Q3 {
                Bucket { count: row[1].as_u64().unwrap_or(0), avg: None, max: None }
            } else {
                Bucket { count: row[3].as_u64().unwrap_or(0), avg: row[1].as_f64(), max: row[2].as_f64() }
            };
            buckets.insert((t, group.clone()), bucket);
        }
    }
    Ok(Answer::Buckets(buckets))
}

/// VictoriaMetrics writes sample values as JSON strings.
fn vm_number(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// A count that VictoriaMetrics reports as a float.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "clamped to a non-negative integer count"
)]
fn count_of(v: f64) -> u64 {
    v.round().max(0.0) as u64
}

fn parse_vm(q: QueryId, value: &Value) -> Result<Answer> {
    if value["status"] != "success" {
        return Err(anyhow!("VictoriaMetrics: {}", value["error"].as_str().unwrap_or("query failed")));
    }
    let result = value["data"]["result"].as_array().context("no result array")?;
    if q == QueryId::Q4 {
        let mut ts: Vec<i64> = result
            .iter()
            .flat_map(|s| s["values"].as_array().into_iter().flatten())
            .filter_map(|p| p[0].as_f64().map(secs_f64_to_ms))
            .collect();
        ts.sort_unstable_by(|a, b| b.cmp(a));
        ts.dedup();
        ts.truncate(100);
        return Ok(Answer::Latest(ts));
    }
    let step_ms = if q == QueryId::Q3 { HOUR_US / 1000 } else { 300_000 };
    let mut buckets: BTreeMap<(i64, String), Bucket> = BTreeMap::new();
    for s in result {
        let stat = s["metric"]["stat"].as_str().unwrap_or("");
        let group = s["metric"]["operation"].as_str().unwrap_or("").to_owned();
        for p in s["values"].as_array().into_iter().flatten() {
            let (Some(t), Some(v)) = (p[0].as_f64(), vm_number(&p[1])) else { continue };
            if !v.is_finite() {
                continue;
            }
            let key = (secs_f64_to_ms(t) - step_ms, group.clone());
            let cell = buckets.entry(key).or_insert(Bucket { count: 0, avg: None, max: None });
            match stat {
                "avg" => cell.avg = Some(v),
                "max" => cell.max = Some(v),
                "count" => cell.count = count_of(v),
                _ => {}
            }
        }
    }
    Ok(Answer::Buckets(buckets))
}

/// Checks `other` against `reference` bucket by bucket: the same buckets and groups,
/// equal counts, avg and max within a relative `tolerance`. Returns the first difference.
pub(crate) fn compare(reference: &Answer, other: &Answer, tolerance: f64) -> Result<(), String> {
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= tolerance * a.abs().max(b.abs()).max(1e-9),
        (None, None) => true,
        _ => false,
    };
    match (reference, other) {
        (Answer::Latest(a), Answer::Latest(b)) => {
            if a == b {
                Ok(())
            } else {
                let first = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
                Err(format!("latest events differ at #{first} ({} vs {} events)", a.len(), b.len()))
            }
        }
        (Answer::Buckets(a), Answer::Buckets(b)) => {
            for (key, x) in a {
                let Some(y) = b.get(key) else {
                    return Err(format!(
                        "bucket {} {:?} missing ({} vs {} buckets)",
                        key.0,
                        key.1,
                        a.len(),
                        b.len()
                    ));
                };
                if x.count != y.count {
                    return Err(format!("bucket {} {:?}: count {} vs {}", key.0, key.1, x.count, y.count));
                }
                if !close(x.avg, y.avg) || !close(x.max, y.max) {
                    return Err(format!(
                        "bucket {} {:?}: avg/max {:?}/{:?} vs {:?}/{:?}",
                        key.0, key.1, x.avg, x.max, y.avg, y.max
                    ));
                }
            }
            if let Some(key) = b.keys().find(|k| !a.contains_key(k)) {
                return Err(format!("extra bucket {} {:?}", key.0, key.1));
            }
            Ok(())
        }
        _ => Err("answers of different shapes".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const END: i64 = 1_768_478_400_000_000;

    fn target(kind: Kind) -> Target {
        Target::new(kind, "http://127.0.0.1:1/", Spec { events: 10, seed: 1, end_us: END }).unwrap()
    }

    #[test]
    fn urls_carry_window_filters_and_cache_choice() {
        let ours = target(Kind::Ours);
        let q1 = ours.query_url(QueryId::Q1, false);
        assert_eq!(
            q1,
            "http://127.0.0.1:1/api/metrics/query?start=1768392000000&end=1768478400000&aggregation=5m&field=duration&type=performance&cache=false"
        );
        assert!(ours.query_url(QueryId::Q2, true).ends_with("projectId=proj-3&groupBy=operation"));
        assert!(ours.query_url(QueryId::Q4, false).contains("aggregation=raw&sessionId=sess-042&limit=100"));
        let vm = target(Kind::VictoriaMetrics);
        let url = vm.query_url(QueryId::Q1, false);
        assert!(url.contains("start=1768392300&end=1768478400&step=300"), "{url}");
        assert!(url.ends_with("&nocache=1"));
        assert!(vm.query_url(QueryId::Q3, true).contains("start=1768395600&end=1768478400&step=3600"));
        let big =
            Target::new(Kind::VictoriaMetrics, "http://x", Spec { events: 1_000_000, seed: 1, end_us: END })
                .unwrap();
        assert!(big.query_url(QueryId::Q4, false).contains("%5B5184s%5D"));
        assert!(vm.query_url(QueryId::Q4, false).contains("%5B86400s%5D"));
        let influx = target(Kind::InfluxDb);
        assert!(influx.query_url(QueryId::Q3, false).contains("GROUP%20BY%20time%281h%29"));
    }

    #[test]
    fn parses_our_answers() {
        let body = json!({"data":[
            {"timestamp":"2026-01-15T11:55:00Z","count":3,"sum":6.0,"avg":2.0,"min":1.0,"max":3.0,"group":{"operation":"tool:Bash"}},
            {"timestamp":"2026-01-15T11:55:00Z","count":1,"sum":5.0,"avg":5.0,"min":5.0,"max":5.0,"group":{"operation":"tool:Read"}}
        ],"metadata":{"totalPoints":2}});
        let a = parse_ours(QueryId::Q2, &body).unwrap();
        let Answer::Buckets(b) = a else { panic!() };
        assert_eq!(
            b[&(1_768_478_100_000, "tool:Bash".to_owned())],
            Bucket { count: 3, avg: Some(2.0), max: Some(3.0) }
        );
        let raw = json!({"data":[{"timestamp":"2026-01-15T11:59:59.999500Z"},{"timestamp":"2026-01-15T11:59:58.000001Z"}]});
        assert_eq!(
            parse_ours(QueryId::Q4, &raw).unwrap(),
            Answer::Latest(vec![1_768_478_399_999, 1_768_478_398_000])
        );
    }

    #[test]
    fn parses_influx_answers() {
        let body = json!({"results":[{"statement_id":0,"series":[
            {"name":"agent","tags":{"operation":"tool:Bash"},"columns":["time","mean","max","count"],"values":[[1_768_478_100_000i64,2.0,3.0,3]]}
        ]}]});
        let Answer::Buckets(b) = parse_influx(QueryId::Q2, &body).unwrap() else { panic!() };
        assert_eq!(
            b[&(1_768_478_100_000, "tool:Bash".to_owned())],
            Bucket { count: 3, avg: Some(2.0), max: Some(3.0) }
        );
        let err = json!({"results":[{"statement_id":0,"error":"database not found: bench"}]});
        assert!(parse_influx(QueryId::Q1, &err).is_err());
        let q3 = json!({"results":[{"series":[{"columns":["time","count"],"values":[[1_768_474_800_000i64,42]]}]}]});
        let Answer::Buckets(b) = parse_influx(QueryId::Q3, &q3).unwrap() else { panic!() };
        assert_eq!(b[&(1_768_474_800_000, String::new())].count, 42);
    }

    #[test]
    fn parses_victoria_answers_shifting_to_bucket_starts() {
        let body = json!({"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"stat":"avg"},"values":[[1_768_478_400,"2"]]},
            {"metric":{"stat":"max"},"values":[[1_768_478_400,"3"]]},
            {"metric":{"stat":"count"},"values":[[1_768_478_400,"3"]]}
        ]}});
        let Answer::Buckets(b) = parse_vm(QueryId::Q1, &body).unwrap() else { panic!() };
        assert_eq!(
            b[&(1_768_478_100_000, String::new())],
            Bucket { count: 3, avg: Some(2.0), max: Some(3.0) }
        );
        let raw = json!({"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"agent_duration"},"values":[[1_768_478_398.5,"1"],[1_768_478_399.25,"2"]]},
            {"metric":{"__name__":"agent_cpu_usage"},"values":[[1_768_478_399.25,"9"]]}
        ]}});
        assert_eq!(
            parse_vm(QueryId::Q4, &raw).unwrap(),
            Answer::Latest(vec![1_768_478_399_250, 1_768_478_398_500])
        );
        let bad = json!({"status":"error","error":"unknown function"});
        assert!(parse_vm(QueryId::Q1, &bad).is_err());
    }

    #[test]
    fn compare_finds_the_first_difference() {
        let mut a = BTreeMap::new();
        a.insert((0, String::new()), Bucket { count: 2, avg: Some(10.0), max: Some(12.0) });
        a.insert((300_000, String::new()), Bucket { count: 1, avg: Some(5.0), max: Some(5.0) });
        let reference = Answer::Buckets(a.clone());
        let mut b = a.clone();
        b.get_mut(&(0, String::new())).unwrap().avg = Some(10.000_000_01);
        assert_eq!(compare(&reference, &Answer::Buckets(b.clone()), 1e-6), Ok(()));
        b.get_mut(&(0, String::new())).unwrap().avg = Some(10.1);
        assert!(compare(&reference, &Answer::Buckets(b), 1e-6).unwrap_err().contains("avg/max"));
        let mut c = a.clone();
        c.get_mut(&(300_000, String::new())).unwrap().count = 2;
        assert!(compare(&reference, &Answer::Buckets(c), 1e-6).unwrap_err().contains("count 1 vs 2"));
        let mut d = a.clone();
        d.remove(&(300_000, String::new()));
        assert!(compare(&reference, &Answer::Buckets(d), 1e-6).unwrap_err().contains("missing"));
        let mut e = a;
        e.insert((600_000, String::new()), Bucket { count: 1, avg: None, max: None });
        assert!(compare(&reference, &Answer::Buckets(e), 1e-6).unwrap_err().contains("extra"));
        assert_eq!(compare(&Answer::Latest(vec![3, 2]), &Answer::Latest(vec![3, 2]), 0.0), Ok(()));
        assert!(compare(&Answer::Latest(vec![3, 2]), &Answer::Latest(vec![3, 1]), 0.0).is_err());
    }

    #[test]
    fn urlencode_keeps_unreserved_only() {
        assert_eq!(urlencode(r#"a b{c="d"}[5m]"#), "a%20b%7Bc%3D%22d%22%7D%5B5m%5D");
    }
}
