//! The markdown table: one column per system, one row per measure, and for each peer a
//! column of ratios ours ÷ peer (for latencies peer ÷ ours), so > 1 always means ours
//! is better.

use std::fmt::Write as _;

use crate::drive::{IngestRun, QueryTiming};
use crate::target::{Kind, QueryId};

/// Everything measured for one system.
#[derive(Debug, Clone)]
pub(crate) struct SystemResult {
    /// Column header, e.g. `memory` or `VictoriaMetrics`.
    pub(crate) name: String,
    /// Its kind.
    pub(crate) kind: Kind,
    /// One per (batch, senders) combination.
    pub(crate) ingests: Vec<IngestRun>,
    /// Query timings with result caches bypassed.
    pub(crate) queries: Vec<QueryTiming>,
    /// Query timings with caches allowed (empty when the system has none).
    pub(crate) cached: Vec<QueryTiming>,
    /// Per query: whether the answer agrees with the one computed from the workload.
    pub(crate) agreement: Vec<(QueryId, Result<(), String>)>,
    /// Why the system could not be measured (fully or partly).
    pub(crate) errors: Vec<String>,
}

impl SystemResult {
    /// An empty result for `name`.
    pub(crate) fn new(name: &str, kind: Kind) -> Self {
        SystemResult {
            name: name.to_owned(),
            kind,
            ingests: Vec::new(),
            queries: Vec::new(),
            cached: Vec::new(),
            agreement: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn best_ingest(&self) -> Option<&IngestRun> {
        self.ingests
            .iter()
            .filter(|r| r.verified)
            .max_by(|a, b| a.events_per_sec().total_cmp(&b.events_per_sec()))
    }

    fn ingest(&self, batch: usize, senders: usize) -> Option<&IngestRun> {
        self.ingests.iter().find(|r| r.batch == batch && r.senders == senders)
    }

    fn query(&self, q: QueryId, cached: bool) -> Option<&QueryTiming> {
        let list = if cached { &self.cached } else { &self.queries };
        list.iter().find(|t| t.query == q)
    }
}

/// Whether bigger is better for a row's number (throughput) or smaller (latency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
    /// Not compared.
    Neither,
}

struct Row {
    measure: String,
    better: Better,
    /// Per system: the number the ratio uses, and the cell text.
    cells: Vec<(Option<f64>, String)>,
}

/// An error as one short line for the notes under the table.
fn one_line(text: &str) -> String {
    let joined = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ⏎ ");
    if joined.chars().count() > 400 {
        format!("{}…", joined.chars().take(400).collect::<String>())
    } else {
        joined
    }
}

fn fmt_rate(v: f64) -> String {
    if v >= 10_000.0 { format!("{:.0}k", v / 1000.0) } else { format!("{v:.0}") }
}

fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(ours: Option<f64>, peer: Option<f64>, better: Better) -> Option<f64> {
    let (o, p) = (ours?, peer?);
    if o <= 0.0 || p <= 0.0 {
        return None;
    }
    match better {
        Better::Higher => Some(o / p),
        Better::Lower => Some(p / o),
        Better::Neither => None,
    }
}

fn rows(systems: &[SystemResult], combos: &[(usize, usize)], reps: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    let row = |measure: String, better: Better, f: &dyn Fn(&SystemResult) -> Option<(f64, String)>| Row {
        measure,
        better,
        cells: systems
            .iter()
            .map(|s| match f(s) {
                Some((v, text)) => (Some(v), text),
                None => (None, "—".to_owned()),
            })
            .collect(),
    };
    for &(batch, senders) in combos {
        rows.push(row(
            format!("ingest events/s, batch {batch} × {senders} sender(s)"),
            Better::Higher,
            &|s| {
                s.ingest(batch, senders).map(|r| {
                    let v = r.events_per_sec();
                    let mark = if r.verified { "" } else { " ✗" };
                    (v, format!("{}{mark}", fmt_rate(v)))
                })
            },
        ));
    }
    rows.push(row("best ingest events/s".to_owned(), Better::Higher, &|s| {
        s.best_ingest().map(|r| (r.events_per_sec(), format!("**{}**", fmt_rate(r.events_per_sec()))))
    }));
    rows.push(row("queryable after last ack, ms (worst run)".to_owned(), Better::Lower, &|s| {
        let worst = s.ingests.iter().filter_map(|r| r.queryable_after).max()?;
        let ms = worst.as_secs_f64() * 1000.0;
        Some((ms.max(0.01), fmt_ms(ms)))
    }));
    rows.push(row("server CPU s per run (best run)".to_owned(), Better::Lower, &|s| {
        s.best_ingest().and_then(|r| r.cpu_secs).map(|c| (c, format!("{c:.1}")))
    }));
    rows.push(row("server peak RSS MiB (max)".to_owned(), Better::Lower, &|s| {
        s.ingests.iter().filter_map(|r| r.peak_rss_mib).reduce(f64::max).map(|m| (m, format!("{m:.0}")))
    }));
    for q in QueryId::ALL {
        rows.push(row(
            format!("{} p50 / p95 / p99 ms — {}", q.label(), q.description()),
            Better::Lower,
            &|s| {
                s.query(q, false).map(|t| {
                    let l = t.latency;
                    let n = if l.n < reps { format!(" (n={})", l.n) } else { String::new() };
                    (l.p95, format!("{} / **{}** / {}{n}", fmt_ms(l.p50), fmt_ms(l.p95), fmt_ms(l.p99)))
                })
            },
        ));
    }
    for q in QueryId::ALL {
        rows.push(row(format!("{} p95 ms, cache on", q.label()), Better::Lower, &|s| {
            s.query(q, true).map(|t| (t.latency.p95, fmt_ms(t.latency.p95)))
        }));
    }
    rows.push(row("answers match the workload (bucket by bucket)".to_owned(), Better::Neither, &|s| {
        if s.agreement.is_empty() {
            return None;
        }
        let bad: Vec<String> = s
            .agreement
            .iter()
            .filter_map(|(q, r)| r.as_ref().err().map(|e| format!("{}: {e}", q.label())))
            .collect();
        Some((
            0.0,
            if bad.is_empty() { "yes (Q1–Q4)".to_owned() } else { format!("no — {}", bad.join("; ")) },
        ))
    }));
    rows
}

/// Renders the table. `combos` are the (batch, senders) pairs that were run;
/// `reps` the timed repetitions asked (fewer are marked); `copy_rate` the raw COPY
/// baseline, when measured.
pub(crate) fn markdown(
    systems: &[SystemResult],
    combos: &[(usize, usize)],
    reps: usize,
    copy_rate: Option<f64>,
) -> String {
    let ours: Vec<usize> = (0..systems.len()).filter(|i| systems[*i].kind == Kind::Ours).collect();
    let peers: Vec<usize> = (0..systems.len()).filter(|i| systems[*i].kind != Kind::Ours).collect();
    let mut out = String::new();
    let _ = write!(out, "| measure |");
    for s in systems {
        let _ = write!(out, " {} |", s.name);
    }
    let ours_names: Vec<&str> = ours.iter().map(|i| systems[*i].name.as_str()).collect();
    for p in &peers {
        let _ = write!(out, " ours ÷ {} ({}) |", systems[*p].name, ours_names.join(" / "));
    }
    out.push('\n');
    let _ = write!(out, "|---|");
    for _ in 0..systems.len() + peers.len() {
        out.push_str("---|");
    }
    out.push('\n');
    // A measure no system has (e.g. ingest rows of a query-only run) is left out.
    for row in rows(systems, combos, reps).into_iter().filter(|r| r.cells.iter().any(|c| c.1 != "—")) {
        let _ = write!(out, "| {} |", row.measure);
        for cell in &row.cells {
            let _ = write!(out, " {} |", cell.1);
        }
        for p in &peers {
            let ratios: Vec<String> = ours
                .iter()
                .map(|o| {
                    ratio(row.cells[*o].0, row.cells[*p].0, row.better)
                        .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}"))
                })
                .collect();
            let text = if ratios.iter().all(|r| r == "—") { "".to_owned() } else { ratios.join(" / ") };
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    if let Some(rate) = copy_rate {
        let pg = systems.iter().find(|s| s.name == "PostgreSQL").and_then(SystemResult::best_ingest);
        let _ = write!(
            out,
            "\nRaw PostgreSQL `COPY` of the same rows into one indexed table: {} rows/s",
            fmt_rate(rate)
        );
        if let Some(pg) = pg {
            let _ = write!(
                out,
                "; the PostgreSQL store's best ingest is {:.2}× that",
                pg.events_per_sec() / rate
            );
        }
        out.push_str(".\n");
    }
    let notes: Vec<String> = systems
        .iter()
        .flat_map(|s| s.errors.iter().map(move |e| format!("- {}: {}", s.name, one_line(e))))
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes.join("\n"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::stats::Percentiles;
    use crate::target::Answer;

    fn run(eps: f64, batch: usize, senders: usize) -> IngestRun {
        IngestRun {
            batch,
            senders,
            events: 1_000_000,
            elapsed: Duration::from_secs_f64(1_000_000.0 / eps),
            retries: 0,
            queryable_after: Some(Duration::from_millis(3)),
            cpu_secs: Some(4.0),
            peak_rss_mib: Some(300.0),
            counts: [0; 4],
            verified: true,
            load: "1.00 1.00 1.00".to_owned(),
        }
    }

    fn timing(q: QueryId, p95: f64) -> QueryTiming {
        let latency = Percentiles { n: 50, p50: p95 / 2.0, p95, p99: p95, min: 0.1, max: p95 };
        QueryTiming { query: q, latency, answer: Answer::Buckets(BTreeMap::new()) }
    }

    #[test]
    fn table_has_a_column_per_system_and_ratios_per_peer() {
        let mut ours = SystemResult::new("memory", Kind::Ours);
        ours.ingests.push(run(400_000.0, 10_000, 4));
        ours.queries.push(timing(QueryId::Q1, 2.0));
        ours.agreement.push((QueryId::Q1, Ok(())));
        let mut vm = SystemResult::new("VictoriaMetrics", Kind::VictoriaMetrics);
        vm.ingests.push(run(200_000.0, 10_000, 4));
        vm.queries.push(timing(QueryId::Q1, 200.0));
        vm.agreement.push((QueryId::Q1, Err("bucket 0: count 1 vs 2".to_owned())));
        vm.errors.push("cache-on run skipped".to_owned());
        let table = markdown(&[ours, vm], &[(10_000, 4)], 50, None);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "| measure | memory | VictoriaMetrics | ours ÷ VictoriaMetrics (memory) |");
        assert!(lines[1].starts_with("|---|---|---|---|"));
        let ingest = lines.iter().find(|l| l.contains("batch 10000 × 4")).unwrap();
        assert_eq!(*ingest, "| ingest events/s, batch 10000 × 4 sender(s) | 400k | 200k | 2.00 |");
        let q1 = lines.iter().find(|l| l.starts_with("| Q1 p50")).unwrap();
        assert!(q1.ends_with("| 1.00 / **2.00** / 2.00 | 100 / **200** / 200 | 100.00 |"), "{q1}");
        let agree = lines.iter().find(|l| l.contains("match the workload")).unwrap();
        assert!(agree.contains("yes (Q1–Q4)") && agree.contains("no — Q1: bucket 0"), "{agree}");
        assert!(table.contains("- VictoriaMetrics: cache-on run skipped"));
    }

    #[test]
    fn ratios_point_the_same_way_for_rates_and_latencies() {
        assert_eq!(ratio(Some(300.0), Some(100.0), Better::Higher), Some(3.0));
        assert_eq!(ratio(Some(2.0), Some(10.0), Better::Lower), Some(5.0));
        assert_eq!(ratio(Some(2.0), None, Better::Lower), None);
        assert_eq!(ratio(Some(2.0), Some(1.0), Better::Neither), None);
    }

    #[test]
    fn numbers_are_formatted_for_reading() {
        assert_eq!(fmt_rate(212_345.0), "212k");
        assert_eq!(fmt_rate(9_500.0), "9500");
        assert_eq!(fmt_ms(0.4567), "0.46");
        assert_eq!(fmt_ms(12.345), "12.3");
        assert_eq!(fmt_ms(3512.0), "3512");
    }
}
