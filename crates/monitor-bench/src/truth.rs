//! The right answers to Q1–Q4, computed in-process from the generated events: every
//! system's answer is checked against these, bucket by bucket.

use std::collections::BTreeMap;

use crate::target::{Answer, Bucket, QueryId};
use crate::workload::{BenchEvent, Body, HOUR_US, Q2_PROJECT, Q4_SESSION};

/// The expected answer to `q` over `events`.
pub(crate) fn expected(events: &[BenchEvent], q: QueryId) -> Answer {
    match q {
        QueryId::Q1 => durations(events, |_| true, false),
        QueryId::Q2 => durations(events, |e| format!("proj-{}", e.project()) == Q2_PROJECT, true),
        QueryId::Q3 => {
            let mut buckets: BTreeMap<(i64, String), Bucket> = BTreeMap::new();
            for e in events.iter().filter(|e| matches!(e.body, Body::Error { .. })) {
                let key = (e.ts_us.div_euclid(HOUR_US) * HOUR_US / 1000, String::new());
                buckets.entry(key).or_insert(Bucket { count: 0, avg: None, max: None }).count += 1;
            }
            Answer::Buckets(buckets)
        }
        QueryId::Q4 => {
            let mut ts: Vec<i64> = events
                .iter()
                .filter(|e| format!("sess-{:03}", e.session) == Q4_SESSION)
                .map(|e| e.ts_us.div_euclid(1000))
                .collect();
            ts.sort_unstable_by(|a, b| b.cmp(a));
            ts.truncate(100);
            Answer::Latest(ts)
        }
    }
}

fn durations(events: &[BenchEvent], keep: impl Fn(&BenchEvent) -> bool, by_operation: bool) -> Answer {
    const STEP: i64 = 300_000_000;
    let mut acc: BTreeMap<(i64, String), (u64, f64, f64)> = BTreeMap::new();
    for e in events.iter().filter(|e| keep(e)) {
        let Body::Performance { duration, .. } = e.body else { continue };
        let group = if by_operation { e.operation().unwrap_or("").to_owned() } else { String::new() };
        let key = (e.ts_us.div_euclid(STEP) * STEP / 1000, group);
        let cell = acc.entry(key).or_insert((0, 0.0, f64::NEG_INFINITY));
        cell.0 += 1;
        cell.1 += duration;
        cell.2 = cell.2.max(duration);
    }
    Answer::Buckets(
        acc.into_iter()
            .map(|(k, (n, sum, max))| (k, Bucket { count: n, avg: Some(sum / n as f64), max: Some(max) }))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Spec, generate, type_counts};

    #[test]
    fn expected_answers_cover_the_window() {
        let spec = Spec { events: 50_000, seed: 42, end_us: 1_768_478_400_000_000 };
        let events = generate(&spec);
        let counts = type_counts(&events);
        let Answer::Buckets(q1) = expected(&events, QueryId::Q1) else { panic!() };
        assert_eq!(q1.len(), 288);
        assert_eq!(q1.values().map(|b| b.count).sum::<u64>(), counts[0]);
        assert!(q1.values().all(|b| b.avg.unwrap() <= b.max.unwrap()));
        let Answer::Buckets(q3) = expected(&events, QueryId::Q3) else { panic!() };
        assert_eq!(q3.len(), 24);
        assert_eq!(q3.values().map(|b| b.count).sum::<u64>(), counts[1]);
        let Answer::Buckets(q2) = expected(&events, QueryId::Q2) else { panic!() };
        assert!(q2.keys().all(|(_, op)| op.contains(':')));
        let Answer::Latest(q4) = expected(&events, QueryId::Q4) else { panic!() };
        assert_eq!(q4.len(), 100);
        assert!(q4.windows(2).all(|w| w[0] > w[1]));
        assert!(q4[0] < spec.end_us / 1000);
    }
}
