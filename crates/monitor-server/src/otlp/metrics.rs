//! Metric data points to `quality` events.
//!
//! Every point of a sum, gauge, histogram, exponential histogram or summary becomes one
//! `quality` event: `metric` is the metric name, plus `.<type>` when the point has a
//! `type` attribute (`claude_code.token.usage.input`), and `score` is the value (for
//! histograms and summaries, the sum of the observations, with `count`, `min` and `max`
//! as extra payload fields). The `metric` tag repeats the full metric and `metric.name`
//! holds the bare name, for filtering and grouping.
//!
//! Temporality: delta points are stored as sent. Cumulative monotonic sums, cumulative
//! histograms and summaries are turned into deltas per series — the metric name, the
//! resource and point attributes, and the start time — by keeping the last point of
//! each series in memory ([`Cumulative`]). A series first seen with a start time after
//! the receiver started counts its whole value; one that started before (the server
//! restarted, or the exporter ran before it) only sets the baseline, so a restart never
//! counts a total twice. A point not newer than the last one is a repeat and skipped; a
//! value lower than the last one is a counter reset and counts whole; a zero delta
//! stores nothing. Non-monotonic cumulative sums are levels and are stored as sent.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use monitor_core::event::{Extra, QualityPayload};
use monitor_core::{Limits, MetricEvent, Payload, Source};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric, NumberDataPoint};
use serde_json::Value;

use super::Mapped;
use super::attrs::{Attrs, event_id, finish, timestamp};

/// Series not updated for this long are forgotten.
const SERIES_TTL: Duration = Duration::from_secs(6 * 3600);
/// At most this many series are remembered; the least recently updated go first.
const MAX_SERIES: usize = 100_000;
/// How often forgotten series are swept out.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Identifies a cumulative series: metric name, canonical attributes, start time.
type SeriesKey = (String, String, u64);

/// The last point of a cumulative series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Last {
    /// Its `time_unix_nano`.
    pub time: u64,
    /// Its value (or histogram sum) and count.
    pub values: [f64; 2],
    seen: Instant,
}

/// A change to the cumulative state, undone when the request's events were not stored.
#[derive(Debug)]
pub struct Pending {
    key: SeriesKey,
    previous: Option<Last>,
    time: u64,
}

/// The last point of every cumulative series, to turn cumulative values into deltas.
#[derive(Debug)]
pub struct Cumulative {
    series: HashMap<SeriesKey, Last>,
    started_nanos: u64,
    last_sweep: Instant,
}

impl Default for Cumulative {
    fn default() -> Self {
        Cumulative::new(now_nanos())
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Cumulative {
    /// Empty state for a receiver started at `started_nanos` (Unix nanoseconds).
    pub fn new(started_nanos: u64) -> Self {
        Cumulative { series: HashMap::new(), started_nanos, last_sweep: Instant::now() }
    }

    /// How many series are remembered.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no series is remembered.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The delta of a cumulative point, or `None` when it stores nothing (baseline,
    /// repeat, zero change). Records the point; `pending` collects what to undo.
    fn delta(
        &mut self,
        key: SeriesKey,
        time: u64,
        values: [f64; 2],
        pending: &mut Vec<Pending>,
    ) -> Option<[f64; 2]> {
        let start = key.2;
        let previous = self.series.get(&key).copied();
        let delta = match previous {
            Some(last) if time <= last.time => return None,
            Some(last) if values[0] < last.values[0] || values[1] < last.values[1] => values,
            Some(last) => [values[0] - last.values[0], values[1] - last.values[1]],
            None if start != 0 && start >= self.started_nanos => values,
            None => [0.0, 0.0],
        };
        self.series.insert(key.clone(), Last { time, values, seen: Instant::now() });
        pending.push(Pending { key, previous, time });
        (delta != [0.0, 0.0]).then_some(delta)
    }

    /// Undoes the changes of a request whose events were not stored (unless a later
    /// request has moved the series on since).
    pub fn rollback(&mut self, pending: Vec<Pending>) {
        for change in pending.into_iter().rev() {
            if self.series.get(&change.key).is_some_and(|last| last.time == change.time) {
                match change.previous {
                    Some(previous) => self.series.insert(change.key, previous),
                    None => self.series.remove(&change.key),
                };
            }
        }
    }

    fn sweep(&mut self) {
        if self.last_sweep.elapsed() < SWEEP_EVERY && self.series.len() <= MAX_SERIES {
            return;
        }
        self.last_sweep = Instant::now();
        self.series.retain(|_, last| last.seen.elapsed() < SERIES_TTL);
        if self.series.len() > MAX_SERIES {
            let mut ages: Vec<(Instant, SeriesKey)> =
                self.series.iter().map(|(k, v)| (v.seen, k.clone())).collect();
            ages.sort_by_key(|(seen, _)| *seen);
            let excess = self.series.len() - MAX_SERIES;
            for (_, key) in ages.into_iter().take(excess) {
                self.series.remove(&key);
            }
        }
    }
}

/// The point-level view shared by every kind of data point.
struct Point<'a> {
    metric: &'a Metric,
    attrs: Attrs,
    start: u64,
    time: u64,
    /// Value (or sum) and count.
    values: [f64; 2],
    /// Count, min and max of a histogram or summary.
    distribution: Option<(u64, Option<f64>, Option<f64>)>,
    cumulative: bool,
}

fn number_value(point: &NumberDataPoint) -> Option<f64> {
    match point.value? {
        NumberValue::AsDouble(d) => Some(d),
        NumberValue::AsInt(i) => Some(i as f64),
    }
}

fn is_cumulative(temporality: i32) -> bool {
    temporality == AggregationTemporality::Cumulative as i32
}

/// Maps an export request. Returns one [`Mapped`] per data point and the changes made
/// to `cumulative` (to undo if the events are not stored).
pub fn map_request(
    request: &ExportMetricsServiceRequest,
    cumulative: &mut Cumulative,
    limits: &Limits,
) -> (Vec<Mapped>, Vec<Pending>) {
    cumulative.sweep();
    let mut mapped = Vec::new();
    let mut pending = Vec::new();
    for resource_metrics in &request.resource_metrics {
        let resource =
            resource_metrics.resource.as_ref().map(|r| Attrs::from_kvs(&r.attributes)).unwrap_or_default();
        for scope in &resource_metrics.scope_metrics {
            for metric in &scope.metrics {
                for point in points(metric, &resource, &mut mapped) {
                    mapped.push(map_point(point, cumulative, &mut pending, limits));
                }
            }
        }
    }
    (mapped, pending)
}

/// The points of a metric; points without a value are refused into `mapped`.
fn points<'a>(metric: &'a Metric, resource: &Attrs, mapped: &mut Vec<Mapped>) -> Vec<Point<'a>> {
    let mut out = Vec::new();
    let mut reject = |reason: String| mapped.push(Mapped::Reject(reason));
    let name = &metric.name;
    match &metric.data {
        None => {}
        Some(Data::Gauge(gauge)) => {
            for p in &gauge.data_points {
                match number_value(p) {
                    Some(v) => out.push(Point {
                        metric,
                        attrs: resource.with(&p.attributes),
                        start: p.start_time_unix_nano,
                        time: p.time_unix_nano,
                        values: [v, 0.0],
                        distribution: None,
                        cumulative: false,
                    }),
                    None => reject(format!("{name}: data point has no value")),
                }
            }
        }
        Some(Data::Sum(sum)) => {
            let cumulative = is_cumulative(sum.aggregation_temporality) && sum.is_monotonic;
            for p in &sum.data_points {
                match number_value(p) {
                    Some(v) => out.push(Point {
                        metric,
                        attrs: resource.with(&p.attributes),
                        start: p.start_time_unix_nano,
                        time: p.time_unix_nano,
                        values: [v, 0.0],
                        distribution: None,
                        cumulative,
                    }),
                    None => reject(format!("{name}: data point has no value")),
                }
            }
        }
        Some(Data::Histogram(histogram)) => {
            let cumulative = is_cumulative(histogram.aggregation_temporality);
            for p in &histogram.data_points {
                match p.sum {
                    Some(sum) => out.push(Point {
                        metric,
                        attrs: resource.with(&p.attributes),
                        start: p.start_time_unix_nano,
                        time: p.time_unix_nano,
                        values: [sum, p.count as f64],
                        distribution: Some((p.count, p.min, p.max)),
                        cumulative,
                    }),
                    None => reject(format!("{name}: histogram point has no sum")),
                }
            }
        }
        Some(Data::ExponentialHistogram(histogram)) => {
            let cumulative = is_cumulative(histogram.aggregation_temporality);
            for p in &histogram.data_points {
                match p.sum {
                    Some(sum) => out.push(Point {
                        metric,
                        attrs: resource.with(&p.attributes),
                        start: p.start_time_unix_nano,
                        time: p.time_unix_nano,
                        values: [sum, p.count as f64],
                        distribution: Some((p.count, p.min, p.max)),
                        cumulative,
                    }),
                    None => reject(format!("{name}: histogram point has no sum")),
                }
            }
        }
        Some(Data::Summary(summary)) => {
            for p in &summary.data_points {
                out.push(Point {
                    metric,
                    attrs: resource.with(&p.attributes),
                    start: p.start_time_unix_nano,
                    time: p.time_unix_nano,
                    values: [p.sum, p.count as f64],
                    distribution: Some((p.count, None, None)),
                    cumulative: true,
                });
            }
        }
    }
    out
}

fn map_point(
    point: Point<'_>,
    cumulative: &mut Cumulative,
    pending: &mut Vec<Pending>,
    limits: &Limits,
) -> Mapped {
    let name = point.metric.name.trim();
    if name.is_empty() {
        return Mapped::Reject("metric without a name".into());
    }
    let canonical = point.attrs.canonical();
    let (values, from_cumulative) = if point.cumulative {
        let key = (name.to_owned(), canonical.clone(), point.start);
        match cumulative.delta(key, point.time, point.values, pending) {
            Some(delta) => (delta, true),
            None => return Mapped::Skip,
        }
    } else {
        (point.values, false)
    };
    let metric = match point.attrs.text("type") {
        Some(kind) => format!("{name}.{kind}"),
        None => name.to_owned(),
    };
    let mut extra = Extra::new();
    if !point.metric.unit.is_empty() {
        extra.insert("unit".into(), Value::String(point.metric.unit.clone()));
    }
    if let Some((count, min, max)) = point.distribution {
        let count = if from_cumulative { values[1] } else { count as f64 };
        extra.insert("count".into(), Value::from(count));
        // min and max of a cumulative point describe the whole series, not the delta.
        if !from_cumulative {
            for (key, value) in [("min", min), ("max", max)] {
                if let Some(n) = value.and_then(serde_json::Number::from_f64) {
                    extra.insert(key.into(), Value::Number(n));
                }
            }
        }
    }
    if from_cumulative {
        extra.insert("temporality".into(), Value::String("cumulative".into()));
    }
    let payload = Payload::Quality(QualityPayload { metric, score: values[0], extra });
    let id = event_id(&[
        b"metric",
        name.as_bytes(),
        canonical.as_bytes(),
        &point.start.to_le_bytes(),
        &point.time.to_le_bytes(),
        &values[0].to_bits().to_le_bytes(),
    ]);
    let mut event = finish(
        MetricEvent::new(Source::ClaudeCli, payload),
        &point.attrs,
        &[],
        limits,
        timestamp(point.time),
        id,
    );
    event.tags.insert("metric.name".into(), name.to_owned());
    Mapped::Event(Box::new(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Histogram, HistogramDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    };

    fn session(id: &str) -> Vec<KeyValue> {
        vec![KeyValue {
            key: "session.id".into(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue(id.into())) }),
            ..KeyValue::default()
        }]
    }

    fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics { metrics, ..ScopeMetrics::default() }],
                ..ResourceMetrics::default()
            }],
        }
    }

    fn quality(mapped: &Mapped) -> (&str, f64, &Extra) {
        match mapped {
            Mapped::Event(event) => match &event.payload {
                Payload::Quality(q) => (q.metric.as_str(), q.score, &q.extra),
                other => panic!("not quality: {other:?}"),
            },
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn gauges_histograms_and_level_sums_map_to_quality_events() {
        let t = 1_800_000_000_000_000_000;
        let histogram = |temporality: AggregationTemporality, sum: f64, count: u64| Metric {
            name: "latency".into(),
            unit: "ms".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: session("s"),
                    start_time_unix_nano: t,
                    time_unix_nano: t + count,
                    count,
                    sum: Some(sum),
                    min: Some(1.0),
                    max: Some(9.0),
                    ..HistogramDataPoint::default()
                }],
                aggregation_temporality: temporality as i32,
            })),
            ..Metric::default()
        };
        let number = |v: f64| NumberDataPoint {
            attributes: session("s"),
            time_unix_nano: t,
            value: Some(NumberValue::AsDouble(v)),
            ..NumberDataPoint::default()
        };
        let mut cumulative = Cumulative::new(t - 1);
        let (mapped, _) = map_request(
            &request(vec![
                Metric {
                    name: "queue.depth".into(),
                    data: Some(Data::Gauge(Gauge { data_points: vec![number(7.0)] })),
                    ..Metric::default()
                },
                Metric {
                    name: "in.flight".into(),
                    data: Some(Data::Sum(Sum {
                        data_points: vec![number(-3.0)],
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: false,
                    })),
                    ..Metric::default()
                },
                histogram(AggregationTemporality::Delta, 50.0, 10),
                histogram(AggregationTemporality::Cumulative, 20.0, 4),
            ]),
            &mut cumulative,
            &Limits::default(),
        );
        assert_eq!(mapped.len(), 4);
        assert_eq!(quality(&mapped[0]).0, "queue.depth");
        assert_eq!(quality(&mapped[0]).1, 7.0);
        assert_eq!(quality(&mapped[1]).1, -3.0, "a non-monotonic cumulative sum is a level");
        let (metric, score, extra) = quality(&mapped[2]);
        assert_eq!((metric, score), ("latency", 50.0));
        assert_eq!(
            (extra["count"].as_f64(), extra["min"].as_f64(), extra["max"].as_f64()),
            (Some(10.0), Some(1.0), Some(9.0))
        );
        assert_eq!(extra["unit"], "ms");
        let (_, score, extra) = quality(&mapped[3]);
        assert_eq!(
            (score, extra["count"].as_f64()),
            (20.0, Some(4.0)),
            "first cumulative point of a new series"
        );
        assert!(extra.get("min").is_none(), "min/max of a cumulative point do not describe the delta");

        let (mapped, _) = map_request(
            &request(vec![histogram(AggregationTemporality::Cumulative, 26.0, 6)]),
            &mut cumulative,
            &Limits::default(),
        );
        let (_, score, extra) = quality(&mapped[0]);
        assert_eq!((score, extra["count"].as_f64()), (6.0, Some(2.0)));
        match &mapped[0] {
            Mapped::Event(event) => {
                assert_eq!(event.session_id.as_deref(), Some("s"));
                assert_eq!(event.tags["metric"], "latency");
                assert_eq!(event.tags["metric.name"], "latency");
            }
            other => panic!("{other:?}"),
        }
    }

    fn key(start: u64) -> SeriesKey {
        ("m".into(), "a".into(), start)
    }

    #[test]
    fn cumulative_points_become_deltas() {
        let mut c = Cumulative::new(1_000);
        let mut pending = Vec::new();
        assert_eq!(c.delta(key(2_000), 10_000, [5.0, 0.0], &mut pending), Some([5.0, 0.0]), "new series");
        assert_eq!(c.delta(key(2_000), 20_000, [8.0, 0.0], &mut pending), Some([3.0, 0.0]));
        assert_eq!(c.delta(key(2_000), 20_000, [8.0, 0.0], &mut pending), None, "repeat");
        assert_eq!(c.delta(key(2_000), 30_000, [8.0, 0.0], &mut pending), None, "no change");
        assert_eq!(c.delta(key(2_000), 40_000, [2.0, 0.0], &mut pending), Some([2.0, 0.0]), "reset");
        assert_eq!(c.delta(key(500), 40_000, [9.0, 0.0], &mut pending), None, "started before: baseline");
        assert_eq!(c.delta(key(500), 50_000, [10.0, 0.0], &mut pending), Some([1.0, 0.0]));
    }

    #[test]
    fn rollback_restores_the_previous_point() {
        let mut c = Cumulative::new(1_000);
        let mut first = Vec::new();
        c.delta(key(2_000), 10_000, [5.0, 0.0], &mut first);
        let mut second = Vec::new();
        assert_eq!(c.delta(key(2_000), 20_000, [8.0, 0.0], &mut second), Some([3.0, 0.0]));
        c.rollback(second);
        let mut again = Vec::new();
        assert_eq!(c.delta(key(2_000), 20_000, [8.0, 0.0], &mut again), Some([3.0, 0.0]), "retry");
        c.rollback(first);
        assert_eq!(c.len(), 1, "a later point is not undone by an older request");
    }
}
