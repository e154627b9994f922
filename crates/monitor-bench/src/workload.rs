//! The deterministic workload of issue 9 and its three renderings: our NDJSON, InfluxDB
//! line protocol (read by InfluxDB and VictoriaMetrics) and CSV (for the raw PostgreSQL
//! `COPY` baseline).
//!
//! Event `i` of `n` sits at `start + (i + ½)·24 h / n`: evenly spread, never on a bucket
//! boundary (so peers with left-open windows bucket it as we do), and unique in time so
//! no two line-protocol points share a series key and timestamp.

use std::fmt::Write as _;

use bytes::Bytes;

use crate::rng::Rng;

/// Microseconds in a day.
pub(crate) const DAY_US: i64 = 86_400_000_000;
/// Microseconds in an hour.
pub(crate) const HOUR_US: i64 = 3_600_000_000;

/// Event types, in our wire names; indices are used throughout.
pub(crate) const TYPES: [&str; 4] = ["performance", "error", "coordination", "quality"];
const TYPE_WEIGHTS: [u32; 4] = [85, 6, 5, 4];
/// Sources, in our wire names.
pub(crate) const SOURCES: [&str; 3] = ["claude-cli", "dual-agent", "system"];
const SOURCE_WEIGHTS: [u32; 3] = [70, 25, 5];
/// Agent types.
pub(crate) const AGENTS: [&str; 2] = ["manager", "worker"];
const AGENT_WEIGHTS: [u32; 2] = [25, 75];
/// Number of projects; session `s` belongs to project `s % PROJECTS`.
pub(crate) const PROJECTS: usize = 10;
/// Number of sessions.
pub(crate) const SESSIONS: usize = 200;
/// The project that Q2 filters on.
pub(crate) const Q2_PROJECT: &str = "proj-3";
/// The session whose latest events Q4 reads.
pub(crate) const Q4_SESSION: &str = "sess-042";

/// Operations: name, relative frequency, median duration in ms.
pub(crate) const OPERATIONS: [(&str, u32, f64); 20] = [
    ("tool:Bash", 180, 850.0),
    ("tool:Read", 160, 12.0),
    ("tool:Edit", 120, 25.0),
    ("llm:call", 110, 2_400.0),
    ("tool:Grep", 70, 40.0),
    ("tool:Glob", 50, 15.0),
    ("tool:Write", 45, 20.0),
    ("llm:stream", 40, 6_500.0),
    ("tool:TodoWrite", 35, 5.0),
    ("tool:Task", 30, 45_000.0),
    ("tool:MultiEdit", 25, 35.0),
    ("hook:PreToolUse", 25, 3.0),
    ("hook:PostToolUse", 25, 3.0),
    ("tool:WebFetch", 15, 1_800.0),
    ("tool:WebSearch", 12, 2_200.0),
    ("mcp:github", 10, 600.0),
    ("mcp:filesystem", 10, 30.0),
    ("tool:NotebookEdit", 5, 60.0),
    ("session:compact", 8, 9_000.0),
    ("session:start", 5, 400.0),
];
const PHASES: [&str; 5] = ["assign", "accept", "progress", "complete", "fail"];
const PHASE_WEIGHTS: [u32; 5] = [20, 20, 35, 20, 5];
const METRICS: [&str; 4] = ["test_pass_rate", "lint_score", "review_score", "build_success"];
const ERRORS: [(&str, &str); 5] = [
    ("E_TIMEOUT", "operation timed out"),
    ("E_EXIT", "command exited with status 1"),
    ("E_RATE_LIMIT", "rate limited by the model provider"),
    ("E_PERMISSION", "permission denied by the user"),
    ("E_PARSE", "could not parse tool input"),
];
/// Probability that a performance event is a spike (×20–×100 its usual duration).
const SPIKE_CHANCE: f64 = 0.002;

/// What to generate: how many events, from which seed, over the 24 h ending when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spec {
    /// Number of events.
    pub(crate) events: usize,
    /// RNG seed.
    pub(crate) seed: u64,
    /// End of the 24 h window, in µs since the epoch (exclusive).
    pub(crate) end_us: i64,
}

impl Spec {
    /// Start of the window (inclusive).
    pub(crate) const fn start_us(&self) -> i64 {
        self.end_us - DAY_US
    }

    /// The timestamp of event `i`.
    pub(crate) fn timestamp_us(&self, i: usize) -> i64 {
        let n = i128::try_from(self.events.max(1)).unwrap_or(i128::MAX);
        let i = i128::try_from(i).unwrap_or(0);
        let offset = (2 * i + 1) * i128::from(DAY_US) / (2 * n);
        self.start_us() + i64::try_from(offset).unwrap_or(0)
    }
}

/// The default window end: the last full hour at least two minutes ago, so buckets
/// align and peers that hide their freshest samples (VictoriaMetrics'
/// `-search.latencyOffset`, 30 s) show all of it.
pub(crate) fn default_end_us(now_us: i64) -> i64 {
    (now_us - 120_000_000).div_euclid(HOUR_US) * HOUR_US
}

/// The typed part of an event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// Index into [`OPERATIONS`], duration ms, memory MB, CPU %, success.
    Performance { op: usize, duration: f64, memory: f64, cpu: f64, success: bool },
    /// Index into [`OPERATIONS`] and into the error table.
    Error { op: usize, code: usize },
    /// Phase index, task number, score 0..1, latency ms.
    Coordination { phase: usize, task: usize, score: f64, latency: f64 },
    /// Metric index and score 0..1.
    Quality { metric: usize, score: f64 },
}

/// One generated event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BenchEvent {
    /// Position in the workload; part of the id.
    pub(crate) index: usize,
    /// µs since the epoch.
    pub(crate) ts_us: i64,
    /// Index into [`SOURCES`].
    pub(crate) source: usize,
    /// Session number; the project follows from it.
    pub(crate) session: usize,
    /// Index into [`AGENTS`].
    pub(crate) agent: usize,
    /// The payload.
    pub(crate) body: Body,
}

impl BenchEvent {
    /// Index into [`TYPES`].
    pub(crate) const fn type_index(&self) -> usize {
        match self.body {
            Body::Performance { .. } => 0,
            Body::Error { .. } => 1,
            Body::Coordination { .. } => 2,
            Body::Quality { .. } => 3,
        }
    }

    /// The operation name, for performance and error events.
    pub(crate) const fn operation(&self) -> Option<&'static str> {
        match self.body {
            Body::Performance { op, .. } | Body::Error { op, .. } => Some(OPERATIONS[op].0),
            _ => None,
        }
    }

    /// The project number.
    pub(crate) const fn project(&self) -> usize {
        self.session % PROJECTS
    }
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// Generates the workload; the same spec always gives the same events.
pub(crate) fn generate(spec: &Spec) -> Vec<BenchEvent> {
    let mut rng = Rng::new(spec.seed);
    let op_weights: Vec<u32> = OPERATIONS.iter().map(|o| o.1).collect();
    (0..spec.events)
        .map(|index| {
            let session = rng.below(SESSIONS);
            let agent = rng.weighted(&AGENT_WEIGHTS);
            let body = match rng.weighted(&TYPE_WEIGHTS) {
                0 => {
                    let op = rng.weighted(&op_weights);
                    let mut duration = rng.log_normal(OPERATIONS[op].2, 0.8);
                    if rng.chance(SPIKE_CHANCE) {
                        duration *= 20.0 + 80.0 * rng.unit();
                    }
                    Body::Performance {
                        op,
                        duration: round_to(duration, 3),
                        memory: round_to(rng.log_normal(400.0, 0.4), 1),
                        cpu: round_to(100.0 * rng.unit(), 1),
                        success: !rng.chance(0.03),
                    }
                }
                1 => Body::Error { op: rng.weighted(&op_weights), code: rng.below(ERRORS.len()) },
                2 => Body::Coordination {
                    phase: rng.weighted(&PHASE_WEIGHTS),
                    task: rng.below(50),
                    score: round_to(rng.unit(), 3),
                    latency: round_to(rng.log_normal(40.0, 0.7), 3),
                },
                _ => Body::Quality {
                    metric: rng.below(METRICS.len()),
                    score: round_to(0.6 + 0.4 * rng.unit(), 3),
                },
            };
            // Manager/worker hand-offs come from the dual-agent runtime.
            let source =
                if matches!(body, Body::Coordination { .. }) { 1 } else { rng.weighted(&SOURCE_WEIGHTS) };
            BenchEvent { index, ts_us: spec.timestamp_us(index), source, session, agent, body }
        })
        .collect()
}

/// Events per type, indexed like [`TYPES`].
pub(crate) fn type_counts(events: &[BenchEvent]) -> [u64; 4] {
    let mut counts = [0u64; 4];
    for e in events {
        counts[e.type_index()] += 1;
    }
    counts
}

/// A rendering of the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Our NDJSON for `POST /api/events/batch`.
    Ndjson,
    /// InfluxDB line protocol, nanosecond timestamps, numeric fields only.
    LineProtocol,
    /// CSV for `COPY … (FORMAT csv)` into the raw baseline table.
    Csv,
}

/// All events rendered back to back, one per line, with the end offset of each line.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    buf: Bytes,
    ends: Vec<usize>,
}

impl Rendered {
    /// Number of events (lines).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The whole rendering.
    pub(crate) fn bytes(&self) -> &Bytes {
        &self.buf
    }

    /// Consecutive batches of at most `size` events: (body, events in it). Zero-copy.
    pub(crate) fn batches(&self, size: usize) -> Vec<(Bytes, usize)> {
        let size = size.max(1);
        let mut out = Vec::with_capacity(self.ends.len().div_ceil(size));
        let mut from_line = 0;
        while from_line < self.ends.len() {
            let to_line = (from_line + size).min(self.ends.len());
            let from = if from_line == 0 { 0 } else { self.ends[from_line - 1] };
            out.push((self.buf.slice(from..self.ends[to_line - 1]), to_line - from_line));
            from_line = to_line;
        }
        out
    }
}

/// Renders every event in `format`.
pub(crate) fn render(spec: &Spec, events: &[BenchEvent], format: Format) -> Rendered {
    let mut buf = String::with_capacity(events.len() * 360);
    let mut ends = Vec::with_capacity(events.len());
    for e in events {
        match format {
            Format::Ndjson => ndjson_line(&mut buf, spec.seed, e),
            Format::LineProtocol => lp_line(&mut buf, e),
            Format::Csv => csv_line(&mut buf, spec.seed, e),
        }
        buf.push('\n');
        ends.push(buf.len());
    }
    Rendered { buf: Bytes::from(buf), ends }
}

/// The client-assigned id of an event: stable for a seed, so re-sending is idempotent.
pub(crate) fn event_id(seed: u64, index: usize) -> String {
    format!("bench-{seed:x}-{index:08}")
}

/// RFC 3339 with microseconds, UTC.
pub(crate) fn rfc3339(ts_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(ts_us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

fn payload_json(buf: &mut String, e: &BenchEvent) {
    // Every string comes from the tables above: none needs JSON escaping.
    let _ = match &e.body {
        Body::Performance { op, duration, memory, cpu, success } => write!(
            buf,
            r#"{{"operation":"{}","duration":{duration},"memoryUsage":{memory},"cpuUsage":{cpu},"success":{success}}}"#,
            OPERATIONS[*op].0
        ),
        Body::Error { op, code } => write!(
            buf,
            r#"{{"operation":"{}","message":"{}","code":"{}"}}"#,
            OPERATIONS[*op].0, ERRORS[*code].1, ERRORS[*code].0
        ),
        Body::Coordination { phase, task, score, latency } => write!(
            buf,
            r#"{{"managerId":"mgr-{s:03}","workerId":"wrk-{s:03}","phase":"{}","taskId":"task-{s:03}-{task}","coordinationScore":{score},"latencyMs":{latency}}}"#,
            PHASES[*phase],
            s = e.session
        ),
        Body::Quality { metric, score } => {
            write!(buf, r#"{{"metric":"{}","score":{score}}}"#, METRICS[*metric])
        }
    };
}

fn ndjson_line(buf: &mut String, seed: u64, e: &BenchEvent) {
    let _ = write!(
        buf,
        r#"{{"id":"{}","timestamp":"{}","source":"{}","type":"{}","projectId":"proj-{}","sessionId":"sess-{:03}","agentType":"{}","payload":"#,
        event_id(seed, e.index),
        rfc3339(e.ts_us),
        SOURCES[e.source],
        TYPES[e.type_index()],
        e.project(),
        e.session,
        AGENTS[e.agent],
    );
    payload_json(buf, e);
    buf.push('}');
}

/// Line protocol: measurement `agent`, tags sorted by key (InfluxDB's fast path),
/// numeric fields only; VictoriaMetrics names the series `agent_<field>`.
fn lp_line(buf: &mut String, e: &BenchEvent) {
    let _ = write!(buf, "agent,agent_type={}", AGENTS[e.agent]);
    if let Some(op) = e.operation() {
        let _ = write!(buf, ",operation={op}");
    }
    let _ = write!(
        buf,
        ",project=proj-{},session=sess-{:03},source={},type={} ",
        e.project(),
        e.session,
        SOURCES[e.source],
        TYPES[e.type_index()]
    );
    let _ = match &e.body {
        Body::Performance { duration, memory, cpu, success, .. } => write!(
            buf,
            "duration={duration},memory_usage={memory},cpu_usage={cpu},success={}",
            u8::from(*success)
        ),
        // An error has no number of its own; `errors=1` lets peers count it.
        Body::Error { .. } => write!(buf, "errors=1"),
        Body::Coordination { score, latency, .. } => {
            write!(buf, "coordination_score={score},latency_ms={latency}")
        }
        Body::Quality { score, .. } => write!(buf, "score={score}"),
    };
    let _ = write!(buf, " {}", i128::from(e.ts_us) * 1000);
}

/// The CSV columns, matching `scripts/bench/copy-baseline.sql`.
pub(crate) const CSV_COLUMNS: &str =
    "id,ts,source,type,project_id,session_id,agent_type,operation,duration,payload";

fn csv_line(buf: &mut String, seed: u64, e: &BenchEvent) {
    let duration = match e.body {
        Body::Performance { duration, .. } => duration.to_string(),
        _ => String::new(),
    };
    let _ = write!(
        buf,
        "{},{},{},{},proj-{},sess-{:03},{},{},{duration},\"",
        event_id(seed, e.index),
        rfc3339(e.ts_us),
        SOURCES[e.source],
        TYPES[e.type_index()],
        e.project(),
        e.session,
        AGENTS[e.agent],
        e.operation().unwrap_or(""),
    );
    let mut payload = String::new();
    payload_json(&mut payload, e);
    buf.push_str(&payload.replace('"', "\"\""));
    buf.push('"');
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

    use super::*;

    // 2026-01-15T12:00:00Z
    const END: i64 = 1_768_478_400_000_000;

    fn spec(events: usize, seed: u64) -> Spec {
        Spec { events, seed, end_us: END }
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = generate(&spec(5_000, 42));
        let b = generate(&spec(5_000, 42));
        let c = generate(&spec(5_000, 43));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let ra = render(&spec(5_000, 42), &a, Format::Ndjson);
        let rb = render(&spec(5_000, 42), &b, Format::Ndjson);
        assert_eq!(ra.bytes(), rb.bytes());
        let la = render(&spec(5_000, 42), &a, Format::LineProtocol);
        let lb = render(&spec(5_000, 42), &b, Format::LineProtocol);
        assert_eq!(la.bytes(), lb.bytes());
    }

    #[test]
    fn type_mix_and_cardinalities_match_the_issue() {
        let events = generate(&spec(200_000, 42));
        let counts = type_counts(&events);
        let share = |i: usize| counts[i] as f64 / events.len() as f64;
        assert!((share(0) - 0.85).abs() < 0.005, "{counts:?}");
        assert!((share(1) - 0.06).abs() < 0.003, "{counts:?}");
        assert!((share(2) - 0.05).abs() < 0.003, "{counts:?}");
        assert!((share(3) - 0.04).abs() < 0.003, "{counts:?}");
        let projects: BTreeSet<usize> = events.iter().map(BenchEvent::project).collect();
        let sessions: BTreeSet<usize> = events.iter().map(|e| e.session).collect();
        let operations: BTreeSet<&str> = events.iter().filter_map(BenchEvent::operation).collect();
        let agents: BTreeSet<usize> = events.iter().map(|e| e.agent).collect();
        assert_eq!(projects.len(), 10);
        assert_eq!(sessions.len(), 200);
        assert_eq!(operations.len(), 20);
        assert_eq!(agents.len(), 2);
        assert!(operations.contains("tool:Bash") && operations.contains("llm:call"));
    }

    #[test]
    fn durations_are_log_normal_with_rare_spikes() {
        let events = generate(&spec(200_000, 7));
        let mut bash: Vec<f64> = events
            .iter()
            .filter_map(|e| match e.body {
                Body::Performance { op: 0, duration, .. } => Some(duration),
                _ => None,
            })
            .collect();
        bash.sort_by(f64::total_cmp);
        let median = bash[bash.len() / 2];
        assert!((780.0..920.0).contains(&median), "median {median}");
        // A log-normal's mean exceeds its median; spikes reach far beyond the bulk.
        let mean = bash.iter().sum::<f64>() / bash.len() as f64;
        assert!(mean > median * 1.2);
        let spikes = bash.iter().filter(|d| **d > 850.0 * 20.0).count();
        assert!(spikes > 0 && spikes * 100 < bash.len(), "{spikes} spikes of {}", bash.len());
        assert!(bash.iter().all(|d| d.is_finite() && *d > 0.0));
    }

    #[test]
    fn timestamps_are_even_inside_the_window_and_never_on_a_boundary() {
        let s = spec(1_000_000, 1);
        let first = s.timestamp_us(0);
        let last = s.timestamp_us(999_999);
        assert_eq!(first, s.start_us() + 43_200);
        assert!(last < END && last > END - 100_000);
        let mut on_ms_boundary_of_5m = 0;
        for i in 0..1_000_000 {
            let t = s.timestamp_us(i);
            // Truncated to ms (VictoriaMetrics' precision) it stays in its 5-min bucket.
            if (t / 1000) * 1000 % 300_000_000 == 0 && t % 300_000_000 != 0 {
                on_ms_boundary_of_5m += 1;
            }
            assert_ne!(t % 300_000_000, 0);
        }
        assert_eq!(on_ms_boundary_of_5m, 0);
    }

    #[test]
    fn default_end_is_a_full_hour_at_least_two_minutes_ago() {
        assert_eq!(default_end_us(END + 60_000_000), END - HOUR_US);
        assert_eq!(default_end_us(END + 180_000_000), END);
    }

    #[test]
    fn batches_cover_every_line_once() {
        let s = spec(2_345, 3);
        let r = render(&s, &generate(&s), Format::Ndjson);
        let batches = r.batches(1_000);
        assert_eq!(batches.iter().map(|b| b.1).collect::<Vec<_>>(), vec![1_000, 1_000, 345]);
        let joined: Vec<u8> = batches.iter().flat_map(|b| b.0.to_vec()).collect();
        assert_eq!(&joined[..], &r.bytes()[..]);
        for (body, n) in &batches {
            assert_eq!(body.iter().filter(|b| **b == b'\n').count(), *n);
        }
    }

    #[test]
    fn ndjson_is_accepted_by_the_core_validator() {
        let s = spec(3_000, 9);
        let events = generate(&s);
        let r = render(&s, &events, Format::Ndjson);
        let limits = monitor_core::validate::Limits::default();
        let now = monitor_core::Timestamp::from_micros(END);
        for (line, e) in r.bytes().split(|b| *b == b'\n').filter(|l| !l.is_empty()).zip(&events) {
            let parsed = monitor_core::validate::event_from_slice(line).expect("parses");
            monitor_core::validate::validate(&parsed, &limits, now).expect("valid");
            assert_eq!(parsed.id.as_deref(), Some(event_id(9, e.index).as_str()));
            assert_eq!(parsed.timestamp.map(|t| t.as_micros()), Some(e.ts_us));
        }
    }

    /// Parses a line-protocol line into (tags, fields, ns) — enough for our own output.
    fn parse_lp(line: &str) -> (BTreeMap<String, String>, BTreeMap<String, f64>, i128) {
        let mut parts = line.split(' ');
        let series = parts.next().unwrap();
        let fields = parts.next().unwrap();
        let ts: i128 = parts.next().unwrap().parse().unwrap();
        let mut tags = series.split(',');
        assert_eq!(tags.next(), Some("agent"));
        let tags = tags
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let fields = fields
            .split(',')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.parse().unwrap())
            })
            .collect();
        (tags, fields, ts)
    }

    #[test]
    fn ndjson_and_line_protocol_carry_the_same_events() {
        let s = spec(20_000, 11);
        let events = generate(&s);
        let nd = render(&s, &events, Format::Ndjson);
        let lp = render(&s, &events, Format::LineProtocol);
        assert_eq!(nd.len(), lp.len());
        let nd_text = std::str::from_utf8(nd.bytes()).unwrap();
        let lp_text = std::str::from_utf8(lp.bytes()).unwrap();
        let field_map = [
            ("duration", "duration"),
            ("memory_usage", "memoryUsage"),
            ("cpu_usage", "cpuUsage"),
            ("coordination_score", "coordinationScore"),
            ("latency_ms", "latencyMs"),
            ("score", "score"),
        ];
        for (json_line, lp_line) in nd_text.lines().zip(lp_text.lines()) {
            let json: Value = serde_json::from_str(json_line).unwrap();
            let (tags, fields, ns) = parse_lp(lp_line);
            let ts = monitor_core::Timestamp::parse(json["timestamp"].as_str().unwrap()).unwrap();
            assert_eq!(ns, i128::from(ts.as_micros()) * 1000);
            assert_eq!(tags["type"], json["type"]);
            assert_eq!(tags["source"], json["source"]);
            assert_eq!(tags["project"], json["projectId"]);
            assert_eq!(tags["session"], json["sessionId"]);
            assert_eq!(tags["agent_type"], json["agentType"]);
            assert_eq!(tags.get("operation").map(String::as_str), json["payload"]["operation"].as_str());
            // Tags sorted by key, as InfluxDB prefers.
            let keys: Vec<&String> = tags.keys().collect();
            let order: Vec<&str> = lp_line
                .split(' ')
                .next()
                .unwrap()
                .split(',')
                .skip(1)
                .map(|kv| kv.split('=').next().unwrap())
                .collect();
            assert_eq!(keys.iter().map(|k| k.as_str()).collect::<Vec<_>>(), order);
            for (lp_name, json_name) in field_map {
                assert_eq!(fields.get(lp_name).copied(), json["payload"][json_name].as_f64(), "{lp_line}");
            }
            match json["type"].as_str().unwrap() {
                "performance" => {
                    let success = json["payload"]["success"].as_bool().unwrap();
                    assert_eq!(fields["success"], if success { 1.0 } else { 0.0 });
                }
                "error" => assert_eq!(fields["errors"], 1.0),
                _ => {}
            }
        }
    }

    #[test]
    fn csv_has_one_row_per_event_with_a_quoted_payload() {
        let s = spec(500, 5);
        let events = generate(&s);
        let csv = render(&s, &events, Format::Csv);
        let text = std::str::from_utf8(csv.bytes()).unwrap();
        for (line, e) in text.lines().zip(&events) {
            let (head, payload) = line.split_once(",\"").unwrap();
            assert_eq!(head.split(',').count(), CSV_COLUMNS.split(',').count() - 1);
            assert!(head.starts_with(&event_id(5, e.index)));
            let payload = payload.strip_suffix('"').unwrap().replace("\"\"", "\"");
            let json: Value = serde_json::from_str(&payload).unwrap();
            assert!(json.is_object());
        }
    }
}
